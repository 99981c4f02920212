// bench_decode — how fast a Llama-shaped model generates, at the shapes of llama2.c's TinyStories models:
//   stories15M   dim 288, 6 layers, 6 heads, FFN 768,   vocab 32000, tied embeddings
//   stories110M  dim 768, 12 layers, 12 heads, FFN 2048, vocab 32000, tied embeddings
// Random weights (speed does not depend on their values), a 16-token prompt and 256 new tokens of greedy
// search through the generation API, with the KV cache. The projections and the head are kept as fp32 (the
// reference), bf16 or int8 groups of 32 (Llama::pack_weights, layers/packed_weight.hpp): format 0, 1, 2.
//
//   BM_Generate/<model>/threads/format    whole runs: tokens per second (the headline figure)
//   BM_DecodeStep/<model>/pos/format      one decode step at position 16, 128 or 256: it should stay nearly
//                                         flat — each step reads every weight once and only the attention
//                                         grows with the position
// Counters: tok/s; weight_MB, the weights as kept in memory; MB/tok, the weight bytes one step reads (every
// projection and the head in full, one row of the embedding); GB/s = MB/tok × tok/s; read_GB/s, this machine's
// read bandwidth at the case's thread count, measured by this program just before the case (bench/peak.hpp:
// the best of 9 passes summing 256 MiB); of_bandwidth = GB/s ÷ read_GB/s (wall clock), the fraction of the
// bandwidth a step uses — the target for fp32 at 2 threads: ≥ 0.85. BM_ReadBandwidth alone: the
// bandwidth at 1 and 2 threads.
//
// The formats side by side, alternating (the machine is shared: compare ratios measured in one run):
//     ./build/release/bench/bench_decode --benchmark_filter='BM_Generate/110M:1/threads:1'
//         --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true --benchmark_counters_tabular=true
//     (one command line)
//   BM_Prompt                             a 512-token prompt at the 110M shape (fp32): one batched forward vs
//                                         token by token
//
// Run (docs/performance.md: conditions and reference figures):
//     ./build/release/bench/bench_decode --benchmark_counters_tabular=true
// Threads (core/threads.hpp, set here with set_threads) take effect only when built with OpenMP (found
// automatically): a decode step's matrix-vector products are shared out over output rows (layers/linear.hpp)
// and, with enough keys, attention over heads. Pin them: OMP_PROC_BIND=true OMP_PLACES=cores.
// Side by side with PyTorch, alternating: tools/bench_vs_torch.py (docs/performance.md).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"
#include "peak.hpp"
#include "stories_shapes.hpp"

using namespace eigenformer;
using eigenformer::bench::BM_ReadBandwidth;  // registered below under their own names

