// eigenformer/layers/packed_weight.hpp — a weight matrix kept in fewer bytes per value, for decoding.
//
// A decode step reads every weight once for one token, so its time is the bytes it streams (docs/performance.md,
// "Fewer bytes per token"). Beside the fp32 reference (Linear::weight, a Matrix) a weight may be stored as
//
//   BF16  the top 16 bits of each fp32 value (1 sign, 8 exponent, 7 mantissa bits): 2 bytes per weight.
//         From fp32, rounded to nearest, ties to even (float_to_bf16, core/dtype.hpp): |w̃ − w| ≤ 2⁻⁸ |w|.
//         Back to fp32 is exact: the 16 bits shifted left by 16.
//   Q8_0  groups of 32 consecutive weights along the input dimension (the last group of a row may be shorter),
//         one fp32 scale per group and one int8 per weight (llama.cpp's Q8_0, with an fp32 scale):
//             s_g = max_{i ∈ g} |w_i| / 127        q_i = round(w_i / s_g) ∈ [−127, 127]      w̃_i = s_g q_i
//         |w̃_i − w_i| ≤ s_g / 2 = max_g |w| / 254. 1 + 4/32 = 1.125 bytes per weight.
//
// The products y = x W̃ᵀ convert on the fly and accumulate in fp32:
//   BF16  x stays in Scalar; each weight is widened to fp32 (a shift) and multiplied in.
//   Q8_0  int8 × int8, like llama.cpp's Q8_0 × Q8_0: each row of x is quantised the same way, once per call —
//         t_g = max_g |x| / 127, p_i = round(x_i / t_g) — and a group's products p_i q_i are summed exactly in
//         integers, then scaled: y_o = Σ_g (t_g s_g) Σ_{i ∈ g} p_i q_i. Integer multiply-adds do twice the work
//         of fp32 ones per instruction, and without them the int8 product is bound by its conversions, not by
//         memory (docs/performance.md has both measured).
// The bound on one output, from |w̃ − w| above and |x̃ − x| ≤ t_g / 2 (x̃ w̃ − x w = (x̃ − x) w̃ + x (w̃ − w)):
//     |ỹ_o − y_o| ≤ 2⁻⁸ Σ_i |x_i w_oi|                                        (BF16)
//     |ỹ_o − y_o| ≤ Σ_g [ (s_g / 2) Σ_{i ∈ g} |x_i| + (t_g / 2) Σ_{i ∈ g} |w̃_oi| ]   (Q8_0)
// plus fp32 rounding of the sums, as in the reference. Prompts (more than 8 rows) take another route: runs of
// W̃ converted back to Scalar and one matrix product, with x unquantised (packed_product).
//
// Shapes: a packed weight is (out, in) like nn.Linear's, row-major; x (N, in), y (N, out).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "eigenformer/core/dtype.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/threads.hpp"
#include "eigenformer/core/vector_instructions.hpp"

namespace eigenformer {

/// How a Linear keeps its weight. F32 is the reference (Linear::weight); the others are opt-in, for inference.
enum class WeightFormat { F32, BF16, Q8_0 };

/// The name on command lines: "fp32", "bf16", "int8".
inline const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::F32: return "fp32";
    case WeightFormat::BF16: return "bf16";
    case WeightFormat::Q8_0: return "int8";
  }
  return "?";
}

/// "fp32" | "bf16" | "int8" (also "f32", "q8_0") → the format; anything else is a ValueError naming it.
inline WeightFormat weight_format_from_name(const std::string& name) {
  if (name == "fp32" || name == "f32") return WeightFormat::F32;
  if (name == "bf16") return WeightFormat::BF16;
  if (name == "int8" || name == "q8_0") return WeightFormat::Q8_0;
  throw ValueError(detail::cat("[weights] unknown weight format '", name, "': expected fp32, bf16 or int8"));
}

/// A weight (out, in) in BF16 or Q8_0. Empty (format F32, no values) until pack_weight fills it.
struct PackedWeight {
  static constexpr Index kGroup = 32;  // Q8_0: weights per scale, along the input dimension

  WeightFormat format = WeightFormat::F32;
  Index rows = 0, cols = 0;           // (out, in)
  std::vector<std::uint16_t> bf16;    // BF16: (out, in) row-major, each the upper half of an fp32
  std::vector<std::int8_t> q;         // Q8_0: (out, in) row-major, w ≈ scale · q
  std::vector<float> scales;          // Q8_0: (out, groups()) row-major, one per group of kGroup inputs

