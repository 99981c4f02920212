// examples/bart/bart.hpp — BART (Lewis et al. 2020, "BART: Denoising Sequence-to-Sequence Pre-training for Natural
// Language Generation, Translation, and Comprehension") assembled from eigenformer's blocks.
//
// What it picks from the kit — the 2017 Transformer's encoder-decoder with BERT's habits:
//   embedding   one shared table E (V, C) for the source, the target and the LM head, times √C when
//               scale_embedding; plus learned positions, one table per stack, read at p + 2 (the offset of 2:
//               layers/learned_positions.hpp); then a LayerNorm of the sum, layernorm_embedding (as BERT)
//                   x = LayerNorm_emb(E[id] · s + P[p + 2])
//   encoder     EncoderBlock, post-norm:  h = LayerNorm(x + Attention(x));  y = LayerNorm(h + FFN(h))
//   decoder     CrossDecoderBlock, post-norm: causal self-attention, cross-attention to the encoder output, FFN,
//               each followed by its LayerNorm of the residual sum
//   attention   H heads of width D = C / H (encoder and decoder may differ), biases everywhere, scores scaled by
//               1/√D (HF scales q by D^-½ before the product: the same number)
//   FFN         fc2(act(fc1 x)) with activation_function (bart-large: the erf GELU), biases
//   stacks      no final norm: the output of the last block is the output
//   head        logits = h Eᵀ + final_logits_bias (a (1, V) buffer; zeros in the released checkpoints, but loaded
//               and added, as transformers does), or h W_lmᵀ + final_logits_bias when untied
//
// Generation (examples/bart/bart.cpp, include/eigenformer/generation/): the decoder starts from
// decoder_start_token_id (</s>, 2), forced_bos_token_id makes the first generated token <s> and forced_eos_token_id
// makes the last allowed step emit </s>; summarisation checkpoints (bart-large-cnn) add beam search with
// no_repeat_ngram_size, length_penalty and min_length in their generation_config.json.
//
// It loads Hugging Face checkpoints with model_type "bart" (facebook/bart-base, bart-large, bart-large-cnn,
// bart-large-xsum, distilbart-*), BartForConditionalGeneration's "model."-prefixed names, or bare BartModel names.
//
// Shapes: B batch, S source positions, T target positions, C d_model, H heads, D = C / H, F ffn_dim, V vocab_size.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include "bart_config.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace eigenformer {

// BartConfig — config.json read and checked, and the blocks this family picks: bart_config.hpp.

/// What one forward call may do besides computing logits (models/language_model.hpp). All optional.
template <class Scalar>
using BartOptions = Seq2SeqOptions<Scalar>;

template <class Scalar>
class Bart : public Seq2SeqLM<Scalar> {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  explicit Bart(const BartConfig& config)
      : config_(config),
        shared(config.vocab_size, config.d_model),
        encoder_positions(config.max_position_embeddings, config.d_model, BartConfig::kPositionOffset),
        decoder_positions(config.max_position_embeddings, config.d_model, BartConfig::kPositionOffset),
        encoder_embedding_norm(config.d_model, embedding_norm()),
        decoder_embedding_norm(config.d_model, embedding_norm()),
        model(config.stacks()),
        final_logits_bias(Matrix<Scalar>::Zero(1, config.vocab_size)) {
    if (!config.tie_word_embeddings) lm_head = Linear<Scalar>(config.d_model, config.vocab_size, /*bias=*/false);
    // BartModel's shared table is nn.Embedding(V, C, padding_idx=pad_token_id): lookups of the pad row send it no
    // gradient (the tied head's product still does). Only the backward reads this.
    if (config.special_tokens.pad) shared.padding_idx = static_cast<Index>(*config.special_tokens.pad);
  }

  /// Opens a checkpoint folder, checks config.json against the weights' sizes, builds and loads (strict).
  static Bart from_pretrained(const std::string& folder) {
    Checkpoint checkpoint(folder);
    const BartConfig config = BartConfig::from(checkpoint.config());
    checkpoint.check_parameter_count(config.parameter_count());
    checkpoint.check_weights_fit<Scalar>(config.parameter_count());  // MemoryError before allocating (core/memory.hpp)
    Bart bart(config);
    bart.load(checkpoint);
    return bart;
  }

