// Exercise 8 — RoPE on one vector: a solution. (The text: exercises/08_rope/rope.hpp.)
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace exercise {

inline std::vector<double> rope_rotate(std::vector<double> v, std::int64_t position, double base = 10000.0) {
  const std::size_t D = v.size(), half = D / 2;
  for (std::size_t i = 0; i < half; ++i) {
    // 1) The pair's frequency θ_i = base^(−2i/D) and its angle at this position.
    const double theta = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(D));
    const double angle = static_cast<double>(position) * theta;
    // 2) Turn (x, y) = (v[i], v[i + D/2]) by that angle.
    const double x = v[i], y = v[i + half];
    v[i] = x * std::cos(angle) - y * std::sin(angle);
    v[i + half] = x * std::sin(angle) + y * std::cos(angle);
  }
  return v;
}

}  // namespace exercise
