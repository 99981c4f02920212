// The check for exercise 4: hand-worked cases (ties, edge values of k) and the library's apply_top_k on
// random scores.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include <eigenformer/generation/logits_processing.hpp>

#include <top_k.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

namespace {
const double minus_inf = -std::numeric_limits<double>::infinity();
}

TEST_CASE("keeps the k highest scores in place") {
  const std::vector<double> scores = {0.1, 2.0, -1.0, 3.5, 0.7};
  CHECK(exercise::top_k(scores, 2) == std::vector<double>{minus_inf, 2.0, minus_inf, 3.5, minus_inf});
  CHECK(exercise::top_k(scores, 1) == std::vector<double>{minus_inf, minus_inf, minus_inf, 3.5, minus_inf});
}

TEST_CASE("a tie with the k-th score is kept") {
  const std::vector<double> scores = {1.0, 5.0, 3.0, 3.0, 0.0};
  // k = 2: the 2nd highest is 3.0, and both 3.0s stay.
  CHECK(exercise::top_k(scores, 2) == std::vector<double>{minus_inf, 5.0, 3.0, 3.0, minus_inf});
}

TEST_CASE("k <= 0 or k >= V changes nothing") {
  const std::vector<double> scores = {1.0, -2.0, 0.5};
  CHECK(exercise::top_k(scores, 0) == scores);
  CHECK(exercise::top_k(scores, 3) == scores);
  CHECK(exercise::top_k(scores, 10) == scores);
}

TEST_CASE("agrees with the library's apply_top_k on random scores") {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal(0.0, 2.0);
  std::uniform_int_distribution<int> pick_k(1, 40);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<double> scores(32);
    for (double& s : scores) s = std::round(normal(rng) * 4) / 4;  // rounded: ties happen
    const std::int64_t k = pick_k(rng);
    eigenformer::generation::Scores library(scores.begin(), scores.end());
    eigenformer::generation::apply_top_k(library, k);
    INFO("trial ", trial, ", k = ", k);
    CHECK(exercise::top_k(scores, k) == std::vector<double>(library.begin(), library.end()));
  }
}
