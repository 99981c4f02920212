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
//   BM_DecodeProfile/<model>              every step of one greedy run from position 16 to the end of the context
//                                         (1024), timed one by one through the generation API: is the per-step
//                                         time flat, and is any step much slower than its neighbours? (below)
//   BM_GenerateBatch/15M/prompts/threads  generate_batch over 1, 2, 4 or 8 prompts of 10 to 16 tokens (left-padded),
//                                         256 new tokens each, fp32, 1 or 2 threads: tok/s counts every row's tokens.
//                                         Each step reads the weights once for all rows (layers/linear.hpp), so
//                                         8 prompts should give several times the tokens per second of one:
//     ./build/release/bench/bench_decode --benchmark_filter='BM_GenerateBatch' --benchmark_repetitions=3
//         --benchmark_enable_random_interleaving=true --benchmark_counters_tabular=true   (one command line)
//   BM_HeadRows/way/rows                  the LM head's product alone for 1 to 8 rows: the decoding kernel, row by
//                                         row, and Eigen's matrix-matrix product
//   BM_LayerRows/out                      the decoding kernel for 8 rows on the stories15M layers' weights (288 or
//                                         768 rows of 288, in the L2 cache): its arithmetic rate, GFLOP/s
//   BM_ScoreRow/part                      greedy search's work on one row of 32,000 scores: conversion and check,
//                                         log-sum-exp, argmax (each prompt of a batch pays it every step)
//   BM_QuantizeActivations/vector/width   int8 decoding's quantisation of one activation row (layers/
//                                         packed_weight.hpp): vector 0 = the portable loop (std::round per
//                                         value), 1 = quantize_activations (AVX-512 or AVX2 when compiled for it);
//                                         width 768 (a 110M layer's input) and 3072 (its down projection's)
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
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <sys/resource.h>

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
    m = [&] {
      LoaderWritesParameters unfilled;  // as from_pretrained builds a model: every parameter written below
      return new Llama<float>(bench::stories(large));
    }();
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
/// wall_seconds and bandwidth (the measured read bandwidth, bench/peak.hpp) give of_bandwidth; a case that does not
/// measure them (BM_GenerateBatch: a step reads the weights once for several rows) leaves them 0 and reports none.
void report(benchmark::State& state, const Llama<float>& m, bool large, double tokens, double wall_seconds = 0,
            double bandwidth = 0) {
  const double per_token = static_cast<double>(m.weight_bytes_per_token());
  state.counters["tok/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  state.counters["GB/s"] = benchmark::Counter(tokens * per_token / 1e9, benchmark::Counter::kIsRate);
  if (bandwidth > 0 && wall_seconds > 0) {
    state.counters["read_GB/s"] = bandwidth;
    state.counters["of_bandwidth"] = tokens * per_token / 1e9 / wall_seconds / bandwidth;
  }
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

// Batches (issue 15): P prompts of different lengths (16, 14, 12, 10, 16, ...) in one left-padded batch, greedy,
// 256 new tokens per prompt; 1 or 2 threads, fp32. tok/s = P · 256 per run: compare P = 8 with P = 1 at the same
// thread count.
void BM_GenerateBatch(benchmark::State& state) {
  const bool large = state.range(0) != 0;
  Llama<float>& m = model(large);
  set_threads(static_cast<int>(state.range(2)));
  std::vector<TokenSequence> prompts;
  for (Index i = 0; i < state.range(1); ++i) {
    TokenSequence p = prompt();
    p.resize(static_cast<std::size_t>(kPrompt - 2 * (i % 4)));
    prompts.push_back(p);
  }
  generation::GenerationConfig config;
  config.max_new_tokens = kNewTokens;  // no EOS in the random model: every row generates all of them
  std::size_t generated = 0;
  for (auto _ : state) {
    for (const generation::GeneratedSequence& r : generation::generate_batch(m, prompts, config)) generated += r.tokens.size();
  }
  report(state, m, large, static_cast<double>(generated));
  // A step reads the weights once for all its rows: GB/s counts steps, not tokens.
  const double steps = static_cast<double>(generated) / static_cast<double>(prompts.size());
  state.counters["GB/s"] = benchmark::Counter(steps * static_cast<double>(m.weight_bytes_per_token()) / 1e9, benchmark::Counter::kIsRate);
  state.counters["prompts"] = static_cast<double>(prompts.size());
}
BENCHMARK(BM_GenerateBatch)->ArgNames({"110M", "prompts", "threads"})->ArgsProduct({{0}, {1, 2, 4, 8}, {1, 2}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// The product a batched step is made of, alone: the stories15M LM head, y (N, 32000) = x (N, 288) Wᵀ, for N = 1, 2, 4,
// 8 rows, four ways (one thread):
//   0  Linear's decoding path (layers/linear.hpp): N < 4 matrix-vector products; N ≥ 4 decode_rows, each piece of W
//      read once for all N rows
//   1  row by row: N matrix-vector products over runs of W (what the decoding path did for N > 1 before)
//   2  Eigen's matrix-matrix product x Wᵀ (it repacks W on every call, and allocates)
//   3  the portable several-row kernel (decode_rows_kernel) for N ≥ 4, which way 0 replaces in a build with AVX-512
//      (detail::decode_rows_avx512); for N < 4 the same as way 0
// Counter: rows/s (N per call).
void BM_HeadRows(benchmark::State& state) {
  Llama<float>& m = model(false);
  set_threads(1);
  const Matrix<float>& W = m.embed_tokens.weight;  // (V, C): the tied head
  const Index N = state.range(1);
  const Matrix<float> x = Matrix<float>::Random(N, W.cols());
  Matrix<float> y(N, W.rows());
  const Index run = 1000;  // rows of W per run, as the decoding path's chunks at V = 32000
  for (auto _ : state) {
    switch (state.range(0)) {
      case 0: linear_rows_threaded<float>(x, W, y); break;
      case 1:
        for (Index first = 0; first < W.rows(); first += run) {
          const Index count = std::min(run, W.rows() - first);
          for (Index n = 0; n < N; ++n) y.row(n).segment(first, count).noalias() = x.row(n) * W.middleRows(first, count).transpose();
        }
        break;
      case 2: y.noalias() = x * W.transpose(); break;
      default:
        if (N != 4 && N != 8) {
          linear_rows_threaded<float>(x, W, y);
          break;
        }
        for (Index first = 0; first < W.rows(); first += run) {
          const Index count = std::min(run, W.rows() - first);
          if (N == 4) decode_rows_kernel<float, 4>(x, W, y, first, count);
          else decode_rows_kernel<float, 8>(x, W, y, first, count);
        }
        break;
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(state.iterations() * N), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_HeadRows)->ArgNames({"way", "rows"})->ArgsProduct({{0, 1, 2, 3}, {1, 2, 4, 8}})->Unit(benchmark::kMicrosecond);

// The decoding path's product for 8 rows on a weight that stays in the L2 cache: the stories15M layers' shapes,
// y (8, out) = x (8, 288) Wᵀ with out = 288 (q, k, v, o; the FFN's down projection reads 768 inputs) and 768 (the
// FFN's gate and up), one thread. With the weight's bytes in cache this measures the kernel's arithmetic, not the
// memory: GFLOP/s beside BM_FmaPeak (bench_blocks). Random weights.
void BM_LayerRows(benchmark::State& state) {
  set_threads(1);
  const Index out = state.range(0), in = 288, N = 8;
  const Matrix<float> W = Matrix<float>::Random(out, in), x = Matrix<float>::Random(N, in);
  Matrix<float> y(N, out);
  for (auto _ : state) {
    linear_rows_threaded<float>(x, W, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(state.iterations() * N * out * in) / 1e9,
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LayerRows)->ArgName("out")->Arg(288)->Arg(768)->Unit(benchmark::kMicrosecond);

// What greedy search does with each row of scores, once per generated token per prompt (generation/generate.hpp,
// greedy_or_sample), for one row of V = 32,000 scores (stories15M's vocabulary; fixed values, no model):
//   0  score_row_into: the model's float scores converted to double and checked finite
//   1  log_sum_exp: the normaliser of log p(chosen) = z_chosen − log Σ exp z
//   2  argmax: the greedy choice
// In a batch of 8 prompts every decode step pays these 8 times. Counter: µs per row.
void BM_ScoreRow(benchmark::State& state) {
  constexpr Index V = 32000;
  Matrix<float> logits(1, V);
  for (Index v = 0; v < V; ++v) logits(0, v) = std::sin(0.37f * static_cast<float>(v)) * 8.0f;
  logits(0, V / 2) = 9.5f;  // the largest score halfway: argmax's second pass stops there
  generation::Scores z;
  generation::engine::score_row_into(logits.row(0), 0, z);
  const int part = static_cast<int>(state.range(0));
  for (auto _ : state) {
    if (part == 0) generation::engine::score_row_into(logits.row(0), 0, z);
    if (part == 1) benchmark::DoNotOptimize(generation::log_sum_exp(z));
    if (part == 2) benchmark::DoNotOptimize(generation::argmax(z));
    benchmark::ClobberMemory();
  }
  state.SetLabel(part == 0 ? "score_row_into" : (part == 1 ? "log_sum_exp" : "argmax"));
}
BENCHMARK(BM_ScoreRow)->ArgName("part")->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

void BM_QuantizeActivations(benchmark::State& state) {
  const bool vector = state.range(0) == 1;
  const Index n = state.range(1);
  std::vector<float> x(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = std::sin(0.61f * static_cast<float>(i)) * 2.5f;
  std::vector<std::int16_t> p(x.size());
  std::vector<float> t(static_cast<std::size_t>((n + 31) / 32));
  for (auto _ : state) {
    if (vector) {
      detail::quantize_activations<float>(x.data(), n, p.data(), t.data());
    } else {
      detail::quantize_activations_portable<float>(x.data(), n, p.data(), t.data());
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * n);
}
BENCHMARK(BM_QuantizeActivations)->ArgNames({"vector", "width"})->ArgsProduct({{0, 1}, {768, 3072}})
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

// Per-step flatness (issue 15: "per-step time flat within 20% from position 16 to 1024, with no step slower than
// 1.3× its neighbours"). One greedy run through generation::generate — the library loop with its session, KV
// cache room and step buffers — from a 16-token prompt to the last position of the 1024-token context, fp32, one
// thread. The model is wrapped so that every forward call is timed: step k (the forward of position 15 + k and
// the choice of the next token) lasts from the start of forward call k to the start of call k + 1 (the last step:
// to the end of its forward call). Each step is timed twice: wall clock, and the calling thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID: it counts page faults and allocator work, but not the time another process held the
// core, which on a shared machine the wall clock counts too).
// Counters (medians over the iterations, each position's time the median of its 9 steps p−4 … p+4):
//   ms@16, ms@256, ms@512, ms@1018   wall time of a step near those positions (16: the first 9 steps, 16 … 24;
//                                     1018: the last 9, 1014 … 1022)
//   growth                            ms@1018 / ms@16 (target ≤ 1.2)
//   max_spike, max_spike_cpu          the largest ratio of one step to the median of its 8 neighbours (4 on each
//                                     side), over the whole run, wall and CPU time (target ≤ 1.3)
//   spikes>1.3, spikes>1.3_cpu        how many steps of a run exceed 1.3× their neighbours
//   faults                            page faults during the decode steps (after the prompt): 0 when no step
//                                     maps memory in (allocator churn, glibc returning memory and taking it back)
// EIGENFORMER_DECODE_PROFILE=<file> also appends every step of the last run to <file> as CSV lines:
// model, position, wall_ms, cpu_ms.
constexpr Index kContext = 1024;

/// Seconds of CPU the calling thread has used.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Page faults of the process so far (minor and major): memory mapped in, e.g. after glibc handed some back.
long page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt + usage.ru_majflt;
}

/// A CausalLM that forwards every call to a Llama and notes when each call starts and ends (wall and CPU).
class TimedModel : public CausalLM<float> {
 public:
  explicit TimedModel(Llama<float>& model) : model_(model) {}
  Index vocab_size() const override { return model_.vocab_size(); }
  Index max_positions() const override { return model_.max_positions(); }
  const SpecialTokenIds& special_tokens() const override { return model_.special_tokens(); }
  CacheShape cache_shape() const override { return model_.cache_shape(); }
  void forward(const TokenIds& ids, DecoderCache<float>& cache, Matrix<float>& logits, bool last_only,
               const KeyPadding* padding) override {
    if (wall_start.size() == 1) faults_at_first_step = page_faults();  // after the prompt: the steps begin
    wall_start.push_back(std::chrono::steady_clock::now());
    cpu_start.push_back(thread_cpu_seconds());
    model_.forward(ids, cache, logits, last_only, padding);
    wall_end = std::chrono::steady_clock::now();
    cpu_end = thread_cpu_seconds();
  }
  void clear() {
    wall_start.clear();
    cpu_start.clear();
  }
  std::vector<std::chrono::steady_clock::time_point> wall_start;  // one per forward call (reserved: no allocation)
  std::vector<double> cpu_start;
  std::chrono::steady_clock::time_point wall_end;
  double cpu_end = 0;
  long faults_at_first_step = 0;  // the process's page faults when the first decode step started

 private:
  Llama<float>& model_;
};

double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const std::size_t n = x.size();
  return n % 2 == 1 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/// The median of steps[i − 4 … i + 4] (clipped to the run).
double around(const std::vector<double>& steps, std::size_t i) {
  const std::size_t first = i >= 4 ? i - 4 : 0, last = std::min(steps.size(), i + 5);
  return median(std::vector<double>(steps.begin() + static_cast<std::ptrdiff_t>(first), steps.begin() + static_cast<std::ptrdiff_t>(last)));
}

/// The largest ratio of a step to the median of its 8 neighbours (4 each side; fewer at the ends), and how many
/// steps exceed `limit` times theirs.
std::pair<double, int> spikes(const std::vector<double>& steps, double limit) {
  double worst = 0;
  int count = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    std::vector<double> neighbours;
    for (std::size_t j = i >= 4 ? i - 4 : 0; j < std::min(steps.size(), i + 5); ++j) {
      if (j != i) neighbours.push_back(steps[j]);
    }
    const double ratio = steps[i] / median(neighbours);
    worst = std::max(worst, ratio);
    count += ratio > limit ? 1 : 0;
  }
  return {worst, count};
}

void BM_DecodeProfile(benchmark::State& state) {
  const bool large = state.range(0) != 0;
  Llama<float>& m = model(large);
  set_threads(1);
  TimedModel timed(m);
  generation::GenerationConfig config;
  config.max_new_tokens = kContext - kPrompt;  // to the end of the context; the random model has no EOS
  timed.wall_start.reserve(static_cast<std::size_t>(kContext));
  timed.cpu_start.reserve(static_cast<std::size_t>(kContext));
  const std::size_t first_position = static_cast<std::size_t>(kPrompt);  // call 0 is the prompt
  std::vector<double> at16, at256, at512, at_end, growth, worst_wall, worst_cpu, count_wall, count_cpu, faults;
  std::vector<double> wall_ms, cpu_ms;  // the last run's steps
  for (auto _ : state) {
    timed.clear();
    const auto result = generation::generate<float>(timed, prompt(), config);
    benchmark::DoNotOptimize(result.front().tokens.data());
    faults.push_back(static_cast<double>(page_faults() - timed.faults_at_first_step));
    // Step k = 1 … n − 1 decodes position 15 + k.
    const std::size_t n = timed.wall_start.size();
    wall_ms.assign(n - 1, 0.0);
    cpu_ms.assign(n - 1, 0.0);
    for (std::size_t k = 1; k < n; ++k) {
      const auto wall_next = k + 1 < n ? timed.wall_start[k + 1] : timed.wall_end;
      const double cpu_next = k + 1 < n ? timed.cpu_start[k + 1] : timed.cpu_end;
      wall_ms[k - 1] = 1e3 * std::chrono::duration<double>(wall_next - timed.wall_start[k]).count();
      cpu_ms[k - 1] = 1e3 * (cpu_next - timed.cpu_start[k]);
    }
    const auto at = [&](std::size_t position) { return around(wall_ms, position - first_position); };
    at16.push_back(at(16 + 4));  // the first full window of 9 steps: positions 16 … 24
    at256.push_back(at(256));
    at512.push_back(at(512));
    at_end.push_back(around(wall_ms, wall_ms.size() - 5));  // the last 9 steps
    growth.push_back(at_end.back() / at16.back());
    const std::pair<double, int> wall = spikes(wall_ms, 1.3), cpu = spikes(cpu_ms, 1.3);
    worst_wall.push_back(wall.first);
    worst_cpu.push_back(cpu.first);
    count_wall.push_back(wall.second);
    count_cpu.push_back(cpu.second);
    double total = 0;
    for (double ms : wall_ms) total += ms;
    state.SetIterationTime(total / 1e3);
  }
  state.counters["ms@16"] = median(at16);
  state.counters["ms@256"] = median(at256);
  state.counters["ms@512"] = median(at512);
  state.counters["ms@1018"] = median(at_end);
  state.counters["growth"] = median(growth);
  state.counters["max_spike"] = median(worst_wall);
  state.counters["max_spike_cpu"] = median(worst_cpu);
  state.counters["spikes>1.3"] = median(count_wall);
  state.counters["spikes>1.3_cpu"] = median(count_cpu);
  state.counters["faults"] = median(faults);
  state.SetLabel(std::string(large ? "stories110M" : "stories15M") + " fp32, positions 16-1022, 1 thread");
  if (const char* file = std::getenv("EIGENFORMER_DECODE_PROFILE")) {
    if (std::FILE* out = std::fopen(file, "a")) {
      for (std::size_t i = 0; i < wall_ms.size(); ++i) {
        std::fprintf(out, "%s,%zu,%.4f,%.4f\n", large ? "110M" : "15M", first_position + i, wall_ms[i], cpu_ms[i]);
      }
      std::fclose(out);
    }
  }
}
BENCHMARK(BM_DecodeProfile)->ArgName("110M")->Arg(0)->Arg(1)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

// This program's own read bandwidth at 1 and 2 threads (bench/peak.hpp), what of_bandwidth divides by.
BENCHMARK(BM_ReadBandwidth)->ArgNames({"threads"})->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
