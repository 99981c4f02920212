// eigenformer/core/tensor.hpp — how activations and weights are laid out, and the views over them.
//
// Shape legend (used in every header of eigenformer):
//   B  batch            T  query positions       S  key/value positions
//   C  model width      H  query heads           Hkv key/value heads       D  head width
//   F  feed-forward width                         V  vocabulary size
//
// Layout: row-major, outermost dimension first, exactly as PyTorch stores a contiguous tensor:
//   activations  x(b, t, c)   Tensor3<Scalar> of dimensions (B, T, C)
//   weights      W(o, i)      Matrix<Scalar>  of dimensions (out, in)   — nn.Linear's layout, so a safetensors
//                                                                      weight is copied in byte for byte
// Inside a layer the activations are *viewed*, never copied:
//   as_matrix(x)            (B*T, C)   one row per token: one GEMM per projection covers the whole batch
//   HeadsView::of(q, B, H).block(b, h)   (T, D)   the columns of head h in the rows of sequence b, a
//                                                  strided view (attention/attention.hpp)
#pragma once

#include <Eigen/Core>
#include <unsupported/Eigen/CXX11/Tensor>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer {

using Index = Eigen::Index;

/// Row-major dynamic matrix: row r is contiguous, so row t of (T, C) data is one token.
template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A (1, n) row vector: biases and norm weights, broadcast over the rows of a (N, n) matrix.
template <class Scalar>
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

/// Activations (B, T, C), row-major.
template <class Scalar>
using Tensor3 = Eigen::Tensor<Scalar, 3, Eigen::RowMajor>;

/// Per-head maps such as attention probabilities (B, H, T, S) or biases (B|1, H|1, T, S), row-major.
template <class Scalar>
using Tensor4 = Eigen::Tensor<Scalar, 4, Eigen::RowMajor>;

/// Token ids of a batch (B, T), row-major.
using TokenIds = Eigen::Matrix<TokenId, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class Scalar>
using MatrixMap = Eigen::Map<Matrix<Scalar>>;
template <class Scalar>
using ConstMatrixMap = Eigen::Map<const Matrix<Scalar>>;

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// Views activations (B, T, C) as a (B*T, C) matrix, one row per token. No copy.
template <class Scalar>
MatrixMap<Scalar> as_matrix(Tensor3<Scalar>& x) {
  return MatrixMap<Scalar>(x.data(), x.dimension(0) * x.dimension(1), x.dimension(2));
}
template <class Scalar>
ConstMatrixMap<Scalar> as_matrix(const Tensor3<Scalar>& x) {
  return ConstMatrixMap<Scalar>(x.data(), x.dimension(0) * x.dimension(1), x.dimension(2));
}

/// Views the (T, S) slice [b, h] of a (B, H, T, S) tensor as a matrix. No copy.
template <class Scalar>
MatrixMap<Scalar> as_matrix(Tensor4<Scalar>& x, Index b, Index h) {
  const Index t = x.dimension(2), s = x.dimension(3);
  return MatrixMap<Scalar>(x.data() + (b * x.dimension(1) + h) * t * s, t, s);
}
template <class Scalar>
ConstMatrixMap<Scalar> as_matrix(const Tensor4<Scalar>& x, Index b, Index h) {
  const Index t = x.dimension(2), s = x.dimension(3);
  return ConstMatrixMap<Scalar>(x.data() + (b * x.dimension(1) + h) * t * s, t, s);
}

// ---------------------------------------------------------------------------------------------
// Shapes in messages and checks
// ---------------------------------------------------------------------------------------------

template <class Scalar, int Rank>
std::vector<Index> shape_of(const Eigen::Tensor<Scalar, Rank, Eigen::RowMajor>& x) {
  std::vector<Index> s(Rank);
  for (int i = 0; i < Rank; ++i) s[static_cast<std::size_t>(i)] = x.dimension(i);
  return s;
}

template <class Derived>
std::vector<Index> shape_of(const Eigen::DenseBase<Derived>& m) {
  return {m.rows(), m.cols()};
}

}  // namespace eigenformer
