// tests/training/gradient_check.hpp — what the gradient tests share: the finite-difference tolerance and
// deterministic random inputs (a small LCG, so every platform draws the same numbers).
#pragma once

#include <cstdint>

#include "eigenformer/core/tensor.hpp"

namespace eigenformer::testing {

/// Relative error allowed between central finite differences (double) and an analytic gradient.
constexpr double kFiniteDifferenceTolerance = 1e-6;

/// Deterministic values in [-scale, scale].
inline Matrix<double> random_matrix(Index rows, Index cols, unsigned seed, double scale = 1.0) {
  std::uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(state >> 11) / static_cast<double>(1ULL << 53);
    m.data()[i] = (2 * u - 1) * scale;
  }
  return m;
}

/// A copy of a (B·T, C) matrix as activations (B, T, C).
template <class Scalar>
Tensor3<Scalar> to_tensor3(const Matrix<Scalar>& m, Index batch, Index positions) {
  Tensor3<Scalar> x(batch, positions, m.cols());
  as_matrix(x) = m;
  return x;
}

/// Deterministic activations (B, T, C) in [-scale, scale].
inline Tensor3<double> random_tensor(Index b, Index t, Index c, unsigned seed, double scale = 1.0) {
  return to_tensor3<double>(random_matrix(b * t, c, seed, scale), b, t);
}

}  // namespace eigenformer::testing
