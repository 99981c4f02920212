// GPT-2's whole backward (examples/gpt2/gpt2.hpp: forward_for_training, backward, loss_and_gradients):
//   - parity with PyTorch autograd on the two tiny checkpoints of tests/fixtures/models (GPT2LMHeadModel names,
//     tied, F32; the original file's bare names with its mask buffers, F16, ignored labels): the causal-LM loss
//     and every stored tensor's gradient in the stored layout — the Conv1D weights (in, out), the fused c_attn
//     (C, 3C) — from tests/fixtures/models/<checkpoint>.grad.safetensors
//     (tools/training/make_gpt2_bart_grad_fixtures.py); the same through the program, `gpt2 --grad`;
//   - finite differences in double on tiny configs built here (tied and untied; a batch of two, right padding,
//     ignored labels): every entry of every parameter (the key biases' gradient is 0: softmax cancels them).
// Tolerances: 1e-4 computing in float, 1e-10 in double against autograd (float64 from the same stored weights),
// 1e-6 against finite differences.
#include <doctest/doctest.h>

#include <string>
#include <type_traits>
#include <vector>

#include "gpt2/gpt2.hpp"
#include "support/fixture.hpp"
#include "training/gradient_check.hpp"
#include "training/gradient_dump_check.hpp"
#include "training/training_fixture.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace gpt2_gradients_test {

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::vector<std::string> kCheckpoints = {"gpt2-style", "gpt2-bare-f16"};


/// The dump's tensors for the checkpoint `folder`, in T: the stored layout and the file's spellings.
template <class T>
std::vector<GradientTensor<T>> dump_of(GPT2<T>& model, const ParameterList<T>& params, const std::string& folder) {
  const std::vector<StoredLayout> layouts = model.stored_layouts();
  const GradientNames spelled =
      stored_gradient_names(Checkpoint(folder), model.names(), canonical_gradient_names(params, model.names(), layouts));
  return gradient_tensors(params, model.names(), layouts, spelled);
}

}  // namespace

TEST_CASE_TEMPLATE("GPT-2 loss and every stored tensor's gradient match PyTorch autograd, in the stored layout", T, float,
                   double) {
  for (const std::string& name : kCheckpoints) {
    CAPTURE(name);
    GPT2<T> model = GPT2<T>::from_pretrained(model_dir(name));
    check_model_gradients(model, name, [&](const ParameterList<T>& params) { return dump_of(model, params, model_dir(name)); });
  }
}

TEST_CASE("GPT-2's fused c_attn gradient is [dW_qᵀ | dW_kᵀ | dW_vᵀ] and wte's sums the lookup and the tied head") {
  GPT2<double> model = GPT2<double>::from_pretrained(model_dir("gpt2-style"));
  ParameterList<double> params = parameters_with_gradients(model);
  Fixture fx("models/gpt2-style.grad.safetensors");
  const TokenIds ids = row_of(fx.indices("input_ids"));
  model.loss_and_gradients(ids, ids);
  const std::vector<GradientTensor<double>> dump = dump_of(model, params, model_dir("gpt2-style"));
  const Index C = model.config().n_embd;
  for (const GradientTensor<double>& t : dump) {
    if (t.name != "transformer.h.1.attn.c_attn.weight") continue;
    REQUIRE(t.shape == std::vector<std::int64_t>{C, 3 * C});
    ConstMatrixMap<double> fused(t.values.data(), C, 3 * C);
    const MultiHeadAttention<double>& attn = model.decoder.layers[1].attention;
    CHECK((fused.middleCols(0, C) - attn.q.weight_grad.transpose()).cwiseAbs().maxCoeff() == 0);
    CHECK((fused.middleCols(C, C) - attn.k.weight_grad.transpose()).cwiseAbs().maxCoeff() == 0);
    CHECK((fused.middleCols(2 * C, C) - attn.v.weight_grad.transpose()).cwiseAbs().maxCoeff() == 0);
  }
  // wte: the head's share dzᵀ h plus the lookup's scatter of dx.
  Matrix<double> total = model.wte.weight_grad;
  Matrix<double> shares = model.d_logits.transpose() * as_matrix(model.h);
  for (Index t = 0; t < ids.cols(); ++t) shares.row(ids(0, t)) += as_matrix(model.d_x).row(t);
  CHECK(relative_max_error(shares.data(), total.data(), static_cast<std::size_t>(total.size())) <= 1e-12);
}

#ifdef EIGENFORMER_GPT2_PROGRAM
TEST_CASE("gpt2 --grad writes the loss and every stored tensor's gradient, as autograd computes them") {
  for (const std::string& name : kCheckpoints) {
    CAPTURE(name);
    check_program_gradients(EIGENFORMER_GPT2_PROGRAM, name);
  }
}
#endif

// ---- Finite differences --------------------------------------------------------------------------------------

namespace {

GPT2Config tiny_config(bool tied) {
  GPT2Config c;
  c.vocab_size = 13;
  c.n_positions = 8;
  c.n_embd = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_inner = 12;
  c.activation_function = Activation::GeluTanh;
  c.layer_norm_epsilon = 1e-5;
  c.tie_word_embeddings = tied;
  return c;
}

}  // namespace

TEST_CASE("GPT-2 backward matches finite differences for every parameter (double, tied and untied)") {
  for (bool tied : {true, false}) {
    const std::string label = tied ? "GPT-2 tied" : "GPT-2 untied";
    CAPTURE(label);
    GPT2<double> model(tiny_config(tied));
    randomize_with_unit_gains(model, tied ? 400 : 500);
    check_causal_lm_finite_differences<GPT2<double>, GPT2Options<double>>(model, label, is_key_bias);  // softmax cancels a key bias
  }
}

TEST_CASE("GPT-2 backward refuses what it cannot differentiate") {
  GPT2<double> model(tiny_config(true));
  randomize_with_unit_gains(model, 9);
  ParameterList<double> params = parameters_with_gradients(model);
  TokenIds ids(1, 4);
  ids << 1, 2, 3, 4;
  CHECK_THROWS_AS(model.backward(Matrix<double>::Zero(4, 13)), ValueError);  // no training forward yet
  Matrix<double> logits;
  model.forward_for_training(ids, logits);
  CHECK_THROWS_AS(model.backward(Matrix<double>::Zero(3, 13)), ShapeError);  // not (B·T, V)
  TokenIds short_labels(1, 3);
  short_labels << 1, 2, 3;
  CHECK_THROWS_AS(model.loss_and_gradients(ids, short_labels), ShapeError);
  TokenIds too_long = TokenIds::Ones(1, 9);  // n_positions is 8
  CHECK_THROWS_AS(model.forward_for_training(too_long, logits), ValueError);
  // A dump needs gradient buffers.
  ParameterList<double> without = named_parameters(model);
  CHECK_THROWS_AS(gradient_tensors(without, model.names(), model.stored_layouts(), GradientNames{}), ValueError);
}

}  // namespace gpt2_gradients_test