  bool empty() const { return format == WeightFormat::F32; }
  /// Groups per row: ⌈in / 32⌉; the last one holds in − 32·(groups − 1) weights.
  Index groups() const { return (cols + kGroup - 1) / kGroup; }
  /// Bytes of weight data held (what a decode step streams): 2 per weight (BF16), 1 per weight + 4 per group (Q8_0).
  std::size_t bytes() const {
    return bf16.size() * sizeof(std::uint16_t) + q.size() * sizeof(std::int8_t) + scales.size() * sizeof(float);
  }
};

/// Packs w (out, in) as `format` (BF16 or Q8_0; F32 gives an empty PackedWeight). `where` names the layer in
/// errors: a NaN or infinite weight cannot be quantised to Q8_0 (its group's scale would be) — ValueError.
template <class Scalar>
PackedWeight pack_weight(const Eigen::Ref<const Matrix<Scalar>>& w, WeightFormat format, const std::string& where = "weight") {
  PackedWeight p;
  p.format = format;
  p.rows = w.rows();
  p.cols = w.cols();
  if (format == WeightFormat::BF16) {
    p.bf16.resize(static_cast<std::size_t>(w.size()));
    for (Index o = 0; o < w.rows(); ++o) {
      for (Index i = 0; i < w.cols(); ++i) {
        p.bf16[static_cast<std::size_t>(o * w.cols() + i)] = float_to_bf16(static_cast<float>(w(o, i)));  // nearest, ties to even
      }
    }
  } else if (format == WeightFormat::Q8_0) {
    const Index G = p.groups();
    p.q.resize(static_cast<std::size_t>(w.size()));
    p.scales.resize(static_cast<std::size_t>(w.rows() * G));
    for (Index o = 0; o < w.rows(); ++o) {
      for (Index g = 0; g < G; ++g) {
        const Index first = g * PackedWeight::kGroup, count = std::min(PackedWeight::kGroup, w.cols() - first);
        // 1) s = max|w| / 127 over the group (0 for an all-zero group: every q is then 0).
        double largest = 0;
        bool finite = true;
        for (Index i = first; i < first + count; ++i) {
          finite = finite && std::isfinite(static_cast<double>(w(o, i)));
          largest = std::max(largest, std::abs(static_cast<double>(w(o, i))));
        }
        if (!finite) {
          throw ValueError(detail::cat("[pack_weight] ", where, ": row ", o, ", inputs ", first, "..", first + count - 1,
                                       " hold a NaN or infinite weight, which int8 groups cannot store"));
        }
        const float scale = static_cast<float>(largest / 127.0);
        p.scales[static_cast<std::size_t>(o * G + g)] = scale;
        // 2) q = round(w / s), halves away from zero (std::round), clamped to ±127 against the rounding of s.
        for (Index i = first; i < first + count; ++i) {
          const double v = scale > 0 ? std::round(static_cast<double>(w(o, i)) / scale) : 0.0;
          p.q[static_cast<std::size_t>(o * w.cols() + i)] = static_cast<std::int8_t>(std::clamp(v, -127.0, 127.0));
        }
      }
    }
  }
  return p;
}

/// Rows first .. first+count−1 of the packed weight back in Scalar: out (count, in), already sized.
/// Exact for BF16 (w̃ itself); Q8_0 gives s_g · q_i.
template <class Scalar>
void unpack_rows(const PackedWeight& p, Index first, Index count, Eigen::Ref<Matrix<Scalar>> out) {
  assert(out.rows() == count && out.cols() == p.cols);
  const Index G = p.groups();
  for (Index r = 0; r < count; ++r) {
    const Index o = first + r;
    for (Index i = 0; i < p.cols; ++i) {
      const std::size_t at = static_cast<std::size_t>(o * p.cols + i);
      out(r, i) = p.format == WeightFormat::BF16
                      ? static_cast<Scalar>(bf16_to_float(p.bf16[at]))
                      : static_cast<Scalar>(p.scales[static_cast<std::size_t>(o * G + i / PackedWeight::kGroup)]) *
                            static_cast<Scalar>(p.q[at]);
    }
  }
}