  /// source (B, S), target (B, T) → logits (B·T, V), or (B, V) with options.last_only.
  void forward(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits, const BartOptions<Scalar>& options = {}) {
    ready_for_backward_ = false;  // the kept activations now belong to this call
    // 1) Embed the source: E[id] · s + P_enc[p + 2], then layernorm_embedding.          x (B, S, C)
    embed(source, encoder_positions, encoder_embedding_norm, 0, x);

    // 2) The encoder reads the whole source at once.                                      memory (B, S, C)
    model.encode(x, memory, options.source_padding, options.encoder_capture);

    // 3) Embed the target (after the cached positions) and run the decoder over it.       h (B, T, C)
    const Index first = options.cache != nullptr ? options.cache->length() : 0;
    embed(target, decoder_positions, decoder_embedding_norm, first, y);
    model.decode(y, memory, h, options.source_padding, /*target_padding=*/nullptr, options.cache, options.decoder_capture);

    // 4) The LM head and final_logits_bias.                                               (B·T, V) or (B, V)
    head(h, target.rows(), options.last_only, logits);
  }

  // ---- Seq2SeqLM ---------------------------------------------------------------------------------------------------
  Index vocab_size() const override { return config_.vocab_size; }
  const SpecialTokenIds& special_tokens() const override { return config_.special_tokens; }

  void encode(const TokenIds& source, const KeyPadding* padding, Tensor3<Scalar>& out) override {
    ready_for_backward_ = false;
    embed(source, encoder_positions, encoder_embedding_norm, 0, x);
    model.encode(x, out, padding);
  }

  void decode(const TokenIds& target, const Tensor3<Scalar>& encoded, const KeyPadding* source_padding, DecoderCache<Scalar>& cache,
              Matrix<Scalar>& logits, bool last_only = false) override {
    ready_for_backward_ = false;
    embed(target, decoder_positions, decoder_embedding_norm, cache.length(), y);
    model.decode(y, encoded, h, source_padding, nullptr, &cache);
    head(h, target.rows(), last_only, logits);
  }

  /// N decoder layers of H × D keys and values per target position (D = C / H), and as much per source position
  /// for the cross-attention.
  CacheShape cache_shape() const override {
    CacheShape shape;
    shape.layers = config_.decoder_layers;
    shape.kv_heads = config_.decoder_attention_heads;
    shape.head_dim = config_.decoder_attention_heads > 0 ? config_.d_model / config_.decoder_attention_heads : 0;
    shape.cross = true;
    return shape;
  }

  /// The diagnosis of non-finite logits (Seq2SeqLM::forward_captured): source and target from scratch, the
  /// encoder and the decoder recorded.
  bool forward_captured(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits,
                        Capture<Scalar>& encoder_capture, Capture<Scalar>& decoder_capture) override {
    encoder_capture.prefix = "encoder.";
    decoder_capture.prefix = "decoder.";
    BartOptions<Scalar> options;
    options.encoder_capture = &encoder_capture;
    options.decoder_capture = &decoder_capture;
    forward(source, target, logits, options);
    return true;
  }

  // ---- Training ---------------------------------------------------------------------------------------------------
  //
  // Teacher forcing, as BartForConditionalGeneration computes its loss from `labels` (docs/training.md, "BART"):
  //
  //     decoder input   = labels shifted right behind decoder_start_token_id, −100 → pad   (shift_tokens_right)
  //     x = LN_enc(E[source] · s + P_enc[p + 2])         (B, S, C)   s = √C with scale_embedding, else 1
  //     y = LN_dec(E[decoder input] · s + P_dec[p + 2])  (B, T, C)
  //     memory = Encoder(x),  h = Decoder(y, memory)     post-norm blocks; every cross-attention reads memory
  //     z = h Eᵀ + final_logits_bias                      (B·T, V)    (h W_lmᵀ + … untied)
  //     L = mean_{t: label ≠ −100} −log softmax(z_t)[label_t]
  //
  // Backward, in reverse, each step adding into the gradient buffers:
  //   4) the head             dh = dz E,  E's gradient += dzᵀ h (tied; W_lm's untied)
  //   3) decoder, encoder     EncoderDecoder::backward: dy, dx; dmemory summed over every cross-attention
  //   2) layernorm_embedding  d_sum = LN'ᵀ dy (and dx), in place
  //   1) the sum              P[p + 2] += Σ_b d_sum (rows 0 and 1 are never read: zero gradient);
  //                           E[id] += s · d_sum, except the pad row (padding_idx)
  // E is read three times when tied (source, decoder input, head); all three add into shared.weight_grad, the
  // total autograd gives the one tensor a file may store under four names.
  //
  // final_logits_bias is a buffer in transformers (register_buffer), not a parameter: autograd gives it no
  // gradient and no optimizer changes it. So here: parameters_with_gradients() leaves it out (collect_parameters
  // below), training keeps it as loaded, and the --grad dump has no entry for it.

