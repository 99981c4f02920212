// The whole Llama's backward (examples/llama/llama.hpp: forward_for_training, backward, loss_and_gradients):
//   - parity with PyTorch autograd on the three tiny checkpoints of tests/fixtures/models (GQA + sharded, MQA +
//     F16 + ignored labels, tied + BF16 + biases + Llama 3 RoPE): the causal-LM loss and every stored tensor's
//     gradient, from tests/fixtures/models/<checkpoint>.grad.safetensors (tools/training/make_llama_grad_fixtures.py);
//     the same through the program, `llama --grad`;
//   - finite differences in double on tiny configs built here (untied with every bias, tied with MQA; a batch of
//     two, right padding, ignored labels): every entry of every parameter.
// Errors are relative, per tensor: max |ours − reference| / max |reference|. Tolerances: 1e-4 computing in float,
// 1e-10 in double against autograd (float64 from the same stored weights), 1e-6 against finite differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "llama/llama.hpp"
#include "support/fixture.hpp"
#include "training/gradient_check.hpp"
#include "training/training_fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::vector<std::string> kCheckpoints = {"llama-gqa-sharded", "llama-mqa-f16", "llama-tied-bf16"};

template <class T>
constexpr double model_parity_tolerance() {
  return std::is_same_v<T, float> ? 1e-4 : 1e-10;
}

std::string model_dir(const std::string& name) { return fixture_path("models/" + name); }

TokenIds row_of(const std::vector<Index>& values) {
  TokenIds ids(1, static_cast<Index>(values.size()));
  for (std::size_t t = 0; t < values.size(); ++t) ids(0, static_cast<Index>(t)) = static_cast<TokenId>(values[t]);
  return ids;
}

/// Relative error of n values against a fixture tensor; REQUIREs the sizes to agree.
template <class A>
double error_against(Fixture& fx, const A* actual, std::size_t n, const std::string& name) {
  REQUIRE_MESSAGE(fx.has(name), "the fixture has no " << name);
  const std::vector<double> expected = fx.values<double>(name);
  REQUIRE_MESSAGE(expected.size() == n, name << ": " << n << " values computed, " << expected.size() << " expected");
  return relative_max_error(actual, expected.data(), n);
}

}  // namespace

TEST_CASE_TEMPLATE("Llama loss and every gradient match PyTorch autograd on the tiny checkpoints", T, float, double) {
  for (const std::string& name : kCheckpoints) {
    CAPTURE(name);
    Fixture fx("models/" + name + ".grad.safetensors");
    Llama<T> model = Llama<T>::from_pretrained(model_dir(name));
    ParameterList<T> params = parameters_with_gradients(model);
    const training::LossValue loss = model.loss_and_gradients(row_of(fx.indices("input_ids")), row_of(fx.indices("labels")));

    const double expected_loss = fx.values<double>("loss").at(0);
    const double loss_error = std::abs(loss.loss - expected_loss) / std::abs(expected_loss);
    const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
    MESSAGE(name << " (" << scalar << "): loss " << loss.loss << " vs autograd " << expected_loss << ", relative error "
                 << loss_error);
    CHECK(loss_error <= model_parity_tolerance<T>());

    // Every parameter has its gradient in the fixture under the stored name, and the fixture has no other.
    double worst = 0;
    std::string worst_name;
    std::size_t gradients_in_fixture = 0;
    const SafeTensorsReader fixture_file(fixture_path("models/" + name + ".grad.safetensors"));
    for (const TensorInfo& t : fixture_file.tensors()) {
      if (t.name.rfind("grad.", 0) == 0) ++gradients_in_fixture;
    }
    CHECK(gradients_in_fixture == params.size());
    for (const ParameterRef<T>& p : params) {
      const std::string stored = model.names().to_hf(p.name);
      const double err = error_against(fx, p.grad, static_cast<std::size_t>(p.numel()), "grad." + stored);
      CHECK_MESSAGE(err <= model_parity_tolerance<T>(), stored << ": relative error " << err);
      if (err >= worst) {
        worst = err;
        worst_name = stored;
      }
    }
    MESSAGE(name << " (" << scalar << "): " << params.size() << " gradients, worst relative error " << worst << " ("
                 << worst_name << "; tolerance " << model_parity_tolerance<T>() << ")");
  }
}

