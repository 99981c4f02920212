// The objectives: causal-LM shift, SFT prompt masking, BERT's masking (counts, 80/10/10, specials, seed),
// T5's span corruption (the published procedure's invariants), pooling and its backward.
#include "training_fixture.hpp"

#include <cmath>

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace objectives_test {

using namespace eigenformer;
using namespace eigenformer::training;

TEST_CASE("causal LM: position t predicts token t+1 — the loss equals cross-entropy on the shifted pairs") {
  TokenIds ids(2, 4);
  ids << 5, 1, 2, 3, 4, 4, 0, 1;
  const TokenSequence shifted = shift_labels(ids);
  CHECK(shifted == TokenSequence{1, 2, 3, -100, 4, 0, 1, -100});
  Matrix<double> logits(8, 6);
  std::srand(11);
  logits.setRandom();
  Matrix<double> d;
  const LossValue l = causal_lm_loss<double>(logits, ids, &d);
  CHECK(l.counted == 6);
  // By hand: mean over the 6 pairs of logsumexp − z_target.
  double sum = 0;
  for (Index r = 0; r < 8; ++r) {
    if (shifted[static_cast<std::size_t>(r)] < 0) continue;
    sum += std::log(logits.row(r).array().exp().sum()) - logits(r, shifted[static_cast<std::size_t>(r)]);
  }
  CHECK(l.loss == doctest::Approx(sum / 6).epsilon(1e-14));
  CHECK_THROWS_AS(causal_lm_loss<double>(logits.topRows(7), ids), ShapeError);
}

TEST_CASE("SFT labels: prompt and padding are -100 — after the shift only answer tokens are predicted") {
  TokenIds ids(2, 5);
  ids << 10, 11, 12, 13, 14, 20, 21, 22, 0, 0;
  const TokenIds labels = sft_labels(ids, {2, 1}, {5, 3});
  TokenIds expected(2, 5);
  expected << -100, -100, 12, 13, 14, -100, 21, 22, -100, -100;
  CHECK(labels == expected);
  // Position 1 (the last prompt token) predicts the first answer token: counted; position 0 is not.
  const TokenSequence shifted = shift_labels(labels);
  CHECK(shifted == TokenSequence{-100, 12, 13, 14, -100, 21, 22, -100, -100, -100});
  CHECK_THROWS_AS(sft_labels(ids, {6, 0}), ValueError);
  CHECK_THROWS_AS(sft_labels(ids, {1}), ShapeError);
}

TEST_CASE("BERT masking: round(15%) of eligible positions, 80/10/10, never specials, deterministic for a seed") {
  MaskingConfig config;
  config.vocab_size = 1000;
  config.mask_token_id = 3;
  config.special_ids = {0, 1, 2, 3};  // [PAD] [CLS] [SEP] [MASK]
  const Index B = 400, T = 40;
  TokenIds ids(B, T);
  std::vector<Index> lengths;
  for (Index b = 0; b < B; ++b) {
    const Index length = 20 + b % 21;  // 20..40 real tokens, then padding
    lengths.push_back(length);
    for (Index t = 0; t < T; ++t) ids(b, t) = t == 0 ? 1 : t == length - 1 ? 2 : t >= length ? 0 : 10 + TokenId((b * 7 + t * 13) % 900);
  }
  generation::Rng rng(42);
  const MaskedBatch batch = mask_tokens(ids, config, rng, lengths);
  Index chosen = 0, masked = 0, random = 0, kept = 0;
  for (Index b = 0; b < B; ++b) {
    const Index eligible = lengths[static_cast<std::size_t>(b)] - 2;
    Index in_row = 0;
    for (Index t = 0; t < T; ++t) {
      if (batch.labels(b, t) == kIgnoreIndex) {
        CHECK(batch.inputs(b, t) == ids(b, t));  // not chosen: untouched
        continue;
      }
      ++in_row;
      CHECK(batch.labels(b, t) == ids(b, t));
      CHECK(ids(b, t) >= 10);                   // never a special token, never padding
      if (batch.inputs(b, t) == config.mask_token_id) ++masked;
      else if (batch.inputs(b, t) == ids(b, t)) ++kept;
      else ++random;
    }
    CHECK(in_row == std::max<Index>(1, std::llround(0.15 * double(eligible))));
    chosen += in_row;
  }
  // Binomial shares: 80% ± 4σ etc. (σ = √(p(1−p)/n), n ≈ 1900 chosen positions). A random id equal to the
  // original counts as kept (probability 1/1000), inside the tolerance.
  const double n = double(chosen);
  auto within = [n](double share, double p) { return std::abs(share - p) <= 4 * std::sqrt(p * (1 - p) / n); };
  MESSAGE("masked LM over " << chosen << " chosen positions: [MASK] " << masked / n << ", random " << random / n
                            << ", unchanged " << kept / n);
  CHECK(within(masked / n, 0.8));
  CHECK(within(random / n, 0.1));
  CHECK(within(kept / n, 0.1));
  generation::Rng again(42), other(43);
  const MaskedBatch same = mask_tokens(ids, config, again, lengths);
  const MaskedBatch different = mask_tokens(ids, config, other, lengths);
  CHECK(same.inputs == batch.inputs);
  CHECK(same.labels == batch.labels);
  CHECK_FALSE(different.labels == batch.labels);
  MaskingConfig bad = config;
  bad.mask_token_id = 1000;
  CHECK_THROWS_AS(mask_tokens(ids, bad, rng), ValueError);
}

TEST_CASE("T5 span corruption: counts, alternation, sentinels from the top, and inputs+targets rebuild the text") {
  SpanCorruptionConfig config;
  config.vocab_size = 32100;
  config.eos_id = 1;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const Index L = 20 + static_cast<Index>(seed * 7 % 200);
    TokenSequence tokens;
    for (Index i = 0; i < L; ++i) tokens.push_back(100 + TokenId(i));
    generation::Rng rng(seed);
    const std::vector<bool> mask = random_spans_noise_mask(L, 0.15, 3.0, rng);
    REQUIRE(static_cast<Index>(mask.size()) == L);
    const Index noise = std::count(mask.begin(), mask.end(), true);
    const Index expected_noise = std::min<Index>(std::max<Index>(std::llround(L * 0.15), 1), L - 1);
    CHECK(noise == expected_noise);
    Index spans = 0;
    for (Index i = 0; i < L; ++i) spans += mask[static_cast<std::size_t>(i)] && (i == 0 || !mask[static_cast<std::size_t>(i - 1)]);
    CHECK(spans == std::max<Index>(1, std::llround(double(expected_noise) / 3.0)));
    CHECK_FALSE(mask.front());  // starts with kept tokens
    CHECK(mask.back());         // ends with a noise span

    generation::Rng rng2(seed);
    const SpanCorrupted c = span_corruption(tokens, config, rng2);
    CHECK(c.inputs.back() == 1);
    CHECK(c.targets.back() == 1);
    CHECK(static_cast<Index>(c.inputs.size()) == L - noise + spans + 1);
    CHECK(static_cast<Index>(c.targets.size()) == noise + spans + 1);
    // Rebuild: walk the inputs; at sentinel s, splice in the target tokens after sentinel s.
    TokenSequence rebuilt;
    for (std::size_t i = 0; i + 1 < c.inputs.size(); ++i) {
      const TokenId x = c.inputs[i];
      if (x < 32100 - 100) {
        rebuilt.push_back(x);
        continue;
      }
      auto at = std::find(c.targets.begin(), c.targets.end(), x);
      REQUIRE(at != c.targets.end());
      for (++at; at != c.targets.end() && *at < 32100 - 100 && *at != 1; ++at) rebuilt.push_back(*at);
    }
    CHECK(rebuilt == tokens);
    CHECK(c.inputs[static_cast<std::size_t>(std::find(mask.begin(), mask.end(), true) - mask.begin())] == 32099);  // <extra_id_0>
  }
  generation::Rng rng(1);
  CHECK_THROWS_AS(random_spans_noise_mask(1, 0.15, 3, rng), ValueError);
}

TEST_CASE("pooling: first position and mean — the backward is the adjoint (⟨dy, pool(x)⟩ = ⟨pool_backward(dy), x⟩)") {
  Tensor3<double> hidden(3, 4, 5);
  hidden.setRandom();
  Matrix<double> dy(3, 5);
  dy.setRandom();
  for (const std::vector<Index>& lengths : {std::vector<Index>{}, std::vector<Index>{4, 1, 2}}) {
    const Matrix<double> pooled = pool(hidden, lengths);
    const Tensor3<double> dx = pool_backward(dy, 4, lengths);
    double lhs = (dy.array() * pooled.array()).sum(), rhs = 0;
    for (Index i = 0; i < hidden.size(); ++i) rhs += dx.data()[i] * hidden.data()[i];
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-14));
  }
  CHECK(pool(hidden)(1, 2) == hidden(1, 0, 2));
  CHECK(pool(hidden, {4, 1, 2})(2, 3) == doctest::Approx((hidden(2, 0, 3) + hidden(2, 1, 3)) / 2));
  CHECK_THROWS_AS(pool(hidden, {4, 0, 2}), ValueError);
}

}  // namespace objectives_test
