// NaN or ±∞ logits during generation: the run stops with a ValueError naming the step, the token id and the first
// layer whose output was not finite (generation/diagnosis.hpp). The fixture models (llama-gqa-sharded: 2 layers,
// C 16; t5-small-style: 2 encoder and 3 decoder layers) get one weight of one layer poisoned in memory; the
// message must name that layer, for greedy search and for beam search. A run whose logits are finite never runs
// the diagnosis.
#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"
#include "support/fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

/// Sets element `index` of parameter `name` to `value`.
template <class Model>
void poison(Model& model, const std::string& name, std::int64_t index, float value) {
  for (ParameterRef<float>& p : named_parameters(model)) {
    if (p.name == name) {
      REQUIRE(index < p.numel());
      p.data[index] = value;
      return;
    }
  }
  FAIL("no parameter named " << name);
}

GenerationConfig greedy(std::int64_t new_tokens) {
  GenerationConfig config;
  config.max_new_tokens = new_tokens;
  return config;
}

GenerationConfig beams(std::int64_t new_tokens) {
  GenerationConfig config = greedy(new_tokens);
  config.strategy = Strategy::Beam;
  config.num_beams = 3;
  return config;
}

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

/// A model with fixed finite scores that counts how often generation asks it for a diagnosis, and can turn its
/// scores to NaN from one call on.
class CountingLM : public CausalLM<double> {
 public:
  Index vocab_size() const override { return 10; }
  Index max_positions() const override { return 100; }
  const SpecialTokenIds& special_tokens() const override { return special_; }
  void forward(const TokenIds& ids, DecoderCache<double>& cache, Matrix<double>& logits, bool, const KeyPadding*) override {
    cache.self.resize(1);
    cache.self[0].append(Matrix<double>::Zero(ids.size(), 1), Matrix<double>::Zero(ids.size(), 1), ids.rows());
    logits = Matrix<double>::Zero(ids.rows(), 10);
    logits(0, 3) = 1.0;
    if (calls++ >= nan_from) logits(0, 5) = std::numeric_limits<double>::quiet_NaN();
  }
  bool forward_captured(const TokenIds&, Matrix<double>&, Capture<double>&) override {
    ++diagnoses;
    return false;
  }
  std::int64_t calls = 0;
  std::int64_t nan_from = 1000;
  std::int64_t diagnoses = 0;

 private:
  SpecialTokenIds special_;
};

}  // namespace

TEST_CASE("non-finite logits: a Llama with a NaN weight in layer 1 stops naming layer 1, greedy and beam search") {
  Llama<float> model = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  poison(model, "decoder.layers.1.ffn.down.weight", 0, kNaN);  // W_down(0, 0): channel 0 of the FFN's output
  const std::string where = "; first non-finite value: decoder layer 1, the FFN's output ('decoder.layers.1.ffn.down.out' "
                            "[1, 3, 16] holds ";
  CHECK_THROWS_WITH_AS(generate(model, {1, 2, 3}, greedy(4)),
                       doctest::Contains("[generation] step 0: the model's score for token id 0 is "), ValueError);
  CHECK_THROWS_WITH_AS(generate(model, {1, 2, 3}, greedy(4)), doctest::Contains(where.c_str()), ValueError);
  CHECK_THROWS_WITH_AS(generate(model, {1, 2, 3}, greedy(4)), doctest::Contains(" at [0, 0, 0])"), ValueError);
  CHECK_THROWS_WITH_AS(generate(model, {1, 2, 3}, beams(4)), doctest::Contains(where.c_str()), ValueError);
}

TEST_CASE("non-finite logits: an infinite weight in layer 0's query projection names layer 0's attention") {
  Llama<float> model = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  poison(model, "decoder.layers.0.attn.q.weight", 0, kInf);  // W_q(0, 0): head 0, dim 0 of every query
  const char* where = "; first non-finite value: decoder layer 0, the attention's query projection "
                      "('decoder.layers.0.attn.q.out' [1, 2, 4, 4] holds ";
  CHECK_THROWS_WITH_AS(generate(model, {1, 2}, greedy(3)), doctest::Contains(where), ValueError);
  CHECK_THROWS_WITH_AS(generate(model, {1, 2}, beams(3)), doctest::Contains(where), ValueError);
}