TEST_CASE("Llama tied checkpoint: the embedding's gradient is the lookup's plus the LM head's") {
  Llama<double> model = Llama<double>::from_pretrained(model_dir("llama-tied-bf16"));
  REQUIRE(model.config().tie_word_embeddings);
  ParameterList<double> params = parameters_with_gradients(model);
  for (const ParameterRef<double>& p : params) CHECK(p.name != "lm_head.weight");  // stored once, collected once
  Fixture fx("models/llama-tied-bf16.grad.safetensors");
  const TokenIds ids = row_of(fx.indices("input_ids"));
  model.loss_and_gradients(ids, ids);
  const Matrix<double> total = model.embed_tokens.weight_grad;
  // The head's share alone: dlogits and h are those of the step just taken.
  Matrix<double> head_share = model.d_logits.transpose() * as_matrix(model.h);
  // The lookup's share: a scatter-add of ∂loss/∂x into the rows of the ids.
  Matrix<double> lookup_share = Matrix<double>::Zero(total.rows(), total.cols());
  for (Index t = 0; t < ids.cols(); ++t) lookup_share.row(ids(0, t)) += as_matrix(model.d_x).row(t);
  CHECK(relative_max_error((head_share + lookup_share).eval().data(), total.data(), static_cast<std::size_t>(total.size())) <= 1e-12);
  CHECK(lookup_share.cwiseAbs().maxCoeff() > 1e-3 * head_share.cwiseAbs().maxCoeff());  // both uses matter here

  // A second step adds (gradients accumulate until zero_gradients).
  model.loss_and_gradients(ids, ids);
  CHECK(relative_max_error(model.embed_tokens.weight_grad.data(), (2 * total).eval().data(),
                           static_cast<std::size_t>(total.size())) <= 1e-12);
  zero_gradients(params);
  CHECK(model.embed_tokens.weight_grad.cwiseAbs().maxCoeff() == 0);
}

#ifdef EIGENFORMER_LLAMA_PROGRAM
TEST_CASE("llama --grad writes the loss and every stored tensor's gradient, as autograd computes them") {
  for (const std::string& name : kCheckpoints) {
    CAPTURE(name);
    Fixture fx("models/" + name + ".grad.safetensors");
    auto join = [](const std::vector<Index>& v) {
      std::string s;
      for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
      return s;
    };
    const std::string out = training_scratch_dir() + "/llama-grad-" + name + ".safetensors";
    const std::string command = std::string(EIGENFORMER_LLAMA_PROGRAM) + " --model " + model_dir(name) + " --ids " +
                                join(fx.indices("input_ids")) + " --labels " + join(fx.indices("labels")) + " --grad " +
                                out + " > /dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
    SafeTensorsReader file(out);
    std::size_t expected_count = 0;
    const SafeTensorsReader fixture_file(fixture_path("models/" + name + ".grad.safetensors"));
    for (const TensorInfo& t : fixture_file.tensors()) {
      if (t.name == "loss" || t.name.rfind("grad.", 0) == 0) ++expected_count;
    }
    CHECK(file.tensors().size() == expected_count);
    double worst = 0;
    for (const TensorInfo& t : file.tensors()) {
      CHECK(t.dtype == DType::F32);
      const std::vector<double> ours = file.read<double>(t.name);
      worst = std::max(worst, error_against(fx, ours.data(), ours.size(), t.name));
    }
    MESSAGE(name << ": llama --grad, " << file.tensors().size() << " tensors, worst relative error " << worst);
    CHECK(worst <= 1e-4);
    std::remove(out.c_str());
  }
}
#endif

// ---- Finite differences --------------------------------------------------------------------------------------

namespace {

LlamaConfig tiny_config(bool tied) {
  LlamaConfig c;
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.max_position_embeddings = 16;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 100.0;  // fast-turning pairs: RoPE matters over 5 positions
  if (tied) {             // MQA, no biases, tied head
    c.num_attention_heads = 2;
    c.num_key_value_heads = 1;
    c.head_dim = 6;       // H·D = 12 ≠ C
    c.tie_word_embeddings = true;
  } else {                // GQA, every bias, untied head
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 2;
    c.attention_bias = true;
    c.mlp_bias = true;
  }
  return c;
}

/// Random weights in [-0.5, 0.5], the norms' gains near 1.
void randomize(Llama<double>& model, unsigned seed) {
  for (ParameterRef<double>& p : named_parameters(model)) {
    const Matrix<double> r = random_matrix(1, static_cast<Index>(p.numel()), seed++, 0.5);
    const bool gain = p.name.find("norm") != std::string::npos;
    for (Index i = 0; i < r.size(); ++i) p.data[i] = gain ? 1 + 0.4 * r(0, i) : r(0, i);
  }
}

}  // namespace

