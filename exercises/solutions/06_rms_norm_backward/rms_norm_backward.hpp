// Exercise 6 — RMSNorm's backward pass: a solution. (The text: exercises/06_rms_norm_backward/.)
#pragma once

#include <cmath>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// The forward, given: x (N, C), γ (C) → y (N, C).
inline eigenformer::Matrix<double> rms_norm(const eigenformer::Matrix<double>& x, const eigenformer::RowVector<double>& gamma,
                                           double eps) {
  eigenformer::Matrix<double> y(x.rows(), x.cols());
  for (eigenformer::Index n = 0; n < x.rows(); ++n) {
    const double r = 1.0 / std::sqrt(x.row(n).squaredNorm() / static_cast<double>(x.cols()) + eps);
    y.row(n) = (x.row(n).array() * r * gamma.array()).matrix();
  }
  return y;
}

/// x (N, C), γ (C), dy (N, C) → dx (N, C) and dγ (C).
///
/// Derivation for one row. y_i = γ_i x_i r, so with g = dy ⊙ γ:
///     ∂loss/∂x_j = Σ_i g_i ∂(x_i r)/∂x_j = g_j r + (Σ_i g_i x_i) ∂r/∂x_j
/// and r = (Σ x²/C + eps)^(−1/2) gives ∂r/∂x_j = −½ r³ · 2x_j/C = −r³ x_j / C. Writing x = x̂ / r:
///     dx_j = r g_j − r³ x_j (Σ_i g_i x_i)/C = r (g_j − x̂_j mean(g ⊙ x̂)).
/// γ_i multiplies x̂_i in every row: dγ_i = Σ_rows dy_i x̂_i.
inline void rms_norm_backward(const eigenformer::Matrix<double>& x, const eigenformer::RowVector<double>& gamma, double eps,
                              const eigenformer::Matrix<double>& dy, eigenformer::Matrix<double>& dx,
                              eigenformer::RowVector<double>& dgamma) {
  dx.resize(x.rows(), x.cols());
  dgamma = eigenformer::RowVector<double>::Zero(x.cols());
  for (eigenformer::Index n = 0; n < x.rows(); ++n) {
    const double r = 1.0 / std::sqrt(x.row(n).squaredNorm() / static_cast<double>(x.cols()) + eps);
    const eigenformer::RowVector<double> x_hat = x.row(n) * r;
    const eigenformer::RowVector<double> g = (dy.row(n).array() * gamma.array()).matrix();
    const double mean_g_xhat = (g.array() * x_hat.array()).mean();
    dx.row(n) = (r * (g.array() - x_hat.array() * mean_g_xhat)).matrix();
    dgamma += (dy.row(n).array() * x_hat.array()).matrix();
  }
}

}  // namespace exercise
