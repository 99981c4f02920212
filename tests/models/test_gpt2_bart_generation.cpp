// Greedy and beam search on the GPT-2 and BART fixture checkpoints give exactly the token sequences of the PyTorch
// reference (tools/fixtures/make_gpt2_bart_fixtures.py: transformers' published algorithms — no-repeat n-grams,
// min new tokens, forced BOS and EOS, the length penalty, early stopping — over the hand-written references,
// float64, no cache); the new logits processors on their own; generation_config.json's summarisation settings.
#include <doctest/doctest.h>

#include <map>
#include <memory>

#include "bart/bart.hpp"
#include "bart/bart_options.hpp"
#include "common/generate_cli.hpp"
#include "gpt2/gpt2.hpp"
#include "model_fixture.hpp"

using namespace eigenformer;
namespace gen = eigenformer::generation;  // not a using-directive: the suite is one translation unit

namespace gpt2_bart_generation {

TokenSequence ids_of(const json::Value& v) {
  TokenSequence out;
  for (const json::Value& id : v.as_array()) out.push_back(static_cast<TokenId>(id.as_int()));
  return out;
}

gen::GenerationConfig settings_from(const json::Value& s) {
  gen::GenerationConfig c;
  c.strategy = s.at("strategy").as_string() == "beam" ? gen::Strategy::Beam : gen::Strategy::Greedy;
  c.max_new_tokens = s.at("max_new_tokens").as_int();
  c.num_beams = s.at("num_beams").as_int();
  c.length_penalty = s.at("length_penalty").as_number();
  const json::Value& e = s.at("early_stopping");
  c.early_stopping = e.is_string() ? gen::EarlyStopping::Never : (e.as_bool() ? gen::EarlyStopping::Yes : gen::EarlyStopping::Heuristic);
  c.num_return_sequences = s.at("num_return_sequences").as_int();
  c.repetition_penalty = s.at("repetition_penalty").as_number();
  c.no_repeat_ngram_size = s.at("no_repeat_ngram_size").as_int();
  c.eos_token_ids = ids_of(s.at("eos_token_ids"));
  c.min_new_tokens = s.at("min_new_tokens").as_int();
  if (!s.at("forced_bos_token_id").is_null()) c.forced_bos_token_id = static_cast<TokenId>(s.at("forced_bos_token_id").as_int());
  c.forced_eos_token_ids = ids_of(s.at("forced_eos_token_ids"));
  return c;
}

template <class T>
struct Models {
  std::map<std::string, std::unique_ptr<GPT2<T>>> gpt2;
  std::map<std::string, std::unique_ptr<Bart<T>>> bart;

  std::vector<gen::GeneratedSequence> run(const json::Value& c, const gen::GenerationConfig& config) {
    const std::string checkpoint = c.at("checkpoint").as_string();
    const std::string folder = testing::model_dir(checkpoint);
    const TokenSequence prompt = ids_of(c.at("prompt"));
    if (c.at("family").as_string() == "gpt2") {
      auto& m = gpt2[checkpoint];
      if (!m) m = std::make_unique<GPT2<T>>(GPT2<T>::from_pretrained(folder));
      return gen::generate(*m, prompt, config);
    }
    auto& m = bart[checkpoint];
    if (!m) m = std::make_unique<Bart<T>>(Bart<T>::from_pretrained(folder));
    return gen::generate(*m, prompt, config);
  }
};

}  // namespace gpt2_bart_generation

using gpt2_bart_generation::ids_of;

TEST_CASE_TEMPLATE("GPT-2 and BART: greedy and beam search (with BART's rules) reproduce the PyTorch reference", T, double, float) {
  const json::Value file = json::parse_file(testing::fixture_path("generation/gpt2_bart_sequences.json"));
  gpt2_bart_generation::Models<T> models;
  int compared = 0;
  for (const json::Value& c : file.at("cases").as_array()) {
    const std::string name = c.at("name").as_string();
    CAPTURE(name);
    gen::GenerationConfig config = gpt2_bart_generation::settings_from(c.at("settings"));
    for (bool cached : {true, false}) {
      CAPTURE(cached);
      config.use_cache = cached;
      const std::vector<gen::GeneratedSequence> got = models.run(c, config);
      const json::Array& expected = c.at("expected").as_array();
      REQUIRE(got.size() == expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].tokens == ids_of(expected[i].at("tokens")));
        const double tolerance = std::is_same_v<T, float> ? 1e-4 : 1e-9;
        CHECK(std::abs(got[i].score - expected[i].at("score").as_number()) <= tolerance * (1 + std::abs(got[i].score)));
        const std::string reason = expected[i].at("stop_reason").as_string();
        CHECK(got[i].stop_reason == (reason == "eos" ? gen::StopReason::EndOfSequence : gen::StopReason::MaxNewTokens));
      }
      ++compared;
    }
  }
  CHECK(compared == 2 * 15);
}

