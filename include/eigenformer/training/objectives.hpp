// eigenformer/training/objectives.hpp — what a model is trained to predict: the targets of each objective.
//
// Shape legend: B sequences, T positions, V vocabulary, C width, K classes.
//
// Every objective ends in the same cross-entropy (training/loss.hpp); they differ only in the inputs the
// model sees and the labels it is scored against, -100 marking positions that take no part:
//
//   causal LM         predict token t+1 from tokens ≤ t                (GPT, Llama: "labels = input_ids")
//   masked LM         predict the 15% of tokens that were hidden       (BERT, Devlin et al. 2019, §3.1)
//   span corruption   predict the dropped spans after their sentinel   (T5, Raffel et al. 2020, §3.1.4)
//   classification    predict one class per sequence from a pooled vector
//   fine-tuning (SFT) causal LM on the answer only: the prompt's labels are -100
//
// Randomness (which tokens to mask, which spans to drop) comes from generation::Rng, seeded by the caller:
// the same seed gives the same batch on every platform.
#pragma once

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/generation/sampling.hpp"
#include "eigenformer/training/loss.hpp"

namespace eigenformer::training {

// ---------------------------------------------------------------------------------------------------------
// Causal language modelling and supervised fine-tuning.
// ---------------------------------------------------------------------------------------------------------

/// labels (B, T) → targets (B·T): the target of position t is the label of t+1 (what comes next); the last
/// position of each sequence has no next token and gets -100. transformers does the same shift inside its
/// causal-LM loss: logits[:, :-1] are scored against labels[:, 1:].
inline TokenSequence shift_labels(const TokenIds& labels) {
  const Index B = labels.rows(), T = labels.cols();
  TokenSequence out(static_cast<std::size_t>(B * T), kIgnoreIndex);
  for (Index b = 0; b < B; ++b) {
    for (Index t = 0; t + 1 < T; ++t) out[static_cast<std::size_t>(b * T + t)] = labels(b, t + 1);
  }
  return out;
}

/// The decoder input of teacher forcing (Williams & Zipser 1989), for encoder-decoders: labels (B, T) shifted
/// right by one, `start` (decoder_start_token_id) in front, the ignore index −100 replaced by `pad` — so that
/// position t predicts label t from labels 0..t−1 (transformers' shift_tokens_right for BART, T5's
/// _shift_right).  labels (B, T) → decoder input (B, T).
inline TokenIds shift_right(const TokenIds& labels, TokenId start, TokenId pad) {
  TokenIds target(labels.rows(), labels.cols());
  for (Index b = 0; b < labels.rows(); ++b) {
    if (labels.cols() > 0) target(b, 0) = start;
    for (Index t = 1; t < labels.cols(); ++t) {
      const TokenId y = labels(b, t - 1);
      target(b, t) = y == kIgnoreIndex ? pad : y;
    }
  }
  return target;
}

/// The causal-LM loss of logits (B·T, V) computed from input ids (B, T) with labels (B, T): labels = ids
/// for pretraining (as transformers' `labels=input_ids`), or sft_labels() for fine-tuning. Mean over the
/// counted (shifted) positions; `dlogits` (B·T, V) as cross_entropy.
template <class Scalar>
LossValue causal_lm_loss(const Eigen::Ref<const Matrix<Scalar>>& logits, const TokenIds& labels,
                         Matrix<Scalar>* dlogits = nullptr) {
  if (logits.rows() != labels.rows() * labels.cols()) {
    throw ShapeError(detail::cat("[causal_lm_loss] logits have ", logits.rows(), " rows but labels ",
                                 detail::shape_str({labels.rows(), labels.cols()}), " have ", labels.rows() * labels.cols(),
                                 " positions"));
  }
  return cross_entropy<Scalar>(logits, shift_labels(labels), dlogits);
}

/// Supervised fine-tuning labels: ids (B, T) with the first prompt_lengths[b] positions of sequence b set to
/// -100 (the model is not trained to write the prompt, only the answer), and, when `lengths` is given,
/// the padding positions t ≥ lengths[b] too. After shift_labels, position t is then counted exactly when
/// token t+1 belongs to the answer.
inline TokenIds sft_labels(const TokenIds& ids, const std::vector<Index>& prompt_lengths,
                           const std::vector<Index>& lengths = {}) {
  const Index B = ids.rows(), T = ids.cols();
  if (static_cast<Index>(prompt_lengths.size()) != B || (!lengths.empty() && static_cast<Index>(lengths.size()) != B)) {
    throw ShapeError(detail::cat("[sft_labels] ", B, " sequences but ", prompt_lengths.size(), " prompt lengths and ",
                                 lengths.size(), " lengths"));
  }
  TokenIds labels = ids;
  for (Index b = 0; b < B; ++b) {
    const Index length = lengths.empty() ? T : lengths[static_cast<std::size_t>(b)];
    const Index prompt = prompt_lengths[static_cast<std::size_t>(b)];
    if (prompt < 0 || length < prompt || length > T) {
      throw ValueError(detail::cat("[sft_labels] sequence ", b, ": prompt length ", prompt, " and length ", length,
                                   " must satisfy 0 <= prompt <= length <= ", T));
    }
    for (Index t = 0; t < T; ++t) {
      if (t < prompt || t >= length) labels(b, t) = kIgnoreIndex;
    }
  }
  return labels;
}

// ---------------------------------------------------------------------------------------------------------
// BERT's masked language modelling.
// ---------------------------------------------------------------------------------------------------------

struct MaskingConfig {
  TokenId mask_token_id = -1;        // [MASK]
  Index vocab_size = 0;              // random replacements are drawn uniformly from [0, vocab_size)
  std::vector<TokenId> special_ids;  // never chosen: [CLS], [SEP], [PAD], ...
  double probability = 0.15;         // share of each sequence's eligible positions that are predicted
  double mask_fraction = 0.8;        // of those: replaced by [MASK]
  double random_fraction = 0.1;      // replaced by a random token; the rest (0.1) stay unchanged
};

/// What the model reads and what it must predict.
struct MaskedBatch {
  TokenIds inputs;  // (B, T) the ids after masking
  TokenIds labels;  // (B, T) the original id at each chosen position, -100 elsewhere
};

/// BERT's masking, as google-research/bert's create_pretraining_data.py does it per sequence: of the n
/// eligible positions (not special, before lengths[b] when given) choose k = max(1, round(p·n)) at random
/// (a seeded shuffle), then for each chosen position draw u: u < 0.8 → [MASK]; u < 0.9 → a uniformly random
/// id; otherwise keep the token. The model is scored on all k (the label is the original token), so it
/// cannot tell from the input which positions it is scored on — the reason for the 10%/10%.
/// (transformers' DataCollatorForLanguageModeling instead flips a coin with p per position; k is then
/// random. Choosing exactly k keeps every batch's loss defined.)
inline MaskedBatch mask_tokens(const TokenIds& ids, const MaskingConfig& config, generation::Rng& rng,
                               const std::vector<Index>& lengths = {}) {
  if (config.mask_token_id < 0 || config.mask_token_id >= config.vocab_size) {
    throw ValueError(detail::cat("[mask_tokens] mask_token_id ", config.mask_token_id, " is not in the vocabulary of ",
                                 config.vocab_size));
  }
  if (!(config.probability > 0 && config.probability <= 1 && config.mask_fraction >= 0 && config.random_fraction >= 0 &&
        config.mask_fraction + config.random_fraction <= 1)) {
    throw ValueError("[mask_tokens] need 0 < probability <= 1 and mask_fraction + random_fraction <= 1");
  }
  const Index B = ids.rows(), T = ids.cols();
  if (!lengths.empty() && static_cast<Index>(lengths.size()) != B) {
    throw ShapeError(detail::cat("[mask_tokens] ", B, " sequences but ", lengths.size(), " lengths"));
  }
  const std::set<TokenId> special(config.special_ids.begin(), config.special_ids.end());
  MaskedBatch out{ids, TokenIds::Constant(B, T, kIgnoreIndex)};
  std::vector<Index> candidates;
  for (Index b = 0; b < B; ++b) {
    // 1) The eligible positions of this sequence.
    const Index length = lengths.empty() ? T : std::min<Index>(T, lengths[static_cast<std::size_t>(b)]);
    candidates.clear();
    for (Index t = 0; t < length; ++t) {
      if (special.count(ids(b, t)) == 0) candidates.push_back(t);
    }
    const Index n = static_cast<Index>(candidates.size());
    if (n == 0) continue;
    // 2) k of them, by a partial Fisher–Yates shuffle.
    const Index k = std::max<Index>(1, static_cast<Index>(std::llround(config.probability * static_cast<double>(n))));
    for (Index i = 0; i < k; ++i) {
      const Index j = i + std::min<Index>(n - i - 1, static_cast<Index>(rng.uniform() * static_cast<double>(n - i)));
      std::swap(candidates[static_cast<std::size_t>(i)], candidates[static_cast<std::size_t>(j)]);
    }
    // 3) 80% [MASK], 10% random, 10% unchanged; the label is always the original.
    for (Index i = 0; i < k; ++i) {
      const Index t = candidates[static_cast<std::size_t>(i)];
      out.labels(b, t) = ids(b, t);
      const double u = rng.uniform();
      if (u < config.mask_fraction) {
        out.inputs(b, t) = config.mask_token_id;
      } else if (u < config.mask_fraction + config.random_fraction) {
        out.inputs(b, t) = static_cast<TokenId>(
            std::min<Index>(config.vocab_size - 1, static_cast<Index>(rng.uniform() * static_cast<double>(config.vocab_size))));
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// T5's span corruption.
// ---------------------------------------------------------------------------------------------------------

struct SpanCorruptionConfig {
  double noise_density = 0.15;    // share of the tokens that are dropped
  double mean_span_length = 3.0;  // average length of a dropped span
  Index vocab_size = 0;           // sentinels count down from the top: <extra_id_i> = vocab_size − 1 − i
  TokenId eos_id = -1;            // appended to inputs and targets when >= 0 (T5's </s> = 1)
};

struct SpanCorrupted {
  TokenSequence inputs;   // the text with each dropped span replaced by one sentinel
  TokenSequence targets;  // each sentinel followed by the span it replaced
};

/// Which of `length` tokens are noise, as T5's random_spans_noise_mask (t5/data/preprocessors.py):
///   noise tokens  N = clamp(round(length · density), 1, length − 1),   spans S = max(1, round(N / mean))
///   the N noise and the length − N kept tokens are each cut into S non-empty spans at random (a shuffled
///   set of S − 1 cut points), and the spans alternate kept, noise, kept, noise, ... — so the text starts
///   with kept tokens and ends with a noise span.
inline std::vector<bool> random_spans_noise_mask(Index length, double noise_density, double mean_span_length,
                                                 generation::Rng& rng);

/// The noise tokens N and spans S of random_spans_noise_mask (below) for a text of `length` ≥ 2 tokens:
///   N = clamp(round(length · density), 1, length − 1),   S = min(max(1, round(N / mean)), N, length − N).
/// S is also how many sentinels span_corruption needs for that text.
struct NoiseSpans {
  Index noise = 0, spans = 0;
};
inline NoiseSpans noise_spans(Index length, double noise_density, double mean_span_length) {
  if (length < 2) throw ValueError(detail::cat("[random_spans_noise_mask] need at least 2 tokens, got ", length));
  NoiseSpans n;
  n.noise = std::min<Index>(std::max<Index>(static_cast<Index>(std::llround(static_cast<double>(length) * noise_density)), 1),
                            length - 1);
  n.spans = std::min<Index>({std::max<Index>(static_cast<Index>(std::llround(static_cast<double>(n.noise) / mean_span_length)), 1),
                             n.noise, length - n.noise});
  return n;
}

inline std::vector<bool> random_spans_noise_mask(Index length, double noise_density, double mean_span_length,
                                                 generation::Rng& rng) {
  const NoiseSpans counts = noise_spans(length, noise_density, mean_span_length);
  const Index noise = counts.noise, kept = length - counts.noise, spans = counts.spans;
  // Cuts `items` into `segments` non-empty pieces: choose segments − 1 of the items − 1 gaps at random.
  auto segmentation = [&rng](Index items, Index segments) {
    std::vector<bool> first_in_segment(static_cast<std::size_t>(items - 1), false);
    for (Index i = 0; i < segments - 1; ++i) first_in_segment[static_cast<std::size_t>(i)] = true;
    for (Index i = items - 2; i > 0; --i) {  // Fisher–Yates shuffle of the gaps
      const Index j = std::min<Index>(i, static_cast<Index>(rng.uniform() * static_cast<double>(i + 1)));
      std::vector<bool>::swap(first_in_segment[static_cast<std::size_t>(i)], first_in_segment[static_cast<std::size_t>(j)]);
    }
    std::vector<Index> piece_lengths(static_cast<std::size_t>(segments), 0);
    Index segment = 0;
    piece_lengths[0] = 1;
    for (Index i = 0; i + 1 < items; ++i) {
      if (first_in_segment[static_cast<std::size_t>(i)]) ++segment;
      ++piece_lengths[static_cast<std::size_t>(segment)];
    }
    return piece_lengths;
  };
  const std::vector<Index> noise_lengths = segmentation(noise, spans);
  const std::vector<Index> kept_lengths = segmentation(kept, spans);
  std::vector<bool> mask;
  mask.reserve(static_cast<std::size_t>(length));
  for (Index s = 0; s < spans; ++s) {
    mask.insert(mask.end(), static_cast<std::size_t>(kept_lengths[static_cast<std::size_t>(s)]), false);
    mask.insert(mask.end(), static_cast<std::size_t>(noise_lengths[static_cast<std::size_t>(s)]), true);
  }
  return mask;
}

/// T5's span corruption of one sequence (Raffel et al. 2020, §3.1.4, Figure 2): "Thank you for inviting me
/// to your party last week" becomes inputs "Thank you <X> me to your party <Y> week" and targets
/// "<X> for inviting <Y> last", with sentinel i = vocab_size − 1 − i (<extra_id_0> is the last id of the
/// vocabulary, <extra_id_1> the one below). The paper's figure closes the targets with one more sentinel;
/// T5's code does not (its mask always ends with a noise span), and neither do we. EOS closes both when set.
inline SpanCorrupted span_corruption(const TokenSequence& tokens, const SpanCorruptionConfig& config, generation::Rng& rng) {
  if (config.vocab_size <= 0) throw ValueError("[span_corruption] vocab_size must be set: the sentinels count down from it");
  const std::vector<bool> noise = random_spans_noise_mask(static_cast<Index>(tokens.size()), config.noise_density,
                                                          config.mean_span_length, rng);
  SpanCorrupted out;
  TokenId next_input_sentinel = static_cast<TokenId>(config.vocab_size - 1);
  TokenId next_target_sentinel = static_cast<TokenId>(config.vocab_size - 1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const bool starts_span = noise[i] && (i == 0 || !noise[i - 1]);
    if (!noise[i]) {
      out.inputs.push_back(tokens[i]);
    } else {
      if (starts_span) out.inputs.push_back(next_input_sentinel--);
      if (starts_span) out.targets.push_back(next_target_sentinel--);
      out.targets.push_back(tokens[i]);
    }
  }
  if (config.eos_id >= 0) {
    out.inputs.push_back(config.eos_id);
    out.targets.push_back(config.eos_id);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Sequence classification.
// ---------------------------------------------------------------------------------------------------------

/// The vector a classifier reads: the first position's hidden state ([CLS], BERT) when `lengths` is empty,
/// else the mean over each sequence's first lengths[b] positions.   hidden (B, T, C) → pooled (B, C).
template <class Scalar>
Matrix<Scalar> pool(const Tensor3<Scalar>& hidden, const std::vector<Index>& lengths = {}) {
  const Index B = hidden.dimension(0), T = hidden.dimension(1), C = hidden.dimension(2);
  if (!lengths.empty() && static_cast<Index>(lengths.size()) != B) {
    throw ShapeError(detail::cat("[pool] hidden ", detail::shape_str({B, T, C}), " but ", lengths.size(), " lengths"));
  }
  const ConstMatrixMap<Scalar> rows = as_matrix(hidden);
  Matrix<Scalar> pooled(B, C);
  for (Index b = 0; b < B; ++b) {
    if (lengths.empty()) {
      pooled.row(b) = rows.row(b * T);
      continue;
    }
    const Index n = lengths[static_cast<std::size_t>(b)];
    if (n < 1 || n > T) throw ValueError(detail::cat("[pool] sequence ", b, " has length ", n, ", not in [1, ", T, "]"));
    pooled.row(b) = rows.middleRows(b * T, n).colwise().sum() / static_cast<Scalar>(n);
  }
  return pooled;
}

/// The backward of pool(): dpooled (B, C) → dhidden (B, T, C). First-position pooling routes each row to
/// position 0; mean pooling spreads dpooled/n over the n counted positions; every other position gets 0.
template <class Scalar>
Tensor3<Scalar> pool_backward(const Matrix<Scalar>& dpooled, Index T, const std::vector<Index>& lengths = {}) {
  const Index B = dpooled.rows(), C = dpooled.cols();
  Tensor3<Scalar> dhidden(B, T, C);
  dhidden.setZero();
  MatrixMap<Scalar> rows = as_matrix(dhidden);
  for (Index b = 0; b < B; ++b) {
    if (lengths.empty()) {
      rows.row(b * T) = dpooled.row(b);
      continue;
    }
    const Index n = lengths[static_cast<std::size_t>(b)];
    for (Index t = 0; t < n; ++t) rows.row(b * T + t) = dpooled.row(b) / static_cast<Scalar>(n);
  }
  return dhidden;
}

/// Mean cross-entropy of class scores (B, K) against one label per sequence (-100 skips a sequence).
template <class Scalar>
LossValue classification_loss(const Eigen::Ref<const Matrix<Scalar>>& logits, const std::vector<TokenId>& labels,
                              Matrix<Scalar>* dlogits = nullptr) {
  return cross_entropy<Scalar>(logits, labels, dlogits);
}

}  // namespace eigenformer::training
