// Sampling draws from the filtered distribution: a chi-square test with a fixed seed, and reproducibility.
#include <doctest/doctest.h>

#include <cmath>

#include "eigenformer/generation.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

std::vector<double> fixture_numbers(const json::Value& v) {
  std::vector<double> out;
  for (const json::Value& x : v.as_array()) out.push_back(x.as_number());
  return out;
}

// Applies a fixture case's filters with the library's functions, in the fixture's order.
Scores filtered(const json::Value& c) {
  Scores z = fixture_numbers(c.at("scores"));
  TokenSequence context;
  for (const json::Value& id : c.at("context").as_array()) context.push_back(static_cast<TokenId>(id.as_int()));
  for (const json::Value& f : c.at("filters").as_array()) {
    const std::string name = f.at("name").as_string();
    const double value = f.at("value").as_number();
    if (name == "temperature") apply_temperature(z, value);
    else if (name == "top_k") apply_top_k(z, static_cast<std::int64_t>(value));
    else if (name == "top_p") apply_top_p(z, value);
    else if (name == "min_p") apply_min_p(z, value);
    else if (name == "repetition_penalty") apply_repetition_penalty(z, context, value);
    else FAIL("unknown filter " << name);
  }
  return z;
}

const json::Value& filter_case(const json::Value& file, const std::string& name) {
  for (const json::Value& c : file.at("cases").as_array()) {
    if (c.at("name").as_string() == name) return c;
  }
  throw ValueError("sampling_filters.json has no case " + name);
}

}  // namespace

// tools/fixtures/make_generation_fixtures.py (sampling_filter_cases): Hugging Face's warpers written in PyTorch
// over fixed scores, including ties at the top-k cut and top-p with a cumulative sum exactly on 1 - p. The set
// of kept tokens must be identical; the probabilities agree to 1e-14 (both are float64 softmaxes of the same
// numbers; torch's exp and libm's may differ in the last bit).
TEST_CASE("sampling filters match Hugging Face's warpers (PyTorch reference)") {
  const json::Value file = json::parse_file(testing::fixture_path("generation/sampling_filters.json"));
  int compared = 0;
  for (const json::Value& c : file.at("cases").as_array()) {
    const std::string name = c.at("name").as_string();
    CAPTURE(name);
    const Scores z = filtered(c);
    const std::vector<double> p = softmax(z);
    const json::Array& kept = c.at("kept").as_array();
    const std::vector<double> expected = fixture_numbers(c.at("probabilities"));
    REQUIRE(p.size() == expected.size());
    double worst = 0;
    for (std::size_t v = 0; v < p.size(); ++v) {
      CAPTURE(v);
      CHECK(std::isfinite(z[v]) == kept[v].as_bool());
      worst = std::max(worst, std::abs(p[v] - expected[v]));
    }
    INFO("largest probability difference " << worst);
    CHECK(worst <= 1e-14);
    ++compared;
  }
  CHECK(compared == 16);
}

TEST_CASE("samples follow the reference's filtered softmax (chi-square, fixed seed)") {
  // Scores for 8 tokens; temperature 0.7, top-k 6 and top-p 0.9 cut the tail. Draws come from the library's
  // filtered distribution; the expected counts from the PyTorch reference's.
  const json::Value file = json::parse_file(testing::fixture_path("generation/sampling_filters.json"));
  const json::Value& c = filter_case(file, "chain: temperature 0.7, top_k 6, top_p 0.9");
  const std::vector<double> p = softmax(filtered(c));
  const std::vector<double> reference = fixture_numbers(c.at("probabilities"));
  std::size_t support = 0;
  for (double x : reference) support += x > 0 ? 1 : 0;
  REQUIRE(support == 3);

  Rng rng(20261128);
  const int draws = 100000;
  std::vector<int> counts(p.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<std::size_t>(sample(p, rng))];
  double chi2 = 0;
  for (std::size_t v = 0; v < p.size(); ++v) {
    if (reference[v] == 0) {
      CHECK(counts[v] == 0);  // filtered tokens are never drawn
      continue;
    }
    const double expected = draws * reference[v];
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
