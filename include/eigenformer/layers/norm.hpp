// eigenformer/layers/norm.hpp — normalising each token's vector: LayerNorm and RMSNorm.
//
// LayerNorm (Ba et al. 2016), used by BERT and the original Transformer:
//     y = (x - mean(x)) / sqrt(var(x) + eps) ⊙ γ + β         mean and (biased) var over the C features
// RMSNorm (Zhang & Sennrich 2019), used by T5 and Llama — no centring, no bias:
//     y = x / sqrt(mean(x²) + eps) ⊙ γ
//
// Both act on each row (token) of a (N, C) matrix independently. Their backward passes need only x and
// the per-row statistics, which are cheap to recompute from x.
#pragma once

#include <cmath>
#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

enum class NormKind { LayerNorm, RMSNorm };

inline const char* to_string(NormKind k) { return k == NormKind::LayerNorm ? "LayerNorm" : "RMSNorm"; }

struct NormConfig {
  NormKind kind = NormKind::LayerNorm;
  double eps = 1e-5;  // BERT 1e-12, T5 1e-6, Llama 1e-5 or 1e-6: read it from the config
  bool bias = true;   // LayerNorm's β; RMSNorm never has one
};

/// y = (x - mean) / sqrt(var + eps) ⊙ γ + β, row by row.   x, y: (N, C); γ, β: (C) (β may be empty).
template <class Scalar>
void layer_norm(const Eigen::Ref<const Matrix<Scalar>>& x, const RowVector<Scalar>& gamma, const RowVector<Scalar>& beta,
                Scalar eps, Eigen::Ref<Matrix<Scalar>> y) {
  for (Index r = 0; r < x.rows(); ++r) {
    const Scalar mean = x.row(r).mean();
    const Scalar variance = (x.row(r).array() - mean).square().mean();
    const Scalar inv_std = Scalar(1) / std::sqrt(variance + eps);
    y.row(r) = ((x.row(r).array() - mean) * inv_std * gamma.array()).matrix();
    if (beta.size() != 0) y.row(r) += beta;
  }
}

/// y = x / sqrt(mean(x²) + eps) ⊙ γ, row by row.   x, y: (N, C); γ: (C).
template <class Scalar>
void rms_norm(const Eigen::Ref<const Matrix<Scalar>>& x, const RowVector<Scalar>& gamma, Scalar eps, Eigen::Ref<Matrix<Scalar>> y) {
  for (Index r = 0; r < x.rows(); ++r) {
    const Scalar mean_square = x.row(r).squaredNorm() / static_cast<Scalar>(x.cols());
    const Scalar inv_rms = Scalar(1) / std::sqrt(mean_square + eps);
    y.row(r) = (x.row(r).array() * inv_rms * gamma.array()).matrix();
  }
}

/// A normalisation layer of either kind, owning γ (and β for LayerNorm with a bias).
template <class Scalar>
class Norm {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  Norm() = default;
  Norm(Index width, const NormConfig& config) : config_(config), weight(RowVector<Scalar>::Ones(width)) {
    if (config.kind == NormKind::LayerNorm && config.bias) bias = RowVector<Scalar>::Zero(width);
  }

  const NormConfig& config() const { return config_; }
  Index width() const { return weight.size(); }

  /// x: (N, C) → y: (N, C), resized when needed.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y) const {
    y.resize(x.rows(), x.cols());
    forward(x, Eigen::Ref<Matrix<Scalar>>(y));
  }

  /// The same into existing storage, which must already be (N, C). y may be x itself (in place).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Eigen::Ref<Matrix<Scalar>> y) const {
    if (x.cols() != width()) {
      throw ShapeError(detail::cat("[", to_string(config_.kind), "::forward] input ", detail::shape_str(shape_of(x)),
                                   " has ", x.cols(), " features but the norm has ", width()));
    }
    if (y.rows() != x.rows() || y.cols() != x.cols()) {
      throw ShapeError(detail::cat("[", to_string(config_.kind), "::forward] output ", detail::shape_str(shape_of(y)),
                                   " should be ", detail::shape_str(shape_of(x))));
    }
    const Scalar eps = static_cast<Scalar>(config_.eps);
    if (config_.kind == NormKind::LayerNorm) {
      layer_norm<Scalar>(x, weight, bias, eps, y);
    } else {
      rms_norm<Scalar>(x, weight, eps, y);
    }
  }

  Matrix<Scalar> operator()(const Eigen::Ref<const Matrix<Scalar>>& x) const {
    Matrix<Scalar> y;
    forward(x, y);
    return y;
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    add_parameter(out, prefix + "weight", weight);
    if (bias.size() != 0) add_parameter(out, prefix + "bias", bias);
  }

 private:
  NormConfig config_;

 public:
  RowVector<Scalar> weight;  // γ (C), starts at 1
  RowVector<Scalar> bias;    // β (C), starts at 0; empty for RMSNorm and bias-free LayerNorm
};

}  // namespace eigenformer
