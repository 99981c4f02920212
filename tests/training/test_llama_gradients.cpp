// The whole Llama's backward (examples/llama/llama.hpp: forward_for_training, backward, loss_and_gradients):
//   - parity with PyTorch autograd on the tiny checkpoints of tests/fixtures/models (GQA + sharded, MQA +
//     F16 + ignored labels, tied + BF16 + biases + Llama 3 RoPE; qwen2 with q/k/v biases, with and without its
//     sliding window; qwen3's q/k norm, tied, and with biases in BF16; mistral's sliding window): the causal-LM
//     loss and every stored tensor's
//     gradient, from tests/fixtures/models/<checkpoint>.grad.safetensors (tools/training/make_llama_grad_fixtures.py);
//     the same through the program, `llama --grad`;
//   - finite differences in double on tiny configs built here (untied with every bias, tied with MQA, qwen3's
//     q/k norm with biases and a sliding window; a batch of two, right padding, ignored labels): every entry of
//     every parameter.
// Errors are relative, per tensor: max |ours − reference| / max |reference|. Tolerances: 1e-4 computing in float,
// 1e-10 in double against autograd (float64 from the same stored weights), 1e-6 against finite differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include "llama/llama.hpp"
#include "support/fixture.hpp"
#include "training/gradient_check.hpp"
#include "training/gradient_dump_check.hpp"
#include "training/training_fixture.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace llama_gradients_test {

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

// Llama itself, and the relatives the llama program loads: qwen2 (q/k/v biases; a sliding window in the layers
// from max_window_layers on), qwen3 (the per-head q/k RMSNorm; tied, or with attention biases in BF16) and
// mistral (a sliding window in every layer).
const std::vector<std::string> kCheckpoints = {"llama-gqa-sharded", "llama-mqa-f16", "llama-tied-bf16",
                                               "qwen2-gqa",         "qwen2-swa",     "qwen3-tied",
                                               "qwen3-bias-bf16",   "mistral-swa"};

}  // namespace

TEST_CASE_TEMPLATE("Llama loss and every gradient match PyTorch autograd on the tiny checkpoints", T, float, double) {
  for (const std::string& name : kCheckpoints) {
    CAPTURE(name);
    Llama<T> model = Llama<T>::from_pretrained(model_dir(name));
    check_model_gradients(model, name, [&](const ParameterList<T>& params) {
      return gradient_tensors(params, model.names(), {}, GradientNames{});  // stored as themselves, one name each
    });
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
    check_program_gradients(EIGENFORMER_LLAMA_PROGRAM, name);
  }
}

TEST_CASE("llama --train: a tiny model from a config learns tang300's characters and is saved loadable") {
  if (!std::filesystem::exists(training::fortunes_dir() + "/tang300")) {
    MESSAGE("[eigenformer] SKIPPED: " << training::fortunes_dir() << "/tang300 is missing (Debian package fortunes-zh)");
    return;
  }
  const std::string dir = training_scratch_dir() + "/llama-train";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream config(dir + "/tiny.json");
    config << R"({"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 32,
                 "tie_word_embeddings": true, "vocab_size": 1})";
  }
  const std::string out = dir + "/model";
  const std::string command = std::string(EIGENFORMER_LLAMA_PROGRAM) + " --train --config " + dir + "/tiny.json" +
                              " --data tang300 --steps 30 --batch 4 --seq-len 32 --lr 1e-2 --warmup 3 --eval-every 15" +
                              " --out " + out + " > " + dir + "/stdout.txt 2> " + dir + "/stderr.txt";
  REQUIRE(std::system(command.c_str()) == 0);
  const training::TrainingLog log = training::TrainingLog::read_csv(out + "/log.csv");
  REQUIRE(log.steps.size() == 30);
  REQUIRE(log.validations.size() >= 2);
  MESSAGE("llama --train: training loss " << log.steps.front().loss << " → " << log.steps.back().loss
                                          << ", held-out " << log.validations.front().loss << " → "
                                          << log.validations.back().loss);
  // From ≈ log V = 7.8: measured 7.80 → 6.89 (training) and 7.31 → 7.08 (held out) in 30 steps.
  CHECK(log.steps.back().loss < log.steps.front().loss - 0.5);
  CHECK(log.validations.back().loss < log.validations.front().loss);
  // The folder is a Hugging Face checkpoint with its character tokenizer: the family program's loader reads it.
  Llama<float> trained = Llama<float>::from_pretrained(out);
  CHECK(trained.config().vocab_size > 2000);  // set from the characters of the text
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(out);
  CHECK(tokenizer.encode("春眠不觉晓").size() == 5);
  CHECK(tokenizer.decode(tokenizer.encode("春眠不觉晓")) == "春眠不觉晓");
}
#endif

// ---- Finite differences --------------------------------------------------------------------------------------

namespace {

/// The tiny configs of the finite-difference check.
enum class TinyKind { Untied, Tied, Qwen3 };

LlamaConfig tiny_config(TinyKind kind) {
  const bool tied = kind == TinyKind::Tied;
  LlamaConfig c;
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.max_position_embeddings = 16;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 100.0;  // fast-turning pairs: RoPE matters over 5 positions
  if (kind == TinyKind::Qwen3) {  // the per-head q/k RMSNorm, attention biases, a window of 2 in layer 1
    c.model_type = "qwen3";
    c.qk_norm = true;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 4;
    c.attention_bias = true;
    c.sliding_window = 2;
    c.sliding_layers = {false, true};
  } else if (tied) {       // MQA, no biases, tied head
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

}  // namespace

TEST_CASE("Llama backward matches finite differences for every parameter (double: tied, untied, qwen3 windowed)") {
  for (TinyKind kind : {TinyKind::Untied, TinyKind::Tied, TinyKind::Qwen3}) {
    const std::string label = kind == TinyKind::Tied     ? "tied MQA"
                              : kind == TinyKind::Qwen3 ? "qwen3: q/k norm, biases, sliding window"
                                                        : "untied GQA with biases";
    CAPTURE(label);
    Llama<double> model(tiny_config(kind));
    randomize_with_unit_gains(model, kind == TinyKind::Tied ? 100 : kind == TinyKind::Qwen3 ? 300 : 200);
    check_causal_lm_finite_differences<Llama<double>, LlamaOptions<double>>(model, label);
  }
}

TEST_CASE("Llama backward refuses what it cannot differentiate") {
  Llama<double> model(tiny_config(TinyKind::Untied));
  randomize_with_unit_gains(model, 7);
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

}  // namespace llama_gradients_test
