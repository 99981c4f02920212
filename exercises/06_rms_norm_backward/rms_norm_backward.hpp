// Exercise 6 — RMSNorm's backward pass, by hand (course chapter 9/10: how a model learns; docs/backward.md).
//
// Forward, row by row (x one token's vector of C features, γ the learned scale):
//
//     r = (mean(x²) + eps)^(−1/2)          x̂ = x r          y = x̂ ⊙ γ
//
// Backward: given dy = ∂loss/∂y (N, C), return dx = ∂loss/∂x (N, C) and dγ = ∂loss/∂γ (C). Work it out:
// every x_j appears twice — in x̂_j directly and inside r, which depends on all of x (∂r/∂x_j = −r³ x_j / C).
// Let g = dy ⊙ γ (the gradient reaching x̂); then
//
//     dx = r (g − x̂ · mean(g ⊙ x̂))      per row
//     dγ = Σ_rows dy ⊙ x̂
//
// — but do derive it, then check against the test's finite differences. (The library's version, beside its
// forward: Norm::backward() in include/eigenformer/layers/norm.hpp.)
// Check: ctest --preset ci -R "exercise.06_rms_norm_backward"   (see exercises/README.md)
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
inline void rms_norm_backward(const eigenformer::Matrix<double>& x, const eigenformer::RowVector<double>& gamma, double eps,
                              const eigenformer::Matrix<double>& dy, eigenformer::Matrix<double>& dx,
                              eigenformer::RowVector<double>& dgamma) {
  // TODO: the backward pass. As written, it treats r as a constant and forgets γ's gradient.
  dx.resize(x.rows(), x.cols());
  dgamma = eigenformer::RowVector<double>::Zero(x.cols());
  for (eigenformer::Index n = 0; n < x.rows(); ++n) {
    const double r = 1.0 / std::sqrt(x.row(n).squaredNorm() / static_cast<double>(x.cols()) + eps);
    dx.row(n) = (dy.row(n).array() * gamma.array() * r).matrix();
  }
}

}  // namespace exercise
