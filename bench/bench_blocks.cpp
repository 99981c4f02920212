// bench_blocks — the attention core and each block at the BERT-base shape (C = 768, H = 12, D = 64,
// F = 3072, T = 128, B = 1 and 8), with achieved GFLOP/s as a counter; a 12-layer BERT-base-shaped encoder stack;
// and BM_LongAttention, the reference attention core against the tiled one at T = 128 … 4096
// (docs/performance.md, "Long attention").
//
// Against this build's own GEMM rate (bench/peak.hpp): BM_EncoderBlock and BM_EncoderStack run, alternately in
// the same loop, the forward pass and the same layers' matrix products alone (EncoderProducts: the four
// projections and the FFN's two, with weights of their own), and report
//     GFLOP/s        the forward pass (its time is the benchmark's time)
//     GEMM_GFLOP/s   the products alone, median
//     of_GEMM        forward GFLOP/s ÷ GEMM_GFLOP/s (medians): how much of the GEMM rate the whole layer keeps
//                    (the target: ≥ 0.75)
// BM_Gemm (each product shape alone), BM_ReadBandwidth and BM_FmaPeak give the "building blocks" table of the
// same chapter.
// Every block case warms up (one call) before it is timed: a cold first call touches fresh memory.
//
// Run (docs/performance.md: the conditions that change the figures, and the reference figures):
//     OMP_PROC_BIND=true OMP_PLACES=cores ./build/release/bench/bench_blocks --benchmark_counters_tabular=true
// Each case runs on 1 and 2 threads (set_threads, core/threads.hpp; more than one needs the OpenMP build, which
// bench/ uses when OpenMP is found). Built with -DEIGENFORMER_USE_BLAS=ON, the products go to OpenBLAS
// (cmake/blas.cmake) and every figure here, the GEMM rate included, is that build's.
// Side by side with PyTorch, alternating, in one table: tools/bench_vs_torch.py --cases encoder,stack.
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
#include "peak.hpp"

using namespace eigenformer;
using eigenformer::bench::BM_ReadBandwidth;  // registered below under their own names
using eigenformer::bench::BM_FmaPeak;
using eigenformer::bench::BM_Gemm;

