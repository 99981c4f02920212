// BART's whole backward (examples/bart/bart.hpp: forward_for_training, backward, loss_and_gradients):
//   - parity with PyTorch autograd on the two tiny checkpoints of tests/fixtures/models (tied, the shared table
//     stored under four names, a -100 label whose pad token in the decoder input sends the pad row nothing; untied,
//     scale_embedding, BF16): the teacher-forced loss and every stored parameter's gradient, from
//     tests/fixtures/models/<checkpoint>.grad.safetensors (tools/training/make_gpt2_bart_grad_fixtures.py); the
//     same through the program, `bart --grad`. final_logits_bias is a buffer: no entry, in either;
//   - finite differences in double on tiny configs built here (tied, and untied with scale_embedding; a batch of
//     two, source padding, an ignored label): every entry of every parameter (the key biases' gradient is 0:
//     softmax cancels them).
// Tolerances: 1e-4 computing in float, 1e-10 in double against autograd (float64 from the same stored weights),
// 1e-6 against finite differences.
#include <doctest/doctest.h>

#include <string>
#include <type_traits>
#include <vector>

#include "bart/bart.hpp"
#include "support/fixture.hpp"
#include "training/gradient_check.hpp"
#include "training/gradient_dump_check.hpp"
#include "training/training_fixture.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace bart_gradients_test {

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::vector<std::string> kCheckpoints = {"bart-large-style", "bart-scaled-bf16"};


/// The dump's tensors for the checkpoint `folder`, in T: every spelling of the shared table gets its total.
template <class T>
std::vector<GradientTensor<T>> dump_of(Bart<T>& model, const ParameterList<T>& params, const std::string& folder) {
  const GradientNames spelled =
      stored_gradient_names(Checkpoint(folder), model.names(), canonical_gradient_names(params, model.names()));
  return gradient_tensors(params, model.names(), {}, spelled);
}

}  // namespace

TEST_CASE_TEMPLATE("BART loss and every stored parameter's gradient match PyTorch autograd", T, float, double) {
  for (const std::string& name : kCheckpoints) {
    CAPTURE(name);
    Bart<T> model = Bart<T>::from_pretrained(model_dir(name));
    check_model_gradients(model, name, [&](const ParameterList<T>& params) { return dump_of(model, params, model_dir(name)); });
  }
}

TEST_CASE("BART: final_logits_bias is a buffer, the pad row takes nothing from the lookups, the decoder input is shifted") {
  Bart<double> model = Bart<double>::from_pretrained(model_dir("bart-large-style"));
  ParameterList<double> with = parameters_with_gradients(model);
  for (const ParameterRef<double>& p : with) CHECK(p.name != "final_logits_bias");
  bool listed = false;  // but loaded and saved with the weights
  for (const ParameterRef<double>& p : named_parameters(model)) listed = listed || p.name == "final_logits_bias";
  CHECK(listed);

  TokenIds labels(1, 4);
  labels << 7, training::kIgnoreIndex, 9, 2;
  const TokenIds input = model.decoder_input_ids(labels);
  CHECK(input(0, 0) == 2);  // decoder_start_token_id
  CHECK(input(0, 1) == 7);
  CHECK(input(0, 2) == 1);  // -100 → pad_token_id
  CHECK(input(0, 3) == 9);

  // The pad row's gradient is the tied head's share only.
  Fixture fx("models/bart-large-style.grad.safetensors");
  model.loss_and_gradients(row_of(fx.indices("input_ids")), row_of(fx.indices("labels")));
  const Matrix<double> head_share = model.d_logits.transpose() * as_matrix(model.h);
  CHECK((model.shared.weight_grad.row(1) - head_share.row(1)).cwiseAbs().maxCoeff() <= 1e-15);
  // The positions' offset rows are never read.
  CHECK(model.encoder_positions.table.weight_grad.topRows(2).cwiseAbs().maxCoeff() == 0);
  CHECK(model.decoder_positions.table.weight_grad.topRows(2).cwiseAbs().maxCoeff() == 0);
}

