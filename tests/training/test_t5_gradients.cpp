// T5's model-level backward (examples/t5/t5.hpp: T5::backward, EncoderDecoder::backward) and `t5 --grad`:
//   parity  loss and every parameter gradient of the committed tiny checkpoints (t5-small style: ReLU, tied head
//           rescaled by d_model^-½, the shared table stored three times; flan-t5 style: gated GELU, untied head,
//           H·D ≠ C, the table stored only as encoder/decoder.embed_tokens) against PyTorch autograd
//           (tests/fixtures/models/<name>.grad.safetensors, tools/training/make_t5_grad_fixtures.py), one
//           sequence with an ignored label and a padded batch of two;
//   finite differences in double on tiny configs (tied and untied, source padding, ignored labels), every
//           parameter.
// Error measure, per tensor: max |ours − reference| / max |reference|. Tolerances: 1e-4 computing in float,
// 1e-6 in double (the fixture is stored in F32, so its own rounding, ~6e-8, is what double can reach);
// finite differences 1e-6 (training/gradient_check.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "models/model_fixture.hpp"
#include "t5/t5.hpp"
#include "training/gradient_check.hpp"
#include "training/training_fixture.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace t5_gradients_test {

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::vector<std::string> kT5GradCheckpoints = {"t5-small-style", "flan-t5-style"};

template <class T>
constexpr double t5_grad_tolerance() {
  return std::is_same_v<T, float> ? 1e-4 : 1e-6;
}

/// A <name>.grad.safetensors fixture.
class GradFixture {
 public:
  explicit GradFixture(const std::string& path) : reader_(path) {}
  explicit GradFixture(const char* name) : GradFixture(fixture_path(std::string("models/") + name + ".grad.safetensors")) {}

  TokenIds ids(const std::string& tensor) {
    const TensorInfo& t = reader_.info(tensor);
    const std::vector<double> v = reader_.read<double>(tensor);
    TokenIds ids(t.shape.size() == 2 ? t.shape[0] : 1, t.shape.back());
    for (Index i = 0; i < ids.size(); ++i) ids.data()[i] = static_cast<TokenId>(v[static_cast<std::size_t>(i)]);
    return ids;
  }
  std::vector<double> values(const std::string& tensor) { return reader_.read<double>(tensor); }
  bool contains(const std::string& tensor) const { return reader_.contains(tensor); }
  const TensorInfo& info(const std::string& tensor) const { return reader_.info(tensor); }

  /// The names "<prefix>grad.*" in the file, without "<prefix>grad.".
  std::set<std::string> gradient_names(const std::string& prefix) const {
    std::set<std::string> out;
    const std::string head = prefix + "grad.";
    for (const TensorInfo& t : reader_.tensors()) {
      if (t.name.rfind(head, 0) == 0) out.insert(t.name.substr(head.size()));
    }
    return out;
  }

 private:
  SafeTensorsReader reader_;
};

/// Compares every gradient of `params` under its file name(s) with "<prefix>grad.<name>"; checks that the two
/// sets of names are equal. Returns the worst relative error.
template <class T>
double check_gradients(GradFixture& fx, const std::string& prefix, const ParameterList<T>& params,
                       const typename T5<T>::GradientNames& names, bool with_copies, double tolerance,
                       const std::string& what) {
  std::set<std::string> ours;
  double worst = 0;
  for (const ParameterRef<T>& p : params) {
    REQUIRE(p.grad != nullptr);
    std::vector<std::string> spellings{names.names.to_hf(p.name)};
    if (with_copies) {
      for (const std::string& c : names.copies(spellings.front())) spellings.push_back(c);
    }
    for (const std::string& hf : spellings) {
      ours.insert(hf);
      const std::string key = prefix + "grad." + hf;
      REQUIRE_MESSAGE(fx.contains(key), what << ": the fixture has no " << key);
      CHECK(fx.info(key).shape == p.shape);
      const std::vector<double> expected = fx.values(key);
      REQUIRE(static_cast<std::int64_t>(expected.size()) == p.numel());
      std::size_t where = 0;
      const double err = relative_max_error(p.grad, expected.data(), expected.size(), &where);
      INFO(what << " " << key << ": relative error " << err << " at " << where << " (tolerance " << tolerance << ")");
      CHECK(err <= tolerance);
      worst = std::max(worst, err);
    }
  }
  CHECK(ours == fx.gradient_names(prefix));  // every stored tensor has its gradient, and nothing else is written
  return worst;
}

}  // namespace

