// generate_batch: several prompts of different lengths at once, left-padded (generation/session.hpp,
// BatchCausalSession; generate.hpp). Checked three ways:
//   - each prompt alone: greedy search over a batch gives every prompt exactly the tokens generate() gives it, and
//     every step's scores agree within the parity tolerance (float 1e-5, double 1e-10, relative to the largest
//     score) — on every decoder fixture family: Llama (GQA, tied bf16), Qwen2, Qwen3, Mistral (sliding window), GPT-2;
//   - an independent reference: tools/fixtures/make_batched_generation_fixture.py runs Hugging Face's recipe
//     (attention_mask, position_ids = cumsum(mask) − 1) over hand-written PyTorch models, float64, no cache;
//   - the pieces: RoPE's positions count real tokens only (captured k_rope), per-row stopping, sampling streams,
//     the cache-free path, the memory guard, and every refused input naming what was wrong.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eigenformer/generation.hpp"
#include "gpt2/gpt2.hpp"
#include "llama/llama.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;
using namespace eigenformer::testing;

namespace {

std::string model_dir(const std::string& name) { return fixture_path("models/" + name); }

/// Prompts of lengths 5, 1, 3 and 4 (ids from 3 on, deterministic), for a vocabulary of V.
std::vector<TokenSequence> prompts_for(Index V) {
  std::vector<TokenSequence> prompts;
  TokenId next = 3;
  for (std::size_t length : {5, 1, 3, 4}) {
    TokenSequence p;
    for (std::size_t t = 0; t < length; ++t) {
      p.push_back(next);
      next = static_cast<TokenId>(3 + (next * 7 + 5) % (V - 3));
    }
    prompts.push_back(p);
  }
  return prompts;
}

/// The raw score rows a trace kept, by (step, sequence).
std::map<std::pair<std::int64_t, Index>, std::vector<double>> scores_by_step(const Trace& trace) {
  REQUIRE(trace.logits.size() == trace.steps.size());
  std::map<std::pair<std::int64_t, Index>, std::vector<double>> rows;
  for (std::size_t i = 0; i < trace.steps.size(); ++i) rows[{trace.steps[i].step, trace.steps[i].sequence}] = trace.logits[i];
  return rows;
}

/// Runs every prompt alone and as one batch with `config`; checks tokens, stop reasons, log-probabilities and every
/// step's scores. Returns the batch's results.
template <class T>
std::vector<GeneratedSequence> check_batch_equals_alone(CausalLM<T>& model, const std::vector<TokenSequence>& prompts,
                                                        const GenerationConfig& config) {
  Trace batch_trace;
  batch_trace.keep_logits = true;
  GenerationIO batch_io;
  batch_io.trace = &batch_trace;
  const std::vector<GeneratedSequence> batch = generate_batch(model, prompts, config, batch_io);
  REQUIRE(batch.size() == prompts.size());
  const auto batch_scores = scores_by_step(batch_trace);
  double worst = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    CAPTURE(i);
    Trace alone_trace;
    alone_trace.keep_logits = true;
    GenerationIO alone_io;
    alone_io.trace = &alone_trace;
    const std::vector<GeneratedSequence> alone = generate(model, prompts[i], config, alone_io);
    REQUIRE(alone.size() == 1);
    CHECK(batch[i].tokens == alone[0].tokens);
    CHECK(batch[i].stop_reason == alone[0].stop_reason);
    CHECK(batch[i].eos_token == alone[0].eos_token);
    CHECK(batch[i].log_probability == doctest::Approx(alone[0].log_probability).epsilon(1e-4));
    for (std::size_t k = 0; k < alone_trace.steps.size(); ++k) {
      const auto it = batch_scores.find({alone_trace.steps[k].step, static_cast<Index>(i)});
      CHECK(it != batch_scores.end());
      if (it == batch_scores.end()) continue;  // the row stopped earlier than alone: the checks above say so
      const std::vector<double>& expected = alone_trace.logits[k];
      REQUIRE(it->second.size() == expected.size());
      worst = std::max(worst, relative_max_error(it->second.data(), expected.data(), expected.size()));
    }
    // Exactly the steps the prompt takes alone: a finished row is not scored again.
    const std::size_t batch_steps = static_cast<std::size_t>(std::count_if(
        batch_trace.steps.begin(), batch_trace.steps.end(), [&](const TokenStep& s) { return s.sequence == static_cast<Index>(i); }));
    CHECK(batch_steps == alone_trace.steps.size());
  }
  INFO("largest relative difference of a step's scores, batch vs alone: " << worst << " (tolerance " << parity_tolerance<T>() << ")");
  CHECK(worst <= parity_tolerance<T>());
  return batch;
}

