// Exercise 1 — a softmax that never overflows (course chapter 4, attention; chapter 6, the output head).
//
//     softmax(x)_s = exp(x_s) / Σ_s' exp(x_s')
//
// Written literally it breaks: a float's exp overflows above x ≈ 88.7, so scores like 1000 give inf/inf =
// NaN. Attention scores and logits reach such values. Fix it without changing the result: for any constant
// m, exp(x_s − m) / Σ exp(x_s' − m) is the same number (multiply top and bottom by exp(−m)); choose m so
// that no exp() can overflow.
//
// A score of −∞ means "hidden" (a masked key): its probability must be exactly 0. A row whose scores are
// all −∞ reads nothing: make it all zeros, not NaN.
//
// The library's answer: masked_softmax_rows() in include/eigenformer/attention/attention.hpp — try first.
// Check: ctest --preset ci -R "exercise.01_softmax"   (see exercises/README.md)
#pragma once

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// scores (R, S) → probabilities (R, S), each row summing to 1 (or all zero when every score is −∞).
template <class Scalar>
eigenformer::Matrix<Scalar> softmax_rows(const eigenformer::Matrix<Scalar>& scores) {
  // TODO: this is the literal formula. It overflows for large scores and gives NaN for an all −∞ row.
  eigenformer::Matrix<Scalar> probabilities = scores.array().exp().matrix();
  for (eigenformer::Index r = 0; r < probabilities.rows(); ++r) {
    probabilities.row(r) /= probabilities.row(r).sum();
  }
  return probabilities;
}

}  // namespace exercise