TEST_CASE_TEMPLATE("T5 backward matches PyTorch autograd: loss and every gradient of the tiny checkpoints", T, float, double) {
  const double tolerance = t5_grad_tolerance<T>();
  for (const std::string& name : kT5GradCheckpoints) {
    CAPTURE(name);
    GradFixture fx(name.c_str());
    T5<T> model = T5<T>::from_pretrained(model_dir(name));
    const typename T5<T>::GradientNames names = model.gradient_names(Checkpoint(model_dir(name)));
    ParameterList<T> params = parameters_with_gradients(model);

    // One sequence (what `t5 --grad` computes), with a -100 among the labels.
    const training::LossValue loss = model.loss_and_gradients(fx.ids("input_ids"), fx.ids("labels"));
    const double expected_loss = fx.values("loss")[0];
    CHECK(std::abs(loss.loss - expected_loss) <= tolerance * std::abs(expected_loss));
    CHECK(loss.counted == 5);
    const double worst = check_gradients(fx, "", params, names, /*with_copies=*/true, tolerance, name);

    // A batch of two, the second source padded (attention_mask) and its last labels -100.
    zero_gradients(params);
    const TokenIds mask_ids = fx.ids("batch.attention_mask");
    KeyPadding::Mask mask(mask_ids.rows(), mask_ids.cols());
    for (Index i = 0; i < mask.size(); ++i) mask.data()[i] = static_cast<std::uint8_t>(mask_ids.data()[i]);
    const KeyPadding padding = KeyPadding::from_mask(mask);
    const training::LossValue batch = model.loss_and_gradients(fx.ids("batch.input_ids"), fx.ids("batch.labels"), &padding);
    const double expected_batch = fx.values("batch.loss")[0];
    CHECK(std::abs(batch.loss - expected_batch) <= tolerance * std::abs(expected_batch));
    const double worst_batch = check_gradients(fx, "batch.", params, names, /*with_copies=*/false, tolerance, name + " batch");
    const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
    MESSAGE(name << " (" << scalar << "): loss " << loss.loss << " vs "
                 << expected_loss << ", batch " << batch.loss << " vs " << expected_batch
                 << "; worst gradient relative error " << worst << " (one sequence), " << worst_batch << " (batch)");
  }
}

TEST_CASE("T5 teacher forcing: the decoder input is the labels shifted right, -100 read as pad") {
  T5<float> model = T5<float>::from_pretrained(model_dir("t5-small-style"));
  TokenIds labels(2, 4);
  labels << 5, 9, -100, 1,   //
      7, 1, -100, -100;
  TokenIds expected(2, 4);
  expected << 0, 5, 9, 0,  //
      0, 7, 1, 0;
  CHECK(model.decoder_input_ids(labels) == expected);
}

TEST_CASE("T5 backward refuses what it cannot differentiate") {
  T5<float> model = T5<float>::from_pretrained(model_dir("flan-t5-style"));
  ParameterList<float> params = parameters_with_gradients(model);
  TokenIds source(1, 3), target(1, 2);
  source << 4, 5, 1;
  target << 0, 7;
  Matrix<float> logits;
  model.forward_for_backward(source, target, logits);
  CHECK(logits.rows() == 2);
  CHECK(logits.cols() == model.config().vocab_size);
  CHECK_THROWS_AS(model.backward(Matrix<float>::Zero(3, model.config().vocab_size)), ShapeError);
  // An inference forward keeps no attention weights and overwrites what the training forward kept.
  model.forward(source, target, logits);
  CHECK_THROWS_AS(model.backward(Matrix<float>::Zero(2, model.config().vocab_size)), ValueError);
  T5<float> fresh = T5<float>::from_pretrained(model_dir("flan-t5-style"));
  CHECK_THROWS_AS(fresh.backward(Matrix<float>::Zero(2, fresh.config().vocab_size)), ValueError);
  const KeyPadding wrong = KeyPadding::from_lengths({3, 3});
  CHECK_THROWS_AS(model.forward_for_backward(source, target, logits, &wrong), ShapeError);
}