namespace detail {

// The two dot products of the decoding path, x · w̃ for one row of the weight. Written as plain loops over
// fixed-size arrays of partial sums that GCC and clang vectorise at -O3 -march=native (vpmovzxwd + vpslld
// for BF16, vpmovsxbd + vcvtdq2ps for Q8_0, then multiply-adds). The partial sums are the point: a single
// running sum is one chain of dependent additions the compiler may not reorder (no -ffast-math), while
// kLanes independent sums keep the vector units busy. Their order — lane by lane, then folded in halves — is
// fixed by the shapes alone, so a product gives the same bits on any thread count. Each step is an explicit
// std::fma (one rounding): left to itself, GCC fuses `acc += x * w` into an fma in some inlined copies of a loop
// and not in others (-ffp-contract=fast, its default), and the 1-thread and 2-thread copies then differed in the
// last bit. With hardware FMA (-march=native) std::fma is one instruction, vectorised; without it, a library call.

template <class Scalar>
inline Scalar fold_lanes(Scalar* acc, int lanes) {
  for (int half = lanes / 2; half > 0; half /= 2) {
    for (int j = 0; j < half; ++j) acc[j] += acc[j + half];
  }
  return acc[0];
}

/// Σ_i x_i · bf16(w_i), i < n.
template <class Scalar>
Scalar dot_bf16(const Scalar* x, const std::uint16_t* w, Index n) {
  constexpr int kLanes = 32;  // 32 partial sums: 4 vectors of 8 floats, enough to hide the multiply-add latency
  Scalar acc[kLanes] = {};
  Index i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] = std::fma(x[i + j], static_cast<Scalar>(bits_float(static_cast<std::uint32_t>(w[i + j]) << 16)), acc[j]);
  }
  for (; i + 16 <= n; i += 16) {  // a 288-wide row ends with 32 more: two vectors, not 32 scalar steps
    for (int j = 0; j < 16; ++j) acc[j] = std::fma(x[i + j], static_cast<Scalar>(bits_float(static_cast<std::uint32_t>(w[i + j]) << 16)), acc[j]);
  }
  for (; i < n; ++i) acc[0] = std::fma(x[i], static_cast<Scalar>(bf16_to_float(w[i])), acc[0]);
  return fold_lanes(acc, kLanes);
}

/// t_g = largest / 127, the scale of an activation group whose largest |x_i| is `largest`: one rounding to float,
/// the same in the portable loop and the vector paths.
inline float activation_scale(double largest) { return static_cast<float>(largest / 127.0); }

/// An activation row quantised like a weight row, for the int8 product: groups of 32 (the last may be shorter),
///     t_g = max_{i ∈ g} |x_i| / 127        p_i = round(x_i / t_g)   (halves away from zero, as std::round)
/// kept as int16 (the width the integer multiply-add reads).  x (n) → p (n), t (⌈n/32⌉).
/// The readable form, for every build and every group; quantize_activations below runs full groups of float in
/// AVX-512 or AVX2 registers when compiled for them, bit for bit the same.
template <class Scalar>
void quantize_activations_portable(const Scalar* x, Index n, std::int16_t* p, float* t) {
  constexpr Index kGroup = PackedWeight::kGroup;
  for (Index g = 0; g * kGroup < n; ++g) {
    const Index first = g * kGroup, last = std::min(n, first + kGroup);
    double largest = 0;  // NaNs are passed over: std::max(largest, NaN) keeps largest
    for (Index i = first; i < last; ++i) largest = std::max(largest, std::abs(static_cast<double>(x[i])));
    const float scale = activation_scale(largest);
    t[g] = scale;
    for (Index i = first; i < last; ++i) {
      // ±inf in x: clamped to ±127. NaN: 0 — std::clamp would pass a NaN through, and converting a NaN to an
      // integer is undefined behaviour (UBSan's float-cast-overflow); the NaN checks upstream report the value.
      const double v = scale > 0 ? std::round(static_cast<double>(x[i]) / scale) : 0.0;
      p[i] = std::isnan(v) ? std::int16_t{0} : static_cast<std::int16_t>(std::clamp(v, -127.0, 127.0));
    }
  }
}

