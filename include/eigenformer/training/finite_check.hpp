// eigenformer/training/finite_check.hpp — stop at the first NaN or Inf, and say where it came from.
//
// A diverging run (a learning rate too high, a log of zero, an overflow in float) shows up as a NaN or an
// Inf somewhere, and one NaN spreads to every weight within a step. check_finite() looks, after backward
// and before the optimizer step, at the loss, then every gradient, then every parameter, in the order of
// the named list, and throws NonFiniteError naming the step and the first tensor that holds a non-finite
// value — the gradient of a layer, usually, that tells where to look.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"

namespace eigenformer::training {

/// Training produced a NaN or an Inf. what() reads
///   "[check_finite] step 120: the gradient of 'layers.3.attn.q.weight' [64, 64] holds nan at flat index 17".
class NonFiniteError : public Error {
 public:
  NonFiniteError(const std::string& message, std::int64_t step, std::string tensor, bool gradient)
      : Error(message), step_(step), tensor_(std::move(tensor)), gradient_(gradient) {}
  std::int64_t step() const noexcept { return step_; }
  /// The parameter's name, or "loss".
  const std::string& tensor() const noexcept { return tensor_; }
  /// True when the gradient (not the parameter itself) went non-finite.
  bool gradient() const noexcept { return gradient_; }

 private:
  std::int64_t step_;
  std::string tensor_;
  bool gradient_;
};

/// Throws NonFiniteError at the first non-finite value among: `loss`, every gradient, every parameter.
template <class Scalar>
void check_finite(const ParameterList<Scalar>& params, std::int64_t step, double loss = 0.0) {
  if (!std::isfinite(loss)) {
    throw NonFiniteError(detail::cat("[check_finite] step ", step, ": the loss is ", loss), step, "loss", false);
  }
  for (int pass = 0; pass < 2; ++pass) {
    const bool gradients = pass == 0;
    for (const ParameterRef<Scalar>& p : params) {
      const Scalar* values = gradients ? p.grad : p.data;
      if (values == nullptr) continue;
      for (std::int64_t i = 0; i < p.numel(); ++i) {
        if (std::isfinite(values[i])) continue;
        throw NonFiniteError(detail::cat("[check_finite] step ", step, ": ", gradients ? "the gradient of '" : "parameter '",
                                         p.name, "' ", detail::shape_str(p.shape), " holds ", values[i], " at flat index ", i),
                             step, p.name, gradients);
      }
    }
  }
}

}  // namespace eigenformer::training
