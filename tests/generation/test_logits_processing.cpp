// The filters between the model's scores and the choice, with Hugging Face's semantics, on scores small
// enough to work out by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "eigenformer/generation.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

Scores logs(std::initializer_list<double> probabilities) {
  Scores z;
  for (double p : probabilities) z.push_back(std::log(p));
  return z;
}

std::vector<bool> kept(const Scores& z) {
  std::vector<bool> k;
  for (double x : z) k.push_back(x != -inf);
  return k;
}

}  // namespace

TEST_CASE("softmax, log-softmax and argmax") {
  const Scores z = {1.0, 3.0, -inf, 3.0};
  const std::vector<double> p = softmax(z);
  CHECK(p[2] == 0.0);
  CHECK(p[1] == doctest::Approx(std::exp(3.0) / (std::exp(1.0) + 2 * std::exp(3.0))));
  CHECK(p[0] + p[1] + p[2] + p[3] == doctest::Approx(1.0));
  const Scores lp = log_softmax(z);
  CHECK(lp[1] == doctest::Approx(std::log(p[1])));
  CHECK(lp[2] == -inf);
  CHECK(argmax(z) == 1);  // ties go to the lowest id, as torch.argmax
  // Huge scores do not overflow.
  CHECK(softmax({1000.0, 1000.0})[0] == doctest::Approx(0.5));
}

TEST_CASE("log_sum_exp (vectorised exponentials) gives log softmax's normaliser within 1e-14 relative") {
  // The reference: log_softmax_into's one-at-a-time std::exp, read back as z_v − log p(v). The fast form may differ
  // only by the rounding of its exponentials and its order of summation.
  std::mt19937 rng(3);
  std::normal_distribution<double> normal(0.0, 4.0);
  for (std::size_t V : {1, 7, 32000, 50257}) {
    Scores z(V);
    for (double& x : z) x = normal(rng) + 20.0;
    Scores reference;
    log_softmax_into(z, reference);
    const double expected = z[0] - reference[0];
    const double got = log_sum_exp(z);
    INFO("V ", V, ": log_sum_exp ", got, ", reference ", expected, ", difference ", got - expected);
    CHECK(std::abs(got - expected) <= 1e-14 * std::abs(expected));
  }
  // Huge scores do not overflow; −∞ counts as exp(−∞) = 0 (Eigen's exp floors it at ~1e-308, far below the rounding).
  CHECK(log_sum_exp({1000.0, 1000.0}) == doctest::Approx(1000.0 + std::log(2.0)).epsilon(1e-15));
  CHECK(log_sum_exp({2.0, -inf, 2.0}) == doctest::Approx(2.0 + std::log(2.0)).epsilon(1e-15));
}

TEST_CASE("repetition penalty divides positive and multiplies negative scores of seen tokens, once each") {
  Scores z = {2.0, -2.0, 1.0, 0.5};
  apply_repetition_penalty(z, {0, 1, 1, 1}, 2.0);
  CHECK(z == Scores{1.0, -4.0, 1.0, 0.5});
  Scores same = {2.0, -2.0};
  apply_repetition_penalty(same, {0, 1}, 1.0);
  CHECK(same == Scores{2.0, -2.0});
}

TEST_CASE("no_repeat_ngram bans the tokens that would repeat an n-gram") {
  Scores z(8, 0.0);
  apply_no_repeat_ngram(z, {1, 2, 3, 1}, 2);  // "1 2" occurred: after "1", 2 is banned
  CHECK(kept(z) == std::vector<bool>{true, true, false, true, true, true, true, true});
  Scores y(8, 0.0);
  apply_no_repeat_ngram(y, {5, 6, 7, 5, 6}, 3);  // "5 6 7" occurred: after "5 6", 7 is banned
  CHECK(y[7] == -inf);
  CHECK(std::count(y.begin(), y.end(), -inf) == 1);
  Scores u(4, 0.0);
  apply_no_repeat_ngram(u, {1, 2}, 1);  // unigrams: every earlier token is banned
  CHECK(kept(u) == std::vector<bool>{true, false, false, true});
  Scores short_context(4, 0.0);
  apply_no_repeat_ngram(short_context, {1}, 3);  // too short for any 3-gram
  CHECK(std::count(short_context.begin(), short_context.end(), -inf) == 0);
}