namespace {

T5Config tiny_t5_config(bool tied) {
  T5Config c;
  c.vocab_size = 13;
  c.d_model = 6;
  c.d_kv = 4;  // H·D = 8 ≠ C
  c.num_heads = 2;
  c.d_ff = 7;
  c.num_layers = 2;
  c.num_decoder_layers = 2;
  c.relative_attention_num_buckets = 4;
  c.relative_attention_max_distance = 5;
  c.layer_norm_epsilon = 1e-6;
  c.feed_forward_proj = tied ? "relu" : "gated-gelu";
  c.gated = !tied;
  c.activation = tied ? Activation::ReLU : Activation::GeluTanh;
  c.tie_word_embeddings = tied;
  c.special_tokens.pad = 0;
  c.special_tokens.eos = {1};
  c.special_tokens.decoder_start = 0;
  return c;
}

}  // namespace

TEST_CASE("T5 backward matches finite differences (double, tiny configs, padding, ignored labels)") {
  for (const bool tied : {true, false}) {
    CAPTURE(tied);
    T5<double> model(tiny_t5_config(tied));
    ParameterList<double> params = parameters_with_gradients(model);
    randomize_parameters(model, tied ? 301 : 302, 0.8);
    TokenIds source(2, 5), labels(2, 4);
    source << 3, 7, 2, 9, 1,  //
        4, 12, 1, 0, 0;
    labels << 5, -100, 11, 1,  //
        8, 1, -100, -100;
    const KeyPadding padding = KeyPadding::from_lengths({5, 3});
    model.loss_and_gradients(source, labels, &padding);

    const TokenIds target = model.decoder_input_ids(labels);
    const TokenSequence flat(labels.data(), labels.data() + labels.size());
    const std::function<double()> loss = [&] {
      Matrix<double> logits;
      model.forward_for_backward(source, target, logits, &padding);
      return training::cross_entropy<double>(logits, flat).loss;
    };
    check_finite_differences(params, loss, std::string(tied ? "tied ReLU" : "untied gated-GELU") + " T5");
  }
}

#ifdef EIGENFORMER_T5_PROGRAM
TEST_CASE("t5 --grad writes what PyTorch autograd computes, under the checkpoint's names") {
  for (const std::string& name : kT5GradCheckpoints) {
    CAPTURE(name);
    GradFixture fx(name.c_str());
    const auto join = [](const TokenIds& ids) {
      std::string s;
      for (Index i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids.data()[i]);
      return s;
    };
    const std::string out = training_scratch_dir() + "/t5-" + name + ".grad.safetensors";
    const std::string command = std::string(EIGENFORMER_T5_PROGRAM) + " --model " + model_dir(name) + " --ids " +
                                join(fx.ids("input_ids")) + " --labels " + join(fx.ids("labels")) + " --grad " + out +
                                " > " + out + ".log 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    GradFixture dump(out);
    std::set<std::string> names;
    for (const std::string& n : dump.gradient_names("")) names.insert(n);
    CHECK(names == fx.gradient_names(""));
    const double loss = dump.values("loss")[0], expected = fx.values("loss")[0];
    CHECK(std::abs(loss - expected) <= 1e-4 * std::abs(expected));
    double worst = 0;
    for (const std::string& n : names) {
      const std::vector<double> a = dump.values("grad." + n), e = fx.values("grad." + n);
      REQUIRE(a.size() == e.size());
      const double err = relative_max_error(a.data(), e.data(), e.size());
      INFO(n << ": relative error " << err);
      CHECK(err <= 1e-4);
      worst = std::max(worst, err);
    }
    MESSAGE("t5 --grad " << name << ": " << names.size() << " tensors, worst relative error " << worst);
  }
}
#endif

}  // namespace t5_gradients_test
