// eigenformer/generation/logits_processing.hpp — from the model's scores over the vocabulary to a choice.
//
// The model gives one score (logit) z_v per vocabulary entry v. p(v) = softmax(z)_v = e^{z_v} / Σ_u e^{z_u}.
// Before a token is picked, the scores pass through filters, each a small function on the V scores,
// in the order Hugging Face's generate() applies them:
//
//   repetition_penalty   z_v → z_v / θ if z_v > 0, z_v · θ otherwise, for every v already in the text
//                        (Keskar et al. 2019, CTRL §4.1) — θ > 1 makes repeats less likely either way
//   no_repeat_ngram      z_v → −∞ if the last n−1 tokens followed by v already occurred (an n-gram repeat)
//   min_new_tokens       z_eos → −∞ while fewer than min_new_tokens tokens are generated
//   forced_bos           at the first step of a one-token start: every z_v → −∞ but z_bos → 0 (BART's <s>)
//   forced_eos           at the last allowed step: every z_v → −∞ but z_eos → 0 (BART's </s>), so a
//                        sequence cut by max_new_tokens still ends properly
//   ---- sampling only ----
//   temperature          z → z / τ: τ < 1 sharpens the distribution, τ > 1 flattens it
//   top_k                keep the k highest scores (ties with the k-th are kept), the rest → −∞
//   top_p                keep the smallest set of tokens whose probabilities sum to ≥ p (Holtzman et al.
//                        2020, nucleus sampling), the rest → −∞
//   min_p                keep tokens with p(v) ≥ min_p · max_u p(u) (Nguyen et al. 2024), the rest → −∞
//
// Every filter keeps at least one token. Scores are handled in double: a vocabulary of 128k entries is
// summed in the softmax, and beam search adds log-probabilities over many steps.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/sum_exp.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer::generation {

using Scores = std::vector<double>;  // (V) one score per vocabulary entry

constexpr double kMinusInfinity = -std::numeric_limits<double>::infinity();

/// softmax(z)_v = exp(z_v − max z) / Σ_u exp(z_u − max z). Entries at −∞ get probability 0.
/// Written into p (resized to z's size; no allocation once p has the room — the generation loop reuses it).
inline void softmax_into(const Scores& z, std::vector<double>& p) {
  const double m = *std::max_element(z.begin(), z.end());
  p.resize(z.size());
  double sum = 0;
  for (std::size_t v = 0; v < z.size(); ++v) sum += (p[v] = std::exp(z[v] - m));
  for (double& x : p) x /= sum;
}
inline std::vector<double> softmax(const Scores& z) {
  std::vector<double> p;
  softmax_into(z, p);
  return p;
}

/// log softmax(z)_v = z_v − max z − log Σ_u exp(z_u − max z). Written into out (resized; reused buffer).
inline void log_softmax_into(const Scores& z, Scores& out) {
  const double m = *std::max_element(z.begin(), z.end());
  double sum = 0;
  for (double x : z) sum += std::exp(x - m);
  const double log_sum = m + std::log(sum);
  out.resize(z.size());
  for (std::size_t v = 0; v < z.size(); ++v) out[v] = z[v] - log_sum;
}
inline Scores log_softmax(const Scores& z) {
  Scores out;
  log_softmax_into(z, out);
  return out;
}

/// z seen as an Eigen array, for the passes that Eigen vectorises (log_sum_exp, argmax, check_finite). No copy.
inline Eigen::Map<const Eigen::ArrayXd> scores_array(const Scores& z) {
  return Eigen::Map<const Eigen::ArrayXd>(z.data(), static_cast<Eigen::Index>(z.size()));
}

/// The normaliser of log softmax alone: log Σ_u exp(z_u) = max z + log Σ_u exp(z_u − max z), so that
///     log p(v) = z_v − log_sum_exp(z)
/// for any one v. Greedy search and sampling need log p of the chosen token only, not all V of log_softmax_into:
/// one pass of exponentials and no (V) output. The exponentials run vectorised (core/sum_exp.hpp: without a division
/// where the build has AVX-512 or AVX2, else Eigen's exp over packets of doubles; std::exp goes one value at a time,
/// ~0.2 ms per step at V = 32,000 — eight rows of a batch paid it eight times) and the sum in lanes, so the result
/// may differ from log_softmax_into's in the last bits: tests/generation/test_logits_processing.cpp bounds the
/// difference (1e-14 relative). z: (V), finite (the generation loop checks the model's scores first). No allocation.
/// largest: max z, when the caller has it already (the generation loop takes it once for this and argmax).
inline double log_sum_exp(const Scores& z, double largest) {
  return largest + std::log(sum_exp(z.data(), static_cast<Eigen::Index>(z.size()), largest));
}
inline double log_sum_exp(const Scores& z) { return log_sum_exp(z, scores_array(z).maxCoeff()); }

