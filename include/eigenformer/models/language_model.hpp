// eigenformer/models/language_model.hpp — what text generation needs from a model, and nothing more.
//
// Generation (greedy, sampling, beam search) is written once, against these two interfaces; the families
// implement them (examples/llama/llama.hpp: CausalLM, examples/t5/t5.hpp: Seq2SeqLM). Both work
// incrementally: a DecoderCache keeps the keys and values of every position already processed, so each step
// feeds only the new tokens.
//
//     prompt:  forward(prompt_ids (B, T), cache, logits, /*last_only=*/true)   cache.length(): 0 → T
//     step:    forward(next_ids (B, 1),   cache, logits, true)                 cache.length(): T → T + 1
//
// Prompts of different lengths run as one batch left-padded (forward_left_padded): pad slots first, so that
// every sequence's last slot is a real token and each step appends one real token per sequence.
//
// Shapes: B batch, T new positions in this call, S source positions, C width, V vocabulary.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eigenformer/attention/forward_context.hpp"  // KeyPadding, DecoderCache, Capture
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/models/config.hpp"

namespace eigenformer {

/// Whether `id` is one of the end-of-sequence ids `eos` (a model may have several: Llama 3).
inline bool is_eos(const std::vector<TokenId>& eos, TokenId id) {
  for (TokenId e : eos) {
    if (e == id) return true;
  }
  return false;
}

/// The token ids with a role in generation, as config.json gives them (generation_config.json may override
/// them; the generation code reads that file).
struct SpecialTokenIds {
  std::optional<TokenId> bos;            // "bos_token_id": prepended to a prompt by the tokenizer
  std::vector<TokenId> eos;              // "eos_token_id": any of them ends a sequence (Llama 3 lists several)
  std::optional<TokenId> pad;            // "pad_token_id": fills finished sequences of a batch
  std::optional<TokenId> decoder_start;  // "decoder_start_token_id": the first decoder input (T5: pad, 0)
  std::optional<TokenId> forced_bos;     // "forced_bos_token_id": the first generated token (BART: <s>, 0)
  std::vector<TokenId> forced_eos;       // "forced_eos_token_id": the token forced at the last step (BART: </s>, 2)

  bool is_eos(TokenId id) const { return eigenformer::is_eos(eos, id); }

  /// Reads bos_token_id, eos_token_id (an id or a list), pad_token_id, decoder_start_token_id, forced_bos_token_id
  /// and forced_eos_token_id (an id or a list); each must lie
  /// in [0, vocab_size) when present (ConfigError otherwise).
  static SpecialTokenIds from(const ModelConfig& config, Index vocab_size) {
    const auto one = [&](const char* field) -> std::optional<TokenId> {
      if (!config.has(field)) return std::nullopt;
      return checked(config, field, config.integer(field), vocab_size);
    };
    SpecialTokenIds ids;
    ids.bos = one("bos_token_id");
    ids.pad = one("pad_token_id");
    ids.decoder_start = one("decoder_start_token_id");
    ids.forced_bos = one("forced_bos_token_id");
    for (std::int64_t id : config.integers("forced_eos_token_id")) {
      ids.forced_eos.push_back(checked(config, "forced_eos_token_id", id, vocab_size));
    }
    for (std::int64_t id : config.integers("eos_token_id")) {
      ids.eos.push_back(checked(config, "eos_token_id", id, vocab_size));
    }
    return ids;
  }

 private:
  static TokenId checked(const ModelConfig& config, const char* field, std::int64_t id, Index vocab_size) {
    if (id < 0 || id >= vocab_size) {
      config.fail(detail::cat("field '", field, "' is ", id, ", outside the vocabulary of ", vocab_size, " tokens"));
    }
    return static_cast<TokenId>(id);
  }
};

/// The shape of a model's KV cache, for the memory guard (generation's check before a run, core/memory.hpp): each
/// of `layers` decoder layers keeps, per sequence and position, keys and values of kv_heads × head_dim scalars —
/// and an encoder-decoder's layers as much again per source position, for the cross-attention (cross = true).
/// layers = 0: unknown, no guard before the run (KVCache::reserve still checks each layer as it grows).
struct CacheShape {
  Index layers = 0;    // N decoder layers with a cache
  Index kv_heads = 0;  // Hkv
  Index head_dim = 0;  // D
  Index window = 0;    // > 0: every layer keeps at most this many positions (a window-bounded cache)
  bool cross = false;  // encoder-decoder: each layer also caches the source's keys and values
};

/// A decoder-only language model (Llama, GPT): p(next token | tokens so far).
template <class Scalar>
class CausalLM {
 public:
  virtual ~CausalLM() = default;

  /// V, the number of rows of logits per position.
  virtual Index vocab_size() const = 0;
  /// The context length the model was trained for ("max_position_embeddings"); forward() refuses to go past it.
  virtual Index max_positions() const = 0;
  virtual const SpecialTokenIds& special_tokens() const = 0;

  /// Runs `ids` (B, T), the T positions that follow the cache.length() positions already in `cache`, and
  /// appends their keys and values to the cache (an empty cache starts a new batch).
  ///   logits    (B·T, V): row b·T + t scores the token after position t of sequence b; or, with
  ///             last_only, (B, V) for the last position of each sequence only — a prompt then costs one
  ///             LM-head row per sequence instead of T.
  ///   padding   optional, over the cache.length() + T key positions, for left-padded prompts of different
  ///             lengths: padding keys are hidden from every query. RoPE depends only on the distance between
  ///             two positions, so a left-padded sequence attends exactly as the same tokens unpadded.
  /// ValueError for a token id outside [0, V) or a cache that would pass max_positions().
  virtual void forward(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only = false,
                       const KeyPadding* padding = nullptr) = 0;

