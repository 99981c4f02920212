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
#include <eigenformer/models/models.hpp>

#include <string>
#include <vector>

namespace eigenformer {

/// config.json of a Llama checkpoint, with Hugging Face's field names and defaults (LlamaConfig).
struct LlamaConfig {
  Index vocab_size = 0;               // V
  Index hidden_size = 0;              // C
  Index intermediate_size = 0;        // F
  Index num_hidden_layers = 0;        // N
  Index num_attention_heads = 0;      // H
  Index num_key_value_heads = 0;      // Hkv (default H)
  Index head_dim = 0;                 // D (default C / H)
  Index max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;           // "rope_scaling": null, {"rope_type": "linear"|"llama3", ...}
  Activation hidden_act = Activation::SiLU;
  bool tie_word_embeddings = false;
  bool attention_bias = false;        // biases on q, k, v and o
  bool mlp_bias = false;              // biases on gate, up and down
  SpecialTokenIds special_tokens;
  /// Not in config.json: Interleaved when q/k weights come in Meta's original RoPE layout (not HF's).
  RopeLayout rope_layout = RopeLayout::HalfSplit;
  json::Value original;               // the file as read, so that saving keeps fields we do not use

  /// Reads and checks config.json. ConfigError naming the file and the field for anything missing, mistyped or
  /// inconsistent — before anything is allocated.
  static LlamaConfig from(const ModelConfig& c) {
    const std::string type = c.string("model_type", "");
    c.check(type == "llama", detail::cat("model_type is '", type, "', expected 'llama' (", type == "t5" || type == "bert" ?
                                         "run the " + type + " program" : "a different architecture", ")"));
    LlamaConfig l;
    l.original = c.json();
    l.vocab_size = c.positive("vocab_size");
    l.hidden_size = c.positive("hidden_size");
    l.intermediate_size = c.positive("intermediate_size");
    l.num_hidden_layers = c.positive("num_hidden_layers");
    l.num_attention_heads = c.positive("num_attention_heads");
    l.num_key_value_heads = c.positive_or("num_key_value_heads", l.num_attention_heads);
    if (!c.has("head_dim")) c.check_divisible("hidden_size", l.hidden_size, "num_attention_heads", l.num_attention_heads);
    l.head_dim = c.positive_or("head_dim", l.hidden_size / l.num_attention_heads);
    c.check(l.head_dim % 2 == 0, detail::cat("head_dim ", l.head_dim, " is odd; RoPE turns features in pairs"));
    c.check_divisible("num_attention_heads", l.num_attention_heads, "num_key_value_heads", l.num_key_value_heads);
    l.max_position_embeddings = c.positive_or("max_position_embeddings", 2048);
    l.rms_norm_eps = c.positive_number("rms_norm_eps", 1e-6);
    l.rope_theta = c.positive_number("rope_theta", 10000.0);
    if (c.has("rope_scaling")) l.rope_scaling = read_rope_scaling(c.object("rope_scaling"));
    l.hidden_act = activation_field(c, "hidden_act", c.string("hidden_act", "silu"));
    l.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
    l.attention_bias = c.boolean("attention_bias", false);
    l.mlp_bias = c.boolean("mlp_bias", false);
    c.check(!c.has("pretraining_tp") || c.integer("pretraining_tp") >= 1, "pretraining_tp must be at least 1");
    l.special_tokens = SpecialTokenIds::from(c, l.vocab_size);
    return l;
  }

