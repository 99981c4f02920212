// eigenformer/layers/linear.hpp — the affine map every projection in a Transformer is made of.
//
//     y = x Wᵀ + b          x (N, in)   W (out, in)   b (out)   y (N, out)
//
// W is stored (out, in), row-major: nn.Linear's layout, so a checkpoint's weight is copied byte for byte
// and row o of W is the weight vector of output feature o. N is every token of the batch at once
// (B·T rows), which turns a projection into one large matrix product — where nearly all the time goes.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameter_memory.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/threads.hpp"
#include "eigenformer/core/vector_instructions.hpp"
#include "eigenformer/layers/packed_weight.hpp"

namespace eigenformer {

/// The decoding path of y = x Wᵀ, for a few rows x (N ≤ 8: one token per sequence).
///   x (N, in)   W (out, in)   y (N, out), already sized
/// A decode step is little else than these products, and three things matter there besides the arithmetic:
///   - threads: Eigen runs a matrix-vector product on one thread, so the output features are split into at most
///     32 fixed runs of rows of W (decode_runs in layers/packed_weight.hpp: multiples of 8 rows, Eigen's row
///     grouping), shared out among threads() threads when the product is large enough to be worth it
///     (decode_worth_threads: weights × rows of x);
///   - one row (one sequence; and two or three): each run is a matrix-vector product per row, which Eigen does
///     without a heap buffer;
///   - four to eight rows (a batch of sequences, generate_batch): a step of a small model mostly reads weights (60 MB at
///     the 15M shape) to do little with each, so each weight should be read once for all N rows, not once per row.
///     Each run goes through decode_rows below — decode_rows_kernel, or for float in a build with AVX-512 or AVX2
///     its fast path detail::decode_rows_avx512 or detail::decode_rows_avx2 — which takes a few rows of W at a time
///     and multiplies each piece of them with the rows of x while it holds it in registers. (Row by row — N
///     matrix-vector products over the run — reads the run N times, and the runs of the LM head, 1,000 rows × 288
///     at the 15M shape, do not stay in cache; Eigen's matrix-matrix product repacks W on every call and allocates
///     when W is large: docs/performance.md, "Batches", measures the three.)
/// y(n, o) = Σ_i x(n, i) W(o, i) comes from the same code on the same run of rows whatever the thread count, so the
/// result is bit-identical with 1, 2 or N threads. Beside the reference (one product over all of W) it may differ in
/// the last bits (another order of the sum); tests/speed/test_threads.cpp states the tolerance.
template <class Scalar>
void linear_rows_threaded(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& weight,
                          Eigen::Ref<Matrix<Scalar>> y);

namespace detail {
/// How far ahead the decoding kernels ask for rows of W: about kPrefetchBytes further on in W (a run of W is read once,
/// front to back, so the next rows can be on their way from memory while these are multiplied).
inline constexpr Index kPrefetchBytes = 10240;
inline Index prefetch_rows_ahead(Index row_bytes) { return std::max<Index>(1, (kPrefetchBytes + row_bytes - 1) / row_bytes); }

/// Asks the processor to bring the cache line at p into its caches (a hint: no effect on the result, and none at all
/// on compilers without the builtin).
inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

/// One pass of decode_rows_kernel: the G rows n0 .. n0 + G − 1 of x against the R rows of W at w[0 .. R − 1],
///     y(n0 + g, o + r) = x(n0 + g, :) · W(o + r, :)
/// with R·G running sums of one SIMD register each (kLane numbers). later[r] points `ahead` rows further on in W:
/// fetched while these rows are multiplied.
template <class Scalar, int R, int G>
void decode_rows_pass(const Eigen::Ref<const Matrix<Scalar>>& x, Index n0, const Scalar* const (&w)[R],
                      const Scalar* const (&later)[R], Eigen::Ref<Matrix<Scalar>> y, Index o) {
  constexpr Index kLane = Eigen::internal::packet_traits<Scalar>::size;  // one register: 8 floats with AVX, 4 with SSE
  using Lane = Eigen::Array<Scalar, kLane, 1>;
  using LaneMap = Eigen::Map<const Lane>;
  const Index in = x.cols(), whole = in / kLane * kLane;  // numbers covered by whole pieces
  Lane sums[R][G];  // sums[r][g]: the running x(n0 + g, :) · W(o + r, :), lane by lane
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < G; ++g) sums[r][g].setZero();
  }
  for (Index i = 0; i < whole; i += kLane) {
    Lane pieces[R];  // the same kLane numbers of each of the R rows of W, loaded once for all G rows of x
    for (int r = 0; r < R; ++r) {
      pieces[r] = LaneMap(w[r] + i);
      prefetch(later[r] + i);
    }
    for (int g = 0; g < G; ++g) {
      const Lane piece_x = LaneMap(x.row(n0 + g).data() + i);
      for (int r = 0; r < R; ++r) sums[r][g] += piece_x * pieces[r];
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < G; ++g) {
      Scalar total = sums[r][g].sum();
      for (Index i = whole; i < in; ++i) total += x(n0 + g, i) * w[r][i];
      y(n0 + g, o + r) = total;
    }
  }
}
}  // namespace detail

/// Several rows of the decoding path: y(n, o) = x(n, :) · W(o, :) for the N rows of x (N a compile-time 4 .. 8) and the
/// rows o = first .. first + count − 1 of W.
///     x (N, in)   W (out, in)   y (N, out)
/// R = 2 rows of W at a time: the dot products run over `in` in pieces of kLane numbers (one SIMD register: Eigen's
/// packet for Scalar), and each piece of the two rows of W is loaded once and multiplied with the same piece of the
/// rows of x, four rows of x at a time (G = 4; N > 4 takes a second pass over the same two rows of W, which are in
/// the L1 cache by then). So a pass keeps R·G = 8 running sums — enough independent multiply-adds to keep the
/// processor's units busy, few enough to stay in the 16 registers of SSE and AVX (with more sums than registers,
/// the compiler spills them to memory on every multiply-add: the first version of this kernel, 16 sums of two
/// registers each, ran slower than N matrix-vector products on an AVX2 machine; docs/performance.md, "Batches").
/// At the end of a pass each sum's lanes are added up. The rows of x stay in the L1 cache; W streams through once,
/// its rows asked for about kPrefetchBytes ahead. The last in mod kLane numbers, and the last row of W when count is
/// odd, go one by one. The order of the sums depends on in, N and the build only: the same bits on any thread count.
template <class Scalar, int N>
void decode_rows_kernel(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& weight,
                        Eigen::Ref<Matrix<Scalar>> y, Index first, Index count) {
  constexpr int R = 2, G = 4;
  const Index ahead = detail::prefetch_rows_ahead(weight.cols() * static_cast<Index>(sizeof(Scalar)));
  const Index end = first + count;
  Index o = first;
  for (; o + R <= end; o += R) {
    const Scalar* w[R];
    const Scalar* later[R];
    for (int r = 0; r < R; ++r) {
      w[r] = weight.row(o + r).data();
      later[r] = o + r + ahead < weight.rows() ? weight.row(o + r + ahead).data() : w[r];
    }
    detail::decode_rows_pass<Scalar, R, (N < G ? N : G)>(x, 0, w, later, y, o);
    if constexpr (N > G) detail::decode_rows_pass<Scalar, R, N - G>(x, G, w, later, y, o);
  }
  for (; o < end; ++o) {
    for (int n = 0; n < N; ++n) y(n, o) = x.row(n).dot(weight.row(o));
  }
}

