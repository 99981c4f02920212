// examples/llama/llama.hpp — Llama (Touvron et al. 2023, "LLaMA" and "Llama 2") assembled from eigenformer's blocks.
//
// What it picks from the kit:
//   embedding   a token table E (V, C); no position vectors — RoPE turns q and k inside each attention
//   block       DecoderBlock, pre-norm:  h = x + Attention(RMSNorm(x));  y = h + SwiGLU(RMSNorm(h))
//               attention: causal, H query heads over Hkv key/value heads (GQA: Hkv < H; MHA: Hkv = H),
//                          head width D (head_dim; H·D may differ from C), scores scaled by 1/√D, biases only
//                          when attention_bias
//               SwiGLU:    down(SiLU(gate(x)) ⊙ up(x)), biases only when mlp_bias
//   stack       Decoder: N blocks, a final RMSNorm, one RotaryEmbedding (θ = rope_theta, rope_scaling
//               "linear" or "llama3") shared by all layers
//   head        logits = h W_lmᵀ, W_lm (V, C) — or E itself when tie_word_embeddings (Llama 3.2 1B/3B)
//
// It loads Hugging Face checkpoints with model_type "llama": TinyLlama, Llama 2, Llama 3, 3.1, 3.2, SmolLM, ...
// and its relatives "qwen2" (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen), "qwen3" and "mistral" (Mistral 7B: a sliding
// window in the attention mask) — llama_config.hpp says what differs.
//
//     Llama<float> model = Llama<float>::from_pretrained("TinyLlama-1.1B-Chat-v1.0");
//     Matrix<float> logits;                                    // (T, V)
//     model.forward(ids, logits);
//
// Shapes: B batch, T positions, C hidden_size, H heads, Hkv key/value heads, D head_dim, F intermediate_size,
// V vocab_size, N layers.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include "llama_config.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace eigenformer {

// LlamaConfig — config.json read and checked, and the blocks this family picks: llama_config.hpp.

/// What one forward call may do besides computing logits. All optional.
template <class Scalar>
struct LlamaOptions {
  DecoderCache<Scalar>* cache = nullptr;       // incremental decoding: ids follow the cache.length() cached positions
  const KeyPadding* padding = nullptr;    // padding keys over cached + new positions (left-padded batches)
  const std::vector<Index>* position_shift = nullptr;  // (B) left-padded batches: slot j of sequence b is at position
                                                       // j − position_shift[b] (RoPE); null: position j
  Capture<Scalar>* capture = nullptr;          // hidden states and attention maps, with Hugging Face's meaning
  bool last_only = false;                 // logits for the last position of each sequence only: (B, V)
};

template <class Scalar>
class Llama : public CausalLM<Scalar> {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  explicit Llama(const LlamaConfig& config)
      : config_(config), embed_tokens(config.vocab_size, config.hidden_size), decoder(config.stack()) {
    if (!config.tie_word_embeddings) lm_head = Linear<Scalar>(config.hidden_size, config.vocab_size, /*bias=*/false);
  }

  /// Opens a checkpoint folder, checks config.json against the weights' sizes, builds the model and loads every
  /// weight (strict). Typed errors (FileError, ConfigError, FormatError) name the file, the field or the tensor.
  static Llama from_pretrained(const std::string& folder, RopeLayout layout = RopeLayout::HalfSplit) {
    Checkpoint checkpoint(folder);
    LlamaConfig config = LlamaConfig::from(checkpoint.config());
    config.rope_layout = layout;
    checkpoint.check_parameter_count(config.parameter_count());
    checkpoint.check_weights_fit<Scalar>(config.parameter_count());  // MemoryError before allocating (core/memory.hpp)
    // The loader writes every parameter (strict), so the model is built without zero-filling its matrices first,
    // on huge pages where it can (core/parameter_memory.hpp): the first write to the weights is the file's.
    Llama model = [&] {
      LoaderWritesParameters unfilled;
      return Llama(config);
    }();
    model.load(checkpoint);
    return model;
  }