TEST_CASE("non-finite logits: a NaN that appears at a later step names that step and the position it came from") {
  // A poisoned row of the embedding table: the logits stay finite until the step that feeds that token back.
  Llama<float> clean = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  GenerationConfig config = greedy(3);
  config.eos_token_ids = {70};  // an id greedy search does not pick here: the run goes on for 3 tokens
  TokenSequence prompt, made;
  for (TokenId first = 3; first < 40 && made.empty(); ++first) {
    const TokenSequence p = {1, first};
    const TokenSequence out = generate(clean, p, config).front().tokens;
    // The second generated token must be new: neither in the prompt nor the first generated one.
    if (out.size() == 3 && out[1] != out[0] && out[1] != p[0] && out[1] != p[1]) {
      prompt = p;
      made = out;
    }
  }
  REQUIRE(!made.empty());
  Llama<float> model = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  poison(model, "embed_tokens.weight", static_cast<std::int64_t>(made[1]) * 16, kNaN);  // E(made[1], 0)
  // Step 2 scores the token after made[1], which sits at position 3 (prompt 0, 1; made[0] 2; made[1] 3).
  CHECK_THROWS_WITH_AS(generate(model, prompt, config),
                       doctest::Contains("[generation] step 2: the model's score for token id 0 is "), ValueError);
  CHECK_THROWS_WITH_AS(generate(model, prompt, config),
                       doctest::Contains("; first non-finite value: decoder's input (the embedded tokens, before layer 0) "
                                         "('decoder.embeddings' [1, 4, 16] holds nan at [0, 3, 0])"),
                       ValueError);
}

TEST_CASE("non-finite logits: T5 names the encoder layer or the decoder's cross-attention, greedy and beam search") {
  SUBCASE("a NaN in encoder layer 1's FFN reaches the decoder through every cross-attention: the encoder is named") {
    T5<float> model = T5<float>::from_pretrained(testing::fixture_path("models/t5-small-style"));
    poison(model, "encoder.layers.1.ffn.down.weight", 0, kNaN);
    const char* where = "; first non-finite value: encoder layer 1, the FFN's output ('encoder.layers.1.ffn.down.out' "
                        "[1, 4, 16] holds ";
    CHECK_THROWS_WITH_AS(generate(model, {5, 6, 7, 1}, greedy(4)), doctest::Contains(where), ValueError);
    CHECK_THROWS_WITH_AS(generate(model, {5, 6, 7, 1}, beams(4)), doctest::Contains(where), ValueError);
  }
  SUBCASE("a NaN in decoder layer 2's cross-attention output projection") {
    T5<float> model = T5<float>::from_pretrained(testing::fixture_path("models/t5-small-style"));
    poison(model, "decoder.layers.2.cross_attn.o.weight", 0, kNaN);
    const char* where = "; first non-finite value: decoder layer 2, the cross-attention's output "
                        "('decoder.layers.2.cross_attn.o.out' [1, 1, 16] holds ";
    CHECK_THROWS_WITH_AS(generate(model, {5, 6, 7, 1}, greedy(4)),
                         doctest::Contains("[generation] step 0: the model's score for token id 0 is "), ValueError);
    CHECK_THROWS_WITH_AS(generate(model, {5, 6, 7, 1}, greedy(4)), doctest::Contains(where), ValueError);
    CHECK_THROWS_WITH_AS(generate(model, {5, 6, 7, 1}, beams(4)), doctest::Contains(where), ValueError);
  }
}

TEST_CASE("non-finite logits: the diagnosis runs only when the scores are not finite") {
  CountingLM model;
  GenerationConfig config = greedy(5);
  CHECK(generate(model, {1}, config).front().tokens.size() == 5);
  config.strategy = Strategy::Beam;
  config.num_beams = 2;
  generate(model, {1}, config);
  CHECK(model.diagnoses == 0);  // finite runs never ask for it
  // From the third model call on, a NaN: greedy stops at step 2, and asks once; a model without a capture says so.
  CountingLM broken;
  broken.nan_from = 2;
  CHECK_THROWS_WITH_AS(generate(broken, {1}, greedy(5)),
                       "[generation] step 2: the model's score for token id 5 is nan (NaN or infinite logits); the model "
                       "offers no capture to find the layer",
                       ValueError);
  CHECK(broken.diagnoses == 1);
}
