// bench_blocks — the attention core and each block at the BERT-base shape (C = 768, H = 12, D = 64,
// F = 3072, T = 128, B = 1 and 8), with achieved GFLOP/s as a counter; and BM_LongAttention, the reference
// attention core against the tiled one at T = 128 … 4096 (docs/performance.md, "Long attention").
//
// Run (docs/performance.md: the conditions that change the figures, and the reference figures):
//     OMP_PROC_BIND=true OMP_PLACES=cores ./build/release/bench/bench_blocks --benchmark_counters_tabular=true
// Each case runs on 1 and 2 threads (Eigen::setNbThreads; more than one needs the OpenMP build, which bench/
// uses when OpenMP is found).
// Reference (docs/performance.md; measured again by bench/torch_reference.py encoder): PyTorch 1.13
// TransformerEncoderLayer 768/12/3072, B=1, T=128, one thread: 12.7 ms; B=8: 84 ms. Eigen 3.4 GEMM at these
// shapes: 109–116 GFLOP/s on one thread.
//
// FLOP counts (multiply-add = 2 FLOPs; the softmax, norms and activations are left out — they are small):
//     projection  2·N·in·out        with N = B·T tokens
//     attention   4·B·H·T·S·D       (Q Kᵀ and weights·V)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "eigenformer/eigenformer.hpp"

using namespace eigenformer;