/// An id no sequence of `results` contains (for a run without EOS): the largest id not used.
TokenId unused_id(const std::vector<GeneratedSequence>& results, Index V) {
  for (TokenId id = static_cast<TokenId>(V - 1); id >= 0; --id) {
    bool used = false;
    for (const GeneratedSequence& r : results) used = used || std::find(r.tokens.begin(), r.tokens.end(), id) != r.tokens.end();
    if (!used) return id;
  }
  return 0;
}

bool message_has(const std::function<void()>& run, const std::string& part) {
  try {
    run();
  } catch (const ValueError& e) {
    INFO("message: " << e.what());
    CHECK(std::string(e.what()).find(part) != std::string::npos);
    return true;
  }
  return false;
}

}  // namespace

TEST_CASE_TEMPLATE("generate_batch: greedy search over left-padded prompts gives each prompt what it gets alone", T, float, double) {
  for (const std::string name : {"llama-gqa-sharded", "llama-tied-bf16", "qwen2-gqa", "qwen3-tied", "mistral-swa"}) {
    CAPTURE(name);
    Llama<T> model = Llama<T>::from_pretrained(model_dir(name));
    GenerationConfig config;
    config.max_new_tokens = 10;
    config.eos_token_ids = {static_cast<TokenId>(model.vocab_size() - 1)};
    check_batch_equals_alone<T>(model, prompts_for(model.vocab_size()), config);
  }
  {
    GPT2<T> model = GPT2<T>::from_pretrained(model_dir("gpt2-style"));  // 16 positions: 5 + 10 fit
    GenerationConfig config;
    config.max_new_tokens = 10;
    config.eos_token_ids = {0};
    check_batch_equals_alone<T>(model, prompts_for(model.vocab_size()), config);
  }
}

TEST_CASE("generate_batch: each row stops on its own EOS, and the others go on") {
  Llama<double> model = Llama<double>::from_pretrained(model_dir("llama-gqa-sharded"));
  const std::vector<TokenSequence> prompts = prompts_for(model.vocab_size());
  GenerationConfig free_run;
  free_run.max_new_tokens = 8;
  free_run.eos_token_ids = {70};
  const std::vector<GeneratedSequence> unstopped = generate_batch(model, prompts, free_run);
  REQUIRE(unstopped[1].tokens.size() >= 3);
  // EOS = the token row 1 chose third: row 1 ends there (or earlier, if it chose it before), the others when they
  // meet it or at max_new_tokens — each exactly as alone.
  GenerationConfig config = free_run;
  config.eos_token_ids = {unstopped[1].tokens[2]};
  const std::vector<GeneratedSequence> stopped = check_batch_equals_alone<double>(model, prompts, config);
  CHECK(stopped[1].stop_reason == StopReason::EndOfSequence);
  CHECK(stopped[1].tokens.size() <= 3);
  bool someone_ran_on = false;
  for (const GeneratedSequence& r : stopped) someone_ran_on = someone_ran_on || r.tokens.size() > stopped[1].tokens.size();
  CHECK(someone_ran_on);
}

TEST_CASE("generate_batch: sampling draws each prompt's stream as it is drawn alone") {
  Llama<double> model = Llama<double>::from_pretrained(model_dir("llama-gqa-sharded"));
  const std::vector<TokenSequence> prompts = prompts_for(model.vocab_size());
  GenerationConfig config;
  config.strategy = Strategy::Sample;
  config.temperature = 1.3;
  config.top_k = 20;
  config.top_p = 0.95;
  config.max_new_tokens = 8;
  config.eos_token_ids = {70};
  config.seed = 11;
  SUBCASE("one sample per prompt") { check_batch_equals_alone<double>(model, prompts, config); }
  SUBCASE("two samples per prompt: result i·2 + k is prompt i's sample k") {
    config.num_return_sequences = 2;
    const std::vector<GeneratedSequence> batch = generate_batch(model, prompts, config);
    REQUIRE(batch.size() == 2 * prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const std::vector<GeneratedSequence> alone = generate(model, prompts[i], config);
      REQUIRE(alone.size() == 2);
      CHECK(batch[2 * i].tokens == alone[0].tokens);
      CHECK(batch[2 * i + 1].tokens == alone[1].tokens);
    }
    CHECK(batch[0].tokens != batch[1].tokens);  // two different draws
  }
}