  /// config.json as Hugging Face writes it: the fields read at load, updated.
  json::Value to_json() const {
    json::Value j = original.is_object() ? original : json::Value(json::Object{});
    j.set("model_type", "llama");
    if (!j.find("architectures")) j.set("architectures", json::Array{json::Value("LlamaForCausalLM")});
    j.set("vocab_size", vocab_size);
    j.set("hidden_size", hidden_size);
    j.set("intermediate_size", intermediate_size);
    j.set("num_hidden_layers", num_hidden_layers);
    j.set("num_attention_heads", num_attention_heads);
    j.set("num_key_value_heads", kv_heads());
    j.set("head_dim", head_width());
    j.set("max_position_embeddings", max_position_embeddings);
    j.set("rms_norm_eps", rms_norm_eps);
    j.set("rope_theta", rope_theta);
    j.set("hidden_act", hf_activation_name(hidden_act));
    if (rope_scaling.kind != RopeScaling::Kind::None && !j.find("rope_scaling")) {
      json::Value r;
      const bool linear = rope_scaling.kind == RopeScaling::Kind::Linear;
      r.set("rope_type", linear ? "linear" : "llama3");
      r.set("factor", rope_scaling.factor);
      if (!linear) {
        r.set("low_freq_factor", rope_scaling.low_freq_factor);
        r.set("high_freq_factor", rope_scaling.high_freq_factor);
        r.set("original_max_position_embeddings", static_cast<std::int64_t>(rope_scaling.original_max_positions));
      }
      j.set("rope_scaling", r);
    }
    j.set("tie_word_embeddings", tie_word_embeddings);
    j.set("attention_bias", attention_bias);
    j.set("mlp_bias", mlp_bias);
    return j;
  }

  /// The blocks this family picks (see the top of this file).
  /// Hkv and D with their defaults applied (0 in a config built in code means "the default", as in config.json).
  Index kv_heads() const { return num_key_value_heads > 0 ? num_key_value_heads : num_attention_heads; }
  Index head_width() const { return head_dim > 0 ? head_dim : (num_attention_heads > 0 ? hidden_size / num_attention_heads : 0); }

  StackConfig stack() const {
    StackConfig s;
    s.block.attention.width = hidden_size;           // C
    s.block.attention.heads = num_attention_heads;   // H
    s.block.attention.kv_heads = kv_heads();         // Hkv (GQA when Hkv < H)
    s.block.attention.head_dim = head_width();       // D
    s.block.attention.qkv_bias = attention_bias;
    s.block.attention.out_bias = attention_bias;
    s.block.ffn.hidden = intermediate_size;          // F
    s.block.ffn.activation = hidden_act;             // SiLU: SwiGLU
    s.block.ffn.gated = true;
    s.block.ffn.bias = mlp_bias;
    s.block.norm.kind = NormKind::RMSNorm;
    s.block.norm.eps = rms_norm_eps;
    s.block.norm.bias = false;
    s.block.placement = NormPlacement::Pre;
    s.layers = num_hidden_layers;
    s.final_norm = true;
    RopeConfig rope;
    rope.head_dim = head_width();
    rope.base = rope_theta;
    rope.layout = rope_layout;
    rope.scaling = rope_scaling;
    s.rope = rope;
    return s;
  }

  /// Parameters the model will have: what from_pretrained checks against the checkpoint before allocating.
  std::int64_t parameter_count() const {
    const std::int64_t C = hidden_size, V = vocab_size, F = intermediate_size;
    const std::int64_t HD = num_attention_heads * head_width(), KD = kv_heads() * head_width();
    std::int64_t layer = C * HD * 2 + C * KD * 2 + 3 * C * F + 2 * C;
    if (attention_bias) layer += HD + 2 * KD + C;
    if (mlp_bias) layer += 2 * F + C;
    return V * C * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + C;
  }

 private:
  static RopeScaling read_rope_scaling(const ModelConfig& r) {
    RopeScaling s;
    const std::string kind = r.has("rope_type") ? r.string("rope_type") : r.string("type", "default");
    if (kind == "default") return s;
    if (kind == "linear") {
      s.kind = RopeScaling::Kind::Linear;
      s.factor = r.positive_number("factor");
    } else if (kind == "llama3") {
      s.kind = RopeScaling::Kind::Llama3;
      s.factor = r.positive_number("factor");
      s.low_freq_factor = r.positive_number("low_freq_factor");
      s.high_freq_factor = r.positive_number("high_freq_factor");
      s.original_max_positions = static_cast<double>(r.positive("original_max_position_embeddings"));
      r.check(s.high_freq_factor > s.low_freq_factor, detail::cat("high_freq_factor ", s.high_freq_factor,
                                                                  " must exceed low_freq_factor ", s.low_freq_factor));
    } else {
      r.fail(detail::cat("rope type '", kind, "' is not supported (supported: default, linear, llama3)"));
    }
    return s;
  }
};

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
    StackOptions<Scalar> stack;
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
