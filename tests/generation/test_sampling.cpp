// Sampling draws from the filtered distribution: a chi-square test with a fixed seed, and reproducibility.
#include <doctest/doctest.h>

#include <cmath>

#include "eigenformer/generation.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

TEST_CASE("samples follow the filtered softmax (chi-square, fixed seed)") {
  // Scores for 8 tokens; temperature 0.7, top-k 6 and top-p 0.9 cut the tail; the rest must be drawn in
  // proportion to softmax of the filtered scores.
  Scores z = {2.0, 1.5, 1.2, 0.3, 0.1, -0.5, -1.0, -3.0};
  apply_temperature(z, 0.7);
  apply_top_k(z, 6);
  apply_top_p(z, 0.9);
  const std::vector<double> p = softmax(z);
  std::size_t support = 0;
  for (double x : p) support += x > 0 ? 1 : 0;
  REQUIRE(support >= 3);
  REQUIRE(support < 8);

  Rng rng(20261128);
  const int draws = 100000;
  std::vector<int> counts(p.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<std::size_t>(sample(p, rng))];
  double chi2 = 0;
  for (std::size_t v = 0; v < p.size(); ++v) {
    if (p[v] == 0) {
      CHECK(counts[v] == 0);  // filtered tokens are never drawn
      continue;
    }
    const double expected = draws * p[v];
    chi2 += (counts[v] - expected) * (counts[v] - expected) / expected;
  }
  // Critical values of the chi-square distribution at p = 0.001 for 2..6 degrees of freedom.
  const double critical[] = {0, 0, 13.82, 16.27, 18.47, 20.52, 22.46};
  INFO("chi-square " << chi2 << " with " << support - 1 << " degrees of freedom");
  CHECK(chi2 < critical[support - 1]);
  CHECK(chi2 > 0.01);  // a sampler that returned exact expected counts would be suspicious too
}

TEST_CASE("the same seed gives the same draws, another seed others") {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  Rng a(7), b(7), c(8);
  std::vector<TokenId> da, db, dc;
  for (int i = 0; i < 50; ++i) {
    da.push_back(sample(p, a));
    db.push_back(sample(p, b));
    dc.push_back(sample(p, c));
  }
  CHECK(da == db);
  CHECK(da != dc);
  // Uniforms lie in [0, 1).
  Rng r(1);
  for (int i = 0; i < 1000; ++i) {
    const double u = r.uniform();
    CHECK((u >= 0.0 && u < 1.0));
  }
}

TEST_CASE("stop strings are found across token boundaries, once") {
  StopStringMatcher m({"\n\nUser:", "STOP"});
  CHECK_FALSE(m.append("Hello").has_value());
  CHECK_FALSE(m.append("\n").has_value());
  CHECK_FALSE(m.append("\nUs").has_value());
  CHECK(m.append("er: hi") == std::optional<std::string>("\n\nUser:"));  // overhang after the stop string is fine
  StopStringMatcher first({"abc", "b"});
  CHECK(first.append("xab") == std::optional<std::string>("b"));  // the one that completes first
  StopStringMatcher again({"ab"});
  CHECK(again.append("ab") == std::optional<std::string>("ab"));
  CHECK_FALSE(again.append("x").has_value());  // an occurrence already reported is not reported again
  CHECK(again.append("ab") == std::optional<std::string>("ab"));
}