/// The buffers the filters below work in, kept by the generation loop so that a step allocates nothing once
/// they have the vocabulary's size (the one-argument forms make their own).
struct FilterWorkspace {
  std::vector<double> values;       // (V) top-k's partially sorted copy; top-p's and min-p's probabilities
  std::vector<std::size_t> order;   // (V) top-p's ids sorted by score
  std::vector<bool> seen;           // (V) the repetition penalty's "already penalised"
};

/// The highest score's id; among equal scores the lowest id (as torch.argmax). z: (V), no NaN (the generation
/// loop checks the model's scores; the filters write −∞, never NaN).
/// Two passes: the largest score with Eigen's vectorised maxCoeff, then the first id that has it. One pass that
/// compares and keeps an index at every id does not vectorise: at V = 32,000 it took 22 µs, these two 7 µs with
/// the largest score halfway (BM_ScoreRow in bench/bench_decode.cpp; docs/performance.md, "Batches").
/// largest: max z, when the caller has it already (the generation loop takes it once for this and log_sum_exp).
inline TokenId argmax(const Scores& z, double largest) {
  for (std::size_t v = 0; v < z.size(); ++v) {
    if (z[v] == largest) return static_cast<TokenId>(v);
  }
  std::size_t best = 0;  // not reached without NaN; with NaN, the first id no later score beats
  for (std::size_t v = 1; v < z.size(); ++v) {
    if (z[v] > z[best]) best = v;
  }
  return static_cast<TokenId>(best);
}
inline TokenId argmax(const Scores& z) { return z.empty() ? 0 : argmax(z, scores_array(z).maxCoeff()); }

/// Throws ValueError when the model's scores hold NaN or ±infinity (a broken model or a numeric overflow):
/// no choice made from them would mean anything. `locate()` is called only then, and what it returns — the
/// generation loop's diagnosis, naming the first layer whose output was not finite (diagnosis.hpp) — ends the
/// message: a run whose scores are finite pays for this one pass over them and nothing else.
/// Whether every score is finite: x · 0 is 0 for a finite x and NaN for ±∞ and NaN, so one vectorised sum says.
inline bool all_finite(const Scores& z) { return (scores_array(z) * 0.0).sum() == 0.0; }

template <class Locate>
void check_finite(const Scores& z, std::int64_t step, Locate locate) {
  if (all_finite(z)) return;  // only when a score is not finite does the loop below look for the first
  for (std::size_t v = 0; v < z.size(); ++v) {
    if (!std::isfinite(z[v])) {
      const std::string where = locate();
      throw ValueError(eigenformer::detail::cat("[generation] step ", step, ": the model's score for token id ", v, " is ", z[v],
                                   " (NaN or infinite logits)", where.empty() ? "" : "; ", where));
    }
  }
}
inline void check_finite(const Scores& z, std::int64_t step) {
  check_finite(z, step, [] { return std::string(); });
}

/// CTRL's repetition penalty: each distinct token of `context` has its score divided by θ when positive,
/// multiplied by θ when negative.
inline void apply_repetition_penalty(Scores& z, const TokenSequence& context, double theta, FilterWorkspace& work) {
  if (theta == 1.0) return;
  std::vector<bool>& seen = work.seen;
  seen.assign(z.size(), false);
  for (TokenId id : context) {
    const std::size_t v = static_cast<std::size_t>(id);
    if (v >= z.size() || seen[v]) continue;
    seen[v] = true;
    z[v] = z[v] < 0 ? z[v] * theta : z[v] / theta;
  }
}
inline void apply_repetition_penalty(Scores& z, const TokenSequence& context, double theta) {
  FilterWorkspace work;
  apply_repetition_penalty(z, context, theta, work);
}

/// Bans every token that would complete an n-gram already present in `context`.
inline void apply_no_repeat_ngram(Scores& z, const TokenSequence& context, std::int64_t n) {
  const std::size_t len = context.size();
  if (n <= 0 || len + 1 < static_cast<std::size_t>(n)) return;
  const std::size_t m = static_cast<std::size_t>(n);
  // The (n−1)-token prefix the next token would extend.
  const auto prefix_begin = context.end() - static_cast<std::ptrdiff_t>(m - 1);
  for (std::size_t start = 0; start + m <= len; ++start) {
    if (std::equal(prefix_begin, context.end(), context.begin() + static_cast<std::ptrdiff_t>(start))) {
      const std::size_t banned = static_cast<std::size_t>(context[start + m - 1]);
      if (banned < z.size()) z[banned] = kMinusInfinity;
    }
  }
}

