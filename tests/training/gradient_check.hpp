// tests/training/gradient_check.hpp — what the gradient tests share: the finite-difference tolerance and
// deterministic random inputs (a small LCG, so every platform draws the same numbers).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>

#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer::testing {

/// Relative error allowed between central finite differences (double) and an analytic gradient.
constexpr double kFiniteDifferenceTolerance = 1e-6;

/// Every entry of every parameter against central finite differences of `loss` (which must recompute the loss
/// from the parameters' current values, through a path independent of the backward — the plain forward):
///     numeric = (L(p + h) − L(p − h)) / 2h,   h = 1e-6 · max(1, |p|)
/// against the analytic gradient already in p.grad. Per tensor, error = max |numeric − analytic| / max |analytic|;
/// each is CHECKed against kFiniteDifferenceTolerance, and a tensor whose gradient is zero everywhere fails (the
/// test would prove nothing) — except the parameters `invariant` names: those the loss cannot depend on, such as
/// a key projection's bias (it moves every score of a query by the same q·b_k, which softmax cancels), whose
/// analytic gradient must be 0 up to rounding (≤ 1e-12) and whose finite differences must vanish (≤ 1e-7).
/// Returns the worst error and prints it with `what`.
inline double check_finite_differences(ParameterList<double>& params, const std::function<double()>& loss,
                                       const std::string& what,
                                       const std::function<bool(const std::string&)>& invariant = {}) {
  double worst = 0;
  for (ParameterRef<double>& p : params) {
    REQUIRE_MESSAGE(p.grad != nullptr, p.name << " has no gradient buffer");
    double max_diff = 0, max_ref = 0;
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      const double saved = p.data[i];
      const double h = 1e-6 * std::max(1.0, std::abs(saved));
      p.data[i] = saved + h;
      const double plus = loss();
      p.data[i] = saved - h;
      const double minus = loss();
      p.data[i] = saved;
      max_diff = std::max(max_diff, std::abs((plus - minus) / (2 * h) - p.grad[i]));
      max_ref = std::max(max_ref, std::abs(p.grad[i]));
    }
    if (invariant && invariant(p.name)) {
      CHECK_MESSAGE(max_ref <= 1e-12, what << ": " << p.name << " should get no gradient, got " << max_ref);
      CHECK_MESSAGE(max_diff <= 1e-7, what << ": " << p.name << ": finite differences " << max_diff << " should vanish");
      continue;
    }
    REQUIRE_MESSAGE(max_ref > 1e-9, what << ": " << p.name << " gets no gradient at all");
    const double err = max_diff / max_ref;
    CHECK_MESSAGE(err <= kFiniteDifferenceTolerance, what << ": " << p.name << ": finite-difference relative error " << err);
    worst = std::max(worst, err);
  }
  MESSAGE(what << ": " << params.size() << " parameters, every entry; worst finite-difference relative error " << worst
               << " (tolerance " << kFiniteDifferenceTolerance << ")");
  return worst;
}

/// A key projection's bias ("….k.bias"): softmax cancels it (check_finite_differences' `invariant`).
inline bool is_key_bias(const std::string& name) {
  const std::string suffix = ".k.bias";
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

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

/// Random weights in [-0.5, 0.5] (random_matrix, one seed per tensor), the norms' gains ("…norm….weight")
/// in [0.8, 1.2]: a model whose every gradient is far from zero, so that finite differences measure it well.
template <class Model>
void randomize_with_unit_gains(Model& model, unsigned seed) {
  for (ParameterRef<double>& p : named_parameters(model)) {
    const Matrix<double> r = random_matrix(1, static_cast<Index>(p.numel()), seed++, 0.5);
    const bool gain = p.name.find("norm") != std::string::npos && p.name.find("weight") != std::string::npos;
    for (Index i = 0; i < r.size(); ++i) p.data[i] = gain ? 1 + 0.4 * r(0, i) : r(0, i);
  }
}

}  // namespace eigenformer::testing
