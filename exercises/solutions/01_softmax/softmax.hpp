// Exercise 1 — a softmax that never overflows: a solution. (The exercise text: exercises/01_softmax/softmax.hpp.)
#pragma once

#include <cmath>
#include <limits>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// scores (R, S) → probabilities (R, S), each row summing to 1 (or all zero when every score is −∞).
template <class Scalar>
eigenformer::Matrix<Scalar> softmax_rows(const eigenformer::Matrix<Scalar>& scores) {
  eigenformer::Matrix<Scalar> probabilities(scores.rows(), scores.cols());
  for (eigenformer::Index r = 0; r < scores.rows(); ++r) {
    // m = the row's largest score: every exp(x_s − m) is then ≤ 1, and the largest is exactly 1, so the sum
    // is ≥ 1 — neither overflow nor division by zero.
    const Scalar m = scores.row(r).maxCoeff();
    if (m == -std::numeric_limits<Scalar>::infinity()) {  // every key hidden: this query reads nothing
      probabilities.row(r).setZero();
      continue;
    }
    for (eigenformer::Index s = 0; s < scores.cols(); ++s) {
      // exp(−∞) is 0 mathematically; written out, so a hidden key's probability is exactly 0 (Eigen's
      // vectorised exp() clamps its argument and would return a tiny 1e-40 instead).
      const Scalar x = scores(r, s);
      probabilities(r, s) = x == -std::numeric_limits<Scalar>::infinity() ? Scalar(0) : std::exp(x - m);
    }
    probabilities.row(r) /= probabilities.row(r).sum();
  }
  return probabilities;
}

}  // namespace exercise
