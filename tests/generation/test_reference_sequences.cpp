// Greedy and beam search on the Llama and T5 fixture checkpoints give exactly the token sequences of the
// PyTorch reference (tools/fixtures/make_generation_fixtures.py: HF's published algorithms over hand-written
// reference models, float64, no cache).
#include <doctest/doctest.h>

#include <map>
#include <memory>

#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"
#include "support/fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

GenerationConfig settings_from(const json::Value& s) {
  GenerationConfig c;
  c.strategy = s.at("strategy").as_string() == "beam" ? Strategy::Beam : Strategy::Greedy;
  c.max_new_tokens = s.at("max_new_tokens").as_int();
  c.num_beams = s.at("num_beams").as_int();
  c.length_penalty = s.at("length_penalty").as_number();
  const json::Value& e = s.at("early_stopping");
  c.early_stopping = e.is_string() ? EarlyStopping::Never : (e.as_bool() ? EarlyStopping::Yes : EarlyStopping::Heuristic);
  c.num_return_sequences = s.at("num_return_sequences").as_int();
  c.repetition_penalty = s.at("repetition_penalty").as_number();
  c.no_repeat_ngram_size = s.at("no_repeat_ngram_size").as_int();
  for (const json::Value& id : s.at("eos_token_ids").as_array()) c.eos_token_ids.push_back(static_cast<TokenId>(id.as_int()));
  return c;
}

TokenSequence ids_of(const json::Value& v) {
  TokenSequence out;
  for (const json::Value& id : v.as_array()) out.push_back(static_cast<TokenId>(id.as_int()));
  return out;
}

// Models are loaded once per checkpoint and scalar type.
template <class T>
struct Models {
  std::map<std::string, std::unique_ptr<Llama<T>>> llama;
  std::map<std::string, std::unique_ptr<T5<T>>> t5;

  std::vector<GeneratedSequence> run(const json::Value& c, const GenerationConfig& config) {
    const std::string checkpoint = c.at("checkpoint").as_string();
    const std::string folder = testing::fixture_path("models/" + checkpoint);
    const TokenSequence prompt = ids_of(c.at("prompt"));
    if (c.at("family").as_string() == "llama") {
      auto& m = llama[checkpoint];
      if (!m) m = std::make_unique<Llama<T>>(Llama<T>::from_pretrained(folder));
      return generate(*m, prompt, config);
    }
    auto& m = t5[checkpoint];
    if (!m) m = std::make_unique<T5<T>>(T5<T>::from_pretrained(folder));
    return generate(*m, prompt, config);
  }
};

}  // namespace

TEST_CASE_TEMPLATE("greedy and beam search reproduce the PyTorch reference sequences", T, double, float) {
  const json::Value file = json::parse_file(testing::fixture_path("generation/reference_sequences.json"));
  Models<T> models;
  int compared = 0;
  for (const json::Value& c : file.at("cases").as_array()) {
    const std::string name = c.at("name").as_string();
    CAPTURE(name);
    GenerationConfig config = settings_from(c.at("settings"));
    for (bool cached : {true, false}) {
      CAPTURE(cached);
      config.use_cache = cached;
      const std::vector<GeneratedSequence> got = models.run(c, config);
      const json::Array& expected = c.at("expected").as_array();
      REQUIRE(got.size() == expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].tokens == ids_of(expected[i].at("tokens")));
        // Scores: the same numbers up to float arithmetic (T = float) or to rounding (T = double).
        const double tolerance = std::is_same_v<T, float> ? 1e-4 : 1e-9;
        CHECK(std::abs(got[i].score - expected[i].at("score").as_number()) <= tolerance * (1 + std::abs(got[i].score)));
        const std::string reason = expected[i].at("stop_reason").as_string();
        CHECK(got[i].stop_reason == (reason == "eos" ? StopReason::EndOfSequence : StopReason::MaxNewTokens));
        if (reason == "eos") CHECK(got[i].eos_token == got[i].tokens.back());
      }
      ++compared;
    }
  }
  CHECK(compared == 70);
}
