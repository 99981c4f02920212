// eigenformer/generation/session.hpp — one generation run's view of a model: feed tokens, get scores.
//
// The strategies (generate.hpp) are written once for both kinds of model. A session hides the difference:
//
//   decoder-only (CausalLM, Llama)       the prompt is the start of the sequence itself
//   encoder-decoder (Seq2SeqLM, T5)      the prompt is the *source*: the encoder reads it once; the
//                                        decoder's sequence starts with decoder_start_token_id
//
// Either way a session holds B sequences that grow by one token per step, and a DecoderCache with the keys
// and values of every position processed so far, so that a step feeds only the B new tokens:
//
//     start(n)        the prompt (or the source and decoder_start) for n identical sequences → scores (n, V)
//     step(next)      next[b] appended to sequence b, one position per sequence         → scores (B, V)
//     reorder(src)    beam search: sequence i becomes a copy of sequence src[i] (cache included)
//
// A BatchCausalSession holds P prompts of different lengths at once, left-padded (generate_batch): start(n)
// makes n sequences of each, B = P·n rows, row i·n + k being copy k of prompt i.
//
// With use_cache = false every step clears the cache and runs each whole sequence again: slower by the
// sequence length, and the reference the cached path is tested against.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/generation/diagnosis.hpp"
#include "eigenformer/models/language_model.hpp"

namespace eigenformer::generation {

template <class Scalar>
class DecodingSession {
 public:
  virtual ~DecodingSession() = default;

  virtual Index vocab_size() const = 0;
  virtual const SpecialTokenIds& special_tokens() const = 0;
  /// P, the prompts the session runs side by side (1 but for a BatchCausalSession).
  virtual Index prompts() const { return 1; }

  /// Starts `copies` identical sequences. logits: (copies, V), the scores of the first generated token.
  virtual void start(Index copies, Matrix<Scalar>& logits) = 0;
  /// Appends next[b] to sequence b. logits: (B, V), the scores of each sequence's following token.
  virtual void step(const std::vector<TokenId>& next, Matrix<Scalar>& logits) = 0;

  /// What the model keeps per position in the KV cache (the memory guard before a run).
  virtual CacheShape cache_shape() const = 0;
  /// Source positions every sequence's cross-attention caches (encoder-decoder: the source's length; else 0).
  virtual Index source_positions() const { return 0; }

  /// Called only when the last scores of sequence `sequence` were not finite: runs that sequence again from
  /// scratch with a NonFiniteProbe on each stack (diagnosis.hpp) and says where the first non-finite value
  /// appeared — "first non-finite value: decoder layer 2, the FFN's output (...)" — or why it cannot tell.
  virtual std::string locate_non_finite(Index sequence) = 0;
  /// New sequence i continues old sequence source[i]. The copies go into a second set of sequences that then
  /// changes places with the first (both keep the room reserve() gave them: no allocation per step).
  virtual void reorder(const std::vector<Index>& source) {
    reordered_.resize(source.size());
    for (std::size_t i = 0; i < source.size(); ++i) {
      const TokenSequence& from = sequences_[static_cast<std::size_t>(source[i])];
      reordered_[i].assign(from.begin(), from.end());
    }
    sequences_.swap(reordered_);
    if (use_cache_) cache_.reorder(source);
  }

  /// Room for `new_tokens` more tokens per sequence after start(): the sequences and the KV cache are sized once,
  /// at start(), so that the steps allocate nothing (generate() calls it with max_new_tokens). 0: grow as needed.
  void reserve(Index new_tokens) { new_tokens_ = new_tokens; }
  /// At most kRoomAhead positions are made room for at once: a max_new_tokens near a long context would otherwise
  /// reserve gigabytes of cache that a run stopping at EOS never uses. Past them the cache grows by doubling
  /// (a few allocations in a run of more than kRoomAhead tokens).
  static constexpr Index kRoomAhead = 8192;

  /// Each sequence so far: prompt + generated (decoder-only) or decoder_start + generated (encoder-decoder).
  /// What repetition penalty and n-gram bans look at, as in Hugging Face.
  const std::vector<TokenSequence>& sequences() const { return sequences_; }
  /// How many leading tokens of each sequence were not generated.
  Index prefix_length() const { return prefix_length_; }

 protected:
  explicit DecodingSession(bool use_cache) : use_cache_(use_cache) {}

  /// (B, L) ids: the last `positions` tokens of every sequence, in a buffer the session keeps.
  const TokenIds& tail_ids(Index positions) {
    ids_.resize(static_cast<Index>(sequences_.size()), positions);
    for (std::size_t b = 0; b < sequences_.size(); ++b) {
      const TokenSequence& s = sequences_[b];
      for (Index t = 0; t < positions; ++t) ids_(static_cast<Index>(b), t) = s[s.size() - static_cast<std::size_t>(positions - t)];
    }
    return ids_;
  }

