// examples/t5/t5.hpp — T5 (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
// Text-to-Text Transformer") assembled from eigenformer's blocks.
//
// What it picks from the kit:
//   embedding   one table E (V, C) for the source, the target and (when tied) the output; nothing is added to
//               it — positions enter as a learned bias on the attention scores
//   encoder     EncoderBlock, pre-norm:  h = x + Attention(RMSNorm(x));  y = h + FFN(RMSNorm(h))
//   decoder     CrossDecoderBlock, pre-norm: causal self-attention, then cross-attention to the encoder
//               output, then the FFN
//   attention   H heads of width D = d_kv (H·D may differ from C: T5 v1.1, flan-t5), no biases, and *no* score
//               scaling — T5 folds 1/√D into its initialisation
//   positions   RelativePositionBias: one (num_buckets, H) table per stack, held by block 0 in the files and
//               added to the scores of every self-attention of that stack; bidirectional buckets in the
//               encoder, causal ones in the decoder; the cross-attention has none
//   RMSNorm     "T5LayerNorm": y = x / √(mean(x²) + ε) ⊙ γ — no mean, no bias; a final norm in each stack
//   FFN         feed_forward_proj "relu" (t5-small): wo(ReLU(wi x));
//               "gated-gelu" (T5 v1.1, flan-t5): wo(GELU_tanh(wi_0 x) ⊙ wi_1 x)
//   head        tied (t5-small): logits = (h · C^-½) Eᵀ — the rescale Mesh TensorFlow applies;
//               untied (v1.1, flan-t5): logits = h W_lmᵀ
//
// It loads Hugging Face checkpoints with model_type "t5" (t5-small/base/large, google/t5-v1_1-*, flan-t5-*) or
// "mt5".
//
// Shapes: B batch, S source positions, T target positions, C d_model, H num_heads, D d_kv, F d_ff, V vocab_size.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include "t5_config.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace eigenformer {

// T5Config — config.json read and checked, and the blocks this family picks: t5_config.hpp.

/// What one forward call may do besides computing logits. All optional.
template <class Scalar>
struct T5Options {
  const KeyPadding* source_padding = nullptr;  // padding of the source (B, S)
  Capture<Scalar>* encoder_capture = nullptr;       // encoder hidden states and attention maps (HF meaning)
  Capture<Scalar>* decoder_capture = nullptr;       // decoder hidden states, self- and cross-attention maps
  DecoderCache<Scalar>* cache = nullptr;            // incremental decoding
  bool last_only = false;                      // logits of the last target position only: (B, V)
};

template <class Scalar>
class T5 : public Seq2SeqLM<Scalar> {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  explicit T5(const T5Config& config)
      : config_(config), shared(config.vocab_size, config.d_model), model(config.stacks()) {
    if (!config.tie_word_embeddings) lm_head = Linear<Scalar>(config.d_model, config.vocab_size, /*bias=*/false);
  }

  /// Opens a checkpoint folder, checks config.json against the weights' sizes, builds and loads (strict).
  static T5 from_pretrained(const std::string& folder) {
    Checkpoint checkpoint(folder);
    const T5Config config = T5Config::from(checkpoint.config());
    checkpoint.check_parameter_count(config.parameter_count());
    T5 t5(config);
    t5.load(checkpoint);
    return t5;
  }

  /// source (B, S), target (B, T) → logits (B·T, V), or (B, V) with options.last_only.
  void forward(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits, const T5Options<Scalar>& options = {}) {
    // 1) Embed the source. Nothing is added: positions enter as the relative bias.       x (B, S, C)
    shared.forward(source, x);

    // 2) The encoder reads the whole source at once.                                      memory (B, S, C)
    model.encode(x, memory, options.source_padding, options.encoder_capture);

    // 3) Embed the target and run the decoder over it, each block reading the memory.    h (B, T, C)
    shared.forward(target, y);
    model.decode(y, memory, h, options.source_padding, /*target_padding=*/nullptr, options.cache, options.decoder_capture);

    // 4) The LM head.                                                                      (B·T, V) or (B, V)
    head(h, target.rows(), options.last_only, logits);
  }

  // ---- Seq2SeqLM ---------------------------------------------------------------------------------------------------
  Index vocab_size() const override { return config_.vocab_size; }
  const SpecialTokenIds& special_tokens() const override { return config_.special_tokens; }

  void encode(const TokenIds& source, const KeyPadding* padding, Tensor3<Scalar>& out) override {
    shared.forward(source, x);
    model.encode(x, out, padding);
  }

  void decode(const TokenIds& target, const Tensor3<Scalar>& encoded, const KeyPadding* source_padding, DecoderCache<Scalar>& cache,
              Matrix<Scalar>& logits, bool last_only = false) override {
    shared.forward(target, y);
    model.decode(y, encoded, h, source_padding, nullptr, &cache);
    head(h, target.rows(), last_only, logits);
  }

  // ---- Names, loading, saving ------------------------------------------------------------------------------------
  const T5Config& config() const { return config_; }

