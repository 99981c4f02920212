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
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace eigenformer {

// T5Config — config.json read and checked, and the blocks this family picks: t5_config.hpp.

/// What one forward call may do besides computing logits (models/language_model.hpp). All optional.
template <class Scalar>
using T5Options = Seq2SeqOptions<Scalar>;

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
    checkpoint.check_weights_fit<Scalar>(config.parameter_count());  // MemoryError before allocating (core/memory.hpp)
    T5 t5(config);
    t5.load(checkpoint);
    return t5;
  }

  /// source (B, S), target (B, T) → logits (B·T, V), or (B, V) with options.last_only.
  void forward(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits, const T5Options<Scalar>& options = {}) {
    ready_for_backward_ = false;  // the blocks' kept activations now belong to this call
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
    ready_for_backward_ = false;
    shared.forward(source, x);
    model.encode(x, out, padding);
  }

  void decode(const TokenIds& target, const Tensor3<Scalar>& encoded, const KeyPadding* source_padding, DecoderCache<Scalar>& cache,
              Matrix<Scalar>& logits, bool last_only = false) override {
    ready_for_backward_ = false;
    shared.forward(target, y);
    model.decode(y, encoded, h, source_padding, nullptr, &cache);
    head(h, target.rows(), last_only, logits);
  }

  /// N decoder layers of H × d_kv keys and values per target position, and as much per source position for the
  /// cross-attention.
  CacheShape cache_shape() const override {
    CacheShape shape;
    shape.layers = config_.num_decoder_layers > 0 ? config_.num_decoder_layers : config_.num_layers;
    shape.kv_heads = config_.num_heads;
    shape.head_dim = config_.d_kv;
    shape.cross = true;
    return shape;
  }

  /// The diagnosis of non-finite logits (Seq2SeqLM::forward_captured): source and target from scratch, the
  /// encoder and the decoder recorded.
  bool forward_captured(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits,
                        Capture<Scalar>& encoder_capture, Capture<Scalar>& decoder_capture) override {
    encoder_capture.prefix = "encoder.";
    decoder_capture.prefix = "decoder.";
    T5Options<Scalar> options;
    options.encoder_capture = &encoder_capture;
    options.decoder_capture = &decoder_capture;
    forward(source, target, logits, options);
    return true;
  }

  // ---- Training -----------------------------------------------------------------------------------------------
  //
  // Teacher forcing (Williams & Zipser 1989; how T5 and every seq2seq model is trained): the decoder reads the
  // *true* target shifted one step right, so position t predicts label t from labels 0..t−1 in one parallel pass:
  //
  //     labels            y_0    y_1    y_2    </s>
  //     decoder input     start  y_0    y_1    y_2          start = decoder_start_token_id; −100 → pad
  //
  // The loss is the mean cross-entropy over the labels that are not −100 (training/loss.hpp):
  //     L = (1/n) Σ_{b,t: y_bt ≠ −100} −log softmax(logits_bt)_{y_bt}
  //
  // The backward runs the forward in reverse. With s = C^-½ (tied) or 1 (untied) and W = E (tied) or W_lm:
  //   4) logits = (s h) Wᵀ        d(s h) = dlogits W,  dh = s · d(s h),  dW += dlogitsᵀ (s h)
  //   3) h = Decoder(y, memory)   dy, and dmemory summed over every layer's cross-attention (EncoderDecoder)
  //      y = E[target]            E(target_bt, :) += dy(b, t, :)
  //   2) memory = Encoder(x)      dx from dmemory (relative bias tables: each stack sums its layers' shares)
  //   1) x = E[source]            E(source_bs, :) += dx(b, s, :)
  // E is read three times (source lookup, target lookup, and the head when tied): all three add into the one
  // shared.weight_grad, the total autograd gives a tensor used three times.

  /// The decoder input of teacher forcing: labels (B, T) shifted right by one, decoder_start_token_id in front,
  /// the ignore index −100 replaced by the pad id (as transformers' T5 `_shift_right`). → (B, T)
  TokenIds decoder_input_ids(const TokenIds& labels) const {
    return training::shift_right(labels, *config_.special_tokens.decoder_start, *config_.special_tokens.pad);
  }

  /// The training forward: source (B, S), decoder input target (B, T) → logits (B·T, V), keeping what backward()
  /// reads — the ids, the source padding, every attention's weights, the head's input. No cache, no capture.
  void forward_for_backward(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits,
                            const KeyPadding* source_padding = nullptr) {
    if (source_padding != nullptr && source_padding->batch() != source.rows()) {
      throw ShapeError(detail::cat("[T5::forward_for_backward] the source padding describes ", source_padding->batch(),
                                   " sequences but the source has ", source.rows()));
    }
    train_source = source;
    train_target = target;
    train_padding = source_padding != nullptr ? std::optional<KeyPadding>(*source_padding) : std::nullopt;
    // 1) and 2) Embed the source and the target (no positions: the relative bias), run encoder and decoder.
    shared.forward(source, x);
    shared.forward(target, y);
    model.forward_for_backward(x, y, h, padding_or_null());
    // 3) The head, from its kept input (s h).
    head_input = as_matrix(h) * head_scale();
    product_threaded<Scalar>(head_input, head_weight().transpose(), logits);
    ready_for_backward_ = true;
  }

  /// Backward of the last forward_for_backward(): dlogits (B·T, V) = ∂loss/∂logits → every parameter's gradient
  /// added into its buffer (collect with parameters_with_gradients() first; an empty buffer is frozen).
  /// ValueError when the last forward call was not forward_for_backward() (forward, encode and decode keep no
  /// attention weights, and overwrite what the training forward kept).
  void backward(const Matrix<Scalar>& dlogits) {
    if (!ready_for_backward_) {
      throw ValueError("[T5::backward] the last forward call was not forward_for_backward(); run it first (forward(), "
                       "encode() and decode() keep nothing for a backward pass)");
    }
    const Index BT = train_target.rows() * train_target.cols();
    if (dlogits.rows() != BT || dlogits.cols() != config_.vocab_size || head_input.rows() != BT) {
      throw ShapeError(detail::cat("[T5::backward] logit gradient ", detail::shape_str(shape_of(dlogits)),
                                   " does not match the last forward_for_backward call's (B·T, V) = ",
                                   detail::shape_str({BT, config_.vocab_size})));
    }
    const Index B = train_target.rows(), T = train_target.cols();
    // 4) The head: d(s h) = dlogits W, W's gradient += dlogitsᵀ (s h); then dh = s · d(s h).
    dh.resize(B, T, config_.d_model);
    if (config_.tie_word_embeddings) {
      shared.backward_as_head(head_input, dlogits, as_matrix(dh));
    } else {
      lm_head.backward(head_input, dlogits, as_matrix(dh));
    }
    as_matrix(dh) *= head_scale();
    // 3) and 2) Decoder, then encoder (the memory's gradient summed over the decoder layers first).
    model.backward(x, y, dh, dx, dy, padding_or_null());
    // 1) The three reads of the shared table add into one gradient (the head's use, when tied, is in already).
    shared.backward(train_target, as_matrix(dy));
    shared.backward(train_source, as_matrix(dx));
  }

  /// One training example's loss and gradients: source (B, S) with its padding, labels (B, T) (−100: not
  /// scored). Runs forward_for_backward on decoder_input_ids(labels), the mean cross-entropy over the counted
  /// labels, and backward(); the gradients are added into the buffers (zero them between steps).
  training::LossValue loss_and_gradients(const TokenIds& source, const TokenIds& labels,
                                         const KeyPadding* source_padding = nullptr) {
    forward_for_backward(source, decoder_input_ids(labels), train_logits, source_padding);
    const TokenSequence flat(labels.data(), labels.data() + labels.size());  // row-major: (b, t) → b·T + t
    const training::LossValue loss = training::cross_entropy<Scalar>(train_logits, flat, &train_dlogits);
    backward(train_dlogits);
    return loss;
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

  /// The names of a --grad dump (models/gradient_dump.hpp) for the checkpoint `stored`: every tensor under the
  /// name that file stores it under. The shared table may be stored as shared.weight, encoder.embed_tokens.weight,
  /// decoder.embed_tokens.weight and (tied files) lm_head.weight, in any combination: it is one parameter, so the
  /// first spelling present is its name and `copies` gives the others, each receiving the same total gradient.
  /// The stale cross-attention bias old files carry is no parameter (nothing reads it): it gets no entry, as
  /// autograd gives an unused tensor no .grad.
  struct GradientNames {
    NameMapping names;
    std::function<std::vector<std::string>(const std::string&)> copies;
  };
  GradientNames gradient_names(const Checkpoint& stored) const {
    std::vector<std::string> table;  // the spellings of E in the file, the canonical one first
    for (const char* name : {"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}) {
      if (stored.contains(name)) table.emplace_back(name);
    }
    if (config_.tie_word_embeddings && stored.contains("lm_head.weight")) table.emplace_back("lm_head.weight");
    if (table.empty()) table.emplace_back("shared.weight");
    GradientNames out;
    out.names = names();
    out.names.to_hf = [hf = hf_names(), table](const std::string& ours) {
      const std::string name = hf.to_hf(ours);
      return name == "shared.weight" ? table.front() : name;
    };
    out.copies = [table](const std::string& hf) {
      return hf == table.front() ? std::vector<std::string>(table.begin() + 1, table.end()) : std::vector<std::string>{};
    };
    return out;
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
    const Matrix<Scalar>& weight = head_weight();
    const Scalar scale = head_scale();
    if (last_only) {
      product_threaded<Scalar>((detail::last_rows<Scalar>(as_matrix(hidden), batch) * scale), weight.transpose(), logits);
    } else {
      product_threaded<Scalar>((as_matrix(hidden) * scale), weight.transpose(), logits);
    }
  }

  // s = C^-½ when tied (the rescale Mesh TensorFlow applies before reusing E), 1 otherwise.
  Scalar head_scale() const {
    return config_.tie_word_embeddings ? Scalar(1) / std::sqrt(static_cast<Scalar>(config_.d_model)) : Scalar(1);
  }
  // W: E (V, C) when tied, W_lm (V, C) otherwise.
  const Matrix<Scalar>& head_weight() const { return config_.tie_word_embeddings ? shared.weight : lm_head.weight; }
  const KeyPadding* padding_or_null() const { return train_padding ? &*train_padding : nullptr; }

  T5Config config_;
  bool ready_for_backward_ = false;  // the last forward call was forward_for_backward()

 public:
  Embedding<Scalar> shared;      // E (V, C)
  EncoderDecoder<Scalar> model;  // encoder and decoder stacks (each with its relative bias and final norm)
  Linear<Scalar> lm_head;        // W_lm (V, C); empty when tied
  // Intermediates of the last forward call.
  Tensor3<Scalar> x;             // (B, S, C) the embedded source
  Tensor3<Scalar> memory;        // (B, S, C) the encoder output
  Tensor3<Scalar> y;             // (B, T, C) the embedded target
  Tensor3<Scalar> h;             // (B, T, C) the decoder output, after its final norm (before any rescale)
  // Kept by forward_for_backward() for backward().
  TokenIds train_source;                  // (B, S) the source ids
  TokenIds train_target;                  // (B, T) the decoder input ids
  std::optional<KeyPadding> train_padding;  // (B, S) the source padding, if any
  Matrix<Scalar> head_input;              // (B·T, C) s·h, what the LM head multiplied
  Matrix<Scalar> train_logits;            // (B·T, V) loss_and_gradients(): the logits
  Matrix<Scalar> train_dlogits;           // (B·T, V) loss_and_gradients(): ∂loss/∂logits
  // Gradients of the last backward() (d<name> = ∂loss/∂<name>).
  Tensor3<Scalar> dh;            // (B, T, C)
  Tensor3<Scalar> dy;            // (B, T, C) the embedded target's
  Tensor3<Scalar> dx;            // (B, S, C) the embedded source's
};

}  // namespace eigenformer
