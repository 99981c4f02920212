// eigenformer/layers/embedding.hpp — token ids to vectors: a lookup table.
//
//     x(b, t, :) = E(ids(b, t), :)        E (V, C)   ids (B, T)   x (B, T, C)
//
// The same table serves learned absolute positions (BERT: E (max_positions, C), looked up by position)
// and token types. A language model's output layer often reuses E ("tied" weights): logits = h Eᵀ.
#pragma once

#include <optional>
#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameter_memory.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/linear.hpp"  // linear_backward: the tied head

namespace eigenformer {

template <class Scalar>
class Embedding {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  Embedding() = default;
  /// A table of `count` rows of `width` zeros (left for the loader to write when built for one:
  /// core/parameter_memory.hpp).
  Embedding(Index count, Index width) : weight(new_parameter<Matrix<Scalar>>(count, width)) {}

  Index count() const { return weight.rows(); }
  Index width() const { return weight.cols(); }

  /// ids (B, T) → x (B, T, C). An id outside [0, count) is a ValueError naming the id and where it is.
  void forward(const TokenIds& ids, Tensor3<Scalar>& x) const {
    x.resize(ids.rows(), ids.cols(), width());
    MatrixMap<Scalar> rows = as_matrix(x);
    for (Index b = 0; b < ids.rows(); ++b) {
      for (Index t = 0; t < ids.cols(); ++t) {
        rows.row(b * ids.cols() + t) = weight.row(checked(ids(b, t), b, t));
      }
    }
  }

  Tensor3<Scalar> operator()(const TokenIds& ids) const {
    Tensor3<Scalar> x;
    forward(ids, x);
    return x;
  }

  /// Adds rows `first .. first+T-1` to every sequence: learned absolute positions.  x (B, T, C) += E[first + t].
  void add_positions(Tensor3<Scalar>& x, Index first) const {
    const Index positions = x.dimension(1);
    if (x.dimension(2) != width()) {
      throw ShapeError(detail::cat("[Embedding::add_positions] input ", detail::shape_str(shape_of(x)),
                                   " has width ", x.dimension(2), " but the table is ",
                                   detail::shape_str(shape_of(weight))));
    }
    if (first < 0 || first + positions > count()) {
      throw ValueError(detail::cat("[Embedding::add_positions] positions ", first, "..", first + positions - 1,
                                   " exceed the table of ", count(), " positions"));
    }
    MatrixMap<Scalar> rows = as_matrix(x);
    for (Index b = 0; b < x.dimension(0); ++b) {
      rows.middleRows(b * positions, positions) += weight.middleRows(first, positions);
    }
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    add_parameter(out, prefix + "weight", weight, weight_grad);
  }

  Matrix<Scalar> weight;  // (count, C): row i is the vector of id i

  // ---- Backward (training) ------------------------------------------------------------------------------
  // A lookup copies rows, x(n, :) = E(id_n, :), so ∂x(n, c)/∂E(i, c) = [id_n = i]: the gradient of row i is the
  // sum of the output gradients of every position that looked it up (a scatter-add; a token seen twice
  // collects twice). Nothing flows to the ids: they are integers. A table read by the LM head as well
  // (tied weights, logits = h Eᵀ) receives that use's gradient in the same buffer: backward_as_head().
  // Every backward here adds only when weight_grad is allocated (empty: the table is frozen, nothing to do).

  Matrix<Scalar> weight_grad;        // (count, C) ∂loss/∂E, accumulated by every backward below
  std::optional<Index> padding_idx;  // nn.Embedding's padding_idx: lookups of this row send it no gradient
                                     // (as in PyTorch, where its vector stays as loaded; the tied head's
                                     // use is an ordinary product and does reach it)