TEST_CASE("generate_batch: the cached batch equals the batch recomputed in full at every step") {
  Llama<double> model = Llama<double>::from_pretrained(model_dir("mistral-swa"));
  model.window_cache = true;  // the bounded cache drops slots from the left, pads first
  const std::vector<TokenSequence> prompts = prompts_for(model.vocab_size());
  GenerationConfig config;
  config.max_new_tokens = 12;
  config.eos_token_ids = {static_cast<TokenId>(model.vocab_size() - 1)};
  const std::vector<GeneratedSequence> cached = generate_batch(model, prompts, config);
  config.use_cache = false;
  const std::vector<GeneratedSequence> full = generate_batch(model, prompts, config);
  for (std::size_t i = 0; i < prompts.size(); ++i) CHECK(cached[i].tokens == full[i].tokens);
}

// RoPE needs the shift less than it seems: rotating every position of a sequence by the same extra angle leaves
// its attention scores unchanged (they depend on m − n), so logits cannot tell shifted positions from unshifted
// ones beyond rounding. The rotated keys can: with positions counted from each row's first real token, every real
// key of the padded batch is the key the same token has alone.
TEST_CASE_TEMPLATE("left-padded forward: RoPE rotates each row's keys by the positions of its real tokens", T, float, double) {
  Llama<T> model = Llama<T>::from_pretrained(model_dir("llama-gqa-sharded"));
  const std::vector<TokenSequence> prompts = prompts_for(model.vocab_size());
  const Index B = static_cast<Index>(prompts.size());
  Index L = 0;
  for (const TokenSequence& p : prompts) L = std::max(L, static_cast<Index>(p.size()));
  TokenIds ids(B, L);
  std::vector<Index> pads;
  for (Index b = 0; b < B; ++b) {
    const TokenSequence& p = prompts[static_cast<std::size_t>(b)];
    pads.push_back(L - static_cast<Index>(p.size()));
    for (Index j = 0; j < L; ++j) ids(b, j) = j < pads.back() ? 0 : p[static_cast<std::size_t>(j - pads.back())];
  }
  const KeyPadding padding = KeyPadding::from_left_pads(pads);
  Capture<T> batch_capture;
  batch_capture.prefix = "decoder.";
  batch_capture.keep_matching("*k_rope");
  LlamaOptions<T> options;
  options.padding = &padding;
  options.position_shift = padding.left_pads();
  options.capture = &batch_capture;
  Matrix<T> logits;
  model.forward(ids, logits, options);
  const Intermediate<T>& batch_keys = batch_capture.at("decoder.layers.1.attn.k_rope");  // (B, L, Hkv, D)
  const Index width = batch_keys.shape[2] * batch_keys.shape[3];
  double worst = 0;
  for (Index b = 0; b < B; ++b) {
    const TokenSequence& p = prompts[static_cast<std::size_t>(b)];
    TokenIds alone(1, static_cast<Index>(p.size()));
    for (std::size_t t = 0; t < p.size(); ++t) alone(0, static_cast<Index>(t)) = p[t];
    Capture<T> alone_capture;
    alone_capture.prefix = "decoder.";
    alone_capture.keep_matching("*k_rope");
    LlamaOptions<T> plain;
    plain.capture = &alone_capture;
    model.forward(alone, logits, plain);
    const Intermediate<T>& alone_keys = alone_capture.at("decoder.layers.1.attn.k_rope");
    const T* batch_row = batch_keys.values.data() + (b * L + pads[static_cast<std::size_t>(b)]) * width;
    worst = std::max(worst, relative_max_error(batch_row, alone_keys.values.data(), alone_keys.values.size()));
  }
  INFO("largest relative difference of a real key, batch vs alone: " << worst);
  CHECK(worst <= parity_tolerance<T>());
}