namespace detail {
#if defined(__AVX512F__)
/// decode_rows_kernel's fast path for float in a build with AVX-512 (-march=native on this project's CPUs): the same
/// products, y(n, o) = x(n, :) · W(o, :) for the N rows of x and rows o = first .. first + count − 1 of W,
///     x_pieces (⌈in / 8⌉ · P · 16), P = ⌈N / 2⌉: x in pieces of 8 numbers, two rows to a register (pack_x_pieces)
///     W (out, in) at w, rows w_stride apart   y (N, out) at y, rows y_stride apart
/// again R rows of W at a time. Each 512-bit register of running sums holds two dot products of 8 lanes each: lanes
/// 0–7 x(2p, :) · W(o + r, :) and lanes 8–15 x(2p + 1, :) · W(o + r, :). A step takes 8 numbers of each of the R rows
/// of W, loaded once and copied to both halves of a register (vbroadcastf64x4: a load, no shuffle), times the P
/// registers of x's pieces, which hold the same 8 numbers of two rows of x each. Three things differ from the portable
/// kernel, all about cost, not about what is summed:
///   - all N rows of x in one pass, and more rows of W per pass (R·P up to 24 registers of sums of AVX-512's 32, where
///     the portable kernel keeps 8 to fit SSE's and AVX's 16), so each load of x feeds R multiply-adds;
///   - x is read from a copy laid out step by step (pack_x_pieces): the P registers a step needs are one block of
///     P · 64 bytes at one pointer, where N rows of x a stride apart took N pointers — with R rows of W and R rows
///     ahead, more than the 15 general registers, so the compiler kept some of them on the stack and reloaded them
///     on every step. The copy is made once per product (linear_rows_threaded), not once per run of W;
///   - two sums to a register. Each sum's lanes are added up at the end of a pass, and that ending is not small: at
///     the 15M shape (in = 288) a sum gets 18 multiply-adds of 16 lanes or 36 of 8. Sixteen sums of 16 lanes take
///     four rounds of shuffle-and-add (fold_sixteen, until 2026-12-04: 45 instructions; a pass of 3 rows × 8 rows
///     of x, 24 sums, took two of them, the second half empty); eight registers of two 8-lane sums take three
///     (fold_pairs: 21 instructions), so a pass of 6 rows × 8 rows of x, 48 sums, ends in 63 instructions where 24
///     sums ended in 90. The fold was ~19% of the kernel's time with the weights in the L2 cache (perf,
///     BM_LayerRows/out:768); docs/performance.md, "Two rows of x to a register", measures the change.
/// Every 16 numbers (one cache line of each row) the rows `ahead` rows further on are asked for (prefetch), all
/// with one offset: R pointers more would not fit in the general registers beside the R rows.
/// The last in mod 8 numbers of W are read with a masked load (zeros beyond the row; x's copy has zeros there, and in
/// the second half of its last register when N is odd), the last count mod R rows of W go through the same code with
/// R − 1 (then R − 2, ...) rows per pass. Every sum runs in the same order whatever R: the same bits on any thread count.

/// Lane j of the result = Σ over the 8 lanes of sum fold_source(j), for 8 registers v[0..7] of two sums each — sum
/// 2k in lanes 0–7 of v[k], sum 2k + 1 in lanes 8–15:
///   1) pairs of registers → their 128-bit quarters added: 4 registers, quarter q of register k holding 4 partials of
///      sum 4k + q (quarters 0 + 1 and 2 + 3 of v[2k], then of v[2k + 1]);
///   2) and 3) within each 128-bit quarter, pairs then neighbours added (shufps): quarter q ends as the totals of
///      sums q, 4 + q, 8 + q, 12 + q.
inline __m512 fold_pairs(const __m512* v) {
  __m512 quarters[4];
  for (int k = 0; k < 4; ++k) {
    quarters[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  const __m512 low = _mm512_add_ps(_mm512_shuffle_ps(quarters[0], quarters[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_ps(quarters[0], quarters[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 high = _mm512_add_ps(_mm512_shuffle_ps(quarters[2], quarters[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(quarters[2], quarters[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(low, high, _MM_SHUFFLE(3, 1, 3, 1)));
}

/// Which of fold_pairs' sums lane j of its result holds: quarter j / 4, position j mod 4 → sum 4·(j mod 4) + j / 4.
constexpr int fold_source(int j) { return 4 * (j % 4) + j / 4; }

/// Tells the compiler that v is needed in a register here, as it is: an empty instruction that "changes" it. Without
/// it GCC 12 folds the load of a piece of x into each of the R multiply-adds that use it (vfmadd231ps with a memory
/// operand), so a pass loads x R times over: ~23 loads per 24 multiply-adds, more than the core's two loads a cycle
/// serve beside two multiply-adds. Clang keeps the load on its own either way. No effect on what is computed.
inline void keep_in_register(__m512& v) {
#if defined(__GNUC__) || defined(__clang__)
  __asm__("" : "+v"(v));
#else
  (void)v;
#endif
}

/// The mask of lanes 0 .. k − 1 of a 16-float register (all 16 for k ≥ 16): a row's last piece when in mod 16 ≠ 0.
inline __mmask16 first_lanes(Index k) {
  return k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << k) - 1u);
}

/// x (N, in), rows x_stride apart → x_pieces[(i / 8) · P · 16 + p · 16 + h · 8 + j] = x(2p + h, i + j), P = ⌈N / 2⌉,
/// zeros past in and for row N when N is odd: the 8-number piece i / 8 of rows 2p and 2p + 1 in register p, in the
/// order decode_rows_avx512 reads them. The copy is in the calling thread's own buffer, which only grows (after the
/// first decode step nothing is allocated), and stays valid until the thread's next call; other threads may read it
/// meanwhile.
inline const float* pack_x_pieces(const float* x, Index rows, Index x_stride, Index in) {
  thread_local std::vector<float> x_pieces;
  const Index pairs = (rows + 1) / 2;
  const std::size_t needed = static_cast<std::size_t>((in + 7) / 8 * pairs * 16);
  if (x_pieces.size() < needed) x_pieces.resize(needed);
  float* out = x_pieces.data();
  for (Index i = 0; i < in; i += 8) {
    const __mmask16 mask = first_lanes(std::min<Index>(in - i, 8));
    for (Index n = 0; n < 2 * pairs; ++n, out += 8) {
      const __m512 piece = n < rows ? _mm512_maskz_loadu_ps(mask, x + n * x_stride + i) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(out, 0x00FF, piece);
    }
  }
  return x_pieces.data();
}

/// 8 numbers of W at p (lanes 0–7 of mask; the rest read as 0) in both halves of a register.
inline __m512 load_twice(const float* p, __mmask16 mask) {
  if (mask == 0x00FF) return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd(reinterpret_cast<const double*>(p))));
  const __m512 piece = _mm512_maskz_loadu_ps(mask, p);
  return _mm512_shuffle_f32x4(piece, piece, _MM_SHUFFLE(1, 0, 1, 0));
}

template <int R, int N>
void decode_rows_avx512(const float* x_pieces, const float* w, Index w_stride, Index out, Index in, float* y,
                        Index y_stride, Index first, Index count, Index ahead) {
  constexpr int P = (N + 1) / 2;             // registers of x per step: two rows of x each
  constexpr int kSums = R * P;               // sums[r·P + p]: x(2p, :) · W(o + r, :) in lanes 0–7, x(2p + 1, :) in 8–15
  constexpr int kFolds = (kSums + 7) / 8;    // fold_pairs calls at the end of a pass
  const Index end = first + count;
  Index o = first;
  for (; o + R <= end; o += R) {
    __m512 sums[kSums];
#pragma GCC unroll 24
    for (int k = 0; k < kSums; ++k) sums[k] = _mm512_setzero_ps();
    const float* rows[R];
    for (int r = 0; r < R; ++r) rows[r] = w + (o + r) * w_stride;
    // The rows `ahead` rows further on, fetched into the cache while these are multiplied: one offset for all R.
    // Near the end of W, none.
    const Index later = o + R - 1 + ahead < out ? ahead * w_stride : 0;
    // 1) Each 8-number piece of the R rows of W, loaded once into both halves of a register, times the same piece of
    //    every pair of rows of x (the last piece of W masked when in is not a multiple of 8).
    const auto step = [&](Index i, const float* pieces_x, __mmask16 mask) {
      __m512 pieces[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) pieces[r] = load_twice(rows[r] + i, mask);
#pragma GCC unroll 4
      for (int p = 0; p < P; ++p) {
        __m512 piece_x = _mm512_loadu_ps(pieces_x + p * 16);
        keep_in_register(piece_x);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) sums[r * P + p] = _mm512_fmadd_ps(piece_x, pieces[r], sums[r * P + p]);
      }
    };
    const float* pieces_x = x_pieces;  // piece i / 8 of the pairs of rows of x
    Index i = 0;
    for (; i + 16 <= in; i += 16, pieces_x += 2 * P * 16) {  // two steps, one cache line of each row of W
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) prefetch(rows[r] + later + i);
      step(i, pieces_x, 0x00FF);
      step(i + 8, pieces_x + P * 16, 0x00FF);
    }
    for (; i < in; i += 8, pieces_x += P * 16) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) prefetch(rows[r] + later + i);
      step(i, pieces_x, first_lanes(std::min<Index>(in - i, 8)));
    }
    // 2) The lanes of sixteen sums (eight registers) at a time added up (fold_pairs), each total written to its place
    //    in y: sum s is in register s / 2, half s mod 2, i.e. row r = (s / 2) / P of W and row 2·((s / 2) mod P) +
    //    s mod 2 of x.
#pragma GCC unroll 3
    for (int f = 0; f < kFolds; ++f) {
      __m512 group[8];
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) group[k] = 8 * f + k < kSums ? sums[8 * f + k] : _mm512_setzero_ps();
      alignas(64) float totals[16];
      _mm512_store_ps(totals, fold_pairs(group));
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) {
        const int s = 16 * f + fold_source(j), k = s / 2, n = 2 * (k % P) + s % 2;
        if (k < kSums && n < N) y[n * y_stride + o + k / P] = totals[j];
      }
    }
  }
  if constexpr (R > 1) {  // the last count mod R rows: one pass of fewer rows (each sum's order is the same)
    if (o < end) decode_rows_avx512<R - 1, N>(x_pieces, w, w_stride, out, in, y, y_stride, o, end - o, ahead);
  }
}

/// Rows of W per pass for N rows of x, P = ⌈N / 2⌉ registers of x: R·P ≤ 24 registers of sums, plus R of W and one of
/// x, in AVX-512's 32.
template <int N>
constexpr int avx512_rows_per_pass() { return N <= 4 ? 8 : (N <= 6 ? 7 : 6); }

#elif defined(__AVX2__) && defined(__FMA__)
/// decode_rows_kernel's fast path for float in a build with AVX2 and FMA but not AVX-512 (-march=native on an AMD
/// EPYC, say): the same products, y(n, o) = x(n, :) · W(o, :) for the N rows of x and rows o = first .. first +
/// count − 1 of W,
///     x (N, in) at x, rows x_stride apart   W (out, in) at w, rows w_stride apart   y (N, out) at y, rows y_stride apart
/// one row of W at a time against all N rows of x: N ≤ 8 running sums of 8 floats (one 256-bit register) each, and
/// the piece of x read from the L1 cache by the multiply-add itself, so a pass needs N + 1 of AVX's 16 registers.
/// Two things differ from the portable kernel (two rows of W against four rows of x, twice for N > 4), both about
/// cost, not about what is summed:
///   - the shape of a pass: one row of W against all N rows of x, so each multiply-add loads one piece of x (from
///     the L1 cache, which serves two loads a cycle) and the pass ends with N sums, not 2 × 4;
///   - the end of each pass: the lanes of the N sums are added up by fold_eight, six horizontal adds, two lane
///     swaps and one add for all eight, where one sum at a time (the portable kernel's .sum()) is about five steps
///     per sum. At the 15M shape (in = 288: 36 pieces per dot product) that ending is a large part of a pass: the
///     same shape with .sum() per sum took 2.74–2.78 ms in the harness below, most of the way back to the portable
///     kernel's time.
/// Measured in a throwaway harness on the stories15M head (32000 × 288, 8 rows of x, one thread, AVX2 machine): this
/// 2.37–2.46 ms, the portable kernel 2.8–3.2 ms; two rows of W against six and then two rows of x 2.54–2.67 ms,
/// three rows against four 2.84–3.24 ms; on a 288 × 288 weight (in the L2 cache) 79 GFLOP/s (77% of the
/// core's FMA peak) against 59.
/// The last in mod 8 numbers are read with a masked load (zeros beyond the row). The order of the sums depends on in
/// and the build only: the same bits on any thread count.

/// Lane j of the result = Σ over the 8 lanes of v[j], for 8 registers v[0..7]:
///   1) horizontal adds of pairs: within each 128-bit half, (v0 + v1 lanes pairwise), and so on — 4 registers;
///   2) horizontal adds of those pairs: each 128-bit half now holds 4 partial totals, of v[0..3] or v[4..7];
///   3) the low halves and the high halves brought together (lane swaps across 128 bits) and added.
inline __m256 fold_eight(const __m256* v) {
  const __m256 pairs01 = _mm256_hadd_ps(v[0], v[1]), pairs23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 pairs45 = _mm256_hadd_ps(v[4], v[5]), pairs67 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 quads0123 = _mm256_hadd_ps(pairs01, pairs23);  // per half: partial totals of v0, v1, v2, v3
  const __m256 quads4567 = _mm256_hadd_ps(pairs45, pairs67);  // per half: partial totals of v4, v5, v6, v7
  const __m256 low_halves = _mm256_permute2f128_ps(quads0123, quads4567, 0x20);
  const __m256 high_halves = _mm256_permute2f128_ps(quads0123, quads4567, 0x31);
  return _mm256_add_ps(low_halves, high_halves);
}

template <int N>
void decode_rows_avx2(const float* x, Index x_stride, const float* w, Index w_stride, Index out, Index in, float* y,
                      Index y_stride, Index first, Index count, Index ahead) {
  static_assert(N >= 1 && N <= 8, "fold_eight adds up at most 8 sums");
  const Index whole = in / 8 * 8;
  // The mask of the last piece: lanes 0 .. in − whole − 1 loaded (their mask's top bit set), the others read as 0.
  alignas(32) static const std::int32_t kLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  const __m256i tail = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLanes + 8 - (in - whole)));
  for (Index o = first; o < first + count; ++o) {
    const float* row = w + o * w_stride;
    const float* later = o + ahead < out ? row + ahead * w_stride : row;  // fetched while this row is multiplied
    __m256 sums[8];  // sums[n]: the running x(n, :) · W(o, :), 8 lanes; n ≥ N stay 0 for the fold
#pragma GCC unroll 8
    for (int n = 0; n < 8; ++n) sums[n] = _mm256_setzero_ps();
    // Each 8-number piece of the row of W, loaded once, times the same piece of every row of x.
    const auto multiply_add = [&](Index i, __m256 piece, auto load) {
#pragma GCC unroll 8
      for (int n = 0; n < N; ++n) sums[n] = _mm256_fmadd_ps(load(x + n * x_stride + i), piece, sums[n]);
    };
    const auto full = [](const float* p) { return _mm256_loadu_ps(p); };
    for (Index i = 0; i < whole; i += 8) {
      prefetch(later + i);
      multiply_add(i, full(row + i), full);
    }
    if (whole < in) {
      const auto masked = [tail](const float* p) { return _mm256_maskload_ps(p, tail); };
      multiply_add(whole, masked(row + whole), masked);
    }
    alignas(32) float totals[8];
    _mm256_store_ps(totals, fold_eight(sums));
    for (int n = 0; n < N; ++n) y[n * y_stride + o] = totals[n];
  }
}
#endif

