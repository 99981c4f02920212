// eigenformer/layers/linear.hpp — the affine map every projection in a Transformer is made of.
//
//     y = x Wᵀ + b          x (N, in)   W (out, in)   b (out)   y (N, out)
//
// W is stored (out, in), row-major: nn.Linear's layout, so a checkpoint's weight is copied byte for byte
// and row o of W is the weight vector of output feature o. N is every token of the batch at once
// (B·T rows), which turns a projection into one large matrix product — where nearly all the time goes.
#pragma once

#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

template <class Scalar>
class Linear {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  Linear() = default;
  /// A layer mapping `in` features to `out`, with or without a bias. Weights start at zero; load them
  /// or initialise them through the parameter list.
  Linear(Index in, Index out, bool bias) : weight(Matrix<Scalar>::Zero(out, in)), has_bias_(bias) {
    if (bias) this->bias = RowVector<Scalar>::Zero(out);
  }

  Index in_features() const { return weight.cols(); }
  Index out_features() const { return weight.rows(); }
  bool has_bias() const { return has_bias_; }

  /// y = x Wᵀ + b.   x: (N, in) → y: (N, out), resized when needed.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y) const {
    y.resize(x.rows(), out_features());
    forward(x, Eigen::Ref<Matrix<Scalar>>(y));
  }

  /// The same into existing storage (a view of a tensor, say), which must already be (N, out).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Eigen::Ref<Matrix<Scalar>> y) const {
    if (x.cols() != in_features()) {
      throw ShapeError(detail::cat("[Linear::forward] input ", detail::shape_str(shape_of(x)), " has ", x.cols(),
                                   " features but the weight ", detail::shape_str(shape_of(weight)), " expects ",
                                   in_features()));
    }
    if (y.rows() != x.rows() || y.cols() != out_features()) {
      throw ShapeError(detail::cat("[Linear::forward] output ", detail::shape_str(shape_of(y)), " should be ",
                                   detail::shape_str({x.rows(), out_features()})));
    }
    y.noalias() = x * weight.transpose();
    if (has_bias_) y.rowwise() += bias;
  }

  /// Convenience form: returns y (N, out).
  Matrix<Scalar> operator()(const Eigen::Ref<const Matrix<Scalar>>& x) const {
    Matrix<Scalar> y;
    forward(x, y);
    return y;
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    add_parameter(out, prefix + "weight", weight);
    if (has_bias_) add_parameter(out, prefix + "bias", bias);
  }

  Matrix<Scalar> weight;   // (out, in)
  RowVector<Scalar> bias;  // (out); empty when the layer has no bias

 private:
  bool has_bias_ = false;
};

}  // namespace eigenformer
