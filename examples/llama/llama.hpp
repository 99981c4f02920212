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

#include <string>
#include <vector>

namespace eigenformer {

// LlamaConfig — config.json read and checked, and the blocks this family picks: llama_config.hpp.

/// What one forward call may do besides computing logits. All optional.
template <class Scalar>
struct LlamaOptions {
  DecoderCache<Scalar>* cache = nullptr;       // incremental decoding: ids follow the cache.length() cached positions
  const KeyPadding* padding = nullptr;    // padding keys over cached + new positions (left-padded batches)
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
    Llama model(config);
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
    stack.capture = options.capture;
    decoder.forward(x, h, stack);

    // 3) The LM head: one score per vocabulary entry, logits = h W_lmᵀ.               (B·T, V) or (B, V)
    const Matrix<Scalar>& head = config_.tie_word_embeddings ? embed_tokens.weight : lm_head.weight;
    if (options.last_only) {
      logits.noalias() = detail::last_rows<Scalar>(as_matrix(h), ids.rows()) * head.transpose();
    } else {
      logits.noalias() = as_matrix(h) * head.transpose();
    }
  }

  // ---- CausalLM ------------------------------------------------------------------------------------------------
  Index vocab_size() const override { return config_.vocab_size; }
  Index max_positions() const override { return config_.max_position_embeddings; }
  const SpecialTokenIds& special_tokens() const override { return config_.special_tokens; }
  void forward(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only = false,
               const KeyPadding* padding = nullptr) override {
    LlamaOptions<Scalar> options;
    options.cache = &cache;
    options.padding = padding;
    options.last_only = last_only;
    forward(ids, logits, options);
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

  LlamaConfig config_;

 public:
  Embedding<Scalar> embed_tokens;  // E (V, C)
  Decoder<Scalar> decoder;         // N blocks + final RMSNorm + RoPE
  Linear<Scalar> lm_head;          // W_lm (V, C); empty when tied (E is used)
  // Intermediates of the last forward call.
  Tensor3<Scalar> x;               // (B, T, C) the embedded tokens
  Tensor3<Scalar> h;               // (B, T, C) after the final norm
};

}  // namespace eigenformer