/// One full group of 32 floats quantised as quantize_activations_portable does it, in vector registers: AVX-512
/// (16 floats, 8 doubles a register) or AVX2 (8 floats, 4 doubles). The portable loop calls std::round once per value
/// (a library call the compiler cannot vectorise); at the 110M shape that took an eighth of an int8 decode step on
/// the AVX-512 machine and 3.8 % on an AVX2 one (docs/performance.md). Two steps, each in the registers of the build;
/// quantize_activations computes t_g between them (activation_scale) and skips the second when t_g is not > 0:
///   group_largest_abs  max of |x| in float (exact: the same value as the portable loop's max in double), NaN lanes
///                      passed over                                                      x (32) → largest
///   round_group        v = x / t_g in double, as in the portable loop; then w = trunc(v), and w ± 1 where
///                      |v − w| ≥ 1/2 (exact for |v| < 2⁵²: this is std::round); NaN → 0; clamped to ±127 and
///                      narrowed to int16                                                x (32), t_g → p (32)
/// tests/speed/test_weight_formats.cpp checks them against std::round bit for bit, ties included (test_speed_native
/// runs them compiled for the CPU).
#if defined(__AVX512F__)
inline float group_largest_abs(const float* x) {
  const __m512 magnitude = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  // max_ps returns its second operand when either is NaN: a NaN lane keeps the running maximum
  __m512 largest = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x), magnitude), _mm512_setzero_ps());
  largest = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + 16), magnitude), largest);
  return _mm512_reduce_max_ps(largest);
}

inline void round_group(const float* x, float scale, std::int16_t* p) {
  const __m512d half = _mm512_set1_pd(0.5), one = _mm512_set1_pd(1.0), low = _mm512_set1_pd(-127.0), high = _mm512_set1_pd(127.0);
  const __m512d sign = _mm512_castsi512_pd(_mm512_set1_epi64(static_cast<long long>(0x8000000000000000ULL)));
  const __m512d t_g = _mm512_set1_pd(static_cast<double>(scale));
  for (int eighth = 0; eighth < 4; ++eighth) {  // 8 values per 512-bit vector of doubles
    const __m512d v = _mm512_div_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + 8 * eighth)), t_g);
    const __m512d whole = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512d fraction = _mm512_andnot_pd(sign, _mm512_sub_pd(v, whole));  // |v − w|
    const __mmask8 up = _mm512_cmp_pd_mask(fraction, half, _CMP_GE_OQ);
    const __m512d away = _mm512_or_pd(one, _mm512_and_pd(v, sign));            // copysign(1, v)
    __m512d rounded = _mm512_mask_add_pd(whole, up, whole, away);
    rounded = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(rounded, rounded, _CMP_ORD_Q), rounded);  // NaN → 0
    rounded = _mm512_min_pd(_mm512_max_pd(rounded, low), high);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 8 * eighth), _mm256_cvtepi32_epi16(_mm512_cvttpd_epi32(rounded)));
  }
}
#elif defined(__AVX2__) && defined(__FMA__)  // AVX2 with FMA (every AVX2 CPU has FMA): core/vector_instructions.hpp
inline float group_largest_abs(const float* x) {
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  // max_ps returns its second operand when either is NaN: a NaN lane keeps the running maximum
  __m256 largest = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) largest = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + 8 * k), magnitude), largest);
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(largest), _mm256_extractf128_ps(largest, 1));  // 8 lanes → 4
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));                                                     // → 2
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));                                                 // → 1
  return _mm_cvtss_f32(m);
}

inline void round_group(const float* x, float scale, std::int16_t* p) {
  const __m256d half = _mm256_set1_pd(0.5), one = _mm256_set1_pd(1.0), low = _mm256_set1_pd(-127.0), high = _mm256_set1_pd(127.0);
  const __m256d sign = _mm256_castsi256_pd(_mm256_set1_epi64x(static_cast<long long>(0x8000000000000000ULL)));
  const __m256d t_g = _mm256_set1_pd(static_cast<double>(scale));
  for (int eighth = 0; eighth < 4; ++eighth) {  // 8 values: two 256-bit vectors of 4 doubles
    __m128i quarter[2];
    for (int h = 0; h < 2; ++h) {
      const __m256d v = _mm256_div_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + 8 * eighth + 4 * h)), t_g);
      const __m256d whole = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m256d fraction = _mm256_andnot_pd(sign, _mm256_sub_pd(v, whole));  // |v − w|
      const __m256d up = _mm256_cmp_pd(fraction, half, _CMP_GE_OQ);             // all ones where |v − w| ≥ 1/2
      const __m256d away = _mm256_or_pd(one, _mm256_and_pd(v, sign));            // copysign(1, v)
      __m256d rounded = _mm256_add_pd(whole, _mm256_and_pd(up, away));
      rounded = _mm256_and_pd(rounded, _mm256_cmp_pd(rounded, rounded, _CMP_ORD_Q));  // NaN → 0
      rounded = _mm256_min_pd(_mm256_max_pd(rounded, low), high);
      quarter[h] = _mm256_cvttpd_epi32(rounded);
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 8 * eighth), _mm_packs_epi32(quarter[0], quarter[1]));
  }
}
#endif

