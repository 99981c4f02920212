// BERT's model-level backward (examples/bert/bert.hpp): the masked-LM loss (tied decoder, its own bias, padding_idx)
// and the classification loss (pooler, classifier), checked
//   - against PyTorch autograd on the committed tiny checkpoints (tests/fixtures/models/<name>.grad.safetensors,
//     written by tools/training/make_bert_grad_fixtures.py): the `bert --grad` program's file for one sequence,
//     and the library API on a padded batch with token types. Relative error per tensor,
//     max |ours − torch| / max |torch|: ≤ 1e-4 computing in float; in double ≤ 1e-6 for the program (its file is
//     F32, as is the fixture's single-sequence part) and ≤ 1e-10 for the API (float64 reference);
//   - `bert --train` (masked LM on the trainer) runs a few steps from a config and writes a model that loads;
//   - against central finite differences in double on tiny random configurations (MLM tied and untied,
//     classification; padding and token types): every entry of every parameter, relative error ≤ 1e-6.
// A tensor whose gradient is zero by calculus — the key projection's bias (a softmax ignores a shift of its row),
// heads the loss does not read — has no meaningful relative error: it must be zero to an absolute bound instead
// (stated at each check).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "bert/bert.hpp"
#include "models/model_fixture.hpp"
#include "support/fixture.hpp"
#include "training/gradient_check.hpp"
#include "training/training_fixture.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace bert_gradients_test {

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

constexpr double kFloatTolerance = 1e-4;

/// max |a − b| and max |b| over two equally long arrays.
struct Difference {
  double max_diff = 0, max_ref = 0;
};
template <class A, class B>
Difference difference(const A* a, const B* b, std::size_t n) {
  Difference d;
  for (std::size_t i = 0; i < n; ++i) {
    d.max_diff = std::max(d.max_diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    d.max_ref = std::max(d.max_ref, std::abs(static_cast<double>(b[i])));
  }
  return d;
}

/// One tensor against its reference: relative error ≤ tolerance, or — when the reference is zero (≤ 1e-9:
/// torch reports ~1e-17 for the key bias) — |ours| ≤ zero_bound.
void check_tensor(const Difference& d, double tolerance, double zero_bound, const std::string& what) {
  if (d.max_ref <= 1e-9) {
    INFO(what << ": zero by calculus, |ours| ≤ " << d.max_diff << " (bound " << zero_bound << ")");
    CHECK(d.max_diff <= zero_bound);
    return;
  }
  const double err = d.max_diff / d.max_ref;
  INFO(what << ": relative error " << err << " = " << d.max_diff << " / " << d.max_ref << " (tolerance " << tolerance << ")");
  CHECK(err <= tolerance);
}

// ---------------------------------------------------------------------------------------------------------------
// `bert --grad` against PyTorch.
// ---------------------------------------------------------------------------------------------------------------

#ifdef EIGENFORMER_BERT_PROGRAM
std::string join(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void check_program(const std::string& name, bool in_double) {
  Fixture reference("models/" + name + ".grad.safetensors");
  const std::string out = training_scratch_dir() + "/bert-" + name + (in_double ? "-double" : "-float") + ".grad.safetensors";
  std::string command = quote(EIGENFORMER_BERT_PROGRAM) + " --model " + quote(model_dir(name)) + " --ids " +
                        join(reference.values<std::int64_t>("input_ids")) + " --grad " + quote(out);
  if (reference.has("labels")) {
    command += " --labels " + join(reference.values<std::int64_t>("labels"));
  } else {
    command += " --label " + std::to_string(reference.values<std::int64_t>("label").at(0));
  }
  if (in_double) command += " --double";
  command += " > /dev/null";
  const int status = std::system(command.c_str());
  REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), command);

  // Exactly the fixture's names: the loss and one gradient per stored tensor (position_ids excepted).
  SafeTensorsReader ours(out);
  std::set<std::string> expected_names, our_names;
  for (const TensorInfo& t : ours.tensors()) our_names.insert(t.name);
  for (const std::string& n : {std::string("loss")}) expected_names.insert(n);
  SafeTensorsReader ref_file(fixture_path("models/" + name + ".grad.safetensors"));
  for (const TensorInfo& t : ref_file.tensors()) {
    if (t.name.compare(0, 5, "grad.") == 0) expected_names.insert(t.name);
  }
  CHECK(our_names == expected_names);

  // F32 files on both sides: double is bounded by their rounding (6e-8), so 1e-6.
  const double tolerance = in_double ? 1e-6 : kFloatTolerance;
  double largest = 0;  // the largest gradient entry: the scale of "zero" below
  for (const std::string& n : expected_names) {
    for (float v : ref_file.read<float>(n)) largest = std::max(largest, static_cast<double>(std::abs(v)));
  }
  double worst = 0;
  for (const std::string& n : expected_names) {
    if (our_names.count(n) == 0) continue;
    const std::vector<float> a = ours.read<float>(n);
    const std::vector<float> b = ref_file.read<float>(n);
    REQUIRE(a.size() == b.size());
    const Difference d = difference(a.data(), b.data(), a.size());
    if (d.max_ref > 1e-9) worst = std::max(worst, d.max_diff / d.max_ref);
    check_tensor(d, tolerance, 1e-5 * largest, name + " " + n);
  }
  MESSAGE(name << std::string(in_double ? " (double)" : " (float)") << ": loss and " << expected_names.size() - 1
               << " gradients, worst relative error " << worst << " (tolerance " << tolerance << ")");
}

