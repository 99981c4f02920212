// eigenformer/layers/norm.hpp — normalising each token's vector: LayerNorm and RMSNorm.
//
// LayerNorm (Ba et al. 2016), used by BERT and the original Transformer:
//     y = (x - mean(x)) / sqrt(var(x) + eps) ⊙ γ + β         mean and (biased) var over the C features
// RMSNorm (Zhang & Sennrich 2019), used by T5 and Llama — no centring, no bias:
//     y = x / sqrt(mean(x²) + eps) ⊙ γ
//
// Both act on each row (token) of a (N, C) matrix independently. Their backward passes read what the
// forward keeps in NormActivations: the normalised rows x̂ and each row's 1/σ (or 1/rms).
#pragma once

#include <cmath>
#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/linear.hpp"  // GradientWrite

namespace eigenformer {

enum class NormKind { LayerNorm, RMSNorm };

inline const char* to_string(NormKind k) { return k == NormKind::LayerNorm ? "LayerNorm" : "RMSNorm"; }

struct NormConfig {
  NormKind kind = NormKind::LayerNorm;
  double eps = 1e-5;  // BERT 1e-12, T5 1e-6, Llama 1e-5 or 1e-6: read it from the config
  bool bias = true;   // LayerNorm's β; RMSNorm never has one
};

/// What a norm's forward keeps for its backward (Norm::backward reads both, and γ; never x itself, so the
/// forward may run in place).
template <class Scalar>
struct NormActivations {
  Matrix<Scalar> normalized;                          // (N, C) x̂: (x − mean)/σ, or x/rms — before γ and β
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> inv_scale;  // (N)    1/σ = 1/√(var + eps), or 1/rms = 1/√(mean(x²) + eps)
};

/// y = (x - mean) / sqrt(var + eps) ⊙ γ + β, row by row.   x, y: (N, C); γ, β: (C) (β may be empty).
/// With `keep`, also stores x̂ and 1/σ for the backward pass.
template <class Scalar>
void layer_norm(const Eigen::Ref<const Matrix<Scalar>>& x, const RowVector<Scalar>& gamma, const RowVector<Scalar>& beta,
                Scalar eps, Eigen::Ref<Matrix<Scalar>> y, NormActivations<Scalar>* keep = nullptr) {
  if (keep != nullptr) {
    keep->normalized.resize(x.rows(), x.cols());
    keep->inv_scale.resize(x.rows());
  }
  for (Index r = 0; r < x.rows(); ++r) {
    const Scalar mean = x.row(r).mean();
    const Scalar variance = (x.row(r).array() - mean).square().mean();
    const Scalar inv_std = Scalar(1) / std::sqrt(variance + eps);
    if (keep != nullptr) {  // before y is written: y may be x
      keep->normalized.row(r) = ((x.row(r).array() - mean) * inv_std).matrix();
      keep->inv_scale(r) = inv_std;
    }
    y.row(r) = ((x.row(r).array() - mean) * inv_std * gamma.array()).matrix();
    if (beta.size() != 0) y.row(r) += beta;
  }
}

/// y = x / sqrt(mean(x²) + eps) ⊙ γ, row by row.   x, y: (N, C); γ: (C).
/// With `keep`, also stores x̂ and 1/rms for the backward pass.
template <class Scalar>
void rms_norm(const Eigen::Ref<const Matrix<Scalar>>& x, const RowVector<Scalar>& gamma, Scalar eps, Eigen::Ref<Matrix<Scalar>> y,
              NormActivations<Scalar>* keep = nullptr) {
  if (keep != nullptr) {
    keep->normalized.resize(x.rows(), x.cols());
    keep->inv_scale.resize(x.rows());
  }
  for (Index r = 0; r < x.rows(); ++r) {
    const Scalar mean_square = x.row(r).squaredNorm() / static_cast<Scalar>(x.cols());
    const Scalar inv_rms = Scalar(1) / std::sqrt(mean_square + eps);
    if (keep != nullptr) {  // before y is written: y may be x
      keep->normalized.row(r) = (x.row(r).array() * inv_rms).matrix();
      keep->inv_scale(r) = inv_rms;
    }
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
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y) {
    y.resize(x.rows(), x.cols());
    forward(x, Eigen::Ref<Matrix<Scalar>>(y));
  }

  /// The same into existing storage, which must already be (N, C). y may be x itself (in place).
  /// Keeps x̂ and the per-row scale in `act` for backward().
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Eigen::Ref<Matrix<Scalar>> y) {
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
      layer_norm<Scalar>(x, weight, bias, eps, y, &act);
    } else {
      rms_norm<Scalar>(x, weight, eps, y, &act);
    }
  }

  Matrix<Scalar> operator()(const Eigen::Ref<const Matrix<Scalar>>& x) {
    Matrix<Scalar> y;
    forward(x, y);
    return y;
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    add_parameter(out, prefix + "weight", weight, weight_grad);
    if (bias.size() != 0) add_parameter(out, prefix + "bias", bias, bias_grad);
  }

 private:
  NormConfig config_;

 public:
  RowVector<Scalar> weight;  // γ (C), starts at 1
  RowVector<Scalar> bias;    // β (C), starts at 0; empty for RMSNorm and bias-free LayerNorm

  // ---- Backward (training) ------------------------------------------------------------------------------
  NormActivations<Scalar> act;    // x̂ (N, C) and 1/σ or 1/rms (N) of the last forward call
  RowVector<Scalar> weight_grad;  // (C) ∂loss/∂γ, accumulated by backward(); empty until collected with gradients
  RowVector<Scalar> bias_grad;    // (C) ∂loss/∂β, likewise (LayerNorm with a bias only)

  /// Backward of the last forward call.   dy (N, C) = ∂loss/∂y → dx (N, C) = ∂loss/∂x, written or added.
  /// Reads act.normalized (x̂), act.inv_scale (r = 1/σ or 1/rms) and γ; dx may be dy itself (in place).
  ///
  /// Per row, with g = γ ⊙ dy (the gradient reaching x̂) and C features:
  ///   LayerNorm  x̂ = (x − μ) r,  r = (var + eps)^(-1/2):   ∂μ/∂x_j = 1/C, ∂r/∂x_j = −r³ (x_j − μ)/C, so
  ///              dx = r (g − mean(g) − x̂ mean(g ⊙ x̂))
  ///              (the two means remove what moving the mean and the spread of x would undo)
  ///   RMSNorm    x̂ = x r,  r = (mean(x²) + eps)^(-1/2):     ∂r/∂x_j = −r³ x_j/C, so
  ///              dx = r (g − x̂ mean(g ⊙ x̂))               (no centring, so no mean(g) term)
  ///   both       dγ += Σ_rows dy ⊙ x̂      dβ += Σ_rows dy
  /// eps sits inside the square root in both forwards (PyTorch's nn.LayerNorm, T5's and Llama's RMSNorm),
  /// which is what r above is. Parameter gradients are added only to allocated (non-empty) buffers.
  void backward(const Eigen::Ref<const Matrix<Scalar>>& dy, Eigen::Ref<Matrix<Scalar>> dx,
                GradientWrite write = GradientWrite::Assign) {
    const char* name = config_.kind == NormKind::LayerNorm ? "LayerNorm::backward" : "RMSNorm::backward";
    const Matrix<Scalar>& xhat = act.normalized;
    if (dy.rows() != xhat.rows() || dy.cols() != width() || dx.rows() != dy.rows() || dx.cols() != dy.cols()) {
      throw ShapeError(detail::cat("[", name, "] gradients ", detail::shape_str(shape_of(dy)), " → ",
                                   detail::shape_str(shape_of(dx)), " do not match the last forward's ",
                                   detail::shape_str(shape_of(xhat))));
    }
    if (weight_grad.size() != 0 && weight_grad.size() != width()) {
      throw ShapeError(detail::cat("[", name, "] weight gradient buffer has ", weight_grad.size(), " entries, expected ", width()));
    }
    if (bias_grad.size() != 0 && bias_grad.size() != bias.size()) {
      throw ShapeError(detail::cat("[", name, "] bias gradient buffer has ", bias_grad.size(), " entries, expected ", bias.size()));
    }
    // 1) dγ += Σ_rows dy ⊙ x̂, dβ += Σ_rows dy — before dx is written (dx may be dy).
    if (weight_grad.size() != 0) weight_grad += (dy.array() * xhat.array()).colwise().sum().matrix();
    if (bias_grad.size() != 0) bias_grad += dy.colwise().sum();
    // 2) dx row by row.
    const bool centred = config_.kind == NormKind::LayerNorm;
    RowVector<Scalar> g(width());
    RowVector<Scalar> row_dx(width());
    for (Index r = 0; r < dy.rows(); ++r) {
      g = (dy.row(r).array() * weight.array()).matrix();
      const Scalar mean_g = centred ? g.mean() : Scalar(0);
      const Scalar mean_gx = (g.array() * xhat.row(r).array()).mean();
      row_dx = (act.inv_scale(r) * (g.array() - mean_g - xhat.row(r).array() * mean_gx)).matrix();
      if (write == GradientWrite::Assign) {
        dx.row(r) = row_dx;
      } else {
        dx.row(r) += row_dx;
      }
    }
  }

  /// The same, dx resized to (N, C) and written.
  void backward(const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    dx.resize(dy.rows(), dy.cols());
    backward(dy, Eigen::Ref<Matrix<Scalar>>(dx), GradientWrite::Assign);
  }
};

}  // namespace eigenformer