TEST_CASE("temperature scales the scores") {
  Scores z = {1.0, -2.0};
  apply_temperature(z, 0.5);
  CHECK(z == Scores{2.0, -4.0});
}

TEST_CASE("top-k keeps the k best scores, and every score tied with the k-th") {
  Scores z = {1.0, 3.0, 3.0, 2.0};
  apply_top_k(z, 2);
  CHECK(kept(z) == std::vector<bool>{false, true, true, false});
  Scores ties = {1.0, 3.0, 2.0, 2.0};
  apply_top_k(ties, 2);
  CHECK(kept(ties) == std::vector<bool>{false, true, true, true});
  Scores all = {1.0, 2.0};
  apply_top_k(all, 5);
  CHECK(kept(all) == std::vector<bool>{true, true});
}

TEST_CASE("top-p keeps the smallest set whose probability reaches p") {
  Scores z = logs({0.5, 0.3, 0.15, 0.05});
  apply_top_p(z, 0.75);  // 0.5 + 0.3 = 0.8 ≥ 0.75; 0.5 alone is not enough
  CHECK(kept(z) == std::vector<bool>{true, true, false, false});
  Scores one = logs({0.5, 0.3, 0.15, 0.05});
  apply_top_p(one, 0.4);  // the best token alone reaches 0.4
  CHECK(kept(one) == std::vector<bool>{true, false, false, false});
  Scores tiny = logs({0.25, 0.25, 0.25, 0.25});
  apply_top_p(tiny, 1e-9);  // never fewer than one token
  CHECK(std::count(tiny.begin(), tiny.end(), -inf) == 3);
  Scores full = logs({0.5, 0.5});
  apply_top_p(full, 1.0);
  CHECK(kept(full) == std::vector<bool>{true, true});
}

TEST_CASE("min-p keeps tokens at least min_p times as likely as the best") {
  Scores z = logs({0.5, 0.3, 0.15, 0.05});
  apply_min_p(z, 0.5);  // threshold 0.25
  CHECK(kept(z) == std::vector<bool>{true, true, false, false});
  Scores all = logs({0.5, 0.3, 0.15, 0.05});
  apply_min_p(all, 0.0);
  CHECK(kept(all) == std::vector<bool>{true, true, true, true});
}

// argmax and check_finite run vectorised passes (Eigen's maxCoeff, a sum of x·0): long rows, whose bulk goes through
// the vector code and whose last few scores through its scalar ending, against the plain definitions.
TEST_CASE("argmax and the finiteness check over long rows, against the plain loops") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uniform(-10.0, 10.0);
  const auto plain_argmax = [](const Scores& z) {  // the first id of the highest score
    std::size_t best = 0;
    for (std::size_t v = 1; v < z.size(); ++v) {
      if (z[v] > z[best]) best = v;
    }
    return static_cast<TokenId>(best);
  };
  for (std::size_t V : {std::size_t(1), std::size_t(7), std::size_t(16), std::size_t(1001), std::size_t(32000)}) {
    Scores z(V);
    for (double& x : z) x = uniform(rng);
    CAPTURE(V);
    CHECK(argmax(z) == plain_argmax(z));
    CHECK_NOTHROW(check_finite(z, 0));
    // The largest score twice, the later copy in the vector part, the earlier near the end of it: the earlier wins.
    if (V > 16) {
      const std::size_t early = V / 2, late = V - 3;
      z[early] = z[late] = 11.0;
      CHECK(argmax(z) == static_cast<TokenId>(early));
      z[early] = -std::numeric_limits<double>::infinity();  // a filtered score: the later copy now
      CHECK(argmax(z) == static_cast<TokenId>(late));
      z[early] = 0.0;  // finite again for the checks below
    }
    // A bad score anywhere — first, in the middle, last (the scalar ending) — is found and named.
    for (std::size_t at : {std::size_t(0), V / 2, V - 1}) {
      for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
        Scores w = z;
        w[at] = bad;
        const std::string where = "token id " + std::to_string(at) + " is";
        CHECK_THROWS_WITH_AS(check_finite(w, 2), doctest::Contains(where.c_str()), ValueError);
      }
    }
  }
  // The largest finite scores are finite: x·0 is 0 for them too.
  CHECK_NOTHROW(check_finite({-1e308, 1e308, 0.0}, 0));
  // Every score −∞ (all filtered): id 0, as the plain loop.
  CHECK(argmax(Scores(100, -std::numeric_limits<double>::infinity())) == 0);
}