// tools/fixtures/make_batched_generation_fixture.py: Hugging Face's recipe over the PyTorch reference models.
TEST_CASE_TEMPLATE("generate_batch: the prompt pass and every greedy step match the PyTorch reference", T, float, double) {
  Fixture fixture("generation/batched_generation.safetensors");
  for (const std::string name : {"llama-gqa-sharded", "gpt2-style"}) {
    CAPTURE(name);
    const json::Value meta = fixture.config(name);
    std::unique_ptr<CausalLM<T>> model;
    if (meta.at("family").as_string() == "llama") {
      model = std::make_unique<Llama<T>>(Llama<T>::from_pretrained(model_dir(name)));
    } else {
      model = std::make_unique<GPT2<T>>(GPT2<T>::from_pretrained(model_dir(name)));
    }
    const Index V = model->vocab_size();
    const TensorInfo& shape = fixture.info(name + ".input_ids");
    const Index B = shape.shape[0], L = shape.shape[1];
    const std::vector<double> ids = fixture.values<double>(name + ".input_ids");
    const std::vector<double> mask = fixture.values<double>(name + ".attention_mask");
    TokenIds batch(B, L);
    std::vector<Index> pads(static_cast<std::size_t>(B), 0);
    std::vector<TokenSequence> prompts(static_cast<std::size_t>(B));
    for (Index b = 0; b < B; ++b) {
      for (Index j = 0; j < L; ++j) {
        const std::size_t at = static_cast<std::size_t>(b * L + j);
        batch(b, j) = static_cast<TokenId>(ids[at]);
        if (mask[at] == 0) {
          ++pads[static_cast<std::size_t>(b)];
        } else {
          prompts[static_cast<std::size_t>(b)].push_back(batch(b, j));
        }
      }
    }
    // 1) The prompt pass, every real slot.
    const KeyPadding padding = KeyPadding::from_left_pads(pads);
    DecoderCache<T> cache;
    Matrix<T> logits;
    model->forward_left_padded(batch, cache, logits, /*last_only=*/false, padding);
    const std::vector<double> expected_prompt = fixture.values<double>(name + ".prompt_logits");
    std::vector<double> actual, expected;
    for (Index r = 0; r < B * L; ++r) {
      if (mask[static_cast<std::size_t>(r)] == 0) continue;
      for (Index v = 0; v < V; ++v) {
        actual.push_back(static_cast<double>(logits(r, v)));
        expected.push_back(expected_prompt[static_cast<std::size_t>(r * V + v)]);
      }
    }
    check_parity<T>(actual, expected, name + " prompt pass (real slots)");

    // 2) Greedy generation: the same tokens, each chosen from the same scores.
    const Index K = meta.at("new_tokens").as_int();
    const std::vector<double> tokens = fixture.values<double>(name + ".tokens");        // (B, K)
    const std::vector<double> step_logits = fixture.values<double>(name + ".step_logits");  // (K, B, V)
    GenerationConfig config;
    config.max_new_tokens = K;
    std::vector<GeneratedSequence> reference_results(static_cast<std::size_t>(B));
    for (Index b = 0; b < B; ++b) {
      for (Index k = 0; k < K; ++k) reference_results[static_cast<std::size_t>(b)].tokens.push_back(static_cast<TokenId>(tokens[static_cast<std::size_t>(b * K + k)]));
    }
    config.eos_token_ids = {unused_id(reference_results, V)};  // the reference ran without EOS
    config.pad_token_id = static_cast<TokenId>(meta.at("pad").as_int());
    Trace trace;
    trace.keep_logits = true;
    GenerationIO io;
    io.trace = &trace;
    const std::vector<GeneratedSequence> results = generate_batch(*model, prompts, config, io);
    REQUIRE(results.size() == static_cast<std::size_t>(B));
    for (Index b = 0; b < B; ++b) CHECK(results[static_cast<std::size_t>(b)].tokens == reference_results[static_cast<std::size_t>(b)].tokens);
    actual.clear();
    expected.clear();
    for (std::size_t i = 0; i < trace.steps.size(); ++i) {
      const std::int64_t k = trace.steps[i].step;
      const Index b = trace.steps[i].sequence;
      for (Index v = 0; v < V; ++v) {
        actual.push_back(trace.logits[i][static_cast<std::size_t>(v)]);
        expected.push_back(step_logits[static_cast<std::size_t>((k * B + b) * V + v)]);
      }
    }
    CHECK(trace.steps.size() == static_cast<std::size_t>(B * K));
    check_parity<T>(actual, expected, name + " every step's scores");
  }
}