  /// After start()'s first forward call: every sequence (and the spare set reorder() copies into) gets room for
  /// prefix_length() + new_tokens tokens, every layer's KV cache for as many positions (slots, in a left-padded
  /// batch: the longest prompt's length).
  void make_room() {
    if (new_tokens_ <= 0 || sequences_.empty()) return;
    const std::size_t length = static_cast<std::size_t>(prefix_length_) + static_cast<std::size_t>(std::min(new_tokens_, kRoomAhead));
    reordered_.resize(sequences_.size());
    for (TokenSequence& s : sequences_) s.reserve(length);
    for (TokenSequence& s : reordered_) s.reserve(length);
    if (use_cache_) cache_.reserve(static_cast<Index>(length));
  }

  void append(const std::vector<TokenId>& next) {
    if (next.size() != sequences_.size()) {
      throw ShapeError(eigenformer::detail::cat("[generation] step got ", next.size(), " tokens for ", sequences_.size(), " sequences"));
    }
    for (std::size_t b = 0; b < next.size(); ++b) sequences_[b].push_back(next[b]);
  }

  bool use_cache_;
  DecoderCache<Scalar> cache_;
  std::vector<TokenSequence> sequences_;
  std::vector<TokenSequence> reordered_;  // reorder()'s destination, then swapped in
  TokenIds ids_;                          // (B, L) the ids of the last forward call
  Index prefix_length_ = 0;
  Index new_tokens_ = 0;                  // reserve(): room to make at start()
};

/// A decoder-only model: the prompt starts the sequence.
/// A decoder's diagnosis of a non-finite score (DecodingSession::locate_non_finite): runs `sequence` (its tokens so far)
/// alone through the model again with a capture, and says where the first non-finite value appeared.
template <class Scalar>
std::string locate_non_finite_alone(CausalLM<Scalar>& model, const TokenSequence& sequence) {
  TokenIds ids(1, static_cast<Index>(sequence.size()));
  for (std::size_t t = 0; t < sequence.size(); ++t) ids(0, static_cast<Index>(t)) = sequence[t];
  NonFiniteProbe<Scalar> probe;
  Matrix<Scalar> logits;
  try {
    if (!model.forward_captured(ids, logits, probe.capture())) return "the model offers no capture to find the layer";
  } catch (const Error& e) {
    return eigenformer::detail::cat("the diagnosis could not run again (", e.what(), ")");
  }
  const std::optional<NonFiniteValue> first = probe.first();
  if (first) return "first non-finite value: " + describe(*first);
  return "every layer's output was finite: the LM head made the non-finite scores";
}

template <class Scalar>
class CausalSession : public DecodingSession<Scalar> {
 public:
  CausalSession(CausalLM<Scalar>& model, TokenSequence prompt, bool use_cache)
      : DecodingSession<Scalar>(use_cache), model_(model), prompt_(std::move(prompt)) {
    this->prefix_length_ = static_cast<Index>(prompt_.size());
  }

  Index vocab_size() const override { return model_.vocab_size(); }
  const SpecialTokenIds& special_tokens() const override { return model_.special_tokens(); }

  void start(Index copies, Matrix<Scalar>& logits) override {
    // The prompt runs once, for one sequence; the cache is then copied for the others.
    this->sequences_.assign(1, prompt_);
    this->cache_.clear();
    model_.forward(this->tail_ids(static_cast<Index>(prompt_.size())), this->cache_, logits, /*last_only=*/true);
    this->sequences_.assign(static_cast<std::size_t>(copies), prompt_);
    if (copies > 1) {
      if (this->use_cache_) this->cache_.reorder(std::vector<Index>(static_cast<std::size_t>(copies), 0));
      logits = logits.row(0).replicate(copies, 1).eval();
    }
    this->make_room();
  }

  CacheShape cache_shape() const override { return model_.cache_shape(); }

  std::string locate_non_finite(Index sequence) override {
    return locate_non_finite_alone(model_, this->sequences_.at(static_cast<std::size_t>(sequence)));
  }

  void step(const std::vector<TokenId>& next, Matrix<Scalar>& logits) override {
    this->append(next);
    if (this->use_cache_) {
      model_.forward(this->tail_ids(1), this->cache_, logits, /*last_only=*/true);
    } else {
      this->cache_.clear();
      model_.forward(this->tail_ids(static_cast<Index>(this->sequences_.front().size())), this->cache_, logits, true);
    }
  }