  /// Backward of forward(ids): E(ids(b, t), :) += dx(b·T + t, :), skipping padding_idx.
  ///   ids (B, T)   the ids of the forward call    dx (B·T, C) ∂loss/∂x (as_matrix of the (B, T, C) gradient)
  void backward(const TokenIds& ids, const Eigen::Ref<const Matrix<Scalar>>& dx) {
    if (dx.rows() != ids.rows() * ids.cols() || dx.cols() != width()) {
      throw ShapeError(detail::cat("[Embedding::backward] gradient ", detail::shape_str(shape_of(dx)), " is not (B·T, C) = ",
                                   detail::shape_str({ids.rows() * ids.cols(), width()}), " for ids ",
                                   detail::shape_str(shape_of(ids))));
    }
    if (!gradient_ready("Embedding::backward")) return;
    for (Index b = 0; b < ids.rows(); ++b) {
      for (Index t = 0; t < ids.cols(); ++t) {
        const Index row = checked(ids(b, t), b, t);
        if (padding_idx && row == *padding_idx) continue;
        weight_grad.row(row) += dx.row(b * ids.cols() + t);
      }
    }
  }

  /// Backward of add_positions(x, first): x (B, T, C) += E[first + t] is, for E, a lookup of ids first + t in
  /// every sequence, so E(first + t, :) += Σ_b dx(b·T + t, :). For x the map is x ↦ x + const: its gradient
  /// passes through unchanged (the caller keeps using dx).   dx (B·T, C) with B = batch.
  void add_positions_backward(const Eigen::Ref<const Matrix<Scalar>>& dx, Index batch, Index first) {
    if (batch <= 0 || dx.rows() % batch != 0 || dx.cols() != width()) {
      throw ShapeError(detail::cat("[Embedding::add_positions_backward] gradient ", detail::shape_str(shape_of(dx)),
                                   " is not (B·T, C) with B = ", batch, " and C = ", width()));
    }
    const Index positions = dx.rows() / batch;
    if (first < 0 || first + positions > count()) {
      throw ValueError(detail::cat("[Embedding::add_positions_backward] positions ", first, "..", first + positions - 1,
                                   " exceed the table of ", count(), " positions"));
    }
    if (!gradient_ready("Embedding::add_positions_backward")) return;
    for (Index b = 0; b < batch; ++b) {
      for (Index t = 0; t < positions; ++t) {
        if (padding_idx && first + t == *padding_idx) continue;
        weight_grad.row(first + t) += dx.row(b * positions + t);
      }
    }
  }

  /// Backward of the tied LM head logits = h Eᵀ (E read as a Linear's (V, C) weight, no bias):
  ///   dh = dlogits E   (written or added)      E's gradient += dlogitsᵀ h   (linear.hpp: linear_backward)
  /// into the same weight_grad as the lookups, so a tied table ends with the sum of both uses — exactly what
  /// autograd gives a tensor read twice. padding_idx does not apply here (PyTorch's F.linear ignores it).
  ///   h (N, C)   the head's input      dlogits (N, V)      dh (N, C)
  void backward_as_head(const Eigen::Ref<const Matrix<Scalar>>& h, const Eigen::Ref<const Matrix<Scalar>>& dlogits,
                        Eigen::Ref<Matrix<Scalar>> dh, GradientWrite write = GradientWrite::Assign) {
    linear_backward<Scalar>(weight, h, dlogits, dh, write, weight_grad, nullptr, "Embedding::backward_as_head");
  }

 private:
  // True when weight_grad is allocated (and then of the table's shape); false: no parameter gradient wanted.
  bool gradient_ready(const char* where) const {
    if (weight_grad.size() == 0) return false;
    if (weight_grad.rows() != count() || weight_grad.cols() != width()) {
      throw ShapeError(detail::cat("[", where, "] gradient buffer ", detail::shape_str(shape_of(weight_grad)),
                                   " does not match the table ", detail::shape_str(shape_of(weight))));
    }
    if (padding_idx && (*padding_idx < 0 || *padding_idx >= count())) {
      throw ValueError(detail::cat("[", where, "] padding_idx ", *padding_idx, " is outside the table of ", count(),
                                   " entries"));
    }
    return true;
  }

 private:
  Index checked(TokenId id, Index b, Index t) const {
    if (id < 0 || id >= count()) {
      throw ValueError(detail::cat("[Embedding] token id ", id, " at batch ", b, ", position ", t,
                                   " is outside the table of ", count(), " entries"));
    }
    return id;
  }
};

}  // namespace eigenformer