TEST_CASE("generate_batch: bad input is refused, naming the prompt") {
  Llama<float> model = Llama<float>::from_pretrained(model_dir("llama-gqa-sharded"));  // V = 71, 64 positions
  GenerationConfig config;
  config.max_new_tokens = 4;
  CHECK(message_has([&] { generate_batch(model, {}, config); }, "the list of prompts is empty"));
  CHECK(message_has([&] { generate_batch(model, {{1, 5}, {}}, config); }, "prompt 1 (of 2) is empty"));
  CHECK(message_has([&] { generate_batch(model, {{1, 5}, {1}, {1, 71}}, config); }, "prompt 2 (of 3), token 1 has id 71"));
  CHECK(message_has([&] { generate_batch(model, {{1, -3}}, config); }, "prompt 0 (of 1), token 1 has id -3"));
  const TokenSequence long_prompt(61, 5);
  CHECK(message_has([&] { generate_batch(model, {{1, 5}, long_prompt}, config); },
                    "prompt 1 (61 tokens, the longest) plus max_new_tokens (4) exceeds the model's context of 64"));
  GenerationConfig beams = config;
  beams.strategy = Strategy::Beam;
  beams.num_beams = 3;
  CHECK(message_has([&] { generate_batch(model, {{1, 5}}, beams); }, "beam search over several prompts is not supported"));
  GenerationIO streaming;
  streaming.on_token = [](TokenId, const std::string&) {};
  CHECK(message_has([&] { generate_batch(model, {{1, 5}}, config, streaming); }, "streaming follows one sequence"));
  GenerationConfig bad_pad = config;
  bad_pad.pad_token_id = 500;
  CHECK(message_has([&] { generate_batch(model, {{1, 5}}, bad_pad); }, "pad_token_id 500"));
}

TEST_CASE("generate_batch: the memory guard counts every row of the batch at full context") {
  Llama<float> model = Llama<float>::from_pretrained(model_dir("llama-gqa-sharded"));  // 2 layers, Hkv 2, D 4
  GenerationConfig config;
  config.max_new_tokens = 40;
  // One row at full context: 2 layers × 2 × 1 × 2 heads × (10 + 40) positions × 4 dims × 4 bytes = 6400 bytes.
  const std::vector<TokenSequence> prompts(8, TokenSequence(10, 5));
  {
    ScopedMemoryBudget budget(4 * 6400);  // four rows fit, eight do not
    CHECK_THROWS_AS(generate_batch(model, prompts, config), MemoryError);
    try {
      generate_batch(model, prompts, config);
    } catch (const MemoryError& e) {
      CHECK(std::string(e.what()).find("8 sequences") != std::string::npos);
    }
  }
  ScopedMemoryBudget enough(std::int64_t{1} << 30);
  CHECK(generate_batch(model, prompts, config).size() == 8);
}

namespace {
/// A model that does not override forward_left_padded: it can take a batch only when no row is padded.
class UnshiftedLM : public CausalLM<double> {
 public:
  explicit UnshiftedLM(Llama<double>& model) : model_(model) {}
  Index vocab_size() const override { return model_.vocab_size(); }
  Index max_positions() const override { return model_.max_positions(); }
  const SpecialTokenIds& special_tokens() const override { return model_.special_tokens(); }
  void forward(const TokenIds& ids, DecoderCache<double>& cache, Matrix<double>& logits, bool last_only = false,
               const KeyPadding* padding = nullptr) override {
    model_.forward(ids, cache, logits, last_only, padding);
  }

 private:
  Llama<double>& model_;
};
}  // namespace

TEST_CASE("generate_batch: a model that cannot shift its positions takes prompts of one length only") {
  Llama<double> llama = Llama<double>::from_pretrained(model_dir("llama-gqa-sharded"));
  UnshiftedLM model(llama);
  GenerationConfig config;
  config.max_new_tokens = 5;
  config.eos_token_ids = {70};
  const std::vector<GeneratedSequence> same = generate_batch<double>(model, {{1, 5, 9}, {1, 7, 3}}, config);
  CHECK(same[0].tokens == generate<double>(llama, {1, 5, 9}, config)[0].tokens);
  CHECK(message_has([&] { generate_batch<double>(model, {{1, 5, 9}, {1}}, config); }, "cannot shift its positions"));
}
