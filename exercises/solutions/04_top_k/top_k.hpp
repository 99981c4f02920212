// Exercise 4 — top-k filtering: a solution. (The text: exercises/04_top_k/top_k.hpp.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace exercise {

/// scores (V) → the same scores, all but the k highest (and their ties) replaced by −∞.
inline std::vector<double> top_k(std::vector<double> scores, std::int64_t k) {
  if (k <= 0 || static_cast<std::size_t>(k) >= scores.size()) return scores;
  // The k-th highest score is the threshold: sort a copy from high to low and read position k − 1.
  std::vector<double> sorted = scores;
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  const double threshold = sorted[static_cast<std::size_t>(k - 1)];
  // Everything strictly below it goes; equal scores (ties with the k-th) stay.
  for (double& s : scores) {
    if (s < threshold) s = -std::numeric_limits<double>::infinity();
  }
  return scores;
}

}  // namespace exercise
