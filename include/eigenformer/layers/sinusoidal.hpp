// eigenformer/layers/sinusoidal.hpp — the fixed position encodings of "Attention is all you need" (§3.5).
//
//     PE(p, 2i)     = sin(p / 10000^(2i/C))
//     PE(p, 2i + 1) = cos(p / 10000^(2i/C))          p = position, i = 0 .. C/2-1
//
// Added to the token embeddings before the first layer. Each pair of features is a clock running at its
// own speed, so nearby positions get similar codes and PE(p + k) is a linear function of PE(p).
#pragma once

#include <cmath>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

/// The (positions, C) table of encodings for positions first .. first + positions - 1.
template <class Scalar>
Matrix<Scalar> sinusoidal_positions(Index positions, Index width, Index first = 0) {
  if (width <= 0 || width % 2 != 0) {
    throw ValueError(detail::cat("[sinusoidal_positions] width must be even and positive, got ", width));
  }
  Matrix<Scalar> table(positions, width);
  for (Index p = 0; p < positions; ++p) {
    for (Index i = 0; i < width / 2; ++i) {
      const double angle =
          static_cast<double>(first + p) / std::pow(10000.0, static_cast<double>(2 * i) / static_cast<double>(width));
      table(p, 2 * i) = static_cast<Scalar>(std::sin(angle));
      table(p, 2 * i + 1) = static_cast<Scalar>(std::cos(angle));
    }
  }
  return table;
}

/// x (B, T, C) += PE(first + t), for every sequence of the batch.
template <class Scalar>
void add_sinusoidal_positions(Tensor3<Scalar>& x, Index first = 0) {
  const Matrix<Scalar> table = sinusoidal_positions<Scalar>(x.dimension(1), x.dimension(2), first);
  MatrixMap<Scalar> rows = as_matrix(x);
  for (Index b = 0; b < x.dimension(0); ++b) rows.middleRows(b * x.dimension(1), x.dimension(1)) += table;
}

// Backward: the table is fixed (nothing to learn) and x ↦ x + PE is a shift, whose Jacobian is the identity:
// ∂loss/∂x = ∂loss/∂(x + PE). The gradient passes through unchanged — there is no function to call.

}  // namespace eigenformer
