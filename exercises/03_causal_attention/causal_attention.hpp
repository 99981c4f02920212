// Exercise 3 — one head of causal self-attention (course chapter 4, attention).
//
//     scores  = Q Kᵀ / √D                     (T, T)   how well query t matches key s
//     scores(t, s) = −∞ for every s > t                 causal: a token may not read the future
//     weights = softmax of each row of scores (T, T)   each row sums to 1
//     context = weights V                     (T, D)   a weighted average of the values
//
// Q, K, V are (T, D): one row per token, D = the head's width. The mask is what makes a decoder a decoder:
// at training time all T positions are computed at once, yet position t must not see what comes after it,
// or "predict the next token" would be answered by reading it.
//
// The library's version (every batch and head, padding, bias, grouped heads): scaled_dot_product_attention()
// in include/eigenformer/attention/attention.hpp.
// Check: ctest --preset ci -R "exercise.03_causal_attention"   (see exercises/README.md)
#pragma once

#include <cmath>
#include <limits>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// Q, K, V (T, D) → context (T, D).
template <class Scalar>
eigenformer::Matrix<Scalar> causal_attention(const eigenformer::Matrix<Scalar>& Q, const eigenformer::Matrix<Scalar>& K,
                                             const eigenformer::Matrix<Scalar>& V) {
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(Q.cols()));
  eigenformer::Matrix<Scalar> scores = (Q * K.transpose()) * scale;  // (T, T)
  // TODO: hide the future. As written, every token reads every other one (an encoder's attention).
  eigenformer::Matrix<Scalar> weights(scores.rows(), scores.cols());  // (T, T)
  for (eigenformer::Index t = 0; t < scores.rows(); ++t) {
    const Scalar m = scores.row(t).maxCoeff();
    weights.row(t) = (scores.row(t).array() - m).exp().matrix();
    weights.row(t) /= weights.row(t).sum();
  }
  return weights * V;  // (T, D)
}

}  // namespace exercise