/// quantize_activations_portable, with the full groups of a float row in vector registers when compiled for AVX-512
/// or AVX2 (group_largest_abs, round_group), bit for bit the same.  x (n) → p (n), t (⌈n/32⌉).
template <class Scalar>
void quantize_activations(const Scalar* x, Index n, std::int16_t* p, float* t) {
#if EIGENFORMER_VECTOR_KERNELS
  if constexpr (std::is_same_v<Scalar, float>) {
    constexpr Index kGroup = PackedWeight::kGroup;
    const Index full = n / kGroup;
    for (Index g = 0; g < full; ++g) {
      const float* xg = x + g * kGroup;
      std::int16_t* pg = p + g * kGroup;
      t[g] = activation_scale(group_largest_abs(xg));
      if (t[g] > 0) {
        round_group(xg, t[g], pg);
      } else {  // zeros (or NaNs) only: every p_i is 0
        std::fill(pg, pg + kGroup, std::int16_t{0});
      }
    }
    if (full * kGroup < n) {  // the ragged last group
      quantize_activations_portable(x + full * kGroup, n - full * kGroup, p + full * kGroup, t + full);
    }
    return;
  }
#endif
  quantize_activations_portable(x, n, p, t);
}

/// One group's integer products into 8 partial sums: lane k sums p_i q_i over i ∈ {2k, 2k+1, 16+2k, 17+2k} (the
/// grouping of the AVX2 multiply-add, _mm256_madd_epi16, on two halves of 16). Exact integers: |sum| ≤ 4·127².
inline void q8_group_lanes(const std::int16_t* p, const std::int8_t* q, Index count, std::int32_t lane[8]) {
  for (int k = 0; k < 8; ++k) lane[k] = 0;
  for (Index i = 0; i < count; ++i) lane[(i % 16) / 2] += static_cast<std::int32_t>(p[i]) * static_cast<std::int32_t>(q[i]);
}

/// The int8 dot product of a quantised activation row (p, t) and a weight row (q, s), n inputs:
///     Σ_g (t_g s_g) Σ_{i ∈ g} p_i q_i
/// the inner sums exact in integers, the outer in float: 8 partial sums per parity of g (two chains of dependent
/// multiply-adds, not one), each acc_k ← fma(t_g s_g, lane_k, acc_k), then even + odd folded in halves.
/// The readable form, for every build; dot_q8 below runs the same arithmetic with AVX2 when compiled for it.
inline float dot_q8_portable(const std::int16_t* p, const float* t, const std::int8_t* q, const float* s, Index n) {
  constexpr Index kGroup = PackedWeight::kGroup;
  float acc[2][8] = {};
  for (Index g = 0; g * kGroup < n; ++g) {
    std::int32_t lane[8];
    q8_group_lanes(p + g * kGroup, q + g * kGroup, std::min(kGroup, n - g * kGroup), lane);
    const float d = t[g] * s[g];
    for (int k = 0; k < 8; ++k) acc[g & 1][k] = std::fma(d, static_cast<float>(lane[k]), acc[g & 1][k]);
  }
  for (int k = 0; k < 8; ++k) acc[0][k] += acc[1][k];
  return fold_lanes(acc[0], 8);
}