#if EIGENFORMER_VECTOR_KERNELS
/// The fast path for N rows of x in this build: AVX-512's kernel, which reads x's copy piece by piece (x_pieces:
/// pack_x_pieces of x, made here when the caller passes nullptr), else AVX2's, which reads x itself (x_pieces
/// unused). Other arguments as decode_rows_avx2's.
template <int N>
void decode_rows_vectorized(const float* x, Index x_stride, const float* x_pieces, const float* w, Index w_stride,
                            Index out, Index in, float* y, Index y_stride, Index first, Index count, Index ahead) {
#if defined(__AVX512F__)
  if (x_pieces == nullptr) x_pieces = pack_x_pieces(x, N, x_stride, in);
  decode_rows_avx512<avx512_rows_per_pass<N>(), N>(x_pieces, w, w_stride, out, in, y, y_stride, first, count, ahead);
#else
  (void)x_pieces;
  decode_rows_avx2<N>(x, x_stride, w, w_stride, out, in, y, y_stride, first, count, ahead);
#endif
}
#endif
}  // namespace detail

/// The fewest rows the decoding path hands to decode_rows_kernel. Below, row by row is as fast: measured on the
/// stories15M head (BM_HeadRows in bench/bench_decode.cpp, before the AVX-512 fast path), the portable kernel takes 1.11× the
/// time of two matrix-vector products for 2 rows, 0.87× for 4 and 0.83× for 8.
inline constexpr Index kDecodeKernelRows = 4;

