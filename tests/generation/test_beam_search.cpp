// Beam search against brute force: with enough beams to cover every sequence, it finds the same best
// sequences and scores as enumerating them all; with one beam it is greedy search.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"
#include "support/fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

// A one-layer Llama with a vocabulary of 6 (id 0 is EOS), random weights large enough for peaked scores.
Llama<double> tiny_llama(unsigned seed = 5) {
  LlamaConfig c;
  c.vocab_size = 6;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  c.max_position_embeddings = 32;
  c.special_tokens.eos = {0};
  Llama<double> model(c);
  testing::randomize_parameters(model, seed, 1.5);
  return model;
}

struct Scored {
  TokenSequence tokens;
  double score;
};

// Every sequence of at most `max_new` tokens that ends at EOS or at the length limit, scored as beam search
// scores finished hypotheses: Σ log p / length^length_penalty.
std::vector<Scored> enumerate(Llama<double>& model, const TokenSequence& prompt, std::size_t max_new, double length_penalty) {
  std::vector<Scored> all;
  std::function<void(TokenSequence&, double)> grow = [&](TokenSequence& generated, double sum) {
    TokenSequence full = prompt;
    full.insert(full.end(), generated.begin(), generated.end());
    TokenIds ids(1, static_cast<Index>(full.size()));
    for (std::size_t t = 0; t < full.size(); ++t) ids(0, static_cast<Index>(t)) = full[t];
    DecoderCache<double> cache;
    Matrix<double> logits;
    model.forward(ids, cache, logits, /*last_only=*/true);
    Scores z(logits.data(), logits.data() + logits.size());
    const Scores log_p = log_softmax(z);
    for (TokenId v = 0; v < 6; ++v) {
      generated.push_back(v);
      const double s = sum + log_p[static_cast<std::size_t>(v)];
      if (v == 0 || generated.size() == max_new) {
        all.push_back({generated, s / std::pow(static_cast<double>(generated.size()), length_penalty)});
      } else {
        grow(generated, s);
      }
      generated.pop_back();
    }
  };
  TokenSequence generated;
  grow(generated, 0.0);
  std::sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  return all;
}

}  // namespace

TEST_CASE("beam search covering every sequence finds the brute-force optimum") {
  const TokenSequence prompt = {3, 1};
  const std::size_t max_new = 4;
  int greedy_was_not_best = 0;  // so that the test is not passed by greedy search alone
  for (unsigned seed = 1; seed <= 6; ++seed) {
    Llama<double> model = tiny_llama(seed);
    for (double length_penalty : {1.0, 0.0, 2.0}) {
      CAPTURE(seed);
      CAPTURE(length_penalty);
      const std::vector<Scored> truth = enumerate(model, prompt, max_new, length_penalty);
      REQUIRE(truth.size() == 1 + 5 + 25 + 125 * 6);  // EOS at steps 1..3, anything at step 4
      GenerationConfig config;
      config.strategy = Strategy::Beam;
      config.num_beams = 125;  // every non-EOS prefix of 3 tokens has a beam
      config.max_new_tokens = static_cast<std::int64_t>(max_new);
      config.length_penalty = length_penalty;
      config.early_stopping = EarlyStopping::Never;
      config.num_return_sequences = 3;
      const auto found = generate(model, prompt, config);
      REQUIRE(found.size() == 3);
      for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(found[i].tokens == truth[i].tokens);
        CHECK(found[i].score == doctest::Approx(truth[i].score).epsilon(1e-12));
      }
      GenerationConfig greedy;
      greedy.max_new_tokens = static_cast<std::int64_t>(max_new);
      greedy_was_not_best += generate(model, prompt, greedy).front().tokens != truth.front().tokens;
    }
  }
  CHECK(greedy_was_not_best >= 3);
}

TEST_CASE("one beam is greedy search (Llama and T5)") {
  GenerationConfig greedy;
  greedy.max_new_tokens = 10;
  GenerationConfig one_beam = greedy;
  one_beam.strategy = Strategy::Beam;
  one_beam.num_beams = 1;
  Llama<float> llama = Llama<float>::from_pretrained(testing::fixture_path("models/llama-mqa-f16"));
  CHECK(generate(llama, {1, 7, 3}, one_beam).front().tokens == generate(llama, {1, 7, 3}, greedy).front().tokens);
  T5<float> t5 = T5<float>::from_pretrained(testing::fixture_path("models/t5-small-style"));
  CHECK(generate(t5, {4, 9, 17, 3, 1}, one_beam).front().tokens == generate(t5, {4, 9, 17, 3, 1}, greedy).front().tokens);
}

TEST_CASE("hypotheses come best first, and searching longer never finds worse") {
  Llama<double> model = tiny_llama();
  GenerationConfig config;
  config.strategy = Strategy::Beam;
  config.num_beams = 3;
  config.max_new_tokens = 12;
  config.num_return_sequences = 3;
  std::vector<double> best;
  for (EarlyStopping e : {EarlyStopping::Yes, EarlyStopping::Never}) {
    config.early_stopping = e;
    const auto out = generate(model, {3, 1}, config);
    best.push_back(out.front().score);
    for (std::size_t i = 1; i < out.size(); ++i) CHECK(out[i - 1].score >= out[i].score);
  }
  CHECK(best[0] <= best[1] + 1e-12);
}