TEST_CASE("bert --grad: masked LM on bert-base-style matches PyTorch autograd (tied decoder copy, padding_idx, NSP)") {
  check_program("bert-base-style", false);
  check_program("bert-base-style", true);
}

TEST_CASE("bert --grad: classification on bert-classifier matches PyTorch autograd") {
  check_program("bert-classifier", false);
  check_program("bert-classifier", true);
}

TEST_CASE("bert --train: a few masked-LM steps from a config write a model the bert program and the API load") {
  const std::string corpus = training::fortunes_dir() + "/tang300";
  if (!std::filesystem::is_regular_file(corpus)) {
    MESSAGE("[eigenformer] SKIPPED: " << corpus << " is missing (Debian package fortunes-zh, tools/install-deps.sh)");
    return;
  }
  const std::string dir = training_scratch_dir() + "/bert-train";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  write_file_atomically(dir + "/config.json",
                        R"({"model_type": "bert", "vocab_size": 1, "hidden_size": 16, "num_hidden_layers": 1,
                            "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 16})",
                        "test");
  const std::string command = quote(EIGENFORMER_BERT_PROGRAM) + " --train --config " + quote(dir + "/config.json") +
                              " --data tang300 --steps 6 --warmup 2 --batch 4 --seq-len 16 --eval-every 3 --seed 5 --out " +
                              quote(dir + "/out") + " > " + quote(dir + "/stdout") + " 2>&1";
  const int status = std::system(command.c_str());
  REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), command);
  for (const char* f : {"config.json", "model.safetensors", "vocab.txt", "log.csv", "loss_curve.svg"}) {
    CHECK_MESSAGE(std::filesystem::is_regular_file(dir + "/out/" + f), f);
  }
  // The saved model: a masked-LM BERT whose vocabulary is the corpus's characters, filling a blank by --text.
  Bert<float> model = Bert<float>::from_pretrained(dir + "/out");
  CHECK(model.heads().masked_lm);
  CHECK(model.config().vocab_size > 1000);  // 唐诗三百首 uses ~2 000 characters at least twice
  const std::string fill = quote(EIGENFORMER_BERT_PROGRAM) + " --model " + quote(dir + "/out") +
                           " --text '床前明[MASK]光' > /dev/null 2>&1";
  const int filled = std::system(fill.c_str());
  CHECK((WIFEXITED(filled) && WEXITSTATUS(filled) == 0));
}
#endif

// ---------------------------------------------------------------------------------------------------------------
// The library API on a padded batch with token types, against PyTorch.
// ---------------------------------------------------------------------------------------------------------------

TokenIds int_matrix(Fixture& f, const std::string& name) {
  const TensorInfo& t = f.info(name);
  const std::vector<std::int64_t> v = f.values<std::int64_t>(name);
  TokenIds m(t.shape[0], t.shape[1]);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<TokenId>(v[static_cast<std::size_t>(i)]);
  return m;
}

