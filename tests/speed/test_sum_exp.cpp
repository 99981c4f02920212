// tests/speed/test_sum_exp.cpp — sum_exp (core/sum_exp.hpp), the normaliser of greedy search's log p, against
// std::exp.
//
// What must hold, in every build (the ci preset's portable one sums Eigen's exponentials; test_speed_native and
// test_speed_avx2 compile this file for AVX-512 and for AVX2, whose exponentials are written out):
//   - each exponential: sum_exp of one value x against std::exp(x − m) within 2^-51 relative (2 to 4 units in the
//     last place; the written-out ones are measured at 4.3e-16 with 200,000 values of this seed), for x − m over [−700, 0], the range where every result is
//     a normal double; below it (−745 ... −700) within 4e-308 absolute (AVX2 raises x − m < −708 to −708; AVX-512
//     gives the subnormals); −∞ adds 0 (AVX2: ≤ 4e-308), NaN gives NaN;
//   - sums of 1 to 40 values (every way the lanes and the last piece can fall) and of 32,000 and 50,257 values
//     (a vocabulary) against a long double sum of std::exp, within (n + 8) · 2^-53 relative: the bound of n − 1
//     additions of positive terms in double in any order (γ_{n−1}), plus the exponentials' 4 units. The vocabulary
//     sums come out ~1e-15 (printed); the bound does not depend on the lanes, which differ by build.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "eigenformer/core/sum_exp.hpp"

using Index = Eigen::Index;
using eigenformer::sum_exp;

namespace {

long double reference_sum(const std::vector<double>& x, double m) {
  long double sum = 0;
  for (double v : x) sum += static_cast<long double>(std::exp(v - m));
  return sum;
}

}  // namespace

TEST_CASE("sum_exp: each exponential against std::exp — 2^-51 relative, subnormals, −∞ and NaN (vector exponentials)") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> normal_range(-700.0, 0.0), small(-1.0, 0.0), low(-745.0, -700.0);
  const double ulp4 = std::ldexp(1.0, -51);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const double m = i % 3 == 0 ? 0.0 : 17.25;
    const double d = i % 2 == 0 ? normal_range(rng) : small(rng);  // x − m; half of them near 0, where p ≈ 1
    const double x = m + d;
    const double expected = std::exp(x - m);
    const double got = sum_exp(&x, 1, m);
    const double relative = std::abs(got - expected) / expected;
    if (relative > worst) worst = relative;
    if (relative > ulp4) {
      INFO("x − m = ", x - m, ": sum_exp ", got, ", std::exp ", expected, ", relative ", relative);
      REQUIRE(relative <= ulp4);
    }
  }
  MESSAGE("largest relative difference from std::exp over [−700, 0]: ", worst, " (2^-52 = ", std::ldexp(1.0, -52), ")");
  for (int i = 0; i < 10000; ++i) {
    const double x = low(rng);
    INFO("x = ", x);
    REQUIRE(std::abs(sum_exp(&x, 1, 0.0) - std::exp(x)) <= 4e-308);
  }
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const double minus_inf = -inf;
  CHECK(sum_exp(&minus_inf, 1, 0.0) <= 4e-308);
  CHECK(sum_exp(&minus_inf, 1, 0.0) >= 0.0);
  const std::vector<double> with_nan = {0.0, -1.0, nan, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  for (std::size_t n = 3; n <= with_nan.size(); ++n) CHECK(std::isnan(sum_exp(with_nan.data(), static_cast<Index>(n), 0.0)));
  CHECK(std::isnan(sum_exp(with_nan.data(), 1, nan)));
}

TEST_CASE("sum_exp: sums of 1 to 40 values and of a vocabulary against a long double sum, (n + 8) · 2^-53 relative (vector exponentials)") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(0.0, 4.0);
  std::vector<Index> lengths;
  for (Index n = 1; n <= 40; ++n) lengths.push_back(n);
  lengths.push_back(32000);
  lengths.push_back(50257);
  for (Index n : lengths) {
    std::vector<double> x(static_cast<std::size_t>(n));
    for (double& v : x) v = normal(rng) + 20.0;
    const double m = *std::max_element(x.begin(), x.end());
    const long double expected = reference_sum(x, m);
    const double got = sum_exp(x.data(), n, m);
    const long double relative = std::abs(static_cast<long double>(got) - expected) / expected;
    INFO("n ", n, ": sum_exp ", got, ", reference ", static_cast<double>(expected), ", relative ", static_cast<double>(relative));
    CHECK(relative <= static_cast<long double>(n + 8) * std::ldexp(1.0L, -53));
    if (n > 40) MESSAGE("n = ", n, ": relative difference from the long double sum ", static_cast<double>(relative));
    // The values past n are never read: the same sum with garbage after the end.
    std::vector<double> padded = x;
    padded.resize(x.size() + 16, std::numeric_limits<double>::quiet_NaN());
    CHECK(sum_exp(padded.data(), n, m) == got);
  }
}