namespace detail {
/// What linear_rows_threaded hands every run of W besides x: for float in an AVX-512 build with 4 to 8 rows, x's copy
/// piece by piece (pack_x_pieces), made once for all runs; otherwise nullptr (the kernels read x itself).
template <class Scalar>
const Scalar* decode_rows_x_pieces(const Eigen::Ref<const Matrix<Scalar>>& x) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Scalar, float>) {
    if (x.rows() >= kDecodeKernelRows) return pack_x_pieces(x.data(), x.rows(), x.outerStride(), x.cols());
  }
#endif
  (void)x;
  return nullptr;
}
}  // namespace detail

/// decode_rows_kernel for a run-time N in 4 .. 8 (each N its own compiled kernel, so that the sums stay in registers),
/// or for float in a build with AVX-512 or AVX2 its fast path (detail::decode_rows_avx512 or detail::decode_rows_avx2);
/// double stays portable. x_pieces: x's copy for the AVX-512 kernel when the caller has made it
/// (detail::decode_rows_x_pieces), else nullptr.
template <class Scalar>
void decode_rows(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& weight,
                 Eigen::Ref<Matrix<Scalar>> y, Index first, Index count, const Scalar* x_pieces = nullptr) {
  const auto run = [&](auto rows) {
    constexpr int N = decltype(rows)::value;
#if EIGENFORMER_VECTOR_KERNELS
    if constexpr (std::is_same_v<Scalar, float>) {
      detail::decode_rows_vectorized<N>(x.data(), x.outerStride(), x_pieces, weight.data(), weight.outerStride(),
                                        weight.rows(), weight.cols(), y.data(), y.outerStride(), first, count,
                                        detail::prefetch_rows_ahead(weight.cols() * Index(sizeof(float))));
      return;
    }
#endif
    (void)x_pieces;
    decode_rows_kernel<Scalar, N>(x, weight, y, first, count);
  };
  switch (x.rows()) {
    case 4: run(std::integral_constant<int, 4>()); return;
    case 5: run(std::integral_constant<int, 5>()); return;
    case 6: run(std::integral_constant<int, 6>()); return;
    case 7: run(std::integral_constant<int, 7>()); return;
    case 8: run(std::integral_constant<int, 8>()); return;
    default: break;
  }
  assert(false && "decode_rows takes 4 to 8 rows");
}

/// When Linear::forward takes the decoding path: few rows (decoding: one per sequence). Prompts and training
/// (many rows) run matrix-matrix products (product_threaded below).
inline bool use_decode_path(Index rows) { return rows <= 8; }

/// One run of the decoding path: y(n, o) = x(n, :) · W(o, :) for every row n of x and the rows o = first .. first +
/// count − 1 of W (a run of decode_runs, layers/packed_weight.hpp).   x (N, in)   W (out, in)   y (N, out)
/// x_pieces as decode_rows takes it.
template <class Scalar>
void linear_rows_run(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& weight,
                     Eigen::Ref<Matrix<Scalar>> y, Index first, Index count, const Scalar* x_pieces = nullptr) {
  if (x.rows() < kDecodeKernelRows) {  // one sequence, or two or three: matrix-vector products, row by row
    for (Index n = 0; n < x.rows(); ++n) {
      y.row(n).segment(first, count).noalias() = x.row(n) * weight.middleRows(first, count).transpose();
    }
  } else {                             // four to eight: each piece of W read once for all N rows
    decode_rows<Scalar>(x, weight, y, first, count, x_pieces);
  }
}

template <class Scalar>
void linear_rows_threaded(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& weight,
                          Eigen::Ref<Matrix<Scalar>> y) {
  const DecodeRuns runs = decode_runs(weight.rows());
  const Scalar* x_pieces = detail::decode_rows_x_pieces<Scalar>(x);  // one copy for every run
  const auto run_task = [&](Index r) {
    linear_rows_run<Scalar>(x, weight, y, runs.first(r), runs.rows(r), x_pieces);
  };
  if (decode_worth_threads(x.rows(), weight.rows(), weight.cols())) {
    parallel_for(runs.count, run_task);
  } else {
    for (Index r = 0; r < runs.count; ++r) run_task(r);
  }
}

/// How a backward pass writes an input gradient: Assign (dx = ...) or Add (dx += ...). Add serves an input
/// read by several layers — q, k and v read the same x; a gated FFN's gate and up read the same x — whose
/// gradient is the sum of what each reader sends back. Parameter gradients always accumulate.
enum class GradientWrite { Assign, Add };

/// The matrix products of prompts, encoders and training, C = A B (GradientWrite::Assign) or C += A B (Add), on
/// threads() threads.   A (M, K)   B (K, N)   C (M, N), already sized.
/// C is cut along its longer side into fixed runs of kProductRun rows (or columns), and each run is an ordinary
/// one-thread Eigen product — C's rows from A's rows, or C's columns from B's columns — shared out by
/// parallel_for. Two reasons not to let Eigen thread the product itself (Eigen::setNbThreads, which the library
/// leaves at 1):
///   - Eigen's threads wait for each other by spinning. When the other thread has lost its core to another
///     process, the spinning one burns its time slice: on a machine at load 6, a training step on 2 threads took
///     15× longer than on 1 (docs/performance.md). Here the threads meet once per product, at OpenMP's barrier,
///     which sleeps.
///   - The runs depend on the shapes only, so the result has the same bits on any thread count.
/// Each run repacks the operand it shares (all of B for a run of rows, all of A for a run of columns): the
/// smaller side of the product, about 1/(2·kProductRun) of the arithmetic.
template <class Scalar, class Lhs, class Rhs>
void product_threaded(const Lhs& a, const Rhs& b, Eigen::Ref<Matrix<Scalar>> c, GradientWrite write) {
#ifdef EIGEN_USE_BLAS
  // A build that hands large products to a BLAS (EIGENFORMER_USE_BLAS): the BLAS gets each product whole and
  // threads it itself (set_threads sets its threads too), so the runs below would only nest two thread pools.
  if (write == GradientWrite::Assign) c.noalias() = a * b;
  else c.noalias() += a * b;
  return;
#endif
  constexpr Index kProductRun = 128;
  const bool by_rows = c.rows() > c.cols();
  const Index length = by_rows ? c.rows() : c.cols();
  const Index runs = (length + kProductRun - 1) / kProductRun;
  const auto run_task = [&](Index r) {
    const Index first = r * kProductRun, count = std::min(kProductRun, length - first);
    if (by_rows) {
      if (write == GradientWrite::Assign) c.middleRows(first, count).noalias() = a.middleRows(first, count) * b;
      else c.middleRows(first, count).noalias() += a.middleRows(first, count) * b;
    } else {
      if (write == GradientWrite::Assign) c.middleCols(first, count).noalias() = a * b.middleCols(first, count);
      else c.middleCols(first, count).noalias() += a * b.middleCols(first, count);
    }
  };
  // Threads pay off once there is enough arithmetic (a parallel region costs microseconds): M·N·K ≥ 2^21.
  if (threads() > 1 && c.rows() * c.cols() * a.cols() >= (Index(1) << 21)) {
    parallel_for(runs, run_task);
  } else {
    for (Index r = 0; r < runs; ++r) run_task(r);
  }
}