/// Bans every EOS id while fewer than `min_new` tokens are generated (transformers' MinNewTokensLengthLogitsProcessor;
/// its MinLengthLogitsProcessor is the same with the prompt counted: min_length = prompt length + min_new).
inline void apply_min_new_tokens(Scores& z, std::int64_t generated, std::int64_t min_new, const std::vector<TokenId>& eos) {
  if (generated >= min_new) return;
  for (TokenId e : eos) {
    const std::size_t v = static_cast<std::size_t>(e);
    if (e >= 0 && v < z.size()) z[v] = kMinusInfinity;
  }
}

/// Leaves only `allowed` possible: z_v = 0 for them, −∞ for every other token. The forced-token processors of
/// transformers (ForcedBOSTokenLogitsProcessor, ForcedEOSTokenLogitsProcessor) do exactly this, so in beam search
/// a forced token adds 0 to its beam's score whatever the model thought of it.
inline void force_tokens(Scores& z, const std::vector<TokenId>& allowed) {
  std::fill(z.begin(), z.end(), kMinusInfinity);
  for (TokenId id : allowed) {
    const std::size_t v = static_cast<std::size_t>(id);
    if (id >= 0 && v < z.size()) z[v] = 0.0;
  }
}

/// Forced BOS: when the sequence so far is one token long (an encoder-decoder's decoder_start, transformers'
/// "cur_len == 1"), the next token must be `bos`.
inline void apply_forced_bos(Scores& z, std::size_t sequence_length, const std::optional<TokenId>& bos) {
  if (bos && sequence_length == 1) force_tokens(z, {*bos});
}

/// Forced EOS: at the last step max_new_tokens allows (transformers' "cur_len == max_length − 1"), the token must be
/// one of `eos`.   step: tokens generated before this one.
inline void apply_forced_eos(Scores& z, std::int64_t step, std::int64_t max_new_tokens, const std::vector<TokenId>& eos) {
  if (!eos.empty() && step == max_new_tokens - 1) force_tokens(z, eos);
}

inline void apply_temperature(Scores& z, double tau) {
  if (tau == 1.0) return;
  for (double& x : z) x /= tau;
}

/// Keeps the k highest scores; scores equal to the k-th highest are kept too (as Hugging Face does).
inline void apply_top_k(Scores& z, std::int64_t k, FilterWorkspace& work) {
  if (k <= 0 || static_cast<std::size_t>(k) >= z.size()) return;
  Scores& sorted = work.values;
  sorted.assign(z.begin(), z.end());
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<double>());
  const double threshold = sorted[static_cast<std::size_t>(k - 1)];
  for (double& x : z) {
    if (x < threshold) x = kMinusInfinity;
  }
}
inline void apply_top_k(Scores& z, std::int64_t k) {
  FilterWorkspace work;
  apply_top_k(z, k, work);
}

/// Nucleus: sort by score ascending, accumulate probabilities, and remove the low tail whose cumulative
/// probability is ≤ 1 − p; the highest-scoring token always stays. Ties sort by id (stable).
inline void apply_top_p(Scores& z, double p, FilterWorkspace& work) {
  if (p >= 1.0) return;
  std::vector<double>& prob = work.values;
  softmax_into(z, prob);
  std::vector<std::size_t>& order = work.order;
  order.resize(z.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // By score, ties by id: the order a stable sort of 0..V−1 gives, without stable_sort's temporary buffer.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return z[a] < z[b] || (z[a] == z[b] && a < b); });
  double cumulative = 0;
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {  // the last (best) one is never removed
    cumulative += prob[order[i]];
    if (cumulative <= 1.0 - p) z[order[i]] = kMinusInfinity;
  }
}
inline void apply_top_p(Scores& z, double p) {
  FilterWorkspace work;
  apply_top_p(z, p, work);
}

/// Keeps tokens whose probability is at least min_p times the top probability (the top token always).
inline void apply_min_p(Scores& z, double min_p, FilterWorkspace& work) {
  if (min_p <= 0) return;
  std::vector<double>& prob = work.values;
  softmax_into(z, prob);
  const std::size_t best = static_cast<std::size_t>(argmax(z));
  const double threshold = min_p * prob[best];
  for (std::size_t v = 0; v < z.size(); ++v) {
    if (v != best && prob[v] < threshold) z[v] = kMinusInfinity;
  }
}
inline void apply_min_p(Scores& z, double min_p) {
  FilterWorkspace work;
  apply_min_p(z, min_p, work);
}

}  // namespace eigenformer::generation
