// bench_attention_memory — the heap bytes one call of the attention core holds at its peak, reference core
// vs tiled core (attention.hpp), at T = S = 1024, 4096 and 16384: B = 1, H = 1, D = 64, causal, float.
//
// The reference forms a (T, S) scores and a (T, S) weights matrix per head, reused over heads, so its peak is
// 2·T·S·4 bytes whatever H is; the tiled core holds its tiles only, whatever T and H are. One head keeps the
// reference's time at T = 16384 to seconds. Counters:
//   peak_bytes      the most bytes held at once during the call, beyond the caller's inputs and output
//   largest_block   the largest single allocation during the call
//   ms              the call's time (one run; bench_blocks' BM_LongAttention times the paths properly)
// tests/support/heap_meter.hpp replaces malloc in this program to count (glibc's malloc_usable_size per block).
//
// Run: ./build/release/bench/bench_attention_memory --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <chrono>

#include "eigenformer/attention/attention.hpp"
#include "../tests/support/heap_meter.hpp"

using namespace eigenformer;

namespace {

void BM_AttentionPeakHeap(benchmark::State& state) {
  const Index T = state.range(0), D = 64;
  const AttentionPath path = state.range(1) != 0 ? AttentionPath::Tiled : AttentionPath::Reference;
  const Matrix<float> q = Matrix<float>::Random(T, D), k = Matrix<float>::Random(T, D), v = Matrix<float>::Random(T, D);
  Matrix<float> context(T, D);
  AttentionMask<float> mask;
  mask.causal = true;
  set_attention_path(path);
  set_threads(1);  // one thread: Eigen's products too (core/threads.hpp)
  std::size_t peak = 0, largest = 0;
  double seconds = 0;
  for (auto _ : state) {
    AttentionScratch<float> scratch;  // fresh: its buffers are part of the call's cost
    heap_meter::start();
    const auto start = std::chrono::steady_clock::now();
    scaled_dot_product_attention<float>(HeadsView<const float>::of(q, 1, 1), HeadsView<const float>::of(k, 1, 1),
                                        HeadsView<const float>::of(v, 1, 1), HeadsView<float>::of(context, 1, 1), mask,
                                        0.125f, scratch);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    benchmark::DoNotOptimize(context.data());
    peak = heap_meter::peak_above_start();
    largest = heap_meter::largest_block();
  }
  set_attention_path(AttentionPath::Automatic);
  state.counters["peak_bytes"] = static_cast<double>(peak);
  state.counters["largest_block"] = static_cast<double>(largest);
  state.counters["ms"] = seconds * 1e3;
  state.SetLabel(path == AttentionPath::Tiled ? "tiled" : "reference");
}
BENCHMARK(BM_AttentionPeakHeap)->ArgNames({"T", "tiled"})->ArgsProduct({{1024, 4096, 16384}, {0, 1}})->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