 private:
  CausalLM<Scalar>& model_;
  TokenSequence prompt_;
};

/// Several prompts of a decoder-only model at once, as Hugging Face's generate(input_ids, attention_mask) runs a
/// batch tokenized with padding_side="left". With P prompts of lengths L_i and L = max_i L_i, row b = i·n + k
/// (copy k of prompt i; n = start()'s copies) is laid out in L + (generated so far) slots:
///
///     slot   0 .. pads[b] − 1        padding: hidden from every query (KeyPadding::from_left_pads), its token a filler
///     slot   pads[b] .. L − 1        prompt i            pads[b] = L − L_i
///     slot   L, L + 1, ...           the generated tokens, one per step for every row
///
/// Left, not right: every row's last slot is then a real token, so the prompt pass scores every row's next token at
/// the same slot L − 1, and each step appends one slot to every row — one (B, 1) forward call per step. The model
/// counts positions from each row's first real token (slot j at position j − pads[b]; forward_left_padded), so that
/// a row computes what its prompt computes alone.
///
/// A finished row stays in the batch and is fed a filler (generate.hpp's greedy_or_sample, as Hugging Face feeds
/// pad_token_id): its scores are no longer read, and a row's tokens only ever meet its own queries, so the others
/// are untouched. Dropping it instead would save its share of the work but change B in mid-run — a copy of every
/// layer's cache, and allocations — while the step's cost is mostly reading the weights, which every row shares.
template <class Scalar>
class BatchCausalSession : public DecodingSession<Scalar> {
 public:
  /// prompts: P ≥ 1 token sequences, each non-empty (generate_batch checks them first); filler: the token in pad
  /// slots (any id of the vocabulary: those slots are hidden).
  BatchCausalSession(CausalLM<Scalar>& model, std::vector<TokenSequence> prompts, TokenId filler, bool use_cache)
      : DecodingSession<Scalar>(use_cache), model_(model), prompts_(std::move(prompts)), filler_(filler) {
    for (const TokenSequence& p : prompts_) this->prefix_length_ = std::max(this->prefix_length_, static_cast<Index>(p.size()));
  }

  Index vocab_size() const override { return model_.vocab_size(); }
  const SpecialTokenIds& special_tokens() const override { return model_.special_tokens(); }
  Index prompts() const override { return static_cast<Index>(prompts_.size()); }
  CacheShape cache_shape() const override { return model_.cache_shape(); }

  /// The pads of each row (B), after start().
  const std::vector<Index>& pads() const { return pads_; }

  void start(Index copies, Matrix<Scalar>& logits) override {
    // 1) The rows: copy k of prompt i is row i·copies + k, with L − L_i pads before it.
    const Index L = this->prefix_length_;
    this->sequences_.clear();
    pads_.clear();
    for (const TokenSequence& p : prompts_) {
      for (Index k = 0; k < copies; ++k) {
        this->sequences_.push_back(p);
        pads_.push_back(L - static_cast<Index>(p.size()));
      }
    }
    padding_ = KeyPadding::from_left_pads(pads_);
    // 2) The prompt pass: all rows at once, (B, L), the scores of each row's last slot — a real token in every row.
    this->cache_.clear();
    model_.forward_left_padded(padded_ids(), this->cache_, logits, /*last_only=*/true, padding_);
    this->make_room();
  }

  void step(const std::vector<TokenId>& next, Matrix<Scalar>& logits) override {
    this->append(next);
    if (this->use_cache_) {
      model_.forward_left_padded(this->tail_ids(1), this->cache_, logits, /*last_only=*/true, padding_);
    } else {
      this->cache_.clear();
      model_.forward_left_padded(padded_ids(), this->cache_, logits, /*last_only=*/true, padding_);
    }
  }

  /// Rows do not change places in a batch of prompts (beam search over several prompts is refused before a run).
  void reorder(const std::vector<Index>&) override {
    throw ValueError("[generation] a batch of prompts cannot reorder its rows (beam search runs one prompt at a time)");
  }

  /// Runs row `sequence` alone, unpadded, as CausalSession does.
  std::string locate_non_finite(Index sequence) override {
    return locate_non_finite_alone(model_, this->sequences_.at(static_cast<std::size_t>(sequence)));
  }

 private:
  /// (B, slots) every row in full, pads first: pads[b] fillers, then the row's sequence. The rows grow in step,
  /// so every row has the same number of slots.
  const TokenIds& padded_ids() {
    const Index slots = pads_.front() + static_cast<Index>(this->sequences_.front().size());
    this->ids_.resize(static_cast<Index>(this->sequences_.size()), slots);
    for (std::size_t b = 0; b < this->sequences_.size(); ++b) {
      const Index pad_slots = pads_[b];
      const TokenSequence& s = this->sequences_[b];
      for (Index j = 0; j < slots; ++j) this->ids_(static_cast<Index>(b), j) = j < pad_slots ? filler_ : s[static_cast<std::size_t>(j - pad_slots)];
    }
    return this->ids_;
  }

