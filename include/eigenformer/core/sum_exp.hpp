// eigenformer/core/sum_exp.hpp — Σ exp(x_i − m) over many doubles: the normaliser of a softmax over the vocabulary.
//
// Greedy search and sampling report log p of every chosen token, z_chosen − log Σ_v exp(z_v), over V scores
// (generation/logits_processing.hpp, log_sum_exp): one pass of V exponentials for every row of every step. Eigen's
// exp for packets of doubles (a rational function: one division per packet) takes ~27 µs at V = 32,000 on a Zen 5
// core, eight rows of a batch eight times that — ~6% of an 8-prompt step at the stories15M shape
// (docs/performance.md, "Batches"). In a build with AVX-512, or AVX2 with FMA (core/vector_instructions.hpp), the
// exponentials here take the route of a libm's exp, with no division:
//
//     exp(x) = 2^n · exp(r),   n = round(x / ln 2),   r = x − n · ln 2,   |r| ≤ ln 2 / 2
//     exp(r) = Σ_{k=0..13} c_k r^k,  c_k = 1 / k!   (Taylor; the first term left out, r^14 / 14!, is < 6e-18 of exp(r))
//
// r is computed with ln 2 split in two (ln2_hi the double nearest ln 2, ln2_lo the rest) and fused multiply-adds,
// so its error is a rounding of r itself. The polynomial is evaluated by Estrin's scheme, 13 multiply-adds and 3
// multiplies but only four deep where Horner's rule is thirteen (so more exponentials are under way at once):
//     q_k = c_2k + c_2k+1 r,   s_j = q_2j + q_2j+1 r²  (s_3 = q_6),   exp(r) ≈ (s_0 + s_1 r⁴) + (s_2 + s_3 r⁴) r⁸
// One row of 32,000 scores: 15.5 µs where Eigen's exp took 28 (BM_ScoreRow in bench/bench_decode.cpp, AVX-512). Each
// exponential then differs from std::exp by at most 4.3e-16 relative over [−700, 0] as measured, AVX-512 and AVX2
// alike (1.9 · 2^-52: Horner's rule gave 2.2e-16, Estrin's order of rounding costs about one unit in the last place;
// tests/speed/test_sum_exp.cpp holds it to 2^-51 = 4.4e-16). The sum runs in two registers of lanes, so its order
// differs from a one-at-a-time loop's: the result may differ from one in the last bits.
//
// Other builds (another processor, -march=x86-64) sum Eigen's exponentials, as before.
#pragma once

#include <cstdint>

#include <Eigen/Core>

#include "eigenformer/core/vector_instructions.hpp"