namespace {

constexpr Index kWidth = 768, kHeads = 12, kHeadDim = 64, kFfn = 3072, kPositions = 128;

double projection_flops(Index tokens, Index in, Index out) { return 2.0 * static_cast<double>(tokens * in * out); }
double core_flops(Index batch, Index t, Index s) {
  return 4.0 * static_cast<double>(batch * kHeads * t * s * kHeadDim);
}
double attention_layer_flops(Index batch, Index t, Index s) {
  return 2 * projection_flops(batch * t, kWidth, kWidth) + 2 * projection_flops(batch * s, kWidth, kWidth) +
         core_flops(batch, t, s);
}

// Every case's last argument is the number of threads the library uses (core/threads.hpp: its products share out
// their runs; Eigen's own threading stays off).
void use_threads(benchmark::State& state, int argument) { eigenformer::set_threads(static_cast<int>(state.range(argument))); }

void set_gflops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Module>
void randomize(Module& module) {
  std::srand(42);
  for (auto& p : named_parameters(module)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = 0.02f * (static_cast<float>(std::rand()) / RAND_MAX - 0.5f);
  }
}

Tensor3<float> random_input(Index batch, Index positions) {
  Tensor3<float> x(batch, positions, kWidth);
  x.setRandom();
  return x;
}

BlockConfig bert_block() {
  BlockConfig c;
  c.attention.width = kWidth;
  c.attention.heads = kHeads;
  c.attention.qkv_bias = true;
  c.attention.out_bias = true;
  c.ffn.hidden = kFfn;
  c.ffn.activation = Activation::GeluErf;
  c.ffn.gated = false;
  c.ffn.bias = true;
  c.norm.kind = NormKind::LayerNorm;
  c.norm.eps = 1e-12;
  c.norm.bias = true;
  c.placement = NormPlacement::Post;
  return c;
}

BlockConfig llama_block() {
  BlockConfig c;
  c.attention.width = kWidth;
  c.attention.heads = kHeads;
  c.attention.qkv_bias = false;
  c.attention.out_bias = false;
  c.ffn.hidden = kFfn;
  c.ffn.activation = Activation::SiLU;
  c.ffn.gated = true;
  c.ffn.bias = false;
  c.norm.kind = NormKind::RMSNorm;
  c.norm.eps = 1e-6;
  c.norm.bias = false;
  c.placement = NormPlacement::Pre;
  return c;
}

// softmax(Q Kᵀ/√D + mask) V alone, on precomputed (B·T, H·D) queries, keys and values.
void BM_AttentionCore(benchmark::State& state) {
  const Index B = state.range(0), T = kPositions;
  Matrix<float> q = Matrix<float>::Random(B * T, kWidth), k = Matrix<float>::Random(B * T, kWidth),
                v = Matrix<float>::Random(B * T, kWidth), context(B * T, kWidth);
  AttentionScratch<float> scratch;
  const HeadsView<const float> qv = HeadsView<const float>::of(q, B, kHeads), kv = HeadsView<const float>::of(k, B, kHeads),
                               vv = HeadsView<const float>::of(v, B, kHeads);
  const HeadsView<float> cv = HeadsView<float>::of(context, B, kHeads);
  AttentionMask<float> mask;
  mask.causal = state.range(1) != 0;
  use_threads(state, 2);
  for (auto _ : state) {
    scaled_dot_product_attention<float>(qv, kv, vv, cv, mask, 0.125f, scratch);
    benchmark::DoNotOptimize(context.data());
  }
  set_gflops(state, core_flops(B, T, T));
}
BENCHMARK(BM_AttentionCore)->ArgNames({"B", "causal", "threads"})->ArgsProduct({{1, 8}, {0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Long attention (issue 15): one call of the core at B = 1, H = 12, D = 64, T = S = range(0), causal =
// range(1), one thread — the reference core (a (T, S) scores and weights matrix per head) and the tiled core
// (attention.hpp, tiled_attention: no T×S buffer), alternating in the same loop so that a loaded machine slows
// both alike. Counters: the median milliseconds of each and their ratio reference / tiled (> 1: tiled faster).
// The sweep over T is where kTiledAttentionMinKeys (the automatic choice's threshold) comes from.
void BM_LongAttention(benchmark::State& state) {
  const Index T = state.range(0);
  std::srand(7);
  const Matrix<float> q = Matrix<float>::Random(T, kWidth), k = Matrix<float>::Random(T, kWidth),
                      v = Matrix<float>::Random(T, kWidth);
  Matrix<float> context(T, kWidth);
  const HeadsView<const float> qv = HeadsView<const float>::of(q, 1, kHeads), kv = HeadsView<const float>::of(k, 1, kHeads),
                               vv = HeadsView<const float>::of(v, 1, kHeads);
  const HeadsView<float> cv = HeadsView<float>::of(context, 1, kHeads);
  AttentionMask<float> mask;
  mask.causal = state.range(1) != 0;
  set_threads(1);  // the library's threads and Eigen's: one (core/threads.hpp)
  AttentionScratch<float> reference_scratch, tiled_scratch;
  const auto run = [&](AttentionPath path, AttentionScratch<float>& scratch) {
    set_attention_path(path);
    const auto start = std::chrono::steady_clock::now();
    scaled_dot_product_attention<float>(qv, kv, vv, cv, mask, 0.125f, scratch);
    benchmark::DoNotOptimize(context.data());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  run(AttentionPath::Reference, reference_scratch);  // warm-up: first touch of each path's buffers
  run(AttentionPath::Tiled, tiled_scratch);
  std::vector<double> reference_s, tiled_s;
  for (auto _ : state) {
    // Alternate which path goes first, so neither always runs on the other's warm caches.
    const bool tiled_first = reference_s.size() % 2 == 1;
    if (tiled_first) tiled_s.push_back(run(AttentionPath::Tiled, tiled_scratch));
    reference_s.push_back(run(AttentionPath::Reference, reference_scratch));
    if (!tiled_first) tiled_s.push_back(run(AttentionPath::Tiled, tiled_scratch));
    state.SetIterationTime(reference_s.back() + tiled_s.back());
  }
  set_attention_path(AttentionPath::Automatic);
  const auto median = [](std::vector<double> x) {
    std::sort(x.begin(), x.end());
    return x[x.size() / 2];
  };
  state.counters["reference_ms"] = median(reference_s) * 1e3;
  state.counters["tiled_ms"] = median(tiled_s) * 1e3;
  state.counters["ref/tiled"] = median(reference_s) / median(tiled_s);
  state.SetLabel(mask.causal ? "causal, H=12 D=64, 1 thread" : "full, H=12 D=64, 1 thread");
}
BENCHMARK(BM_LongAttention)->ArgNames({"T", "causal"})->ArgsProduct({{128, 256, 512, 1024, 2048}, {0, 1}})
    ->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LongAttention)->ArgNames({"T", "causal"})->Args({4096, 1})->Args({4096, 0})->Iterations(6)
    ->UseManualTime()->Unit(benchmark::kMillisecond);

// One module's forward pass on a (B, 128, 768) input, B = range(0), threads = range(1): the loop every case
// below shares. `forward(x, y)` runs the module; `flops` is the work of one call.
template <class Forward>
void time_forward(benchmark::State& state, Forward forward, double flops) {
  use_threads(state, 1);
  const Tensor3<float> x = random_input(state.range(0), kPositions);
  Tensor3<float> y;
  for (auto _ : state) {
    forward(x, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_gflops(state, flops);
}

// Multi-head self-attention: four projections around the core.
void BM_MultiHeadAttention(benchmark::State& state) {
  const Index B = state.range(0);
  MultiHeadAttention<float> mha(bert_block().attention);
  randomize(mha);
  time_forward(state, [&](const Tensor3<float>& x, Tensor3<float>& y) { mha.forward(x, y); },
               attention_layer_flops(B, kPositions, kPositions));
}

// BERT's encoder block: post-norm LayerNorm, biases, GELU FFN.
void BM_EncoderBlock(benchmark::State& state) {
  const Index B = state.range(0);
  EncoderBlock<float> block(bert_block());
  randomize(block);
  time_forward(state, [&](const Tensor3<float>& x, Tensor3<float>& y) { block.forward(x, y); },
               attention_layer_flops(B, kPositions, kPositions) + 2 * projection_flops(B * kPositions, kWidth, kFfn));
}

// Llama's decoder block at the same width: causal, RMSNorm pre-norm, SwiGLU (three FFN matrices).
void BM_DecoderBlock(benchmark::State& state) {
  const Index B = state.range(0);
  DecoderBlock<float> block(llama_block());
  randomize(block);
  time_forward(state, [&](const Tensor3<float>& x, Tensor3<float>& y) { block.forward(x, y); },
               attention_layer_flops(B, kPositions, kPositions) + 3 * projection_flops(B * kPositions, kWidth, kFfn));
}

// The encoder-decoder's decoder block: causal self-attention, cross-attention over a 128-position source, FFN.
void BM_CrossDecoderBlock(benchmark::State& state) {
  const Index B = state.range(0);
  CrossDecoderBlock<float> block(bert_block());
  randomize(block);
  const Tensor3<float> memory = random_input(B, kPositions);
  ForwardContext<float> options;
  options.memory = &memory;
  time_forward(state, [&](const Tensor3<float>& x, Tensor3<float>& y) { block.forward(x, y, options); },
               2 * attention_layer_flops(B, kPositions, kPositions) + 2 * projection_flops(B * kPositions, kWidth, kFfn));
}

#define EIGENFORMER_BLOCK_BENCHMARK(name) \
  BENCHMARK(name)->ArgNames({"B", "threads"})->ArgsProduct({{1, 8}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime()
EIGENFORMER_BLOCK_BENCHMARK(BM_MultiHeadAttention);
EIGENFORMER_BLOCK_BENCHMARK(BM_EncoderBlock);
EIGENFORMER_BLOCK_BENCHMARK(BM_DecoderBlock);
EIGENFORMER_BLOCK_BENCHMARK(BM_CrossDecoderBlock);

}  // namespace
