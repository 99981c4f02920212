// bench_training — how fast eigenformer trains: one optimizer step (zero the gradients, forward, causal-LM
// loss, backward, clip, AdamW) of a Llama-shaped causal LM assembled from library blocks
// (tests/training/tiny_lm.hpp: embedding → Decoder stack of pre-norm RMSNorm/RoPE/SwiGLU blocks → final norm →
// tied head), the same work the training loop (training/trainer.hpp) does each step, at two shapes:
//   poet         4 layers, C 128, 4 heads, FFN 384, vocab 3000 (a character vocabulary of Chinese poems),
//                B 16 × T 64 tokens per step
//   stories15M   6 layers, C 288, 6 heads, FFN 768, vocab 32000 (llama2.c's TinyStories 15M), B 4 × T 256
// fp32, random weights (speed does not depend on their values), 1 and 2 threads (the library's matrix products,
// layers/linear.hpp product_threaded, run on several threads only when built with OpenMP, found automatically).
//
//   BM_TrainStep/<shape>/threads    tokens per second (B·T per step)
//
// Run beside PyTorch eager doing the same step (bench/torch_reference.py train; docs/performance.md for the
// conditions that matter — OpenBLAS, OPENBLAS_CORETYPE unset, OMP_WAIT_POLICY=PASSIVE):
//     ./build/release/bench/bench_training --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <memory>

#include "../tests/training/tiny_lm.hpp"

using namespace eigenformer;
using namespace eigenformer::training;
using eigenformer::testing::TinyLm;
using eigenformer::testing::TinyLmConfig;

namespace {

struct Shape {
  const char* name;
  TinyLmConfig model;
  Index batch, positions;
};

Shape shape(int which) {
  TinyLmConfig c;
  if (which == 0) {
    c.vocab = 3000;
    c.width = 128;
    c.heads = 4;
    c.kv_heads = 4;
    c.ffn = 384;
    c.layers = 4;
    return {"poet", c, 16, 64};
  }
  c.vocab = 32000;
  c.width = 288;
  c.heads = 6;
  c.kv_heads = 6;
  c.ffn = 768;
  c.layers = 6;
  c.norm_eps = 1e-5;
  return {"stories15M", c, 4, 256};
}

void BM_TrainStep(benchmark::State& state) {
  const Shape s = shape(static_cast<int>(state.range(0)));
  set_threads(static_cast<int>(state.range(1)));  // the library's threads (and OpenBLAS's in a BLAS build)
  TinyLm<float> model(s.model);
  std::uint64_t seed = 1;
  for (ParameterRef<float>& p : named_parameters(model)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      p.data[i] = 0.04f * (static_cast<float>(seed >> 40) / 16777216.0f - 0.5f);
    }
  }
  ParameterList<float> params = parameters_with_gradients(model);
  AdamWConfig config;
  config.lr = 1e-4;  // small: the model stays sane over thousands of benchmark steps
  AdamW<float> optimizer(config);
  TokenIds ids(s.batch, s.positions);
  for (Index i = 0; i < ids.size(); ++i) ids.data()[i] = static_cast<TokenId>((i * 7919) % s.model.vocab);
  Matrix<float> dlogits;
  const auto step = [&]() {
    zero_gradients(params);
    const LossValue loss = causal_lm_loss<float>(model.forward(ids), ids, &dlogits);
    model.backward(ids, dlogits);
    clip_grad_norm(params, 1.0);
    optimizer.step(params);
    benchmark::DoNotOptimize(loss.loss);
  };
  step();  // warm-up: the first step sizes the activations and AdamW's moments
  for (auto _ : state) step();
  state.SetLabel(s.name);
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(ids.size()), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_TrainStep)->ArgNames({"stories15M", "threads"})->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