/// The same, C = A B into a matrix resized to (M, N) first.
template <class Scalar, class Lhs, class Rhs>
void product_threaded(const Lhs& a, const Rhs& b, Matrix<Scalar>& c) {
  c.resize(a.rows(), b.cols());
  product_threaded<Scalar>(a, b, Eigen::Ref<Matrix<Scalar>>(c), GradientWrite::Assign);
}

#if EIGENFORMER_VECTOR_KERNELS
namespace detail {
/// The matrix product of prompts and encoders for float in a build with AVX-512, or with AVX2 and FMA (-march=native on
/// this project's CPUs): y = x Wᵀ with the weight as Linear keeps it,
///     x (M, in) at x, rows ldx apart    W (out, in) at w, rows ldw apart    y (M, out) at y, rows ldy apart
/// for the output columns (rows of W) o = first .. first + count − 1. Eigen's GEMM reaches 52–62% of an AVX-512 core's
/// FMA peak at an encoder's shapes, OpenBLAS 69–89% (docs/performance.md, "Memory given back, and taken again"); this
/// kernel, in the classic blocked layout (Goto & van de Geijn 2008), 84–94% (bench_blocks' BM_Gemm). Below, a
/// "register" holds L floats — L = 16 with AVX-512, 8 with AVX2 — and the tile has R rows of W — 12 with AVX-512, 6 with
/// AVX2 (Avx512Registers, Avx2Registers):
///   - the tokens are packed, kProductDepth inputs and 2L tokens (a panel: two registers) at a time, into a buffer of
///     the thread's own: panel p holds x(2Lp + j, k) at [k·2L + j], zeros past the last token (pack_token_panels);
///   - a tile is R rows of W against one panel: 2R running sums of L floats (R rows × 2L tokens) in registers; each
///     step k loads the panel's two registers once and multiplies them by the R weights W(o + r, k), each broadcast to
///     a register — 2R multiply-adds for 2 loads and R broadcasts;
///   - the R rows of W (R × 768 × 4 bytes: 36 kB with AVX-512, 18 kB with AVX2) stay in the L1 cache while every panel
///     of tokens passes.
/// Each y(m, o) is the same sum whatever the split: Σ over blocks of kProductDepth inputs, in order, each a chain of
/// multiply-adds in input order — it depends on `in` only, not on M, on the tile's rows or on the thread,
/// so the result has the same bits on any thread count. Against Eigen's product the difference is rounding (within
/// 1e-6 of the largest value in the tests).
inline constexpr Index kProductDepth = 768;  // inputs per block: the R rows of W stay in L1

#if defined(__AVX512F__)
/// Transposes the 16 × 16 block of floats held in 16 registers: lane j of rows[i] goes to lane i of rows[j]. It is
/// four 4 × 4 problems inside one another: unpack and shuffle_ps transpose the 4 × 4 block of floats inside each
/// 128-bit lane (rows i .. i + 3, lanes 4c .. 4c + 3); two rounds of shuffle_f32x4 then transpose the 4 × 4
/// arrangement of those lanes across the registers. 64 shuffles move 256 floats, where a float at a time takes 256
/// loads and 256 stores.
inline void transpose_16x16(__m512 rows[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {  // t[i] = (a0 b0 a1 b1 | ...), t[i+1] = (a2 b2 a3 b3 | ...) for a, b = rows i, i+1
    t[i] = _mm512_unpacklo_ps(rows[i], rows[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(rows[i], rows[i + 1]);
  }
  constexpr int kLow = _MM_SHUFFLE(1, 0, 1, 0), kHigh = _MM_SHUFFLE(3, 2, 3, 2);  // pairs 0, 1 / pairs 2, 3 of each
  for (int i = 0; i < 16; i += 4) {  // each 128-bit lane of rows[i + c] now holds column c of rows i .. i + 3
    rows[i] = _mm512_shuffle_ps(t[i], t[i + 2], kLow);
    rows[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], kHigh);
    rows[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], kLow);
    rows[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], kHigh);
  }
  constexpr int kEven = _MM_SHUFFLE(2, 0, 2, 0), kOdd = _MM_SHUFFLE(3, 1, 3, 1);  // 128-bit lanes 0, 2 / 1, 3 of each
  for (int i = 0; i < 8; ++i) {  // registers a and a + 4 (a = 0 .. 3, 8 .. 11)
    const int a = (i / 4) * 8 + i % 4;
    t[a] = _mm512_shuffle_f32x4(rows[a], rows[a + 4], kEven);
    t[a + 4] = _mm512_shuffle_f32x4(rows[a], rows[a + 4], kOdd);
  }
  for (int i = 0; i < 8; ++i) {  // registers i and i + 8: the lanes in their final order
    rows[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], kEven);
    rows[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], kOdd);
  }
}

/// AVX-512's registers for the product kernel: 32 registers of 16 floats.
///   - tiles of 12 rows (24 sums, 2 registers of the panel, 1 broadcast weight: 27 of 32 registers), not the 14 that
///     28 registers would hold: 12 divides every width of BERT-base and Llama (768, 2304, 3072, 288, 2048), so no row of
///     W is left for a narrower tile and two threads get equal runs (768 = 2 × 32 × 12); against 14 rows it measured
///     1.00–1.11× (the most where 14 left 12 rows of W to one-row tiles);
///   - 256 tokens packed at a time: 8 panels × 768 inputs × 4 bytes = 786 kB, in the 1 MiB L2 of Zen 4 and 5.
struct Avx512Registers {
  using Vec = __m512;
  static constexpr Index kLanes = 16;
  static constexpr Index kTileRows = 12;
  static constexpr Index kTokensPacked = 256;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec broadcast(float v) { return _mm512_set1_ps(v); }
  static Vec multiply_add(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static void transpose(Vec rows[kLanes]) { transpose_16x16(rows); }
};
using ProductRegisters = Avx512Registers;
#else
/// Transposes the 8 × 8 block of floats held in 8 registers: lane j of rows[i] goes to lane i of rows[j]. unpack and
/// shuffle_ps transpose the 4 × 4 block inside each 128-bit half (rows i .. i + 3), permute2f128 then swaps the
/// halves: rows[c] takes the low halves of the two 4-row groups' column c, rows[c + 4] their high halves.
inline void transpose_8x8(__m256 rows[8]) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {  // t[i] = (a0 b0 a1 b1 | a4 b4 a5 b5), t[i+1] = (a2 b2 a3 b3 | a6 b6 a7 b7)
    t[i] = _mm256_unpacklo_ps(rows[i], rows[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(rows[i], rows[i + 1]);
  }
  constexpr int kLow = _MM_SHUFFLE(1, 0, 1, 0), kHigh = _MM_SHUFFLE(3, 2, 3, 2);  // pairs 0, 1 / pairs 2, 3 of each
  __m256 columns[8];  // columns[4g + c]: column c (low half) and column c + 4 (high half) of rows 4g .. 4g + 3
  for (int g = 0; g < 2; ++g) {
    columns[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], kLow);
    columns[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], kHigh);
    columns[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], kLow);
    columns[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], kHigh);
  }
  for (int c = 0; c < 4; ++c) {
    rows[c] = _mm256_permute2f128_ps(columns[c], columns[4 + c], 0x20);      // low halves: column c
    rows[c + 4] = _mm256_permute2f128_ps(columns[c], columns[4 + c], 0x31);  // high halves: column c + 4
  }
}

