// Exercise 3 — one head of causal self-attention: a solution. (The text: exercises/03_causal_attention/.)
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
  // The causal mask: above the diagonal lies the future. −∞ there makes exp() exactly 0 after the softmax.
  const Scalar hidden = -std::numeric_limits<Scalar>::infinity();
  for (eigenformer::Index t = 0; t < scores.rows(); ++t) {
    for (eigenformer::Index s = t + 1; s < scores.cols(); ++s) scores(t, s) = hidden;
  }
  eigenformer::Matrix<Scalar> weights(scores.rows(), scores.cols());  // (T, T)
  for (eigenformer::Index t = 0; t < scores.rows(); ++t) {
    const Scalar m = scores.row(t).maxCoeff();  // finite: key t = the token itself is always visible
    weights.row(t) = (scores.row(t).array() - m).exp().matrix();
    weights.row(t) /= weights.row(t).sum();
  }
  return weights * V;  // (T, D)
}

}  // namespace exercise