template <class Scalar>
void check_batch(const std::string& name) {
  Fixture f("models/" + name + ".grad.safetensors");
  Bert<Scalar> model = Bert<Scalar>::from_pretrained(model_dir(name));
  ParameterList<Scalar> params = parameters_with_gradients(model);
  const TokenIds ids = int_matrix(f, "batch.input_ids");
  const TokenIds types = int_matrix(f, "batch.token_type_ids");
  const TokenIds mask_ids = int_matrix(f, "batch.attention_mask");
  const KeyPadding padding = KeyPadding::from_mask(mask_ids.cast<std::uint8_t>());
  BertOptions<Scalar> options;
  options.token_types = &types;
  options.padding = &padding;

  training::LossValue loss;
  if (model.heads().masked_lm) {
    loss = model.masked_lm_loss(ids, int_matrix(f, "batch.labels"), options, true);
  } else {
    const std::vector<std::int64_t> l = f.values<std::int64_t>("batch.labels");
    loss = model.classification_loss(ids, std::vector<TokenId>(l.begin(), l.end()), options, true);
  }
  const double tolerance = std::is_same_v<Scalar, float> ? kFloatTolerance : 1e-10;
  const double ref_loss = f.values<double>("batch.loss").at(0);
  INFO("loss " << loss.loss << " vs torch " << ref_loss);
  CHECK(std::abs(loss.loss - ref_loss) <= tolerance * std::abs(ref_loss));

  // Every parameter under the name the file stores it (and every copy), against autograd.
  const Checkpoint checkpoint(model_dir(name));
  const typename Bert<Scalar>::StoredNames names = model.stored_names(checkpoint);
  std::size_t compared = 0;
  double worst = 0;
  for (const ParameterRef<Scalar>& p : params) {
    std::vector<std::string> stored = {names.names.to_hf(p.name)};
    for (const std::string& c : names.copies(stored.front())) stored.push_back(c);
    for (const std::string& s : stored) {
      const std::string key = "batch.grad." + s;
      REQUIRE_MESSAGE(f.has(key), key);
      const std::vector<double> ref = f.values<double>(key);
      REQUIRE(static_cast<std::int64_t>(ref.size()) == p.numel());
      const Difference d = difference(p.grad, ref.data(), ref.size());
      if (d.max_ref > 1e-9) worst = std::max(worst, d.max_diff / d.max_ref);
      check_tensor(d, tolerance, std::is_same_v<Scalar, float> ? 1e-5 : 1e-12, name + " " + s);
      ++compared;
    }
  }
  std::size_t in_file = 0;
  const SafeTensorsReader file(fixture_path("models/" + name + ".grad.safetensors"));
  for (const TensorInfo& t : file.tensors()) {
    if (t.name.compare(0, 11, "batch.grad.") == 0) ++in_file;
  }
  CHECK(compared == in_file);
  MESSAGE(name << " batch (" << std::string(std::is_same_v<Scalar, float> ? "float" : "double") << "): " << compared
               << " gradients, worst relative error " << worst << " (tolerance " << tolerance << ")");
}

TEST_CASE_TEMPLATE("Bert::masked_lm_loss backward on a padded batch with token types matches PyTorch", Scalar, float, double) {
  check_batch<Scalar>("bert-base-style");
}

TEST_CASE_TEMPLATE("Bert::classification_loss backward on a padded batch with token types matches PyTorch", Scalar, float,
                   double) {
  check_batch<Scalar>("bert-classifier");
}

// ---------------------------------------------------------------------------------------------------------------
// Finite differences in double on tiny configurations.
// ---------------------------------------------------------------------------------------------------------------

BertConfig tiny_config(bool tied) {
  BertConfig c;
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 12;
  c.max_position_embeddings = 7;
  c.type_vocab_size = 2;
  c.layer_norm_eps = 1e-12;
  c.num_labels = 3;
  c.tie_word_embeddings = tied;
  c.pad_token_id = 0;
  return c;
}

struct TinyBatch {
  TokenIds ids, types, labels;
  std::vector<TokenId> classes;
  KeyPadding padding;
};

/// Two sequences of 6, the second padded after 4 (pad id 0 at the padded positions: they reach no loss, so
/// finite differences agree with padding_idx); token types 1 from position 3; MLM labels on 3 real positions.
TinyBatch tiny_batch() {
  TinyBatch b;
  b.ids.resize(2, 6);
  b.ids << 2, 5, 4, 9, 12, 3,  //
      2, 7, 4, 3, 0, 0;
  b.types.resize(2, 6);
  b.types << 0, 0, 0, 1, 1, 1,  //
      0, 0, 0, 1, 0, 0;
  b.labels = TokenIds::Constant(2, 6, training::kIgnoreIndex);
  b.labels(0, 2) = 8;
  b.labels(0, 4) = 12;
  b.labels(1, 2) = 0;  // the pad id as a target: the tied decoder's row 0 does get a gradient
  b.classes = {2, 0};
  b.padding = KeyPadding::from_lengths({6, 4});
  return b;
}