/// AVX2's registers for the product kernel: 16 registers of 8 floats.
///   - tiles of 6 rows (12 sums, 2 registers of the panel, 1 broadcast weight: 15 of 16 registers) against panels of
///     16 tokens, the shape BLIS gives its Haswell kernel; 12 independent multiply-adds cover FMA's latency (4–5
///     cycles) on two units;
///   - 128 tokens packed at a time: 8 panels × 768 inputs × 4 bytes = 393 kB, in a 512 kB L2.
struct Avx2Registers {
  using Vec = __m256;
  static constexpr Index kLanes = 8;
  static constexpr Index kTileRows = 6;
  static constexpr Index kTokensPacked = 128;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec broadcast(float v) { return _mm256_set1_ps(v); }
  static Vec multiply_add(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static void transpose(Vec rows[kLanes]) { transpose_8x8(rows); }
};
using ProductRegisters = Avx2Registers;
#endif

/// Packs tokens m0 .. m0 + count − 1 of x, inputs k0 .. k0 + depth − 1, as panels of 2L tokens (L = Regs::kLanes):
/// panel p holds x(m0 + 2Lp + j, k0 + k) at [k·2L + j], zeros past the last token. Packing is a transpose (a token's
/// inputs are a row of x, and a panel wants them as a column), done L tokens × L inputs at a time in registers
/// (Regs::transpose); a half-panel with fewer than L tokens, and the last depth mod L inputs, go a float at a time.
/// With AVX-512 the float-at-a-time packing took ~6% of an encoder's products on one thread and ~12% on two (each
/// thread packs the tokens for its own rows of W); the transposes take ~1.5% and ~3%.
template <class Regs>
void pack_token_panels(const float* x, Index ldx, Index m0, Index count, Index k0, Index depth, float* out) {
  constexpr Index L = Regs::kLanes, kPanel = 2 * L;
  const Index panels = (count + kPanel - 1) / kPanel;
  const Index transposed_depth = depth / L * L;  // inputs packed by transposes, L at a time
  for (Index p = 0; p < panels; ++p) {
    float* panel = out + p * depth * kPanel;
    for (Index half = 0; half < kPanel; half += L) {
      const Index first = m0 + p * kPanel + half;                                    // the half-panel's first token
      const Index real = std::max(Index(0), std::min(L, m0 + count - first));  // its tokens; the rest are 0
      Index k = 0;
      if (real == L) {
        for (; k < transposed_depth; k += L) {
          typename Regs::Vec block[L];  // block[j] = x(first + j, k0 + k .. k0 + k + L − 1)
          for (Index j = 0; j < L; ++j) block[j] = Regs::load(x + (first + j) * ldx + k0 + k);
          Regs::transpose(block);  // block[i] = x(first .. first + L − 1, k0 + k + i)
          for (Index i = 0; i < L; ++i) Regs::store(panel + (k + i) * kPanel + half, block[i]);
        }
      }
      for (; k < depth; ++k)
        for (Index j = 0; j < L; ++j) panel[k * kPanel + half + j] = j < real ? x[(first + j) * ldx + k0 + k] : 0.0f;
    }
  }
}

/// One tile: for the R rows o0 .. o0 + R − 1 of W and one panel of tokens m0 .. m0 + tokens − 1 (at most 2L), over
/// inputs k0 .. k0 + depth − 1, sums[r][h] (L tokens each) = Σ_k W(o0 + r, k) · panel(k, L·h ..); then y(m, o) = sum,
/// or y(m, o) += sum for the blocks of inputs after the first (`accumulate`).
template <class Regs, int R>
void product_tile(const float* w, Index ldw, Index o0, Index k0, Index depth, const float* panel, float* y, Index ldy,
                  Index m0, Index tokens, bool accumulate) {
  constexpr Index L = Regs::kLanes, kPanel = 2 * L;
  typename Regs::Vec sums[R][2];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) sums[r][0] = sums[r][1] = Regs::zero();
  const float* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = w + (o0 + r) * ldw + k0;
  for (Index k = 0; k < depth; ++k) {
    const typename Regs::Vec first_half = Regs::load(panel + k * kPanel);
    const typename Regs::Vec second_half = Regs::load(panel + k * kPanel + L);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const typename Regs::Vec weight = Regs::broadcast(rows[r][k]);
      sums[r][0] = Regs::multiply_add(weight, first_half, sums[r][0]);
      sums[r][1] = Regs::multiply_add(weight, second_half, sums[r][1]);
    }
  }
  alignas(64) float totals[R][kPanel];  // totals[r][j]: token m0 + j, output o0 + r
  for (int r = 0; r < R; ++r) {
    Regs::store(totals[r], sums[r][0]);
    Regs::store(totals[r] + L, sums[r][1]);
  }
  for (Index j = 0; j < tokens; ++j) {
    float* out = y + (m0 + j) * ldy + o0;
    for (int r = 0; r < R; ++r) out[r] = accumulate ? out[r] + totals[r][j] : totals[r][j];
  }
}

/// Calls tiles(std::integral_constant<int, R>()) with R = rows, for 1 ≤ rows < Regs::kTileRows: the last rows of W,
/// fewer than a tile, go as one narrower tile (product_tile<Regs, R>) rather than a row at a time.
template <class Regs, int R = 1, class Tiles>
void tile_rows_left(Index rows, Tiles&& tiles) {
  if constexpr (R < Regs::kTileRows) {
    if (rows == R) {
      tiles(std::integral_constant<int, R>());
    } else {
      tile_rows_left<Regs, R + 1>(rows, tiles);
    }
  }
}

/// y(:, first .. first + count − 1) = x W(first .. first + count − 1, :)ᵀ (shapes above), on the calling thread. Its
/// packing buffer belongs to the thread and only grows.
template <class Regs = ProductRegisters>
void product_x_wt_kernel(Index M, Index in, const float* x, Index ldx, const float* w, Index ldw, float* y, Index ldy,
                         Index first, Index count) {
  constexpr Index kPanel = 2 * Regs::kLanes, kTokens = Regs::kTokensPacked, kTileRows = Regs::kTileRows;
  thread_local std::vector<float> packed;
  const std::size_t needed = static_cast<std::size_t>(kTokens * std::min(kProductDepth, in));
  if (packed.size() < needed) packed.resize(needed);
  const Index end = first + count;
  for (Index m0 = 0; m0 < M; m0 += kTokens) {
    const Index tokens = std::min(kTokens, M - m0);
    const Index panels = (tokens + kPanel - 1) / kPanel;
    for (Index k0 = 0; k0 < in; k0 += kProductDepth) {
      const Index depth = std::min(kProductDepth, in - k0);
      pack_token_panels<Regs>(x, ldx, m0, tokens, k0, depth, packed.data());
      const bool accumulate = k0 > 0;
      const auto tiles = [&](auto rows_per_tile, Index o0) {
        constexpr int R = decltype(rows_per_tile)::value;
        for (Index p = 0; p < panels; ++p) {
          const Index panel_first = m0 + p * kPanel;
          product_tile<Regs, R>(w, ldw, o0, k0, depth, packed.data() + p * depth * kPanel, y, ldy, panel_first,
                                std::min(kPanel, m0 + tokens - panel_first), accumulate);
        }
      };
      Index o = first;
      for (; o + kTileRows <= end; o += kTileRows) tiles(std::integral_constant<int, int(kTileRows)>(), o);
      if (o < end) tile_rows_left<Regs>(end - o, [&](auto rows_per_tile) { tiles(rows_per_tile, o); });  // count mod R
    }
  }
}
}  // namespace detail
#endif