  CausalLM<Scalar>& model_;
  std::vector<TokenSequence> prompts_;  // P prompts, as given
  TokenId filler_;                      // the token fed in pad slots
  std::vector<Index> pads_;             // (B) pad slots before row b's prompt: L − L_i
  KeyPadding padding_;                  // from_left_pads(pads_): hides them; the model shifts positions by them
};

/// An encoder-decoder model: the prompt is the source, encoded once; the decoder starts from decoder_start.
template <class Scalar>
class Seq2SeqSession : public DecodingSession<Scalar> {
 public:
  Seq2SeqSession(Seq2SeqLM<Scalar>& model, TokenSequence source, bool use_cache)
      : DecodingSession<Scalar>(use_cache), model_(model), source_(std::move(source)) {
    if (!model.special_tokens().decoder_start) {
      throw ConfigError("[generation] the encoder-decoder model has no decoder_start_token_id: its decoder cannot start");
    }
    this->prefix_length_ = 1;
  }

  Index vocab_size() const override { return model_.vocab_size(); }
  const SpecialTokenIds& special_tokens() const override { return model_.special_tokens(); }

  void start(Index copies, Matrix<Scalar>& logits) override {
    // 1) The encoder reads the source once.
    TokenIds source(1, static_cast<Index>(source_.size()));
    for (std::size_t s = 0; s < source_.size(); ++s) source(0, static_cast<Index>(s)) = source_[s];
    Tensor3<Scalar> memory;
    model_.encode(source, nullptr, memory);
    // 2) Every sequence reads the same memory: one copy per sequence (the cross-attention keys and values
    //    are computed from it once, on the first decoder call, and cached).
    memory_.resize(copies, memory.dimension(1), memory.dimension(2));
    for (Index b = 0; b < copies; ++b) {
      as_matrix(memory_).middleRows(b * memory.dimension(1), memory.dimension(1)) = as_matrix(memory);
    }
    // 3) The decoder starts from decoder_start_token_id.
    this->sequences_.assign(static_cast<std::size_t>(copies), TokenSequence{*model_.special_tokens().decoder_start});
    this->cache_.clear();
    model_.decode(this->tail_ids(1), memory_, nullptr, this->cache_, logits, /*last_only=*/true);
    this->make_room();
  }

  CacheShape cache_shape() const override { return model_.cache_shape(); }
  Index source_positions() const override { return static_cast<Index>(source_.size()); }

  std::string locate_non_finite(Index sequence) override {
    const TokenSequence& s = this->sequences_.at(static_cast<std::size_t>(sequence));
    TokenIds source(1, static_cast<Index>(source_.size())), target(1, static_cast<Index>(s.size()));
    for (std::size_t i = 0; i < source_.size(); ++i) source(0, static_cast<Index>(i)) = source_[i];
    for (std::size_t t = 0; t < s.size(); ++t) target(0, static_cast<Index>(t)) = s[t];
    NonFiniteProbe<Scalar> encoder, decoder;
    Matrix<Scalar> logits;
    try {
      if (!model_.forward_captured(source, target, logits, encoder.capture(), decoder.capture())) {
        return "the model offers no capture to find the layer";
      }
    } catch (const Error& e) {
      return eigenformer::detail::cat("the diagnosis could not run again (", e.what(), ")");
    }
    // The encoder runs first: a non-finite value there reaches the decoder through every cross-attention.
    if (const std::optional<NonFiniteValue> first = encoder.first()) return "first non-finite value: " + describe(*first);
    if (const std::optional<NonFiniteValue> first = decoder.first()) return "first non-finite value: " + describe(*first);
    return "every layer's output was finite: the LM head made the non-finite scores";
  }

  void step(const std::vector<TokenId>& next, Matrix<Scalar>& logits) override {
    this->append(next);
    if (this->use_cache_) {
      model_.decode(this->tail_ids(1), memory_, nullptr, this->cache_, logits, true);
    } else {
      this->cache_.clear();
      model_.decode(this->tail_ids(static_cast<Index>(this->sequences_.front().size())), memory_, nullptr, this->cache_,
                    logits, true);
    }
  }

 private:
  Seq2SeqLM<Scalar>& model_;
  TokenSequence source_;
  Tensor3<Scalar> memory_;  // (B, S, C): the encoder output, once per sequence
};

}  // namespace eigenformer::generation