  /// The decoder input of teacher forcing: labels (B, T) → (B, T), shifted right behind decoder_start_token_id,
  /// −100 → pad_token_id (training::shift_right).
  TokenIds decoder_input_ids(const TokenIds& labels) const {
    return training::shift_right(labels, *config_.special_tokens.decoder_start, *config_.special_tokens.pad);
  }

  /// The training forward: source (B, S), decoder input target (B, T) → logits (B·T, V), keeping what backward()
  /// reads — the ids, the source padding, every attention's weights, the embedding norms' x̂. No cache, no
  /// capture. `source_padding` (may be null) must stay alive until backward().
  void forward_for_training(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits,
                            const KeyPadding* source_padding = nullptr) {
    if (source_padding != nullptr && source_padding->batch() != source.rows()) {
      throw ShapeError(detail::cat("[Bart::forward_for_training] the source padding describes ", source_padding->batch(),
                                   " sequences but the source has ", source.rows()));
    }
    train_source_ = source;
    train_target_ = target;
    train_padding_ = source_padding;
    // 1) and 2) Embed both sequences (each its own positions and layernorm_embedding), run encoder and decoder.
    embed(source, encoder_positions, encoder_embedding_norm, 0, x);
    embed(target, decoder_positions, decoder_embedding_norm, 0, y);
    model.forward_for_backward(x, y, h, source_padding, /*target_padding=*/nullptr);
    // 3) The head and final_logits_bias.
    head(h, target.rows(), /*last_only=*/false, logits);
    ready_for_backward_ = true;
  }

  /// Backward of the last forward_for_training(): dlogits (B·T, V) → every parameter's gradient added into its
  /// buffer. ValueError when the last forward call was another (forward, encode and decode keep no attention
  /// weights); ShapeError for dlogits of another shape. dx, dy (the embedded inputs' gradients) stay readable.
  void backward(const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    if (!ready_for_backward_) {
      throw ValueError("[Bart::backward] the last forward call was not forward_for_training(); run it first (forward(), "
                       "encode() and decode() keep nothing for a backward pass)");
    }
    const Index B = train_target_.rows(), T = train_target_.cols();
    if (dlogits.rows() != B * T || dlogits.cols() != config_.vocab_size) {
      throw ShapeError(detail::cat("[Bart::backward] dlogits ", detail::shape_str(shape_of(dlogits)),
                                   " is not (B·T, V) = ", detail::shape_str({B * T, config_.vocab_size})));
    }
    // 4) The head (final_logits_bias: a buffer, no gradient).
    dh.resize(B, T, config_.d_model);
    if (config_.tie_word_embeddings) {
      shared.backward_as_head(as_matrix(h), dlogits, as_matrix(dh));
    } else {
      lm_head.backward(as_matrix(h), dlogits, as_matrix(dh));
    }
    // 3) Decoder, then encoder.
    model.backward(x, y, dh, dx, dy, train_padding_, /*target_padding=*/nullptr);
    // 2) and 1) Each stack's embedding, in reverse.
    embed_backward(train_target_, decoder_positions, decoder_embedding_norm, dy);
    embed_backward(train_source_, encoder_positions, encoder_embedding_norm, dx);
  }

  /// One training example's loss and gradients: source (B, S) with its padding, labels (B, T) (−100: not
  /// scored). forward_for_training on decoder_input_ids(labels), the mean cross-entropy over the counted labels,
  /// backward(); the gradients are added into the buffers (zero them between steps).
  training::LossValue loss_and_gradients(const TokenIds& source, const TokenIds& labels,
                                         const KeyPadding* source_padding = nullptr) {
    forward_for_training(source, decoder_input_ids(labels), train_logits_, source_padding);
    const TokenSequence flat(labels.data(), labels.data() + labels.size());  // row-major: (b, t) → b·T + t
    const training::LossValue loss = training::cross_entropy<Scalar>(train_logits_, flat, &d_logits);
    backward(d_logits);
    return loss;
  }

  // ---- Names, loading, saving ------------------------------------------------------------------------------------
  const BartConfig& config() const { return config_; }

