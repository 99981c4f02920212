// tests/training/bigram.hpp — the smallest model that learns a language, for the training tests that must not
// wait for the layers' backward passes: a bigram softmax regression, logits = E[id] Wᵀ + b (Embedding →
// Linear, their forward from the library) with its three-line backward written here.
#pragma once

#include "eigenformer/eigenformer.hpp"

namespace eigenformer::testing {

/// logits (B·T, V) = E[ids] Wᵀ + b:   E (V, C),  W (V, C),  b (V).
template <class Scalar>
struct Bigram {
  using scalar_type = Scalar;
  Embedding<Scalar> embed;
  Linear<Scalar> head;
  Matrix<Scalar> embed_grad, head_weight_grad;  // (V, C), (V, C)
  RowVector<Scalar> head_bias_grad;             // (V)
  Tensor3<Scalar> x;                            // (B, T, C) kept for the backward

  Bigram(Index V, Index C) : embed(V, C), head(C, V, true) {}

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    add_parameter(out, prefix + "embed.weight", embed.weight, embed_grad);
    add_parameter(out, prefix + "head.weight", head.weight, head_weight_grad);
    add_parameter(out, prefix + "head.bias", head.bias, head_bias_grad);
  }

  Matrix<Scalar> forward(const TokenIds& ids) {
    embed.forward(ids, x);
    return head(as_matrix(x));
  }

  /// dW += dlogitsᵀ X,  db += Σ_rows dlogits,  dE[id_n] += (dlogits W)_n.
  void backward(const TokenIds& ids, const Matrix<Scalar>& dlogits) {
    const ConstMatrixMap<Scalar> X = as_matrix(static_cast<const Tensor3<Scalar>&>(x));
    head_weight_grad += dlogits.transpose() * X;
    head_bias_grad += dlogits.colwise().sum();
    const Matrix<Scalar> dx = dlogits * head.weight;
    for (Index n = 0; n < dx.rows(); ++n) embed_grad.row(ids(n / ids.cols(), n % ids.cols())) += dx.row(n);
  }
};

}  // namespace eigenformer::testing