  /// ids (B, T) → logits (B·T, V), or (B, V) with options.last_only.
  void forward(const TokenIds& ids, Matrix<Scalar>& logits, const LlamaOptions<Scalar>& options = {}) {
    const Index first = options.cache != nullptr ? options.cache->length() : 0;
    check_positions(first, ids.cols());

    // 1) Embed: each token id becomes its row of E.                                    x (B, T, C)
    embed_tokens.forward(ids, x);

    // 2) The blocks — RMSNorm, causal GQA attention with RoPE, RMSNorm, SwiGLU, each with a residual —
    //    and the final RMSNorm.                                                          h (B, T, C)
    ForwardContext<Scalar> stack;
    stack.cache = options.cache;
    stack.padding = options.padding;
    stack.position_shift = options.position_shift;
    stack.capture = options.capture;
    decoder.forward(x, h, stack);

    // 3) The LM head: one score per vocabulary entry, logits = h W_lmᵀ.               (B·T, V) or (B, V)
    const Matrix<Scalar>& head = head_weight();
    //    Decoding (one new position per sequence) needs no copy of the last rows, and its matrix-vector
    //    product — the largest of the step — is shared out over threads (layers/linear.hpp).
    if (options.last_only && ids.cols() > 1) last_hidden_ = detail::last_rows<Scalar>(as_matrix(h), ids.rows());
    const Eigen::Ref<const Matrix<Scalar>> rows =
        options.last_only && ids.cols() > 1 ? Eigen::Ref<const Matrix<Scalar>>(last_hidden_) : Eigen::Ref<const Matrix<Scalar>>(as_matrix(h));
    logits.resize(rows.rows(), config_.vocab_size);
    const PackedWeight& packed_head = config_.tie_word_embeddings ? head_packed_ : lm_head.packed;
    if (!packed_head.empty()) {  // pack_weights: the head as BF16 or Q8_0, converted on the fly
      Matrix<Scalar> scratch;    // prompts only (more than 8 rows)
      packed_product<Scalar>(rows, packed_head, logits, scratch);
    } else if (use_decode_path(rows.rows())) {
      linear_rows_threaded<Scalar>(rows, head, logits);
    } else {
      product_threaded<Scalar>(rows, head.transpose(), logits);
    }
  }

  // ---- Training: forward that keeps, loss, backward -------------------------------------------------------------
  // One training step on a batch (docs/training.md, "Llama"):
  //
  //     x = E[ids]                        (B, T, C)   embedding lookup
  //     h = Decoder(x)                    (B, T, C)   N blocks + final RMSNorm (RoPE inside each attention)
  //     z = h W_headᵀ                     (B·T, V)    W_head = W_lm, or E when tied
  //     L = mean_{t: y_t ≠ −100} −log softmax(z_t)[y_t],  y_t = labels(b, t+1)   (training/objectives.hpp)
  //
  // and the backward runs the same chain in reverse, each step adding into the gradient buffers that mirror the
  // parameters (core/parameters.hpp: collect the model with parameters_with_gradients first):
  //
  //     dz = (softmax(z) − onehot(y)) / n                      cross_entropy's gradient (training/loss.hpp)
  //     dh = dz W_head,          W_head's gradient += dzᵀ h    the LM head (a Linear without bias)
  //     dx = Decoder'ᵀ dh                                      Stack::backward: final norm, blocks last to first
  //     E's gradient[ids(b, t)] += dx(b, t)                     the lookup's scatter-add
  //
  // Tied (Llama 3.2): E is read twice — as the lookup and as the head — so its gradient is the sum of both
  // uses; both backward calls add into the one embed_tokens.weight_grad (Embedding::backward_as_head).

  /// The training forward: ids (B, T) → logits (B·T, V), every position (no cache, no last_only), keeping what
  /// backward() reads: the attention weights (ForwardContext::keep_weights), every layer's input (Stack's
  /// layer_outputs), x, h and the ids. `padding` (right- or left-padded batches; may be null) must stay alive
  /// until backward(), which reuses it. Any other forward call in between overwrites what backward reads.
  void forward_for_training(const TokenIds& ids, Matrix<Scalar>& logits, const KeyPadding* padding = nullptr) {
    check_positions(0, ids.cols());
    training_ids_ = ids;
    training_context_ = ForwardContext<Scalar>();
    training_context_.padding = padding;
    training_context_.keep_weights = true;  // the attention backward reads the softmax weights it kept
    embed_tokens.forward(ids, x);                                            // x (B, T, C)
    decoder.forward(x, h, training_context_);                                // h (B, T, C)
    product_threaded<Scalar>(as_matrix(h), head_weight().transpose(), logits);  // (B·T, V)
  }

