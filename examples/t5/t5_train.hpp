// examples/t5/t5_train.hpp — training a T5 on (source, target) pairs with the library's trainer
// (eigenformer/training/trainer.hpp): what `t5 --train` and the translator example share.
//
//     pairs        source ids (ending with </s>) → target ids (ending with </s>)
//     batch        sources padded to the longest with the pad id, their padding hidden from every attention
//                  (KeyPadding by lengths); labels padded with −100 (not scored)
//     loss         T5::loss_and_gradients: teacher forcing, mean cross-entropy over the counted labels
//     evaluation   the same loss on the held-out pairs, in order, without gradients
//
// Shapes: B pairs per micro-batch, S source positions, T target positions (each the longest of its batch).
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/training/trainer.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "t5/t5.hpp"

namespace eigenformer {

/// One training example: both sequences end with </s>.
struct Seq2SeqPair {
  TokenSequence source;
  TokenSequence target;
};

/// A padded batch of pairs: source (B, S) with pad ids after each source's length, labels (B, T) with −100 after
/// each target.
struct Seq2SeqBatch {
  TokenIds source;
  TokenIds labels;
  KeyPadding padding;        // (B, S) by lengths: the padded source keys are hidden
  std::int64_t tokens = 0;   // real source + target tokens (for tokens/s)
};

/// Pairs `which` (indices into `pairs`) as one padded batch. ValueError for an empty source or target.
inline Seq2SeqBatch make_seq2seq_batch(const std::vector<Seq2SeqPair>& pairs, const std::vector<std::int64_t>& which,
                                       TokenId pad) {
  std::size_t S = 1, T = 1;
  for (const std::int64_t i : which) {
    const Seq2SeqPair& p = pairs[static_cast<std::size_t>(i)];
    if (p.source.empty() || p.target.empty()) {
      throw ValueError(detail::cat("[seq2seq batch] pair ", i, " has an empty source or target"));
    }
    S = std::max(S, p.source.size());
    T = std::max(T, p.target.size());
  }
  const Index B = static_cast<Index>(which.size());
  Seq2SeqBatch b;
  b.source = TokenIds::Constant(B, static_cast<Index>(S), pad);
  b.labels = TokenIds::Constant(B, static_cast<Index>(T), training::kIgnoreIndex);
  std::vector<Index> lengths;
  for (Index r = 0; r < B; ++r) {
    const Seq2SeqPair& p = pairs[static_cast<std::size_t>(which[static_cast<std::size_t>(r)])];
    for (std::size_t s = 0; s < p.source.size(); ++s) b.source(r, static_cast<Index>(s)) = p.source[s];
    for (std::size_t t = 0; t < p.target.size(); ++t) b.labels(r, static_cast<Index>(t)) = p.target[t];
    lengths.push_back(static_cast<Index>(p.source.size()));
    b.tokens += static_cast<std::int64_t>(p.source.size() + p.target.size());
  }
  b.padding = KeyPadding::from_lengths(lengths);
  return b;
}

/// T5's pretraining pairs from plain texts — span corruption (Raffel et al. 2020, §3.1.4; the noise itself is
/// training/objectives.hpp's span_corruption): each text's ids (without </s>) become
///     source  the text with each dropped span replaced by one sentinel, then </s>
///     target  each sentinel followed by the span it replaced, then </s>
/// "Thank you for inviting me to your party last week" → "Thank you <extra_id_0> me to your party <extra_id_1>
/// week</s>" and "<extra_id_0> for inviting <extra_id_1> last</s>". The sentinels are the tokenizer's own
/// <extra_id_0>, <extra_id_1>, ... (`token_id` looks a token up); every T5 vocabulary numbers them downwards from
/// <extra_id_0>, which span_corruption assumes, so each one used is checked. Texts of fewer than 2 tokens have
/// nothing to drop and are skipped. The noise is drawn once per text from `seed` (T5's pipeline draws it anew each
/// time it reads a text; one draw keeps a run reproducible and resumable with a fixed list of pairs).
/// ValueError when the tokenizer has no <extra_id_0> or too few sentinels.
inline std::vector<Seq2SeqPair> span_corruption_pairs(const std::vector<TokenSequence>& texts,
                                                      const std::function<std::optional<TokenId>(const std::string&)>& token_id,
                                                      TokenId eos, std::uint64_t seed, double noise_density = 0.15,
                                                      double mean_span_length = 3.0) {
  const std::optional<TokenId> first = token_id("<extra_id_0>");
  if (!first) {
    throw ValueError("[span corruption] the tokenizer has no <extra_id_0>: span corruption needs T5's sentinel tokens "
                     "<extra_id_0>, <extra_id_1>, ... in the vocabulary");
  }
  training::SpanCorruptionConfig config;
  config.noise_density = noise_density;
  config.mean_span_length = mean_span_length;
  config.vocab_size = static_cast<Index>(*first) + 1;  // sentinel i = vocab_size − 1 − i = <extra_id_i>
  config.eos_id = eos;
  // The sentinels the longest text needs, each checked against the tokenizer.
  Index needed = 0;
  for (const TokenSequence& ids : texts) {
    if (ids.size() >= 2) {
      needed = std::max(needed, training::noise_spans(static_cast<Index>(ids.size()), noise_density, mean_span_length).spans);
    }
  }
  for (Index i = 1; i < needed; ++i) {
    const std::string name = detail::cat("<extra_id_", i, ">");
    const TokenId expected = static_cast<TokenId>(*first - i);
    if (token_id(name) != std::optional<TokenId>(expected)) {
      throw ValueError(detail::cat("[span corruption] the longest text needs ", needed, " sentinels, but the tokenizer's ",
                                   name, " is not id ", expected, " (<extra_id_0> is ", *first,
                                   "; T5 numbers its sentinels downwards from it)"));
    }
  }
  generation::Rng rng(seed);
  std::vector<Seq2SeqPair> pairs;
  for (const TokenSequence& ids : texts) {
    if (ids.size() < 2) continue;
    const training::SpanCorrupted c = training::span_corruption(ids, config, rng);
    pairs.push_back({c.inputs, c.targets});
  }
  return pairs;
}

/// T5's initialisation (Mesh TensorFlow's, as transformers' T5PreTrainedModel._init_weights): every projection
/// normal with standard deviation 1/√fan_in — q with an extra 1/√D, since T5 does not divide its scores by √D —
/// the embedding (and an untied head) N(0, 1), the relative bias tables N(0, 1/√C), the norms' γ = 1. Seeded.
template <class Scalar>
void initialise_t5(T5<Scalar>& model, std::uint64_t seed) {
  const T5Config& c = model.config();
  std::mt19937_64 rng(seed);
  for (ParameterRef<Scalar>& p : named_parameters(model)) {
    const std::string& n = p.name;
    if (n.find("norm") != std::string::npos) {
      std::fill(p.data, p.data + p.numel(), Scalar(1));
      continue;
    }
    double std = 1.0 / std::sqrt(static_cast<double>(c.d_model));                      // k, v, wi, bias tables
    if (n.find(".q.") != std::string::npos) std /= std::sqrt(static_cast<double>(c.d_kv));  // (C·D)^-½
    if (n.find(".o.") != std::string::npos) std = 1.0 / std::sqrt(static_cast<double>(c.num_heads * c.d_kv));
    if (n.find("ffn.down") != std::string::npos) std = 1.0 / std::sqrt(static_cast<double>(c.d_ff));
    if (n == "shared.weight" || n == "lm_head.weight") std = 1.0;
    std::normal_distribution<double> normal(0.0, std);
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = static_cast<Scalar>(normal(rng));
  }
}

/// Weight decay for T5: the projections only. optimizer.hpp's default rule spots "embed", "norm" and "bias" but
/// not T5's table "shared.weight" (nor a tied head); the relative bias tables hold "bias" and are spared anyway.
template <class Scalar>
bool t5_weight_decay(const ParameterRef<Scalar>& p) {
  return p.name != "shared.weight" && training::default_weight_decay<Scalar>(p);
}

/// The trainer's task for `model` on `train` pairs (shuffled each epoch from the seed, B per micro-batch, the
/// incomplete tail of an epoch dropped) and `held_out` pairs (evaluated in order). `save_model(folder)` writes
/// the model's folder (config.json, model.safetensors and any tokenizer files). The model and the pairs are kept
/// alive by the task.
template <class Scalar>
training::TrainingTask<Scalar> seq2seq_task(std::shared_ptr<T5<Scalar>> model, std::vector<Seq2SeqPair> train,
                                            std::vector<Seq2SeqPair> held_out, Index batch, std::uint64_t seed,
                                            std::function<void(const std::string&)> save_model) {
  struct Data {
    std::vector<Seq2SeqPair> train, held_out;
    std::unique_ptr<training::SequenceLoader> loader;  // serves the order of the training pairs (their sources)
  };
  auto data = std::make_shared<Data>();
  data->train = std::move(train);
  data->held_out = std::move(held_out);
  std::vector<TokenSequence> sources;
  Index longest = 1;
  for (const Seq2SeqPair& p : data->train) {
    sources.push_back(p.source);
    longest = std::max<Index>(longest, static_cast<Index>(p.source.size()));
  }
  const TokenId pad = *model->config().special_tokens.pad;
  data->loader = std::make_unique<training::SequenceLoader>(std::move(sources), batch, pad, longest, seed);

  training::TrainingTask<Scalar> task;
  task.parameters = parameters_with_gradients(*model);
  task.decay = t5_weight_decay<Scalar>;
  // One micro-batch: the next B pairs of the epoch's order, forward with teacher forcing, loss, backward.
  task.train_micro_batch = [model, data, pad](const training::MicroBatchContext&) {
    const training::Batch order = data->loader->next();  // which pairs (its padded sources are rebuilt below)
    const Seq2SeqBatch b = make_seq2seq_batch(data->train, order.examples, pad);
    const training::LossValue loss = model->loss_and_gradients(b.source, b.labels, &b.padding);
    training::MicroBatchResult r;
    r.loss = loss.loss;
    r.counted = loss.counted;
    r.tokens = b.tokens;
    return r;
  };
  // The held-out loss: an inference forward (no gradients, nothing kept), mean over every counted label.
  if (!data->held_out.empty()) {
    task.evaluate = [model, data, pad, batch]() {
      double total = 0;
      Index counted = 0;
      for (std::size_t first = 0; first < data->held_out.size(); first += static_cast<std::size_t>(batch)) {
        std::vector<std::int64_t> which;
        for (std::size_t i = first; i < std::min(data->held_out.size(), first + static_cast<std::size_t>(batch)); ++i) {
          which.push_back(static_cast<std::int64_t>(i));
        }
        const Seq2SeqBatch b = make_seq2seq_batch(data->held_out, which, pad);
        T5Options<Scalar> options;
        options.source_padding = &b.padding;
        Matrix<Scalar> logits;
        model->forward(b.source, model->decoder_input_ids(b.labels), logits, options);
        const TokenSequence flat(b.labels.data(), b.labels.data() + b.labels.size());
        const training::LossValue l = training::cross_entropy<Scalar>(logits, flat);
        total += l.loss * static_cast<double>(l.counted);
        counted += l.counted;
      }
      training::LossValue out;
      out.loss = total / static_cast<double>(counted);
      out.counted = counted;
      return out;
    };
  }
  task.save_model = std::move(save_model);
  task.data_position = [data]() { return data->loader->position(); };
  task.seek_data = [data](const training::DataPosition& p) { data->loader->seek(p); };
  return task;
}

}  // namespace eigenformer