TEST_CASE("NaN or infinite model scores are refused") {
  CHECK_THROWS_WITH_AS(check_finite({0.0, std::nan(""), 1.0}, 3), doctest::Contains("step 3: the model's score for token id 1"),
                       ValueError);
  CHECK_THROWS_AS(check_finite({inf}, 0), ValueError);
  CHECK_NOTHROW(check_finite({0.0, -1e30}, 0));
}

TEST_CASE("generation settings are validated with a message naming the setting") {
  GenerationConfig c;
  CHECK_NOTHROW(c.validate());
  const auto error = [](GenerationConfig g) -> std::string {
    try {
      g.validate();
    } catch (const ValueError& e) {
      return e.what();
    }
    return "no error";
  };
  GenerationConfig t = c;
  t.temperature = -0.1;
  CHECK(error(t).find("temperature must be a finite number >= 0, got -0.1") != std::string::npos);
  t.temperature = std::nan("");
  CHECK(error(t).find("temperature") != std::string::npos);
  GenerationConfig p = c;
  p.top_p = 0;
  CHECK(error(p).find("top_p must lie in (0, 1], got 0") != std::string::npos);
  p.top_p = 1.5;
  CHECK(error(p).find("top_p must lie in (0, 1]") != std::string::npos);
  GenerationConfig b = c;
  b.strategy = Strategy::Beam;
  b.num_beams = 2;
  b.num_return_sequences = 3;
  CHECK(error(b).find("cannot exceed num_beams") != std::string::npos);
  GenerationConfig n = c;
  n.max_new_tokens = -1;
  CHECK(error(n).find("max_new_tokens must be >= 0") != std::string::npos);
  GenerationConfig s = c;
  s.stop_strings = {""};
  CHECK(error(s).find("stop strings must not be empty") != std::string::npos);
  GenerationConfig zero = c;
  zero.strategy = Strategy::Sample;
  zero.temperature = 0;
  CHECK_FALSE(zero.samples());  // temperature 0 means greedy
}

TEST_CASE("generation_config.json settings apply on top, with typed errors") {
  GenerationConfig c;
  std::optional<std::int64_t> max_length;
  apply_generation_config_json(json::parse(R"({"eos_token_id": [128001, 128009], "do_sample": true, "temperature": 0.6,
                                             "top_p": 0.9, "max_length": 4096, "early_stopping": "never",
                                             "transformers_version": "4.40.0"})"),
                               "generation_config.json", c, &max_length);
  CHECK(c.eos_token_ids == std::vector<TokenId>{128001, 128009});
  CHECK(c.strategy == Strategy::Sample);
  CHECK(c.temperature == 0.6);
  CHECK(c.top_p == 0.9);
  CHECK(max_length == 4096);
  CHECK(c.early_stopping == EarlyStopping::Never);
  GenerationConfig d;
  CHECK_THROWS_WITH_AS(apply_generation_config_json(json::parse(R"({"temperature": "hot"})"), "gc.json", d),
                       "[generation] gc.json: field 'temperature' must be a number", ConfigError);
  CHECK_THROWS_AS(apply_generation_config_json(json::parse(R"({"eos_token_id": "x"})"), "gc.json", d), ConfigError);
  CHECK_THROWS_AS(apply_generation_config_json(json::parse(R"({"early_stopping": "sometimes"})"), "gc.json", d), ConfigError);
}