namespace {

constexpr Index kPrompt = 16, kNewTokens = 256;

// One model per shape and weight format, built once (110M random parameters take a moment): the same random
// values for every format, packed from fp32.
Llama<float>& model(bool large, WeightFormat format = WeightFormat::F32) {
  static Llama<float>* models[2][3] = {{nullptr, nullptr, nullptr}, {nullptr, nullptr, nullptr}};
  Llama<float>*& m = models[large ? 1 : 0][static_cast<int>(format)];
  if (m == nullptr) {
    m = new Llama<float>(bench::stories(large));
    std::srand(1);
    for (auto& p : named_parameters(*m)) {
      for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = 0.05f * (static_cast<float>(std::rand()) / static_cast<float>(RAND_MAX) - 0.5f);
    }
    m->pack_weights(format);
  }
  return *m;
}

WeightFormat format_of(std::int64_t arg) { return static_cast<WeightFormat>(arg); }

// `wall_seconds`: the timed loop's wall-clock time; `bandwidth`: read_bandwidth_gbs at the case's thread count.
void report(benchmark::State& state, const Llama<float>& m, bool large, double tokens, double wall_seconds,
            double bandwidth) {
  const double per_token = static_cast<double>(m.weight_bytes_per_token());
  state.counters["tok/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  state.counters["GB/s"] = benchmark::Counter(tokens * per_token / 1e9, benchmark::Counter::kIsRate);
  state.counters["read_GB/s"] = bandwidth;
  state.counters["of_bandwidth"] = tokens * per_token / 1e9 / wall_seconds / bandwidth;
  state.counters["MB/tok"] = per_token / 1e6;
  state.counters["weight_MB"] = static_cast<double>(m.weight_bytes()) / 1e6;
  state.SetLabel(std::string(large ? "stories110M " : "stories15M ") + weight_format_name(m.weight_format()));
}

TokenSequence prompt() {
  TokenSequence ids;
  for (Index i = 0; i < kPrompt; ++i) ids.push_back(static_cast<TokenId>(1 + 37 * i));
  return ids;
}

void BM_Generate(benchmark::State& state) {
  Llama<float>& m = model(state.range(0) != 0, format_of(state.range(2)));
  const int threads = static_cast<int>(state.range(1));
  const double bandwidth = bench::read_bandwidth_gbs(threads);
  set_threads(threads);  // eigenformer's threads and Eigen's (core/threads.hpp)
  generation::GenerationConfig config;
  config.max_new_tokens = 16;
  generation::generate(m, prompt(), config);  // warm-up: the workspaces, the cache, the weights' first touch
  config.max_new_tokens = kNewTokens;  // the random model has no EOS: every run generates all of them
  std::size_t generated = 0;
  double wall = 0;
  for (auto _ : state) {
    wall += bench::seconds([&] {
      const auto result = generation::generate(m, prompt(), config);
      generated += result.front().tokens.size();
    });
  }
  report(state, m, state.range(0) != 0, static_cast<double>(generated), wall, bandwidth);
}
BENCHMARK(BM_Generate)->ArgNames({"110M", "threads", "format"})->ArgsProduct({{0, 1}, {1, 2}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodeStep(benchmark::State& state) {
  Llama<float>& m = model(state.range(0) != 0, format_of(state.range(2)));
  const double bandwidth = bench::read_bandwidth_gbs(1);
  set_threads(1);
  const Index position = state.range(1);
  // Fill the cache up to `position` once; each iteration decodes one token there and drops it again.
  DecoderCache<float> cache;
  TokenIds ids(1, position);
  for (Index t = 0; t < position; ++t) ids(0, t) = static_cast<TokenId>(1 + (37 * t) % 31999);
  Matrix<float> logits;
  m.forward(ids, cache, logits, true);
  TokenIds next(1, 1);
  next(0, 0) = 42;
  double steps = 0, wall = 0;
  for (auto _ : state) {
    wall += bench::seconds([&] {
      m.forward(next, cache, logits, true);
      cache.truncate(position);
      benchmark::DoNotOptimize(logits.data());
    });
    steps += 1;
  }
  report(state, m, state.range(0) != 0, steps, wall, bandwidth);
}
BENCHMARK(BM_DecodeStep)->ArgNames({"110M", "pos", "format"})->ArgsProduct({{0, 1}, {16, 128, 256}, {0, 1, 2}})
    ->Unit(benchmark::kMicrosecond);

// Prompt processing (issue 15): a 512-token prompt at the stories110M shape, one thread, into an empty KV cache,
// with the last position's logits — three ways, alternating in the same loop so a loaded machine slows all alike:
//   batched    one forward over the 512 tokens (T = 512: every product is a matrix-matrix product), with the
//              attention path chosen automatically (at S = 512 the tiled core, attention.hpp)
//   batched_reference   the same with the reference attention core forced (its (T, S) matrices per head)
//   stepwise   512 forwards of one token each (T = 1, as decoding does): every weight read once per token
// Counters: tokens per second of each (medians over the iterations). PyTorch's figure for the same work:
// bench/torch_reference.py prefill.
constexpr Index kLongPrompt = 512;

void BM_Prompt(benchmark::State& state) {
  Llama<float>& m = model(true);
  set_threads(1);
  TokenIds ids(1, kLongPrompt);
  for (Index t = 0; t < kLongPrompt; ++t) ids(0, t) = static_cast<TokenId>(1 + (37 * t) % 31999);
  DecoderCache<float> cache;
  Matrix<float> logits;
  TokenIds one(1, 1);
  const auto seconds = [](auto&& work) {
    const auto start = std::chrono::steady_clock::now();
    work();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const auto batched = [&](AttentionPath path) {
    set_attention_path(path);
    cache.truncate(0);
    m.forward(ids, cache, logits, /*last_only=*/true);
    benchmark::DoNotOptimize(logits.data());
  };
  const auto stepwise = [&]() {
    set_attention_path(AttentionPath::Automatic);
    cache.truncate(0);
    for (Index t = 0; t < kLongPrompt; ++t) {
      one(0, 0) = ids(0, t);
      m.forward(one, cache, logits, /*last_only=*/true);
    }
    benchmark::DoNotOptimize(logits.data());
  };
  batched(AttentionPath::Automatic);  // warm-up: the cache and the workspaces at full size
  std::vector<double> batched_s, reference_s, stepwise_s;
  for (auto _ : state) {
    batched_s.push_back(seconds([&] { batched(AttentionPath::Automatic); }));
    stepwise_s.push_back(seconds(stepwise));
    reference_s.push_back(seconds([&] { batched(AttentionPath::Reference); }));
    state.SetIterationTime(batched_s.back() + stepwise_s.back() + reference_s.back());
  }
  set_attention_path(AttentionPath::Automatic);
  const auto tokens_per_second = [](std::vector<double> x) {
    std::sort(x.begin(), x.end());
    return static_cast<double>(kLongPrompt) / x[x.size() / 2];
  };
  state.counters["batched_tok/s"] = tokens_per_second(batched_s);
  state.counters["batched_reference_tok/s"] = tokens_per_second(reference_s);
  state.counters["stepwise_tok/s"] = tokens_per_second(stepwise_s);
  state.counters["batched/stepwise"] = tokens_per_second(batched_s) / tokens_per_second(stepwise_s);
  state.SetLabel("stories110M, 512-token prompt, 1 thread");
}
BENCHMARK(BM_Prompt)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

// This program's own read bandwidth at 1 and 2 threads (bench/peak.hpp), what of_bandwidth divides by.
BENCHMARK(BM_ReadBandwidth)->ArgNames({"threads"})->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