TEST_CASE("The forced-token and minimum-length processors") {
  gen::Scores z = {0.5, -1.0, 2.0, 0.1};
  gen::apply_forced_bos(z, 2, TokenId{1});  // only a one-token sequence gets the forced BOS
  CHECK(z == gen::Scores{0.5, -1.0, 2.0, 0.1});
  gen::apply_forced_bos(z, 1, TokenId{1});
  CHECK(z == gen::Scores{gen::kMinusInfinity, 0.0, gen::kMinusInfinity, gen::kMinusInfinity});
  z = {0.5, -1.0, 2.0, 0.1};
  gen::apply_forced_eos(z, 3, 5, {3});  // step 3 of 5: not the last
  CHECK(z[2] == 2.0);
  gen::apply_forced_eos(z, 4, 5, {0, 3});
  CHECK(z == gen::Scores{0.0, gen::kMinusInfinity, gen::kMinusInfinity, 0.0});
  z = {0.5, -1.0, 2.0, 0.1};
  gen::apply_min_new_tokens(z, 2, 3, {2});
  CHECK(z[2] == gen::kMinusInfinity);
  z = {0.5, -1.0, 2.0, 0.1};
  gen::apply_min_new_tokens(z, 3, 3, {2});
  CHECK(z[2] == 2.0);

  // A forced token outside the vocabulary is named before the model runs.
  Bart<float> bart = Bart<float>::from_pretrained(testing::model_dir("bart-large-style"));
  gen::GenerationConfig config;
  config.forced_bos_token_id = 500;
  CHECK_THROWS_WITH_AS(gen::generate(bart, {0, 5, 2}, config), doctest::Contains("forced token id 500"), ValueError);
  config.forced_bos_token_id.reset();
  config.min_new_tokens = -1;
  CHECK_THROWS_WITH_AS(gen::generate(bart, {0, 5, 2}, config), doctest::Contains("min_new_tokens must be >= 0"), ValueError);
}

TEST_CASE("BART: config.json's forced tokens apply unless the caller sets its own — greedy output ends with </s>") {
  Bart<double> bart = Bart<double>::from_pretrained(testing::model_dir("bart-large-style"));
  gen::GenerationConfig config;
  config.max_new_tokens = 6;
  const std::vector<gen::GeneratedSequence> forced = gen::generate(bart, {0, 9, 33, 14, 51, 7, 2}, config);
  REQUIRE(forced.size() == 1);
  CHECK(forced[0].tokens.front() == 0);  // forced_bos_token_id
  CHECK(forced[0].tokens.back() == 2);   // forced_eos_token_id at the last allowed step
  CHECK(forced[0].stop_reason == gen::StopReason::EndOfSequence);
  config.forced_eos_token_ids = {7};     // the caller's choice replaces config.json's (both of them)
  const std::vector<gen::GeneratedSequence> own = gen::generate(bart, {0, 9, 33, 14, 51, 7, 2}, config);
  CHECK(own[0].tokens.front() != 0);
  CHECK(own[0].tokens.back() == 7);
}

TEST_CASE("generation_config.json's summarisation settings: beams, n-grams, length penalty, min/max length, forced tokens") {
  const std::string folder = testing::model_dir("bart-large-style");
  const char* argv[] = {"bart", "--model", folder.c_str(), "--ids", "0,9,2", "--no-repeat-ngram", "2"};
  const cli::Table table = cli::bart_options();  // Arguments keeps a pointer to its table
  const cli::Arguments args(7, const_cast<char**>(argv), table);
  const gen::GenerationConfig c = cli::generation_settings(args, folder, /*prompt_length=*/1);
  CHECK(c.strategy == gen::Strategy::Beam);
  CHECK(c.num_beams == 4);
  CHECK(c.no_repeat_ngram_size == 2);  // the flag wins over the file's 3
  CHECK(c.length_penalty == 2.0);
  CHECK(c.early_stopping == gen::EarlyStopping::Yes);
  CHECK(c.min_new_tokens == 3);   // min_length 4 counts the decoder start
  CHECK(c.max_new_tokens == 11);  // max_length 12 counts it too
  CHECK(c.forced_bos_token_id == TokenId{0});
  CHECK(c.forced_eos_token_ids == std::vector<TokenId>{2});
}
