// tests/training/tiny_lm.hpp — a small causal language model assembled from library blocks, for the trainer's
// tests and benchmark before a family's own model can train: token embedding → Decoder stack (Llama blocks:
// pre-norm RMSNorm, RoPE, GQA, SwiGLU, a final norm) → LM head tied to the embedding. Every backward is the
// library's; this file only chains them, in the reverse order of forward().
//
// Shape legend: B sequences, T positions, C width, V vocabulary.
#pragma once

#include "eigenformer/eigenformer.hpp"
#include "eigenformer/training.hpp"

namespace eigenformer::testing {

struct TinyLmConfig {
  Index vocab = 0, width = 0, heads = 0, kv_heads = 0, ffn = 0, layers = 0;
  double rope_theta = 10000.0, norm_eps = 1e-6;

  StackConfig stack() const {
    StackConfig c;
    c.block.attention.width = width;
    c.block.attention.heads = heads;
    c.block.attention.kv_heads = kv_heads;
    c.block.ffn.hidden = ffn;
    c.block.ffn.activation = Activation::SiLU;
    c.block.ffn.gated = true;
    c.block.ffn.bias = false;
    c.block.norm.kind = NormKind::RMSNorm;
    c.block.norm.eps = norm_eps;
    c.block.norm.bias = false;
    c.block.placement = NormPlacement::Pre;
    c.layers = layers;
    c.final_norm = true;
    RopeConfig rope;
    rope.head_dim = width / heads;
    rope.base = rope_theta;
    c.rope = rope;
    return c;
  }
};

/// logits (B·T, V) = FinalNorm(Decoder(E[ids])) Eᵀ, E (V, C) shared by the lookup and the head.
template <class Scalar>
struct TinyLm {
  using scalar_type = Scalar;
  Embedding<Scalar> embed;
  Decoder<Scalar> decoder;
  Tensor3<Scalar> x, h;  // (B, T, C): the embedded ids and the stack's output, kept for the backward

  explicit TinyLm(const TinyLmConfig& c) : embed(c.vocab, c.width), decoder(c.stack()) {}

  /// Names as the PyTorch reference (tools/training/make_trainer_fixtures.py) stores them.
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    embed.collect_parameters(prefix + "embed_tokens.", out);
    decoder.collect_parameters(prefix, out);
  }

  static ForwardContext<Scalar> context() {
    ForwardContext<Scalar> c;
    c.keep_weights = true;  // the attention's backward reads the weights the forward kept
    return c;
  }

  /// ids (B, T) → logits (B·T, V).
  Matrix<Scalar> forward(const TokenIds& ids) {
    embed.forward(ids, x);
    decoder.forward(x, h, context());
    Matrix<Scalar> logits;
    product_threaded<Scalar>(as_matrix(h), embed.weight.transpose(), logits);  // on the library's threads
    return logits;
  }

  /// Backward of forward(ids) with dlogits (B·T, V) = ∂loss/∂logits: every gradient added into.
  void backward(const TokenIds& ids, const Matrix<Scalar>& dlogits) {
    const Index B = ids.rows(), T = ids.cols();
    Tensor3<Scalar> dh(B, T, embed.width()), dx;
    embed.backward_as_head(as_matrix(static_cast<const Tensor3<Scalar>&>(h)), dlogits, as_matrix(dh));  // head: E += dlogitsᵀ h
    decoder.backward(x, dh, dx, context());
    embed.backward(ids, as_matrix(static_cast<const Tensor3<Scalar>&>(dx)));  // lookup: E[ids] += dx
  }
};

}  // namespace eigenformer::testing
