// Beam search's rules one by one, against tools/fixtures/make_generation_fixtures.py (HF's BeamSearchScorer
// written in PyTorch): each case is a score table where breaking one rule changes the result. Kept apart from
// test_beam_search.cpp so that it compiles in seconds (tools/mutants.sh rebuilds it for every beam mutant).
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "eigenformer/generation.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

// A model whose scores are a table (the fixture's): the scores after a sequence are table[k][last token], k the
// number of tokens generated so far. The cache only counts positions (one key of width 1 per position).
class TableLM : public CausalLM<double> {
 public:
  TableLM(const json::Value& table, std::size_t prompt_length) : prompt_length_(static_cast<Index>(prompt_length)) {
    for (const json::Value& step : table.as_array()) {
      std::vector<std::vector<double>> rows;
      for (const json::Value& row : step.as_array()) {
        std::vector<double> r;
        for (const json::Value& x : row.as_array()) r.push_back(x.as_number());
        rows.push_back(r);
      }
      table_.push_back(rows);
    }
    special_.eos = {0};
  }
  Index vocab_size() const override { return static_cast<Index>(table_.front().size()); }
  Index max_positions() const override { return 1000; }
  const SpecialTokenIds& special_tokens() const override { return special_; }
  void forward(const TokenIds& ids, DecoderCache<double>& cache, Matrix<double>& logits, bool last_only,
               const KeyPadding*) override {
    REQUIRE(last_only);
    cache.self.resize(1);
    cache.self[0].append(Matrix<double>::Zero(ids.size(), 1), Matrix<double>::Zero(ids.size(), 1), ids.rows());
    const std::size_t k = static_cast<std::size_t>(cache.length() - prompt_length_);
    REQUIRE(k < table_.size());
    logits.resize(ids.rows(), vocab_size());
    for (Index b = 0; b < ids.rows(); ++b) {
      const std::vector<double>& row = table_[k][static_cast<std::size_t>(ids(b, ids.cols() - 1))];
      for (Index v = 0; v < vocab_size(); ++v) logits(b, v) = row[static_cast<std::size_t>(v)];
    }
  }

 private:
  std::vector<std::vector<std::vector<double>>> table_;  // (max_new_tokens, V, V)
  Index prompt_length_;
  SpecialTokenIds special_;
};

}  // namespace

// tools/fixtures/make_generation_fixtures.py (beam_rule_cases): for each rule of Hugging Face's
// BeamSearchScorer, a scores table chosen so that breaking that one rule changes the returned hypotheses (the
// generator checked this by breaking it in its own copy of the algorithm). Compared exactly: tokens, why each
// ended, the number of steps searched; scores to 1e-12 (both sides sum the same float64 log-softmaxes).
TEST_CASE("beam search rules: EOS rank, early_stopping true / false / never, candidates kept per EOS id") {
  const json::Value file = json::parse_file(testing::fixture_path("generation/beam_rules.json"));
  std::set<std::string> rules;
  for (const json::Value& c : file.at("cases").as_array()) {
    const std::string name = c.at("name").as_string();
    CAPTURE(name);
    rules.insert(name);
    const json::Value& s = c.at("settings");
    TableLM model(c.at("table"), c.at("prompt").as_array().size());
    GenerationConfig config;
    config.strategy = Strategy::Beam;
    config.num_beams = s.at("num_beams").as_int();
    config.max_new_tokens = s.at("max_new_tokens").as_int();
    config.length_penalty = s.at("length_penalty").as_number();
    config.num_return_sequences = s.at("num_return_sequences").as_int();
    const json::Value& e = s.at("early_stopping");
    config.early_stopping = e.is_string() ? EarlyStopping::Never : (e.as_bool() ? EarlyStopping::Yes : EarlyStopping::Heuristic);
    for (const json::Value& id : s.at("eos_token_ids").as_array()) config.eos_token_ids.push_back(static_cast<TokenId>(id.as_int()));
    TokenSequence prompt;
    for (const json::Value& id : c.at("prompt").as_array()) prompt.push_back(static_cast<TokenId>(id.as_int()));
    for (bool cached : {true, false}) {
      CAPTURE(cached);
      config.use_cache = cached;
      Trace trace;
      GenerationIO io;
      io.trace = &trace;
      const std::vector<GeneratedSequence> got = generate(model, prompt, config, io);
      CHECK(static_cast<std::int64_t>(trace.beam_steps.size()) == c.at("steps").as_int());
      const json::Array& expected = c.at("expected").as_array();
      REQUIRE(got.size() == expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        TokenSequence want;
        for (const json::Value& id : expected[i].at("tokens").as_array()) want.push_back(static_cast<TokenId>(id.as_int()));
        CHECK(got[i].tokens == want);
        CHECK(std::abs(got[i].score - expected[i].at("score").as_number()) <= 1e-12);
        const bool eos = expected[i].at("stop_reason").as_string() == "eos";
        CHECK(got[i].stop_reason == (eos ? StopReason::EndOfSequence : StopReason::MaxNewTokens));
      }
    }
  }
  // Each rule has its case (a regenerated fixture that lost one would otherwise pass silently).
  CHECK(rules == std::set<std::string>{"eos_beyond_num_beams", "heuristic_never_stops", "true_as_heuristic",
                                       "never_as_heuristic", "keep_2_beams"});
}