void check_finite_differences(Bert<double>& model, const std::function<double(bool)>& loss, const std::string& what) {
  ParameterList<double> params = parameters_with_gradients(model);
  zero_gradients(params);
  loss(true);
  const std::function<double()> value = [&] { return loss(false); };
  double worst = 0;
  for (const ParameterRef<double>& p : params) {
    Difference d;
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      const double saved = p.data[i];
      const double h = 1e-6 * std::max(1.0, std::abs(saved));
      p.data[i] = saved + h;
      const double plus = value();
      p.data[i] = saved - h;
      const double minus = value();
      p.data[i] = saved;
      const double numeric = (plus - minus) / (2 * h);
      d.max_diff = std::max(d.max_diff, std::abs(numeric - p.grad[i]));
      d.max_ref = std::max(d.max_ref, std::abs(p.grad[i]));
    }
    if (d.max_ref > 1e-9) worst = std::max(worst, d.max_diff / d.max_ref);
    check_tensor(d, kFiniteDifferenceTolerance, 1e-8, what + " " + p.name);
  }
  MESSAGE(what << ": " << params.size() << " parameters, worst finite-difference relative error " << worst
               << " (tolerance " << kFiniteDifferenceTolerance << ")");
}

/// Random weights in [-1, 1] and LayerNorm scales 1 ± 0.2, as a trained model's: attention that is neither
/// uniform nor saturated, so every parameter moves the loss by far more than the rounding of a finite difference
/// (with scales near 0 some gradients fall to ~1e-5, and |L|·1e-16/h ≈ 1e-9 of rounding is then 1e-4 relative).
void randomize(Bert<double>& model, unsigned seed) {
  randomize_parameters(model, seed, 1.0);
  for (const ParameterRef<double>& p : named_parameters(model)) {
    const bool scale = p.name.find("norm.weight") != std::string::npos;
    for (std::int64_t i = 0; scale && i < p.numel(); ++i) p.data[i] = 1.0 + 0.2 * p.data[i];
  }
}

BertHeads all_heads() {
  BertHeads h;
  h.pooler = true;
  h.masked_lm = true;
  h.classifier = true;
  return h;
}

TEST_CASE("Bert masked-LM backward agrees with finite differences (tied and untied decoder, padding, token types)") {
  for (const bool tied : {true, false}) {
    Bert<double> model(tiny_config(tied), all_heads());
    randomize(model, tied ? 11 : 12);
    const TinyBatch b = tiny_batch();
    BertOptions<double> options;
    options.token_types = &b.types;
    options.padding = &b.padding;
    check_finite_differences(
        model, [&](bool gradients) { return model.masked_lm_loss(b.ids, b.labels, options, gradients).loss; },
        tied ? "masked LM, tied" : "masked LM, untied");
  }
}

TEST_CASE("Bert classification backward agrees with finite differences (padding, token types)") {
  Bert<double> model(tiny_config(true), all_heads());
  randomize(model, 13);
  const TinyBatch b = tiny_batch();
  BertOptions<double> options;
  options.token_types = &b.types;
  options.padding = &b.padding;
  check_finite_differences(
      model, [&](bool gradients) { return model.classification_loss(b.ids, b.classes, options, gradients).loss; },
      "classification");
}

TEST_CASE("Bert backward: padding_idx rows get no lookup gradient, and misuse is a typed error") {
  Bert<double> model(tiny_config(true), all_heads());
  randomize(model, 14);
  ParameterList<double> params = parameters_with_gradients(model);
  const TinyBatch b = tiny_batch();

  // The classification loss never reads the decoder, so the pad row's only possible gradient is a lookup's,
  // and padding_idx removes it: exactly zero, although sequence 1 reads id 0 (at padded positions).
  zero_gradients(params);
  model.classification_loss(b.ids, b.classes, {}, true);  // no padding mask: the pad tokens are read
  CHECK(model.word_embeddings.weight_grad.row(0).cwiseAbs().maxCoeff() == 0.0);
  CHECK(model.word_embeddings.weight_grad.row(2).cwiseAbs().maxCoeff() > 0.0);

  // A forward that did not keep its attention weights cannot be differentiated.
  Tensor3<double> hidden;
  model.forward(b.ids, hidden);
  Tensor3<double> dhidden(hidden.dimensions());
  dhidden.setZero();
  CHECK_THROWS_AS(model.backward(b.ids, dhidden), ValueError);
  // Shapes that do not match the forward.
  CHECK_THROWS_AS(model.masked_lm_loss(b.ids, TokenIds::Zero(2, 5), {}, true), ShapeError);
  CHECK_THROWS_AS(model.classification_loss(b.ids, {1}, {}, true), ShapeError);
  CHECK_THROWS_AS(model.backward(b.ids, Tensor3<double>(2, 5, 8)), ShapeError);
  // A head the checkpoint does not have.
  BertHeads bare;
  Bert<double> encoder_only(tiny_config(true), bare);
  CHECK_THROWS_AS(encoder_only.masked_lm_loss(b.ids, b.labels, {}, true), ValueError);
}

}  // namespace

}  // namespace bert_gradients_test