  /// Names: shared.weight, encoder.layers.<i>.*, encoder.final_norm.weight, encoder.relative_bias.weight, the
  /// same under decoder. (with self_attn, cross_attn and their norms), lm_head.weight (untied only).
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    shared.collect_parameters(prefix + "shared.", out);
    model.collect_parameters(prefix, out);
    if (!config_.tie_word_embeddings) lm_head.collect_parameters(prefix + "lm_head.", out);
  }

  /// Our names ↔ the names in Hugging Face T5 checkpoints (T5ForConditionalGeneration). The FFN's names depend
  /// on its kind: wi (plain) or wi_0 = gate and wi_1 = up (gated).
  NameTable hf_names() const {
    const std::string up = config_.gated ? "wi_1." : "wi.";
    return NameTable({
        {"shared.", "shared."},
        // The relative bias first: its Hugging Face name also starts like block 0's attention (first match wins).
        {"encoder.relative_bias.", "encoder.block.0.layer.0.SelfAttention.relative_attention_bias."},
        {"decoder.relative_bias.", "decoder.block.0.layer.0.SelfAttention.relative_attention_bias."},
        {"encoder.layers.{i}.attn_norm.", "encoder.block.{i}.layer.0.layer_norm."},
        {"encoder.layers.{i}.attn.", "encoder.block.{i}.layer.0.SelfAttention."},  // q, k, v, o
        {"encoder.layers.{i}.ffn_norm.", "encoder.block.{i}.layer.1.layer_norm."},
        {"encoder.layers.{i}.ffn.gate.", "encoder.block.{i}.layer.1.DenseReluDense.wi_0."},
        {"encoder.layers.{i}.ffn.up.", "encoder.block.{i}.layer.1.DenseReluDense." + up},
        {"encoder.layers.{i}.ffn.down.", "encoder.block.{i}.layer.1.DenseReluDense.wo."},
        {"encoder.final_norm.", "encoder.final_layer_norm."},
        {"decoder.layers.{i}.self_attn_norm.", "decoder.block.{i}.layer.0.layer_norm."},
        {"decoder.layers.{i}.self_attn.", "decoder.block.{i}.layer.0.SelfAttention."},
        {"decoder.layers.{i}.cross_attn_norm.", "decoder.block.{i}.layer.1.layer_norm."},
        {"decoder.layers.{i}.cross_attn.", "decoder.block.{i}.layer.1.EncDecAttention."},
        {"decoder.layers.{i}.ffn_norm.", "decoder.block.{i}.layer.2.layer_norm."},
        {"decoder.layers.{i}.ffn.gate.", "decoder.block.{i}.layer.2.DenseReluDense.wi_0."},
        {"decoder.layers.{i}.ffn.up.", "decoder.block.{i}.layer.2.DenseReluDense." + up},
        {"decoder.layers.{i}.ffn.down.", "decoder.block.{i}.layer.2.DenseReluDense.wo."},
        {"decoder.final_norm.", "decoder.final_layer_norm."},
        {"lm_head.", "lm_head."},
    });
  }

  /// Hugging Face files store the embedding as "shared" and often again as encoder/decoder.embed_tokens (or
  /// only as those); old files also carry a cross-attention bias T5 never uses, and tied ones may carry lm_head.
  NameMapping names() const {
    NameMapping m;
    m.to_hf = [table = hf_names()](const std::string& ours) { return table.to_hf(ours); };
    m.aliases = [](const std::string& hf) -> std::vector<std::string> {
      if (hf == "shared.weight") return {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
      return {};
    };
    const bool tied = config_.tie_word_embeddings;
    m.ignore = [tied](const std::string& name) {
      return name == "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight" ||
             (tied && name == "lm_head.weight");
    };
    return m;
  }

  void load(Checkpoint& checkpoint) {
    ParameterList<Scalar> params = named_parameters(*this);
    load_checkpoint(params, checkpoint, names());
  }

  void save_pretrained(const std::string& folder, DType dtype = DType::F32) {
    save_checkpoint(folder, config_.to_json(), named_parameters(*this), names(), dtype);
  }

 private:
  // logits = (h · C^-½) Eᵀ when tied, h W_lmᵀ otherwise; all positions or the last of each sequence.
  void head(const Tensor3<Scalar>& hidden, Index batch, bool last_only, Matrix<Scalar>& logits) const {
    const Matrix<Scalar>& weight = config_.tie_word_embeddings ? shared.weight : lm_head.weight;
    const Scalar scale = config_.tie_word_embeddings ? Scalar(1) / std::sqrt(static_cast<Scalar>(config_.d_model)) : Scalar(1);
    if (last_only) {
      logits.noalias() = (detail::last_rows<Scalar>(as_matrix(hidden), batch) * scale) * weight.transpose();
    } else {
      logits.noalias() = (as_matrix(hidden) * scale) * weight.transpose();
    }
  }

  T5Config config_;

 public:
  Embedding<Scalar> shared;      // E (V, C)
  EncoderDecoder<Scalar> model;  // encoder and decoder stacks (each with its relative bias and final norm)
  Linear<Scalar> lm_head;        // W_lm (V, C); empty when tied
  // Intermediates of the last forward call.
  Tensor3<Scalar> x;             // (B, S, C) the embedded source
  Tensor3<Scalar> memory;        // (B, S, C) the encoder output
  Tensor3<Scalar> y;             // (B, T, C) the embedded target
  Tensor3<Scalar> h;             // (B, T, C) the decoder output, after its final norm (before any rescale)
};

}  // namespace eigenformer