/// dot_q8_portable's result, bit for bit (tests/speed/test_weight_formats.cpp checks it in a -march=native build):
/// with AVX2 and FMA, each full group is two sign-extensions of 16 weights to int16, two multiply-adds of int16
/// pairs into 8 int32 lanes (vpmaddwd), their sum, one conversion to float and one fma; ragged last groups and
/// other builds take the portable loop.
inline float dot_q8(const std::int16_t* p, const float* t, const std::int8_t* q, const float* s, Index n) {
#if defined(__AVX2__) && defined(__FMA__)
  constexpr Index kGroup = PackedWeight::kGroup;
  __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
  const Index full = n / kGroup;
  Index g = 0;
  const auto group = [&](Index at) {
    const std::int8_t* qg = q + at * kGroup;
    const std::int16_t* pg = p + at * kGroup;
    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qg)));
    const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qg + 16)));
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pg));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pg + 16));
    const __m256i lanes = _mm256_add_epi32(_mm256_madd_epi16(x0, w0), _mm256_madd_epi16(x1, w1));
    return std::make_pair(_mm256_set1_ps(t[at] * s[at]), _mm256_cvtepi32_ps(lanes));
  };
  for (; g + 2 <= full; g += 2) {
    const auto a = group(g);
    even = _mm256_fmadd_ps(a.first, a.second, even);
    const auto b = group(g + 1);
    odd = _mm256_fmadd_ps(b.first, b.second, odd);
  }
  if (g < full) {
    const auto a = group(g);
    even = _mm256_fmadd_ps(a.first, a.second, even);
    ++g;
  }
  float acc[2][8];
  _mm256_storeu_ps(acc[0], even);
  _mm256_storeu_ps(acc[1], odd);
  if (g * kGroup < n) {  // the ragged last group, as in the portable loop
    std::int32_t lane[8];
    q8_group_lanes(p + g * kGroup, q + g * kGroup, n - g * kGroup, lane);
    const float d = t[g] * s[g];
    for (int k = 0; k < 8; ++k) acc[g & 1][k] = std::fma(d, static_cast<float>(lane[k]), acc[g & 1][k]);
  }
  for (int k = 0; k < 8; ++k) acc[0][k] += acc[1][k];
  return fold_lanes(acc[0], 8);
#else
  return dot_q8_portable(p, t, q, s, n);
#endif
}

}  // namespace detail

/// Whether a decoding product is shared out over threads: at least 2^17 multiply-adds — weights × rows of x (one row
/// per sequence; a batch's rows share each weight) — for fp32 (layers/linear.hpp) and packed weights alike, and for
/// several products of one input run together (the sum of their weights: forward_together in layers/linear.hpp).
/// Below that the threads' meeting at the end costs more than it saves; on a busy machine each meeting can wait for a
/// time slice. Shapes only, never the thread count.
/// Measured at the 15M shape, 2 threads, idle machine (docs/performance.md): for one row, 2^17 against 2^18 shares
/// out q, k, v together and the FFN's down as well, +6–11 % with libgomp's default wait and −7–9 % when every wait
/// sleeps (OMP_WAIT_POLICY=PASSIVE), where each extra meeting wakes a thread. The default wait is what programs get.
/// Why rows count: one row reads each weight once and does one multiply-add with it (2^17 float weights: ~26 µs at
/// 20 GB/s); a batch of 8 does 8 with it, and the several-row kernel is bound by its multiply-adds more than by the
/// reads — 288 × 288 weights for 8 rows take ~40 µs on one thread, which the size of the weight alone called small
/// (docs/performance.md, "Batches").
inline bool decode_worth_threads(Index multiply_adds) { return multiply_adds >= (Index(1) << 17); }
inline bool decode_worth_threads(Index rows, Index out, Index in) { return decode_worth_threads(rows * out * in); }

/// The fixed runs of output rows the decoding path splits a weight (out, in) into: at most 32 runs of a multiple of
/// 8 rows (Eigen's row grouping). They depend on `out` only, and each output is computed by the same code whichever
/// thread takes its run: the same bits on 1, 2 or N threads.
struct DecodeRuns {
  Index out = 0;           // rows of the weight
  Index rows_per_run = 8;
  Index count = 0;         // runs
  Index first(Index run) const { return run * rows_per_run; }
  Index rows(Index run) const { return std::min(rows_per_run, out - first(run)); }  // the last run may be shorter
};
inline DecodeRuns decode_runs(Index out) {
  constexpr Index kRuns = 32;
  DecodeRuns runs;
  runs.out = out;
  runs.rows_per_run = std::max<Index>(8, ((out + kRuns - 1) / kRuns + 7) / 8 * 8);
  runs.count = (out + runs.rows_per_run - 1) / runs.rows_per_run;
  return runs;
}

