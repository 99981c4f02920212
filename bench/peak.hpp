// bench/peak.hpp — this machine's own ceilings, measured by the benchmark program that reports against them, so
// that a figure says how close it comes to what the same build, on the same machine, at the same moment, reaches:
//
//   read_bandwidth_gbs(threads)   GB/s of summing a 256 MiB float buffer (far larger than any L3 cache) on
//                                 `threads` threads: what a decode step, which reads every weight once, is bound by
//   EncoderProducts               the matrix products an encoder layer does (BERT-base: C = 768, F = 3072), alone:
//                                 four (N, C)·(C, C)ᵀ projections, (N, C)·(F, C)ᵀ and (N, F)·(C, F)ᵀ, N = B·T, with
//                                 the weights stored (out, in) as Linear keeps them (layers/linear.hpp), for L
//                                 layers of distinct weights — the GEMM rate a block or a stack can at most reach
//                                 in this build (linear_product: the AVX-512 kernel or Eigen's GEMM; OpenBLAS's under
//                                 EIGENFORMER_USE_BLAS)
//   fma_peak_gflops(threads)      GFLOP/s of fused multiply-adds on registers alone (12 independent chains of
//                                 Eigen's widest packet per thread): the arithmetic ceiling no product can pass
//   BM_ReadBandwidth, BM_Gemm,    the three as benchmarks of their own, for the "building blocks" table of
//   BM_FmaPeak                    docs/performance.md
//
// Threads: use_threads(n) = set_threads(n) (core/threads.hpp): the library's loops and products, and OpenBLAS's
// in a BLAS build. FLOPs: a multiply-add counts 2.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/threads.hpp"
#include "eigenformer/layers/linear.hpp"  // linear_product: the products as Linear computes them

namespace eigenformer::bench {

inline void use_threads(int n) { set_threads(n); }

/// Seconds taken by work().
template <class Work>
double seconds(Work&& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  return x[x.size() / 2];
}

// ---- Read bandwidth ----

constexpr Index kBandwidthChunk = Index(1) << 20;  // floats per task: 4 MiB
constexpr Index kBandwidthChunks = 64;             // 256 MiB in all

/// Σ p[0..n): 64 running sums (four 512-bit or eight 256-bit registers) so the adds never wait on each other
/// and the loop goes at the memory's pace. n is a multiple of 64.
inline float sum_floats(const float* p, Index n) {
  using Lanes = Eigen::Array<float, 64, 1>;
  Lanes sums = Lanes::Zero();
  for (Index i = 0; i < n; i += 64) sums += Eigen::Map<const Lanes>(p + i);
  return sums.sum();
}

/// The buffer read_bandwidth_gbs reads: allocated and written once per process (the first touch of 256 MiB
/// costs page faults that are not reading).
inline const std::vector<float>& bandwidth_buffer() {
  static const std::vector<float> buffer(static_cast<std::size_t>(kBandwidthChunk * kBandwidthChunks), 1.0f);
  return buffer;
}

/// Read bandwidth in GB/s (10⁹ bytes) on `threads` threads: the best of `passes` passes over the 256 MiB
/// buffer, each a parallel_for over 64 chunks of 4 MiB (thread k sums a contiguous run of chunks), after one
/// pass of warm-up. The best pass, as STREAM reports: the ceiling, not the average under others' load. Sets
/// the library's thread count to `threads`.
inline double read_bandwidth_gbs(int threads, int passes = 9) {
  const std::vector<float>& buffer = bandwidth_buffer();
  use_threads(threads);
  std::vector<float> partial(static_cast<std::size_t>(kBandwidthChunks));
  const auto pass = [&]() {
    parallel_for(kBandwidthChunks, [&](Index c) {
      partial[static_cast<std::size_t>(c)] = sum_floats(buffer.data() + c * kBandwidthChunk, kBandwidthChunk);
    });
    benchmark::DoNotOptimize(partial.data());
    benchmark::ClobberMemory();
  };
  pass();
  double best = 0;
  for (int i = 0; i < passes; ++i) {
    const double s = seconds(pass);
    best = std::max(best, static_cast<double>(buffer.size() * sizeof(float)) / s / 1e9);
  }
  return best;
}

// ---- FMA peak ----

/// GFLOP/s of fused multiply-adds alone on `threads` threads (one task each): acc_k ← acc_k · a + b for 12
/// independent accumulators of Eigen's widest float packet (16 lanes with AVX-512), 2^24 steps; an FMA counts 2
/// FLOPs per lane. Twelve chains cover two FMA units × 4 cycles of latency with room to spare. The best of 5.
inline double fma_peak_gflops(int threads) {
  using Packet = Eigen::internal::packet_traits<float>::type;
  constexpr int kLanes = Eigen::internal::packet_traits<float>::size;
  constexpr int kChains = 12;
  constexpr long kSteps = 1L << 24;
  use_threads(threads);
  std::vector<float> sink(static_cast<std::size_t>(threads));
  const auto task = [&](Index t) {
    Packet acc[kChains];
    for (int k = 0; k < kChains; ++k) acc[k] = Eigen::internal::pset1<Packet>(1.0f + 1e-3f * static_cast<float>(k));
    const Packet a = Eigen::internal::pset1<Packet>(0.999999f), b = Eigen::internal::pset1<Packet>(1e-7f);
    for (long i = 0; i < kSteps; ++i) {
      for (int k = 0; k < kChains; ++k) acc[k] = Eigen::internal::pmadd(acc[k], a, b);
    }
    for (int k = 1; k < kChains; ++k) acc[0] = Eigen::internal::padd(acc[0], acc[k]);
    sink[static_cast<std::size_t>(t)] = Eigen::internal::predux(acc[0]);
  };
  parallel_for(threads, task);  // warm-up: wakes the threads (and the clock)
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const double s = seconds([&] { parallel_for(threads, task); });
    benchmark::DoNotOptimize(sink.data());
    best = std::max(best, static_cast<double>(threads) * kSteps * kChains * kLanes * 2.0 / s / 1e9);
  }
  return best;
}