/// y = x Wᵀ for Linear's forward pass with many rows (prompts, encoders, training), W (out, in) as Linear keeps it:
///     x (M, in)   W (out, in)   y (M, out), already sized.
/// For float in a build with AVX-512 or AVX2, detail::product_x_wt_kernel over runs of W's rows (y's columns), one run per
/// thread: each thread reads its own part of W once. Otherwise (and in a BLAS build, which hands the product to the
/// BLAS) product_threaded, Eigen's GEMM. Both give the same bits on any thread count.
template <class Scalar>
void linear_product(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& weight,
                    Eigen::Ref<Matrix<Scalar>> y) {
#if EIGENFORMER_VECTOR_KERNELS && !defined(EIGEN_USE_BLAS)
  if constexpr (std::is_same_v<Scalar, float>) {
    const Index out = weight.rows();
    // Runs of W's rows, a multiple of the tile's rows, as many as there are threads (when there is enough work:
    // M·out·in ≥ 2^21 multiply-adds, as for product_threaded).
    constexpr Index kTileRows = detail::ProductRegisters::kTileRows;
    const Index parts = (threads() > 1 && x.rows() * out * x.cols() >= (Index(1) << 21)) ? threads() : 1;
    const Index per_part = ((out + parts - 1) / parts + kTileRows - 1) / kTileRows * kTileRows;
    const auto part_task = [&](Index part) {
      const Index first = std::min(out, part * per_part), count = std::min(per_part, out - first);
      if (count > 0) {
        detail::product_x_wt_kernel(x.rows(), x.cols(), x.data(), x.outerStride(), weight.data(), weight.outerStride(),
                                    y.data(), y.outerStride(), first, count);
      }
    };
    parallel_for(parts, part_task);
    return;
  }
#endif
  product_threaded<Scalar>(x, weight.transpose(), y, GradientWrite::Assign);
}

/// The backward pass of y = x Wᵀ + b, for any weight W with its gradient buffer (a Linear's, or a tied LM
/// head reading the embedding table: Embedding::backward_as_head).
///   W  (out, in)   x (N, in)   dy (N, out) = ∂loss/∂y   dx (N, in) = ∂loss/∂x
/// With y(n, o) = Σ_i x(n, i) W(o, i) + b(o), the chain rule gives, entry by entry,
///   ∂loss/∂x(n, i) = Σ_o dy(n, o) W(o, i)         dx = dy W
///   ∂loss/∂W(o, i) = Σ_n dy(n, o) x(n, i)         dW += dyᵀ x      (every row n used the same W: sum over n)
///   ∂loss/∂b(o)    = Σ_n dy(n, o)                 db += Σ_rows dy
/// weight_grad (out, in) and *bias_grad (out) are added into, each only when allocated (non-empty): an empty
/// buffer means "this parameter is not being trained", and only dx is computed. A buffer of the wrong size
/// is a ShapeError. bias_grad may be null (no bias).
template <class Scalar>
void linear_backward(const Eigen::Ref<const Matrix<Scalar>>& weight, const Eigen::Ref<const Matrix<Scalar>>& x,
                     const Eigen::Ref<const Matrix<Scalar>>& dy, Eigen::Ref<Matrix<Scalar>> dx, GradientWrite write,
                     Matrix<Scalar>& weight_grad, RowVector<Scalar>* bias_grad, const char* where = "linear_backward") {
  const Index out = weight.rows(), in = weight.cols();
  if (x.cols() != in || dy.cols() != out || dy.rows() != x.rows() || dx.rows() != x.rows() || dx.cols() != in) {
    throw ShapeError(detail::cat("[", where, "] weight ", detail::shape_str(shape_of(weight)), ", input ",
                                 detail::shape_str(shape_of(x)), ", output gradient ", detail::shape_str(shape_of(dy)),
                                 " and input gradient ", detail::shape_str(shape_of(dx)),
                                 " are not (out, in), (N, in), (N, out) and (N, in)"));
  }
  if (weight_grad.size() != 0 && (weight_grad.rows() != out || weight_grad.cols() != in)) {
    throw ShapeError(detail::cat("[", where, "] weight gradient buffer ", detail::shape_str(shape_of(weight_grad)),
                                 " does not match the weight ", detail::shape_str(shape_of(weight))));
  }
  if (bias_grad != nullptr && bias_grad->size() != 0 && bias_grad->size() != out) {
    throw ShapeError(detail::cat("[", where, "] bias gradient buffer has ", bias_grad->size(), " entries, expected ", out));
  }
  // 1) dW += dyᵀ x and db += Σ_rows dy first: they read x, so dx (same shape as x) may reuse x's storage.
  //    The products run on the library's threads (product_threaded above).
  if (weight_grad.size() != 0) product_threaded<Scalar>(dy.transpose(), x, weight_grad, GradientWrite::Add);
  if (bias_grad != nullptr && bias_grad->size() != 0) *bias_grad += dy.colwise().sum();
  // 2) dx = dy W (or dx += dy W).
  product_threaded<Scalar>(dy, weight, dx, write);
}

template <class Scalar>
class Linear {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  Linear() = default;
  /// A layer mapping `in` features to `out`, with or without a bias. Weights start at zero; load them
  /// or initialise them through the parameter list. (Built for a loader — core/parameter_memory.hpp — they are
  /// left for the loader to write.)
  Linear(Index in, Index out, bool bias)
      : weight(new_parameter<Matrix<Scalar>>(out, in)), has_bias_(bias) {
    if (bias) this->bias = new_parameter<RowVector<Scalar>>(1, out);
  }

  Index in_features() const { return packed.empty() ? weight.cols() : packed.cols; }
  Index out_features() const { return packed.empty() ? weight.rows() : packed.rows; }
  bool has_bias() const { return has_bias_; }