#ifdef EIGENFORMER_BART_PROGRAM
TEST_CASE("bart --grad writes the loss and every stored parameter's gradient, as autograd computes them") {
  for (const std::string& name : kCheckpoints) {
    CAPTURE(name);
    check_program_gradients(EIGENFORMER_BART_PROGRAM, name);
  }
}
#endif

// ---- Finite differences --------------------------------------------------------------------------------------

namespace {

BartConfig tiny_config(bool tied) {
  BartConfig c;
  c.vocab_size = 13;
  c.max_position_embeddings = 8;
  c.d_model = 8;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.encoder_attention_heads = 2;
  c.decoder_attention_heads = 4;
  c.encoder_ffn_dim = 12;
  c.decoder_ffn_dim = 10;
  c.activation_function = Activation::GeluErf;
  c.scale_embedding = !tied;
  c.tie_word_embeddings = tied;
  c.special_tokens.bos = 0;
  c.special_tokens.pad = 1;
  c.special_tokens.eos = {2};
  c.special_tokens.decoder_start = 2;
  return c;
}

}  // namespace

TEST_CASE("BART backward matches finite differences for every parameter (double: tied, untied with scale_embedding)") {
  for (bool tied : {true, false}) {
    const std::string label = tied ? "BART tied" : "BART untied, scale_embedding";
    CAPTURE(label);
    Bart<double> model(tiny_config(tied));
    randomize_with_unit_gains(model, tied ? 600 : 700);  // final_logits_bias too: added, though it gets no gradient
    // Two pairs; the second source padded after 4 tokens (pad id 1, hidden from every attention). The ignored
    // label is the last, so no pad reaches the decoder input: a finite difference of the pad row would see its
    // lookups, which nn.Embedding's padding_idx (and so the backward) leaves out by definition.
    TokenIds source(2, 6), labels(2, 4);
    source << 0, 5, 9, 3, 11, 2, 0, 7, 4, 2, 1, 1;
    labels << 6, 12, 8, training::kIgnoreIndex, 3, 10, 4, 2;
    const KeyPadding padding = KeyPadding::from_lengths({6, 4});
    ParameterList<double> params = parameters_with_gradients(model);
    const training::LossValue value = model.loss_and_gradients(source, labels, &padding);
    CHECK(value.counted == 7);
    auto loss = [&]() {  // the plain (inference) forward: an independent path to the same number
      Matrix<double> logits;
      BartOptions<double> options;
      options.source_padding = &padding;
      model.forward(source, model.decoder_input_ids(labels), logits, options);
      const TokenSequence flat(labels.data(), labels.data() + labels.size());
      return training::cross_entropy<double>(logits, flat).loss;
    };
    CHECK(std::abs(loss() - value.loss) <= 1e-14);
    check_finite_differences(params, loss, label, is_key_bias);  // softmax cancels a key bias
  }
}

TEST_CASE("BART backward refuses what it cannot differentiate") {
  Bart<double> model(tiny_config(true));
  randomize_with_unit_gains(model, 11);
  ParameterList<double> params = parameters_with_gradients(model);
  TokenIds source(1, 3), target(1, 2);
  source << 0, 5, 2;
  target << 2, 5;
  CHECK_THROWS_AS(model.backward(Matrix<double>::Zero(2, 13)), ValueError);  // no training forward yet
  Matrix<double> logits;
  model.forward_for_training(source, target, logits);
  CHECK_THROWS_AS(model.backward(Matrix<double>::Zero(3, 13)), ShapeError);  // not (B·T, V)
  model.forward(source, target, logits);                                      // a plain forward in between
  CHECK_THROWS_AS(model.backward(Matrix<double>::Zero(2, 13)), ValueError);
}

}  // namespace bart_gradients_test