  /// A left-padded batch (batched generation: generation::generate_batch). As forward(), with `left_padding` a
  /// KeyPadding::from_left_pads(pads), pads (B): sequence b's first pads[b] slots — cached or in `ids` — are padding,
  ///   - hidden from every query, in the prompt pass and in every decode step (the padding describes any number
  ///     of keys: every slot after the pads is real), and
  ///   - left out of the positions: slot j is at position j − pads[b] (Hugging Face: position_ids =
  ///     cumsum(attention_mask) − 1), so that a left-padded sequence computes what it computes alone — RoPE
  ///     rotates by the same angles, GPT-2 reads the same rows of its position table.
  /// The default takes only a batch without padding (every pad 0: plain forward()) and refuses any other
  /// (ValueError): a model must know where its positions come from to shift them. Llama and GPT-2 override it.
  virtual void forward_left_padded(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only,
                                   const KeyPadding& left_padding) {
    const std::vector<Index>* pads = left_padding.left_pads();
    if (pads == nullptr) throw ValueError("[CausalLM::forward_left_padded] the padding must be KeyPadding::from_left_pads");
    for (Index p : *pads) {
      if (p != 0) {
        throw ValueError("[CausalLM::forward_left_padded] this model cannot shift its positions for a left-padded batch "
                         "(it does not override forward_left_padded): give prompts of one length, or one at a time");
      }
    }
    forward(ids, cache, logits, last_only);
  }

  /// What forward() will keep in a DecoderCache (the memory guard's input); unknown by default.
  virtual CacheShape cache_shape() const { return CacheShape(); }

  /// The diagnosis of non-finite logits (generation calls it only then, so finite runs never pay): runs `ids`
  /// (B, T) from scratch, without a cache, with `capture` attached to the decoder stack and its prefix set to
  /// the stack's parameter path ("decoder."), so that every named intermediate is recorded in the order it is
  /// computed; logits (B·T, V). Returns false when the model offers no capture (the default).
  virtual bool forward_captured(const TokenIds& ids, Matrix<Scalar>& logits, Capture<Scalar>& capture) {
    (void)ids, (void)logits, (void)capture;
    return false;
  }
};

/// An encoder-decoder language model (T5, BART): p(next target token | source, target so far).
template <class Scalar>
class Seq2SeqLM {
 public:
  virtual ~Seq2SeqLM() = default;

  virtual Index vocab_size() const = 0;
  /// Includes decoder_start (the first decoder input) and eos.
  virtual const SpecialTokenIds& special_tokens() const = 0;

  /// source (B, S) → memory (B, S, C), the encoder output every decoder step reads. `padding` marks the real
  /// source tokens (right padding, or any mask).
  virtual void encode(const TokenIds& source, const KeyPadding* padding, Tensor3<Scalar>& memory) = 0;

  /// target (B, T): the T decoder positions that follow cache.length() cached ones (the first call starts with
  /// decoder_start). The cache keeps the decoder's self-attention keys and values and, from the first call on,
  /// the cross-attention keys and values of `memory`. Clear the cache when the source changes.
  ///   logits (B·T, V), or (B, V) for the last position of each sequence with last_only.
  virtual void decode(const TokenIds& target, const Tensor3<Scalar>& memory, const KeyPadding* source_padding,
                      DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only = false) = 0;

  /// What decode() will keep in a DecoderCache (the memory guard's input); unknown by default.
  virtual CacheShape cache_shape() const { return CacheShape(); }

  /// The diagnosis of non-finite logits, as CausalLM::forward_captured: source (B, S) and target (B, T) run from
  /// scratch, the encoder recorded into `encoder_capture` (prefix "encoder."), the decoder into `decoder_capture`
  /// (prefix "decoder."); logits (B·T, V). Returns false when the model offers no capture (the default).
  virtual bool forward_captured(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits,
                                Capture<Scalar>& encoder_capture, Capture<Scalar>& decoder_capture) {
    (void)source, (void)target, (void)logits, (void)encoder_capture, (void)decoder_capture;
    return false;
  }
};

/// What one whole forward pass of an encoder-decoder (T5, BART) may do besides computing logits — the options
/// of T5::forward and Bart::forward, shared because the two families run the same two stacks. All optional.
template <class Scalar>
struct Seq2SeqOptions {
  const KeyPadding* source_padding = nullptr;   // padding of the source (B, S)
  Capture<Scalar>* encoder_capture = nullptr;   // encoder hidden states and attention maps (HF meaning)
  Capture<Scalar>* decoder_capture = nullptr;   // decoder hidden states, self- and cross-attention maps
  DecoderCache<Scalar>* cache = nullptr;        // incremental decoding
  bool last_only = false;                       // logits of the last target position only: (B, V)
};

namespace detail {

/// The last row of each of the B sequences of a (B·T, C) matrix: (B, C). Used for last_only logits.
template <class Scalar>
Matrix<Scalar> last_rows(const Eigen::Ref<const Matrix<Scalar>>& rows, Index batch) {
  const Index positions = rows.rows() / batch;
  Matrix<Scalar> last(batch, rows.cols());
  for (Index b = 0; b < batch; ++b) last.row(b) = rows.row(b * positions + positions - 1);
  return last;
}

}  // namespace detail
}  // namespace eigenformer