TEST_CASE("Llama backward matches finite differences for every parameter (double, tied and untied)") {
  for (bool tied : {false, true}) {
    CAPTURE(tied);
    Llama<double> model(tiny_config(tied));
    randomize(model, tied ? 100 : 200);
    // Two sequences; the second is right-padded after 3 tokens (its padding is hidden and takes no part in the
    // loss), and one of the first's targets is ignored.
    TokenIds ids(2, 5), labels(2, 5);
    ids << 1, 7, 3, 12, 5, 2, 9, 4, 0, 0;
    labels = ids;
    labels(0, 3) = training::kIgnoreIndex;
    labels(1, 3) = labels(1, 4) = training::kIgnoreIndex;
    const KeyPadding padding = KeyPadding::from_lengths({5, 3});

    ParameterList<double> params = parameters_with_gradients(model);
    const training::LossValue value = model.loss_and_gradients(ids, labels, &padding);
    CHECK(value.counted == 5);  // 4 targets of sequence 0 minus the ignored one, 2 of sequence 1

    // The loss through the plain (inference) forward: an independent path to the same number.
    auto loss = [&]() {
      Matrix<double> logits;
      LlamaOptions<double> options;
      options.padding = &padding;
      model.forward(ids, logits, options);
      return training::causal_lm_loss<double>(logits, labels).loss;
    };
    CHECK(std::abs(loss() - value.loss) <= 1e-14);
    double worst = 0;
    for (ParameterRef<double>& p : params) {
      double max_diff = 0, max_ref = 0;
      for (std::int64_t i = 0; i < p.numel(); ++i) {
        const double saved = p.data[i];
        const double h = 1e-6 * std::max(1.0, std::abs(saved));
        p.data[i] = saved + h;
        const double plus = loss();
        p.data[i] = saved - h;
        const double minus = loss();
        p.data[i] = saved;
        max_diff = std::max(max_diff, std::abs((plus - minus) / (2 * h) - p.grad[i]));
        max_ref = std::max(max_ref, std::abs(p.grad[i]));
      }
      REQUIRE_MESSAGE(max_ref > 1e-9, p.name << " gets no gradient at all");
      const double err = max_diff / max_ref;
      CHECK_MESSAGE(err <= kFiniteDifferenceTolerance, p.name << ": finite-difference relative error " << err);
      worst = std::max(worst, err);
    }
    MESSAGE(std::string(tied ? "tied MQA" : "untied GQA with biases") << ": " << params.size()
                                                            << " parameters, worst finite-difference relative error "
                                                            << worst << " (tolerance " << kFiniteDifferenceTolerance << ")");
  }
}

TEST_CASE("Llama backward refuses what it cannot differentiate") {
  Llama<double> model(tiny_config(false));
  randomize(model, 7);
  ParameterList<double> params = parameters_with_gradients(model);
  TokenIds ids(1, 4);
  ids << 1, 2, 3, 4;
  CHECK_THROWS_AS(model.backward(Matrix<double>::Zero(4, 13)), ValueError);  // no training forward yet
  Matrix<double> logits;
  model.forward_for_training(ids, logits);
  CHECK(logits.rows() == 4);
  CHECK(logits.cols() == 13);
  CHECK_THROWS_AS(model.backward(Matrix<double>::Zero(3, 13)), ShapeError);  // not (B·T, V)
  TokenIds short_labels(1, 3);
  short_labels << 1, 2, 3;
  CHECK_THROWS_AS(model.loss_and_gradients(ids, short_labels), ShapeError);
  TokenIds too_long = TokenIds::Ones(1, 17);  // max_position_embeddings is 16
  CHECK_THROWS_AS(model.forward_for_training(too_long, logits), ValueError);
}
