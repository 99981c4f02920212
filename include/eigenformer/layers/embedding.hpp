// eigenformer/layers/embedding.hpp — token ids to vectors: a lookup table.
//
//     x(b, t, :) = E(ids(b, t), :)        E (V, C)   ids (B, T)   x (B, T, C)
//
// The same table serves learned absolute positions (BERT: E (max_positions, C), looked up by position)
// and token types. A language model's output layer often reuses E ("tied" weights): logits = h Eᵀ.
#pragma once

#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

template <class Scalar>
class Embedding {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  Embedding() = default;
  Embedding(Index count, Index width) : weight(Matrix<Scalar>::Zero(count, width)) {}

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
    add_parameter(out, prefix + "weight", weight);
  }

  Matrix<Scalar> weight;  // (count, C): row i is the vector of id i

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