/// The rows of x quantised for the int8 product (quantize_activations), once per call whatever the number of Q8_0
/// weights it meets:   x (N, in) → q (N, in) int16, scales (N, ⌈in/32⌉).
/// The buffers belong to the calling thread and only grow: after the first step, decoding allocates nothing.
/// Valid until the thread's next call.
struct QuantizedRows {
  const std::int16_t* q = nullptr;
  const float* scales = nullptr;
};
template <class Scalar>
QuantizedRows quantize_rows(const Eigen::Ref<const Matrix<Scalar>>& x) {
  thread_local std::vector<std::int16_t> x_q;
  thread_local std::vector<float> x_scales;
  const Index N = x.rows(), in = x.cols(), G = (in + PackedWeight::kGroup - 1) / PackedWeight::kGroup;
  if (x_q.size() < static_cast<std::size_t>(N * in)) x_q.resize(static_cast<std::size_t>(N * in));
  if (x_scales.size() < static_cast<std::size_t>(N * G)) x_scales.resize(static_cast<std::size_t>(N * G));
  for (Index n = 0; n < N; ++n) {
    detail::quantize_activations<Scalar>(x.data() + n * x.outerStride(), in, x_q.data() + n * in, x_scales.data() + n * G);
  }
  return {x_q.data(), x_scales.data()};
}

/// One run of the decoding path over a packed weight: y(n, o) = x(n, :) · W̃(o, :) for every row n of x and the
/// rows o = first .. first + count − 1, each one dot product whose order depends on `in` only.
///   x (N, in)   xq: x quantised (quantize_rows; Q8_0 only)   W̃ packed (out, in)   y (N, out)
template <class Scalar>
void packed_rows_run(const Eigen::Ref<const Matrix<Scalar>>& x, const QuantizedRows& xq, const PackedWeight& w,
                     Eigen::Ref<Matrix<Scalar>> y, Index first, Index count) {
  const Index in = w.cols, N = x.rows(), G = w.groups();
  for (Index o = first; o < first + count; ++o) {
    for (Index n = 0; n < N; ++n) {
      const Scalar* xn = x.data() + n * x.outerStride();  // a row of x: contiguous (row-major)
      y(n, o) = w.format == WeightFormat::BF16
                    ? detail::dot_bf16<Scalar>(xn, w.bf16.data() + o * in, in)
                    : static_cast<Scalar>(detail::dot_q8(xq.q + n * in, xq.scales + n * G, w.q.data() + o * in,
                                                         w.scales.data() + o * G, in));
    }
  }
}

/// y = x W̃ᵀ for a few rows (decoding: N ≤ 8), converting W̃ on the fly.
///   x (N, in)   W̃ packed (out, in)   y (N, out), already sized
/// The output features are split into the fixed runs of decode_runs, as in linear_rows_threaded, shared out over
/// threads when the product is large enough (decode_worth_threads): the same bits with 1, 2 or N threads.
template <class Scalar>
void packed_rows_threaded(const Eigen::Ref<const Matrix<Scalar>>& x, const PackedWeight& w, Eigen::Ref<Matrix<Scalar>> y) {
  assert(!w.empty() && x.cols() == w.cols && y.rows() == x.rows() && y.cols() == w.rows);
  // int8: each row of x quantised once, in groups of 32 like the weights.
  const QuantizedRows xq = w.format == WeightFormat::Q8_0 ? quantize_rows<Scalar>(x) : QuantizedRows{};
  const DecodeRuns runs = decode_runs(w.rows);
  const auto run_task = [&](Index r) {
    packed_rows_run<Scalar>(x, xq, w, y, runs.first(r), runs.rows(r));
  };
  if (decode_worth_threads(x.rows(), w.rows, w.cols)) {
    parallel_for(runs.count, run_task);
  } else {
    for (Index r = 0; r < runs.count; ++r) run_task(r);
  }
}

/// y = x W̃ᵀ for any number of rows: decoding's few rows through packed_rows_threaded; more rows (a prompt)
/// through matrix products over runs of 256 rows of W̃ converted back to Scalar in `scratch` (its size, at most
/// (256, in), is the only memory beyond W̃ this takes).
///   x (N, in)   W̃ packed (out, in)   y (N, out), already sized
template <class Scalar>
void packed_product(const Eigen::Ref<const Matrix<Scalar>>& x, const PackedWeight& w, Eigen::Ref<Matrix<Scalar>> y,
                    Matrix<Scalar>& scratch) {
  if (x.rows() <= 8) {
    packed_rows_threaded<Scalar>(x, w, y);
    return;
  }
  constexpr Index kRun = 256;
  for (Index first = 0; first < w.rows; first += kRun) {
    const Index count = std::min(kRun, w.rows - first);
    scratch.resize(count, w.cols);
    unpack_rows<Scalar>(w, first, count, scratch);
    y.middleCols(first, count).noalias() = x * scratch.transpose();
  }
}

}  // namespace eigenformer