namespace {

constexpr Index kWidth = 768, kHeads = 12, kHeadDim = 64, kFfn = 3072, kPositions = 128, kStackLayers = 12;

double projection_flops(Index tokens, Index in, Index out) { return 2.0 * static_cast<double>(tokens * in * out); }
double core_flops(Index batch, Index t, Index s) {
  return 4.0 * static_cast<double>(batch * kHeads * t * s * kHeadDim);
}
double attention_layer_flops(Index batch, Index t, Index s) {
  return 2 * projection_flops(batch * t, kWidth, kWidth) + 2 * projection_flops(batch * s, kWidth, kWidth) +
         core_flops(batch, t, s);
}

// Every case's last argument is the thread count (core/threads.hpp: the library's products share out their runs;
// Eigen's own threading stays off; OpenBLAS's threads in a BLAS build).
void use_threads(benchmark::State& state, int argument) { bench::use_threads(static_cast<int>(state.range(argument))); }

void set_gflops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Module>
void randomize(Module& module) {
  std::srand(42);
  for (auto& p : named_parameters(module)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = 0.02f * (static_cast<float>(std::rand()) / static_cast<float>(RAND_MAX) - 0.5f);
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
// below shares. `forward(x, y)` runs the module; `flops` is the work of one call. One call first, untimed
// (warm-up). With `products` (the encoder cases), each iteration also runs those products alone, timed apart,
// alternating which goes first, and the counters compare the two (bench/peak.hpp); the benchmark's time is the
// forward pass's alone.
template <class Forward>
void time_forward(benchmark::State& state, Forward forward, double flops, bench::EncoderProducts* products = nullptr) {
  use_threads(state, 1);
  const Tensor3<float> x = random_input(state.range(0), kPositions);
  Tensor3<float> y;
  forward(x, y);
  if (products != nullptr) products->run();
  std::vector<double> forward_s, products_s;
  for (auto _ : state) {
    const bool products_first = products != nullptr && forward_s.size() % 2 == 1;
    if (products_first) products_s.push_back(bench::seconds([&] { products->run(); }));
    forward_s.push_back(bench::seconds([&] {
      forward(x, y);
      benchmark::DoNotOptimize(y.data());
    }));
    if (products != nullptr && !products_first) products_s.push_back(bench::seconds([&] { products->run(); }));
    state.SetIterationTime(forward_s.back());
  }
  set_gflops(state, flops);
  if (products != nullptr) {
    const double forward_rate = flops / bench::median(forward_s) / 1e9;
    const double gemm_rate = products->flops() / bench::median(products_s) / 1e9;
    state.counters["GEMM_GFLOP/s"] = gemm_rate;
    state.counters["of_GEMM"] = forward_rate / gemm_rate;
  }
}

double encoder_layer_flops(Index batch) {
  return attention_layer_flops(batch, kPositions, kPositions) + 2 * projection_flops(batch * kPositions, kWidth, kFfn);
}

// Multi-head self-attention: four projections around the core.
void BM_MultiHeadAttention(benchmark::State& state) {
  const Index B = state.range(0);
  MultiHeadAttention<float> mha(bert_block().attention);
  randomize(mha);
  time_forward(state, [&](const Tensor3<float>& x, Tensor3<float>& y) { mha.forward(x, y); },
               attention_layer_flops(B, kPositions, kPositions));
}

// BERT's encoder block: post-norm LayerNorm, biases, GELU FFN; beside its products alone.
void BM_EncoderBlock(benchmark::State& state) {
  const Index B = state.range(0);
  EncoderBlock<float> block(bert_block());
  randomize(block);
  bench::EncoderProducts products(B * kPositions, kWidth, kFfn, 1);
  time_forward(state, [&](const Tensor3<float>& x, Tensor3<float>& y) { block.forward(x, y); }, encoder_layer_flops(B),
               &products);
}

// A 12-layer BERT-base-shaped encoder stack (Encoder<float>: blocks/stack.hpp; BERT's embeddings and pooler left
// out), beside its products alone (12 layers of weights of their own). PyTorch's counterpart:
// nn.TransformerEncoder of 12 nn.TransformerEncoderLayer in eval mode under no_grad (torch_reference.py stack).
void BM_EncoderStack(benchmark::State& state) {
  const Index B = state.range(0);
  StackConfig config;
  config.block = bert_block();
  config.layers = kStackLayers;
  Encoder<float> stack(config);
  randomize(stack);
  bench::EncoderProducts products(B * kPositions, kWidth, kFfn, kStackLayers);
  time_forward(state, [&](const Tensor3<float>& x, Tensor3<float>& y) { stack.forward(x, y); },
               static_cast<double>(kStackLayers) * encoder_layer_flops(B), &products);
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
  BENCHMARK(name)->ArgNames({"B", "threads"})->ArgsProduct({{1, 8}, {1, 2}})->Unit(benchmark::kMillisecond)->UseManualTime()
EIGENFORMER_BLOCK_BENCHMARK(BM_MultiHeadAttention);
EIGENFORMER_BLOCK_BENCHMARK(BM_EncoderBlock);
EIGENFORMER_BLOCK_BENCHMARK(BM_DecoderBlock);
EIGENFORMER_BLOCK_BENCHMARK(BM_CrossDecoderBlock);
// A stack call takes 0.1–2 s: a fixed count of timed calls (after the warm-up), not Google Benchmark's 0.5 s.
EIGENFORMER_BLOCK_BENCHMARK(BM_EncoderStack)->Iterations(5);

// This build's ceilings (bench/peak.hpp): each of an encoder layer's product shapes alone, at B = 1 and 8
// (M = B·T rows), the read bandwidth, and fused multiply-adds alone.
BENCHMARK(BM_Gemm)->ArgNames({"M", "K", "N", "threads", "eigen"})
    ->ArgsProduct({{kPositions, 8 * kPositions}, {kWidth}, {kWidth, kFfn}, {1, 2}, {0, 1}})
    ->ArgsProduct({{kPositions, 8 * kPositions}, {kFfn}, {kWidth}, {1, 2}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReadBandwidth)->ArgNames({"threads"})->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_FmaPeak)->ArgNames({"threads"})->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