  /// Names: shared.weight, {encoder,decoder}_positions.weight, {encoder,decoder}_embedding_norm.*,
  /// encoder.layers.<i>.*, decoder.layers.<i>.* (self_attn, cross_attn and their norms), lm_head.weight (untied
  /// only), final_logits_bias — loaded and saved, but left out of a list collected with gradients: it is a buffer
  /// in transformers, which no gradient reaches (see Training above).
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    shared.collect_parameters(prefix + "shared.", out);
    encoder_positions.collect_parameters(prefix + "encoder_positions.", out);
    decoder_positions.collect_parameters(prefix + "decoder_positions.", out);
    encoder_embedding_norm.collect_parameters(prefix + "encoder_embedding_norm.", out);
    decoder_embedding_norm.collect_parameters(prefix + "decoder_embedding_norm.", out);
    model.collect_parameters(prefix, out);
    if (!config_.tie_word_embeddings) lm_head.collect_parameters(prefix + "lm_head.", out);
    if (!out.gradients) add_parameter(out, prefix + "final_logits_bias", final_logits_bias);
  }

  /// Our names ↔ the names in BartForConditionalGeneration files.
  static const NameTable& hf_names() {
    static const NameTable table({
        {"shared.", "model.shared."},
        {"encoder_positions.", "model.encoder.embed_positions."},
        {"decoder_positions.", "model.decoder.embed_positions."},
        {"encoder_embedding_norm.", "model.encoder.layernorm_embedding."},
        {"decoder_embedding_norm.", "model.decoder.layernorm_embedding."},
        {"encoder.layers.{i}.attn.q.", "model.encoder.layers.{i}.self_attn.q_proj."},
        {"encoder.layers.{i}.attn.k.", "model.encoder.layers.{i}.self_attn.k_proj."},
        {"encoder.layers.{i}.attn.v.", "model.encoder.layers.{i}.self_attn.v_proj."},
        {"encoder.layers.{i}.attn.o.", "model.encoder.layers.{i}.self_attn.out_proj."},
        {"encoder.layers.{i}.attn_norm.", "model.encoder.layers.{i}.self_attn_layer_norm."},
        {"encoder.layers.{i}.ffn.up.", "model.encoder.layers.{i}.fc1."},
        {"encoder.layers.{i}.ffn.down.", "model.encoder.layers.{i}.fc2."},
        {"encoder.layers.{i}.ffn_norm.", "model.encoder.layers.{i}.final_layer_norm."},
        {"decoder.layers.{i}.self_attn.q.", "model.decoder.layers.{i}.self_attn.q_proj."},
        {"decoder.layers.{i}.self_attn.k.", "model.decoder.layers.{i}.self_attn.k_proj."},
        {"decoder.layers.{i}.self_attn.v.", "model.decoder.layers.{i}.self_attn.v_proj."},
        {"decoder.layers.{i}.self_attn.o.", "model.decoder.layers.{i}.self_attn.out_proj."},
        {"decoder.layers.{i}.self_attn_norm.", "model.decoder.layers.{i}.self_attn_layer_norm."},
        {"decoder.layers.{i}.cross_attn.q.", "model.decoder.layers.{i}.encoder_attn.q_proj."},
        {"decoder.layers.{i}.cross_attn.k.", "model.decoder.layers.{i}.encoder_attn.k_proj."},
        {"decoder.layers.{i}.cross_attn.v.", "model.decoder.layers.{i}.encoder_attn.v_proj."},
        {"decoder.layers.{i}.cross_attn.o.", "model.decoder.layers.{i}.encoder_attn.out_proj."},
        {"decoder.layers.{i}.cross_attn_norm.", "model.decoder.layers.{i}.encoder_attn_layer_norm."},
        {"decoder.layers.{i}.ffn.up.", "model.decoder.layers.{i}.fc1."},
        {"decoder.layers.{i}.ffn.down.", "model.decoder.layers.{i}.fc2."},
        {"decoder.layers.{i}.ffn_norm.", "model.decoder.layers.{i}.final_layer_norm."},
        {"lm_head.", "lm_head."},
        {"final_logits_bias", "final_logits_bias"},
    });
    return table;
  }

  /// How a checkpoint names our parameters. The shared embedding may be stored as model.shared.weight, or only as
  /// its tied copies model.encoder.embed_tokens / model.decoder.embed_tokens (and lm_head.weight when tied): the
  /// first present is read, the others skipped. Bare BartModel names (without "model.") are accepted too.
  NameMapping names() const {
    NameMapping m;
    m.to_hf = [](const std::string& ours) { return hf_names().to_hf(ours); };
    const bool tied = config_.tie_word_embeddings;
    m.aliases = [tied](const std::string& hf) -> std::vector<std::string> {
      std::vector<std::string> spellings;
      if (hf == "model.shared.weight") {
        spellings = {"model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"};
        if (tied) spellings.push_back("lm_head.weight");
      }
      const std::string prefix = "model.";
      const std::size_t n = spellings.size();
      if (hf.compare(0, prefix.size(), prefix) == 0) spellings.push_back(hf.substr(prefix.size()));
      for (std::size_t i = 0; i < n; ++i) {
        if (spellings[i].compare(0, prefix.size(), prefix) == 0) spellings.push_back(spellings[i].substr(prefix.size()));
      }
      return spellings;
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
  static NormConfig embedding_norm() {
    NormConfig n;
    n.kind = NormKind::LayerNorm;
    n.eps = BartConfig::kLayerNormEps;
    n.bias = true;
    return n;
  }

  // out (B, T, C) = LayerNorm_emb(E[ids] · s + P[first + t + 2]), s = √C with scale_embedding, else 1.
  void embed(const TokenIds& ids, const LearnedPositions<Scalar>& positions, Norm<Scalar>& norm, Index first,
             Tensor3<Scalar>& out) {
    shared.forward(ids, embedded);
    if (config_.scale_embedding) as_matrix(embedded) *= std::sqrt(static_cast<Scalar>(config_.d_model));
    positions.add(embedded, first);
    out.resize(embedded.dimensions());
    norm.forward(as_matrix(embedded), as_matrix(out));
  }

  // Backward of embed() from d_out (B, T, C), consumed in place: the norm, the positions' scatter (Σ over the
  // batch), then the token lookups times s (the pad row skipped: padding_idx).
  void embed_backward(const TokenIds& ids, LearnedPositions<Scalar>& positions, Norm<Scalar>& norm, Tensor3<Scalar>& d_out) {
    MatrixMap<Scalar> d_sum = as_matrix(d_out);
    norm.backward(d_sum, d_sum);
    positions.add_backward(d_sum, ids.rows(), 0);
    if (config_.scale_embedding) d_sum *= std::sqrt(static_cast<Scalar>(config_.d_model));
    shared.backward(ids, d_sum);
  }

  // logits = h Eᵀ (tied) or h W_lmᵀ, + final_logits_bias; all positions or the last of each sequence.
  void head(const Tensor3<Scalar>& hidden, Index batch, bool last_only, Matrix<Scalar>& logits) const {
    const Matrix<Scalar>& weight = config_.tie_word_embeddings ? shared.weight : lm_head.weight;
    if (last_only) {
      product_threaded<Scalar>(detail::last_rows<Scalar>(as_matrix(hidden), batch), weight.transpose(), logits);
    } else {
      product_threaded<Scalar>(as_matrix(hidden), weight.transpose(), logits);
    }
    logits.rowwise() += final_logits_bias.row(0);
  }

  BartConfig config_;
  TokenIds train_source_, train_target_;     // (B, S), (B, T) the ids of the last training forward
  const KeyPadding* train_padding_ = nullptr; // its source padding (the caller keeps it alive)
  Matrix<Scalar> train_logits_;              // (B·T, V) loss_and_gradients' logits
  bool ready_for_backward_ = false;          // the last forward was forward_for_training()

 public:
  Embedding<Scalar> shared;                     // E (V, C)
  LearnedPositions<Scalar> encoder_positions;   // P_enc (max_position_embeddings + 2, C), read at p + 2
  LearnedPositions<Scalar> decoder_positions;   // P_dec (max_position_embeddings + 2, C), read at p + 2
  Norm<Scalar> encoder_embedding_norm;          // layernorm_embedding of the encoder (C)
  Norm<Scalar> decoder_embedding_norm;          // layernorm_embedding of the decoder (C)
  EncoderDecoder<Scalar> model;                 // post-norm encoder and decoder stacks, no final norms
  Linear<Scalar> lm_head;                       // W_lm (V, C); empty when tied
  Matrix<Scalar> final_logits_bias;             // (1, V) added to every row of logits
  // Intermediates of the last forward call.
  Tensor3<Scalar> embedded;                     // (B, ·, C) E[id] · s + P, before layernorm_embedding
  Tensor3<Scalar> x;                            // (B, S, C) the embedded source (after layernorm_embedding)
  Tensor3<Scalar> memory;                       // (B, S, C) the encoder output
  Tensor3<Scalar> y;                            // (B, T, C) the embedded target (after layernorm_embedding)
  Tensor3<Scalar> h;                            // (B, T, C) the decoder output
  // Gradients of the last backward call.
  Matrix<Scalar> d_logits;                      // (B·T, V) ∂loss/∂logits (loss_and_gradients)
  Tensor3<Scalar> dh;                           // (B, T, C) ∂loss/∂h
  Tensor3<Scalar> dx;                           // (B, S, C) ∂loss/∂x, the embedded source
  Tensor3<Scalar> dy;                           // (B, T, C) ∂loss/∂y, the embedded decoder input
};

}  // namespace eigenformer