  /// The backward of the last forward_for_training(): dlogits (B·T, V) = ∂loss/∂logits → every parameter's
  /// gradient added into its buffer (frozen parameters — empty buffers — skipped). Returns nothing: the ids are
  /// integers and have no gradient. The intermediate gradients stay readable: d_h (B, T, C) = ∂loss/∂h and
  /// d_x (B, T, C) = ∂loss/∂x.
  void backward(const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    const Index B = training_ids_.rows(), T = training_ids_.cols();
    if (B == 0 || x.dimension(0) != B || x.dimension(1) != T || h.dimension(0) != B || h.dimension(1) != T) {
      throw ValueError("[Llama::backward] no training forward to differentiate: call forward_for_training() first "
                       "(a plain forward() keeps no attention weights and may use a cache)");
    }
    if (dlogits.rows() != B * T || dlogits.cols() != config_.vocab_size) {
      throw ShapeError(detail::cat("[Llama::backward] dlogits ", detail::shape_str(shape_of(dlogits)),
                                   " is not (B·T, V) = ", detail::shape_str({B * T, config_.vocab_size})));
    }
    // 1) The LM head: dh = dz W_head; W_head's gradient += dzᵀ h (E's buffer when tied: the head's share).
    d_h.resize(B, T, config_.hidden_size);
    if (config_.tie_word_embeddings) {
      embed_tokens.backward_as_head(as_matrix(h), dlogits, as_matrix(d_h));
    } else {
      lm_head.backward(as_matrix(h), dlogits, as_matrix(d_h));
    }
    // 2) The decoder: the final norm, then the blocks last to first (each reads what its forward kept).
    decoder.backward(x, d_h, d_x, training_context_);
    // 3) The lookup: E(ids(b, t), :) += dx(b, t, :) (the lookup's share, added to the head's when tied).
    embed_tokens.backward(training_ids_, as_matrix(d_x));
  }

  /// One whole step's gradients: forward_for_training, the causal-LM loss against `labels` (B, T) — the target
  /// of position t is labels(b, t+1), −100 ignored; labels = ids is pretraining (transformers'
  /// labels=input_ids), training::sft_labels() masks a prompt — and backward. Adds into the gradient buffers
  /// (zero them first for a fresh step); returns the mean loss and the number of counted positions.
  training::LossValue loss_and_gradients(const TokenIds& ids, const TokenIds& labels, const KeyPadding* padding = nullptr) {
    if (labels.rows() != ids.rows() || labels.cols() != ids.cols()) {
      throw ShapeError(detail::cat("[Llama::loss_and_gradients] labels ", detail::shape_str({labels.rows(), labels.cols()}),
                                   " do not match ids ", detail::shape_str({ids.rows(), ids.cols()})));
    }
    forward_for_training(ids, training_logits_, padding);
    const training::LossValue loss = training::causal_lm_loss<Scalar>(training_logits_, labels, &d_logits);
    backward(d_logits);
    return loss;
  }

  // ---- CausalLM ------------------------------------------------------------------------------------------------
  Index vocab_size() const override { return config_.vocab_size; }
  Index max_positions() const override { return config_.max_position_embeddings; }
  const SpecialTokenIds& special_tokens() const override { return config_.special_tokens; }
  void forward(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only = false,
               const KeyPadding* padding = nullptr) override {
    if (window_cache) cache.bound_to_window = true;
    LlamaOptions<Scalar> options;
    options.cache = &cache;
    options.padding = padding;
    options.last_only = last_only;
    forward(ids, logits, options);
  }

  /// A left-padded batch (CausalLM::forward_left_padded): the pads hidden from every query and RoPE's positions
  /// counted from each sequence's first real token.
  void forward_left_padded(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only,
                           const KeyPadding& left_padding) override {
    if (left_padding.left_pads() == nullptr) {
      throw ValueError("[Llama::forward_left_padded] the padding must be KeyPadding::from_left_pads");
    }
    if (window_cache) cache.bound_to_window = true;
    LlamaOptions<Scalar> options;
    options.cache = &cache;
    options.padding = &left_padding;
    options.position_shift = left_padding.left_pads();
    options.last_only = last_only;
    forward(ids, logits, options);
  }

  /// N layers of Hkv × D keys and values per position; with window_cache and a window in every layer, the cache is
  /// bounded by the window W (DecoderCache::bound_to_window keeps W − 1 before appending).
  CacheShape cache_shape() const override {
    CacheShape shape;
    shape.layers = config_.num_hidden_layers;
    shape.kv_heads = config_.kv_heads();
    shape.head_dim = config_.head_width();
    const bool every_layer_slides = !config_.sliding_layers.empty() &&
                                    std::all_of(config_.sliding_layers.begin(), config_.sliding_layers.end(), [](bool w) { return w; });
    if (window_cache && config_.sliding_window > 0 && every_layer_slides) shape.window = config_.sliding_window;
    return shape;
  }

  /// The diagnosis of non-finite logits (CausalLM::forward_captured): ids from scratch, the decoder recorded.
  bool forward_captured(const TokenIds& ids, Matrix<Scalar>& logits, Capture<Scalar>& capture) override {
    capture.prefix = "decoder.";
    LlamaOptions<Scalar> options;
    options.capture = &capture;
    forward(ids, logits, options);
    return true;
  }