namespace eigenformer {

namespace detail {

/// 1 / k! for k = 0 .. 13: the Taylor coefficients of exp(r), highest last.
inline constexpr double kExpTaylor[14] = {1.0,
                                          1.0,
                                          1.0 / 2.0,
                                          1.0 / 6.0,
                                          1.0 / 24.0,
                                          1.0 / 120.0,
                                          1.0 / 720.0,
                                          1.0 / 5040.0,
                                          1.0 / 40320.0,
                                          1.0 / 362880.0,
                                          1.0 / 3628800.0,
                                          1.0 / 39916800.0,
                                          1.0 / 479001600.0,
                                          1.0 / 6227020800.0};
inline constexpr double kLog2e = 1.4426950408889634074;           // 1 / ln 2
inline constexpr double kLn2Hi = 0.69314718055994528623;          // ln 2 rounded to double
inline constexpr double kLn2Lo = 2.3190468138462996154e-17;       // ln 2 − kLn2Hi

// The lanes the exponentials run in, and the few operations exp_lanes needs on them, for each kind of build:
//     DoubleLanes                  8 doubles (AVX-512) or 4 (AVX2)
//     lanes_of(v)                  v in every lane
//     multiply(a, b), multiply_add(a, b, c) = a·b + c (fused), round_to_integer(a) (to nearest)
//     times_power_of_two(p, n)     p · 2^n for whole n
//     kLowestExponent              the smallest x − m that exp_lanes is given (sum_exp raises smaller ones to it)
#if defined(__AVX512F__)
using DoubleLanes = __m512d;
inline DoubleLanes lanes_of(double v) { return _mm512_set1_pd(v); }
inline DoubleLanes multiply(DoubleLanes a, DoubleLanes b) { return _mm512_mul_pd(a, b); }
inline DoubleLanes multiply_add(DoubleLanes a, DoubleLanes b, DoubleLanes c) { return _mm512_fmadd_pd(a, b, c); }
inline DoubleLanes round_to_integer(DoubleLanes a) {
  return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/// vscalefpd multiplies by 2^n with the rounding of one product, so results below 2^-1022 come out as the subnormals
/// (or 0) they should be: below −1000, exp underflows to 0 anyway.
inline DoubleLanes times_power_of_two(DoubleLanes p, DoubleLanes n) { return _mm512_scalef_pd(p, n); }
inline constexpr double kLowestExponent = -1000.0;
#elif defined(__AVX2__) && defined(__FMA__)
using DoubleLanes = __m256d;
inline DoubleLanes lanes_of(double v) { return _mm256_set1_pd(v); }
inline DoubleLanes multiply(DoubleLanes a, DoubleLanes b) { return _mm256_mul_pd(a, b); }
inline DoubleLanes multiply_add(DoubleLanes a, DoubleLanes b, DoubleLanes c) { return _mm256_fmadd_pd(a, b, c); }
inline DoubleLanes round_to_integer(DoubleLanes a) {
  return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/// 2^n for −1022 ≤ n ≤ 0 written into the exponent bits: n + 1.5·2^52 holds the integer n + 2^51 in its low
/// mantissa bits; adding the exponent bias 1023 and shifting by 52 keeps exactly n + 1023 as the exponent field of a
/// double. So x ≥ −708 (2^n a normal double): smaller x count as exp(−708) ≈ 3e-308, nothing beside a sum ≥ 1.
inline DoubleLanes times_power_of_two(DoubleLanes p, DoubleLanes n) {
  const __m256i integer = _mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(6755399441055744.0)));
  const __m256i power = _mm256_slli_epi64(_mm256_add_epi64(integer, _mm256_set1_epi64x(1023)), 52);
  return _mm256_mul_pd(p, _mm256_castsi256_pd(power));
}
inline constexpr double kLowestExponent = -708.0;
#endif

#if EIGENFORMER_VECTOR_KERNELS
/// exp(x) in every lane (the equations at the top), x ≥ kLowestExponent; NaN stays NaN.
inline DoubleLanes exp_lanes(DoubleLanes x) {
  const DoubleLanes n = round_to_integer(multiply(x, lanes_of(kLog2e)));
  DoubleLanes r = multiply_add(n, lanes_of(-kLn2Hi), x);  // x − n·ln2_hi, one rounding
  r = multiply_add(n, lanes_of(-kLn2Lo), r);               //   − n·ln2_lo
  // Estrin's scheme (top of this file): the q, then the s, then (s_0 + s_1 r⁴) and (s_2 + s_3 r⁴), then p.
  const auto c = [](int k) { return lanes_of(kExpTaylor[k]); };
  const DoubleLanes r2 = multiply(r, r), r4 = multiply(r2, r2), r8 = multiply(r4, r4);
  const DoubleLanes q0 = multiply_add(c(1), r, c(0)), q1 = multiply_add(c(3), r, c(2));
  const DoubleLanes q2 = multiply_add(c(5), r, c(4)), q3 = multiply_add(c(7), r, c(6));
  const DoubleLanes q4 = multiply_add(c(9), r, c(8)), q5 = multiply_add(c(11), r, c(10));
  const DoubleLanes q6 = multiply_add(c(13), r, c(12));
  const DoubleLanes s0 = multiply_add(q1, r2, q0), s1 = multiply_add(q3, r2, q2), s2 = multiply_add(q5, r2, q4);
  const DoubleLanes t0 = multiply_add(s1, r4, s0), t1 = multiply_add(q6, r4, s2);
  const DoubleLanes p = multiply_add(t1, r8, t0);
  return times_power_of_two(p, n);  // p · 2^n
}
#endif

}  // namespace detail

/// Σ_{i < n} exp(x_i − m), for the normaliser of a softmax: m must be the largest x_i (so every term is ≤ 1 and
/// the sum ≥ 1). x_i = −∞ adds 0; a NaN among the x (or m) gives NaN.   x (n) → a number.
/// The order of summation, and with AVX-512 or AVX2 the exponentials (top of this file), differ from a loop of
/// std::exp: the result agrees with one to ~1e-15 relative, not to the bit.
inline double sum_exp(const double* x, Eigen::Index n, double m) {
#if defined(__AVX512F__)
  const __m512d shift = _mm512_set1_pd(m), lowest = _mm512_set1_pd(detail::kLowestExponent);
  // _mm512_max_pd(lowest, v) returns v when v is NaN (its second operand), so NaN is not raised to −1000.
  const auto term = [&](__m512d v) { return detail::exp_lanes(_mm512_max_pd(lowest, _mm512_sub_pd(v, shift))); };
  __m512d sum0 = _mm512_setzero_pd(), sum1 = _mm512_setzero_pd();  // two running sums: two chains of adds
  Eigen::Index i = 0;
  for (; i + 16 <= n; i += 16) {
    sum0 = _mm512_add_pd(sum0, term(_mm512_loadu_pd(x + i)));
    sum1 = _mm512_add_pd(sum1, term(_mm512_loadu_pd(x + i + 8)));
  }
  for (; i < n; i += 8) {  // the last n mod 16: whole lanes, then the lanes that remain (the others add nothing)
    const __mmask8 lanes = n - i >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1u << (n - i)) - 1u);
    sum0 = _mm512_mask_add_pd(sum0, lanes, sum0, term(_mm512_maskz_loadu_pd(lanes, x + i)));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(sum0, sum1));
#elif defined(__AVX2__) && defined(__FMA__)
  const __m256d shift = _mm256_set1_pd(m), lowest = _mm256_set1_pd(detail::kLowestExponent);
  const auto term = [&](__m256d v) { return detail::exp_lanes(_mm256_max_pd(lowest, _mm256_sub_pd(v, shift))); };
  __m256d sum0 = _mm256_setzero_pd(), sum1 = _mm256_setzero_pd();
  Eigen::Index i = 0;
  for (; i + 8 <= n; i += 8) {
    sum0 = _mm256_add_pd(sum0, term(_mm256_loadu_pd(x + i)));
    sum1 = _mm256_add_pd(sum1, term(_mm256_loadu_pd(x + i + 4)));
  }
  for (; i < n; i += 4) {  // the last n mod 8: lanes past the end are loaded as 0 and their terms masked out
    alignas(32) static const std::int64_t kLanes[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    const Eigen::Index k = n - i >= 4 ? 4 : n - i;
    const __m256i lanes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLanes + 4 - k));
    const __m256d t = term(_mm256_maskload_pd(x + i, lanes));
    sum0 = _mm256_add_pd(sum0, _mm256_and_pd(t, _mm256_castsi256_pd(lanes)));
  }
  const __m256d sum = _mm256_add_pd(sum0, sum1);
  const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd(sum, 1));
  return _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
#else
  const Eigen::Map<const Eigen::ArrayXd> values(x, n);
  return (values - m).exp().sum();
#endif
}

}  // namespace eigenformer