  /// y = x Wᵀ + b.   x: (N, in) → y: (N, out), resized when needed.
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Matrix<Scalar>& y) const {
    y.resize(x.rows(), out_features());
    forward(x, Eigen::Ref<Matrix<Scalar>>(y));
  }

  /// The same into existing storage (a view of a tensor, say), which must already be (N, out).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Eigen::Ref<Matrix<Scalar>> y) const {
    check_shapes(x, y);
    // y = x Wᵀ: a matrix product (linear_product: the AVX-512 or AVX2 kernel, else product_threaded), or for
    // decoding's few rows matrix-vector products over runs of output rows (linear_rows_threaded: no allocation); both
    // shared out over threads and bit-identical whatever the thread count. A packed weight (BF16 or Q8_0, pack())
    // converts on the fly instead (layers/packed_weight.hpp).
    if (!packed.empty()) {
      Matrix<Scalar> scratch;  // used by prompts only (more than 8 rows): decoding allocates nothing
      packed_product<Scalar>(x, packed, y, scratch);
    } else if (use_decode_path(x.rows())) {
      linear_rows_threaded<Scalar>(x, weight, y);
    } else {
      linear_product<Scalar>(x, weight, y);
    }
    if (has_bias_) y.rowwise() += bias;
  }

  /// ShapeError unless x is (N, in) and y (N, out).
  void check_shapes(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& y) const {
    if (x.cols() != in_features()) {
      throw ShapeError(detail::cat("[Linear::forward] input ", detail::shape_str(shape_of(x)), " has ", x.cols(),
                                   " features but the weight ", detail::shape_str({out_features(), in_features()}),
                                   " expects ", in_features()));
    }
    if (y.rows() != x.rows() || y.cols() != out_features()) {
      throw ShapeError(detail::cat("[Linear::forward] output ", detail::shape_str(shape_of(y)), " should be ",
                                   detail::shape_str({x.rows(), out_features()})));
    }
  }

  /// Convenience form: returns y (N, out).
  Matrix<Scalar> operator()(const Eigen::Ref<const Matrix<Scalar>>& x) const {
    Matrix<Scalar> y;
    forward(x, y);
    return y;
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    if (!packed.empty()) {
      throw ValueError(detail::cat("[Linear] ", prefix, "weight is kept as ", weight_format_name(packed.format),
                                   " for inference (pack()); loading, saving and training need fp32: pack(WeightFormat::F32)"));
    }
    add_parameter(out, prefix + "weight", weight, weight_grad);
    if (has_bias_) add_parameter(out, prefix + "bias", bias, bias_grad);
  }

  /// Opt-in, for inference: keeps W as BF16 or Q8_0 (layers/packed_weight.hpp: the formats, their errors) in
  /// `packed` and frees the fp32 `weight`, so that a decode step streams 2 or 1.125 bytes per weight instead of 4.
  /// The bias stays in Scalar. WeightFormat::F32 goes back: weight = W̃ (BF16 exactly; Q8_0 as s_g · q_i).
  /// A packed layer computes forward only: collect_parameters (loading, saving, training) refuses it.
  /// `where` names the layer in errors (a NaN weight cannot be quantised to Q8_0).
  void pack(WeightFormat format, const std::string& where = "Linear") {
    if (!packed.empty()) {  // from a packed format: back to Scalar first
      weight.resize(packed.rows, packed.cols);
      unpack_rows<Scalar>(packed, 0, packed.rows, weight);
      packed = PackedWeight();
    }
    if (format == WeightFormat::F32) return;
    packed = pack_weight<Scalar>(weight, format, where);
    weight = Matrix<Scalar>();
  }

  /// How W is kept: F32 (weight, the reference) or the packed format.
  WeightFormat weight_format() const { return packed.format; }

  /// Bytes of W and b as kept in memory.
  std::size_t weight_bytes() const {
    return (packed.empty() ? static_cast<std::size_t>(weight.size()) * sizeof(Scalar) : packed.bytes()) +
           static_cast<std::size_t>(bias.size()) * sizeof(Scalar);
  }

  Matrix<Scalar> weight;   // (out, in); empty while packed
  RowVector<Scalar> bias;  // (out); empty when the layer has no bias
  PackedWeight packed;     // (out, in) as BF16 or Q8_0 after pack(); empty (format F32) otherwise

  // ---- Backward (training) ------------------------------------------------------------------------------
  Matrix<Scalar> weight_grad;   // (out, in)  ∂loss/∂W, accumulated by backward(); empty until collected with gradients
  RowVector<Scalar> bias_grad;  // (out)      ∂loss/∂b, accumulated by backward(); empty likewise

  /// Backward of y = x Wᵀ + b (linear_backward below has the derivation).
  ///   x  (N, in)   the input of the forward call this gradient belongs to (the caller keeps it: it is an
  ///                activation of the enclosing module — a block's normed input, an FFN's hidden — and a copy
  ///                inside every Linear would hold q, k and v's shared input three times)
  ///   dy (N, out)  ∂loss/∂y
  ///   dx (N, in)   ∂loss/∂x = dy W, written (GradientWrite::Assign) or added (GradientWrite::Add)
  /// weight_grad += dyᵀ x and bias_grad += Σ_rows dy, each only when that buffer is allocated.
  void backward(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& dy,
                Eigen::Ref<Matrix<Scalar>> dx, GradientWrite write = GradientWrite::Assign) {
    if (!packed.empty()) {
      throw ValueError(detail::cat("[Linear::backward] the weight is kept as ", weight_format_name(packed.format),
                                   " for inference; training needs fp32: pack(WeightFormat::F32)"));
    }
    linear_backward<Scalar>(weight, x, dy, dx, write, weight_grad, has_bias_ ? &bias_grad : nullptr, "Linear::backward");
  }

  /// The same, dx resized to (N, in) and written.
  void backward(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& dy, Matrix<Scalar>& dx) {
    dx.resize(x.rows(), in_features());
    backward(x, dy, Eigen::Ref<Matrix<Scalar>>(dx), GradientWrite::Assign);
  }

 private:
  bool has_bias_ = false;
};

/// Several products of one input, y_k = x W_kᵀ + b_k for k = 0 .. K − 1, the threads meeting once for all of them
/// instead of once per product: q, k and v of self-attention read the same x, as do gate and up of a gated FFN.
///   x (N, in)   layers[k]: W_k (out_k, in)   *outputs[k]: resized to (N, out_k)
/// Why: a decode step at the 110M shape is ~100 products, each a parallel loop whose end the threads meet at; a
/// sleeping thread (OMP_WAIT_POLICY=PASSIVE) is woken for each one (docs/performance.md, "The second thread").
/// Decoding (N ≤ 8): every product is split into its own fixed runs of output rows (decode_runs, as its forward
/// call would split it), and all the runs of all K products go into one parallel loop — shared out when the K
/// weights together, times the rows of x, are worth threads. A packed (int8) weight reads x quantised once for all
/// K, the AVX-512 kernel x copied piece by piece once for all K (detail::decode_rows_x_pieces). Each output has the
/// bits of layers[k]->forward(x, *outputs[k]) (tests/speed/test_threads.cpp).
/// More rows (prompts, training): forward one layer after the other; their products are large enough to share out.
template <class Scalar, std::size_t K>
void forward_together(const Eigen::Ref<const Matrix<Scalar>>& x, const std::array<const Linear<Scalar>*, K>& layers,
                      const std::array<Matrix<Scalar>*, K>& outputs) {
  if (!use_decode_path(x.rows())) {
    for (std::size_t k = 0; k < K; ++k) layers[k]->forward(x, *outputs[k]);
    return;
  }
  Index weights = 0;
  bool quantized = false;
  std::array<DecodeRuns, K> runs;
  for (std::size_t k = 0; k < K; ++k) {
    const Linear<Scalar>& layer = *layers[k];
    outputs[k]->resize(x.rows(), layer.out_features());
    layer.check_shapes(x, *outputs[k]);
    weights += layer.out_features() * layer.in_features();
    quantized = quantized || layer.weight_format() == WeightFormat::Q8_0;
    runs[k] = decode_runs(layer.out_features());
  }
  const QuantizedRows xq = quantized ? quantize_rows<Scalar>(x) : QuantizedRows{};
  const Scalar* x_pieces = detail::decode_rows_x_pieces<Scalar>(x);  // one copy for all K
  // Task t: run t of product 0, then of product 1, ... (the runs numbered one after the other).
  Index total = 0;
  for (const DecodeRuns& r : runs) total += r.count;
  const auto run_task = [&](Index t) {
    std::size_t k = 0;
    while (t >= runs[k].count) t -= runs[k++].count;
    const Linear<Scalar>& layer = *layers[k];
    const Index first = runs[k].first(t), count = runs[k].rows(t);
    Eigen::Ref<Matrix<Scalar>> y(*outputs[k]);
    if (layer.packed.empty()) linear_rows_run<Scalar>(x, layer.weight, y, first, count, x_pieces);
    else packed_rows_run<Scalar>(x, xq, layer.packed, y, first, count);
  };
  if (decode_worth_threads(x.rows() * weights)) {
    parallel_for(total, run_task);
  } else {
    for (Index t = 0; t < total; ++t) run_task(t);
  }
  for (std::size_t k = 0; k < K; ++k) {
    if (layers[k]->has_bias()) outputs[k]->rowwise() += layers[k]->bias;
  }
}

}  // namespace eigenformer