  // ---- Names, loading, saving ------------------------------------------------------------------------------------
  const LlamaConfig& config() const { return config_; }

  /// Names: embed_tokens.weight, decoder.layers.<i>.{attn,attn_norm,ffn,ffn_norm}.*, decoder.final_norm.weight,
  /// lm_head.weight (untied only).
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    embed_tokens.collect_parameters(prefix + "embed_tokens.", out);
    decoder.collect_parameters(prefix + "decoder.", out);
    if (!config_.tie_word_embeddings) lm_head.collect_parameters(prefix + "lm_head.", out);
  }

  /// Our names ↔ the names in Hugging Face Llama checkpoints (LlamaForCausalLM).
  static const NameTable& hf_names() {
    static const NameTable table({
        {"embed_tokens.", "model.embed_tokens."},
        {"decoder.layers.{i}.attn_norm.", "model.layers.{i}.input_layernorm."},
        {"decoder.layers.{i}.attn.q.", "model.layers.{i}.self_attn.q_proj."},
        {"decoder.layers.{i}.attn.k.", "model.layers.{i}.self_attn.k_proj."},
        {"decoder.layers.{i}.attn.v.", "model.layers.{i}.self_attn.v_proj."},
        {"decoder.layers.{i}.attn.o.", "model.layers.{i}.self_attn.o_proj."},
        {"decoder.layers.{i}.attn.q_norm.", "model.layers.{i}.self_attn.q_norm."},  // qwen3
        {"decoder.layers.{i}.attn.k_norm.", "model.layers.{i}.self_attn.k_norm."},  // qwen3
        {"decoder.layers.{i}.ffn_norm.", "model.layers.{i}.post_attention_layernorm."},
        {"decoder.layers.{i}.ffn.gate.", "model.layers.{i}.mlp.gate_proj."},
        {"decoder.layers.{i}.ffn.up.", "model.layers.{i}.mlp.up_proj."},
        {"decoder.layers.{i}.ffn.down.", "model.layers.{i}.mlp.down_proj."},
        {"decoder.final_norm.", "model.norm."},
        {"lm_head.", "lm_head."},
    });
    return table;
  }

  /// How a checkpoint names our parameters, and what it may hold besides them: the rotary_emb.inv_freq buffers
  /// of older conversions (recomputed from rope_theta here) and, when tied, a copy of the embedding as lm_head.
  NameMapping names() const {
    NameMapping m;
    m.to_hf = [](const std::string& ours) { return hf_names().to_hf(ours); };
    const bool tied = config_.tie_word_embeddings;
    m.ignore = [tied](const std::string& name) {
      const std::string buffer = ".rotary_emb.inv_freq";
      const bool is_buffer =
          name.size() > buffer.size() && name.compare(name.size() - buffer.size(), buffer.size(), buffer) == 0;
      return is_buffer || (tied && name == "lm_head.weight");
    };
    return m;
  }

  void load(Checkpoint& checkpoint) {
    ParameterList<Scalar> params = named_parameters(*this);
    load_checkpoint(params, checkpoint, names());
  }

  // ---- Fewer bytes per token (opt-in, inference) -----------------------------------------------------------------
  /// Keeps every projection — q, k, v, o, gate, up, down of each layer and the LM head — as BF16 or Q8_0
  /// (layers/packed_weight.hpp), for decoding: a step then streams 2 or 1.125 bytes per weight instead of 4.
  /// The embedding lookup and the norms stay in Scalar; when the head is tied to the embedding, the head gets its
  /// own packed copy of E (the lookup reads one row of E per token; the head reads all of it).
  /// WeightFormat::F32 goes back to Scalar weights (BF16 exactly; Q8_0 as its dequantised values).
  /// A packed model computes forward passes only: loading, saving and training refuse it (Linear::pack).
  void pack_weights(WeightFormat format) {
    for (std::size_t l = 0; l < decoder.layers.size(); ++l) {
      const std::string layer = "decoder.layers." + std::to_string(l) + ".";
      auto& block = decoder.layers[l];
      block.attention.q.pack(format, layer + "attn.q");
      block.attention.k.pack(format, layer + "attn.k");
      block.attention.v.pack(format, layer + "attn.v");
      block.attention.o.pack(format, layer + "attn.o");
      if (block.ffn.config().gated) block.ffn.gate.pack(format, layer + "ffn.gate");
      block.ffn.up.pack(format, layer + "ffn.up");
      block.ffn.down.pack(format, layer + "ffn.down");
    }
    if (config_.tie_word_embeddings) {
      head_packed_ = pack_weight<Scalar>(embed_tokens.weight, format, "embed_tokens (as the tied LM head)");
    } else {
      lm_head.pack(format, "lm_head");
    }
    weight_format_ = format;
  }

  /// How the projections are kept (F32 unless pack_weights chose another format).
  WeightFormat weight_format() const { return weight_format_; }

  /// Bytes of every weight as kept in memory — embedding, norms, projections (with their biases) and the (packed
  /// copy of the) head; Qwen3's per-head q/k norm gains (2·D values per layer) are left out.
  std::size_t weight_bytes() const {
    std::size_t bytes = static_cast<std::size_t>(embed_tokens.weight.size()) * sizeof(Scalar) + head_packed_.bytes();
    if (!config_.tie_word_embeddings) bytes += lm_head.weight_bytes();
    for (const auto& block : decoder.layers) {
      bytes += block.attention.q.weight_bytes() + block.attention.k.weight_bytes() + block.attention.v.weight_bytes() +
               block.attention.o.weight_bytes() + block.ffn.up.weight_bytes() + block.ffn.down.weight_bytes();
      if (block.ffn.config().gated) bytes += block.ffn.gate.weight_bytes();
      bytes += static_cast<std::size_t>(2 * config_.hidden_size) * sizeof(Scalar);  // the two RMSNorm gains
    }
    return bytes + static_cast<std::size_t>(config_.hidden_size) * sizeof(Scalar);  // the final norm's gain
  }

  /// Bytes of weights one decode step reads: every projection and the head in full, one row of E.
  std::size_t weight_bytes_per_token() const {
    const std::size_t table = static_cast<std::size_t>(embed_tokens.weight.size()) * sizeof(Scalar);
    const bool head_is_table = config_.tie_word_embeddings && head_packed_.empty();  // tied, fp32: the head reads E
    return weight_bytes() - table + static_cast<std::size_t>(config_.hidden_size) * sizeof(Scalar) + (head_is_table ? table : 0);
  }

  /// Writes config.json and model.safetensors in the Hugging Face layout.
  void save_pretrained(const std::string& folder, DType dtype = DType::F32) {
    save_checkpoint(folder, config_.to_json(), named_parameters(*this), names(), dtype);
  }

 private:
  void check_positions(Index first, Index count) const {
    if (first + count > config_.max_position_embeddings) {
      throw ValueError(detail::cat("[Llama] positions ", first, "..", first + count - 1, " exceed the context of ",
                                   config_.max_position_embeddings, " positions (max_position_embeddings)"));
    }
  }

  const Matrix<Scalar>& head_weight() const { return config_.tie_word_embeddings ? embed_tokens.weight : lm_head.weight; }

  LlamaConfig config_;
  WeightFormat weight_format_ = WeightFormat::F32;  // pack_weights
  PackedWeight head_packed_;                        // (V, C) the tied head E, packed; empty unless tied and packed
  TokenIds training_ids_;                     // (B, T) the ids of the last training forward
  ForwardContext<Scalar> training_context_;   // its context (keep_weights, padding): backward reuses it
  Matrix<Scalar> training_logits_;            // (B·T, V) loss_and_gradients' logits

 public:
  /// Sliding-window models (mistral; qwen2 with use_sliding_window): when true, every cache handed to the
  /// CausalLM forward (generation's) keeps only what each windowed layer's window still sees — W positions per
  /// layer however long the text (DecoderCache::bound_to_window; attention/kv_cache.hpp). Off by default, as
  /// the full cache allows going back (truncate); the logits are the same either way.
  bool window_cache = false;
  Embedding<Scalar> embed_tokens;  // E (V, C)
  Decoder<Scalar> decoder;         // N blocks + final RMSNorm + RoPE
  Linear<Scalar> lm_head;          // W_lm (V, C); empty when tied (E is used)
  // Intermediates of the last forward call.
  Tensor3<Scalar> x;               // (B, T, C) the embedded tokens
  Tensor3<Scalar> h;               // (B, T, C) after the final norm
  Matrix<Scalar> last_hidden_;     // (B, C) the last position of each sequence, when last_only and T > 1
  // Gradients of the last backward call.
  Matrix<Scalar> d_logits;         // (B·T, V) ∂loss/∂logits (loss_and_gradients)
  Tensor3<Scalar> d_h;             // (B, T, C) ∂loss/∂h, the LM head's input
  Tensor3<Scalar> d_x;             // (B, T, C) ∂loss/∂x, the embedded tokens
};

}  // namespace eigenformer
