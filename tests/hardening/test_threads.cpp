// Concurrent use: two threads generate from one loaded model at the same time — each with its own session and
// cache, the weights shared through generation::SharedCausalLM / SharedSeq2SeqLM — and get exactly the
// tokens of the same runs done one after the other. The const pieces (layers' const forwards, RoPE, the
// tokenizer) are called from several threads with no lock and give the sequential results too. The tsan
// preset runs this file under ThreadSanitizer, which reports any data race the runs have (the plain build
// checks only the results).
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "eigenformer/generation.hpp"
#include "eigenformer/tokenizers.hpp"
#include "llama/llama.hpp"
#include "support/fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

/// Runs every job on its own thread, all at once, and waits for them.
void run_together(const std::vector<std::function<void()>>& jobs) {
  std::vector<std::thread> threads;
  for (const auto& job : jobs) threads.emplace_back(job);
  for (std::thread& t : threads) t.join();
}

struct Run {
  TokenSequence prompt;
  GenerationConfig config;
};

std::vector<Run> runs() {
  std::vector<Run> r(4);
  r[0].prompt = {1, 5, 9, 33};
  r[0].config.max_new_tokens = 12;  // greedy
  r[1].prompt = {1, 20};
  r[1].config.strategy = Strategy::Sample;
  r[1].config.seed = 7;
  r[1].config.max_new_tokens = 12;
  r[1].config.num_return_sequences = 2;
  r[2].prompt = {2, 3, 4, 5, 6, 7};
  r[2].config.strategy = Strategy::Beam;
  r[2].config.num_beams = 3;
  r[2].config.max_new_tokens = 8;
  r[3].prompt = {9};
  r[3].config.max_new_tokens = 12;
  r[3].config.use_cache = false;  // the recomputing path, beside the cached ones
  for (Run& run : r) run.config.eos_token_ids = {70};  // an id the fixtures rarely pick: long runs overlap more
  return r;
}

template <class Model>
void check_same_as_sequential(Model& shared, const std::vector<Run>& plan, int rounds) {
  // 1) Sequentially: the reference.
  std::vector<std::vector<GeneratedSequence>> expected;
  for (const Run& run : plan) expected.push_back(generate(shared, run.prompt, run.config));
  // 2) All runs at once, several rounds (each a new set of threads).
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::vector<GeneratedSequence>> got(plan.size());
    std::vector<std::function<void()>> jobs;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      jobs.push_back([&, i] { got[i] = generate(shared, plan[i].prompt, plan[i].config); });
    }
    run_together(jobs);
    for (std::size_t i = 0; i < plan.size(); ++i) {
      REQUIRE(got[i].size() == expected[i].size());
      for (std::size_t s = 0; s < got[i].size(); ++s) {
        CHECK_MESSAGE(got[i][s].tokens == expected[i][s].tokens, "run " << i << ", sequence " << s << ", round " << round);
        CHECK(got[i][s].log_probability == expected[i][s].log_probability);  // bit for bit
      }
    }
  }
}

}  // namespace

TEST_CASE("threads: four runs at once on one Llama (greedy, sampling, beams, no cache) give the sequential results") {
  Llama<float> model = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  SharedCausalLM<float> shared(model);
  check_same_as_sequential(shared, runs(), 3);
  // A copy of the handle shares the model and its lock.
  SharedCausalLM<float> copy = shared;
  std::vector<GeneratedSequence> a, b;
  run_together({[&] { a = generate(shared, {1, 2}, GenerationConfig{}); }, [&] { b = generate(copy, {1, 2}, GenerationConfig{}); }});
  CHECK(a[0].tokens == b[0].tokens);
}

TEST_CASE("threads: two runs at once on one T5 give the sequential results") {
  T5<float> model = T5<float>::from_pretrained(testing::fixture_path("models/flan-t5-style"));
  SharedSeq2SeqLM<float> shared(model);
  std::vector<Run> plan(2);
  plan[0].prompt = {3, 8, 15, 1};
  plan[0].config.max_new_tokens = 10;
  plan[1].prompt = {4, 4, 9, 22, 30, 1};
  plan[1].config.strategy = Strategy::Beam;
  plan[1].config.num_beams = 2;
  plan[1].config.max_new_tokens = 10;
  check_same_as_sequential(shared, plan, 3);
}

TEST_CASE("threads: const forwards and the tokenizer are safe to share without a lock") {
  Llama<double> model = Llama<double>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  const Llama<double>& m = model;
  TokenIds ids(2, 5);
  ids << 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
  // The expected results, computed once on this thread.
  Tensor3<double> embedded_ref;
  m.embed_tokens.forward(ids, embedded_ref);
  const Matrix<double> projected_ref = m.lm_head(as_matrix(embedded_ref));
  const RotaryEmbedding<double>& rope = *m.decoder.rope;
  Matrix<double> rotated_ref = projected_ref.leftCols(16);
  rope.rotate(rotated_ref, 2, 4, 3);
  const tokenizers::Tokenizer tok = tokenizers::load_tokenizer(EIGENFORMER_SOURCE_DIR "/tests/tokenizers/tiny_wordpiece.json");
  const std::string text = "hello world! Hello, WORLD!! hello";
  const TokenSequence encoded_ref = tok.encode(text);

  std::vector<std::function<void()>> jobs;
  std::vector<int> ok(4, 0);
  for (std::size_t j = 0; j < ok.size(); ++j) {
    jobs.push_back([&, j] {
      bool same = true;
      for (int repeat = 0; repeat < 20; ++repeat) {
        Tensor3<double> embedded;
        m.embed_tokens.forward(ids, embedded);
        const Matrix<double> projected = m.lm_head(as_matrix(embedded));
        Matrix<double> rotated = projected.leftCols(16);
        rope.rotate(rotated, 2, 4, 3);
        same = same && as_matrix(embedded) == as_matrix(embedded_ref) && projected == projected_ref && rotated == rotated_ref;
        same = same && tok.encode(text) == encoded_ref && tok.decode(encoded_ref) == tok.decode(encoded_ref);
      }
      ok[j] = same ? 1 : 0;
    });
  }
  run_together(jobs);
  for (std::size_t j = 0; j < ok.size(); ++j) CHECK_MESSAGE(ok[j] == 1, "thread " << j);
}