// ---- GEMM rate at an encoder layer's shapes ----

/// The products of `layers` encoder layers of width C, FFN width F, on N = B·T rows, without anything else.
struct EncoderProducts {
  EncoderProducts(Index rows, Index width, Index ffn, Index layers) : x(rows, width), h(rows, ffn), y(rows, width), u(rows, ffn) {
    x.setRandom();
    h.setRandom();
    for (Index l = 0; l < layers; ++l) {
      Layer layer;
      for (Matrix<float>& w : layer.attention) w = Matrix<float>::Random(width, width) * 0.02f;  // (C, C)
      layer.up = Matrix<float>::Random(ffn, width) * 0.02f;                                      // (F, C)
      layer.down = Matrix<float>::Random(width, ffn) * 0.02f;                                    // (C, F)
      weights.push_back(std::move(layer));
    }
  }

  /// 2·N·(4C² + 2CF) per layer.
  double flops() const {
    const double N = static_cast<double>(x.rows()), C = static_cast<double>(x.cols()), F = static_cast<double>(h.cols());
    return static_cast<double>(weights.size()) * 2.0 * N * (4.0 * C * C + 2.0 * C * F);
  }

  /// Every product once, as Linear::forward computes it: y = x Wᵀ.
  void run() {
    for (const Layer& layer : weights) {
      for (const Matrix<float>& w : layer.attention) linear_product<float>(x, w, y);
      linear_product<float>(x, layer.up, u);
      linear_product<float>(h, layer.down, y);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(u.data());
  }

  struct Layer {
    Matrix<float> attention[4];  // q, k, v, o: (C, C) each
    Matrix<float> up, down;      // (F, C), (C, F)
  };
  std::vector<Layer> weights;
  Matrix<float> x, h, y, u;  // (N, C) input, (N, F) FFN input, (N, C) and (N, F) outputs
};

// ---- The two as benchmarks of their own ----

/// BM_ReadBandwidth/threads: GB/s of read_bandwidth_gbs (the best of 9 passes), once per iteration.
inline void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  double best = 0;
  for (auto _ : state) best = std::max(best, read_bandwidth_gbs(threads));
  state.counters["GB/s"] = best;
  state.SetLabel("sum over 256 MiB of float");
}

/// BM_FmaPeak/threads: GFLOP/s of fma_peak_gflops, once per iteration.
inline void BM_FmaPeak(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  double best = 0;
  for (auto _ : state) best = std::max(best, fma_peak_gflops(threads));
  state.counters["GFLOP/s"] = best;
  state.SetLabel("fused multiply-adds on registers, float");
}

/// BM_Gemm/M/K/N/threads/way: one (M, K)·(N, K)ᵀ product after a warm-up; GFLOP/s. way 0: as Linear computes it
/// (linear_product: the product kernel in an AVX-512 or AVX2 build, else Eigen's GEMM, or the BLAS in a BLAS build);
/// way 1: Eigen's GEMM (product_threaded) whatever the build, for the comparison.
inline void BM_Gemm(benchmark::State& state) {
  const Index M = state.range(0), K = state.range(1), N = state.range(2);
  use_threads(static_cast<int>(state.range(3)));
  const bool eigen = state.range(4) != 0;
  const Matrix<float> a = Matrix<float>::Random(M, K), w = Matrix<float>::Random(N, K);
  Matrix<float> c(M, N);
  const auto product = [&] {
    if (eigen) product_threaded<float>(a, w.transpose(), c);
    else linear_product<float>(a, w, c);
  };
  product();  // warm-up: first touch, packing buffers
  for (auto _ : state) {
    product();
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(M * K * N) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
#ifdef EIGEN_USE_BLAS
  state.SetLabel("BLAS sgemm (EIGENFORMER_USE_BLAS)");
#elif defined(__AVX512F__)
  state.SetLabel(eigen ? "Eigen GEMM" : "eigenformer's AVX-512 kernel");
#elif defined(__AVX2__) && defined(__FMA__)
  state.SetLabel(eigen ? "Eigen GEMM" : "eigenformer's AVX2 kernel");
#else
  state.SetLabel("Eigen GEMM");
#endif
}

}  // namespace eigenformer::bench
