// examples/llama/llama_config.hpp — config.json of a Llama checkpoint: Hugging Face's field names and defaults,
// every field checked (ConfigError naming the file and the field) before anything is allocated, the file
// written back on save, and the blocks this family picks from the kit. The model itself is llama.hpp.
//
// Llama's relatives load through the same config, told apart by model_type (docs/models.md, "Qwen2 and Qwen3"):
//   "llama"  biases on q, k, v and o only when attention_bias
//   "qwen2"  biases on q, k and v always, never on o (Qwen2Config has no attention_bias: the bias is the family's)
//   "qwen3"  RMSNorm on each head's query and key before RoPE (q_norm, k_norm: weights of width head_dim, eps
//            rms_norm_eps), head_dim given explicitly (Qwen3-0.6B: 16 heads × 128 = 2048 ≠ hidden_size 1024),
//            biases on q, k, v and o only when attention_bias
//   "mistral" Llama's blocks with a sliding window in every layer: sliding_window W (MistralConfig's default 4096
//            when the field is absent; null: no window), head_dim (default C / H); no attention or MLP biases
// The sliding window (attention/attention.hpp): query i sees keys i − W < j ≤ i, as transformers ≥ 4.53.
// Qwen's sliding_window applies only when use_sliding_window is true (transformers' Qwen2Config sets it to None
// otherwise): when false, sliding_window and max_window_layers are read and ignored. When true, the layers with
// the window are those of layer_types equal to "sliding_attention" when config.json lists them, else — as
// Qwen2Config derives layer_types — the layers i ≥ max_window_layers (default 28); the others attend to the
// whole prefix. (Qwen3Config derives its layer_types the same way.)
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include <string>
#include <vector>

namespace eigenformer {

/// config.json of a Llama checkpoint, with Hugging Face's field names and defaults (LlamaConfig).
struct LlamaConfig {
  std::string model_type = "llama";   // "llama", "qwen2" or "qwen3" (see the top of this file)
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
  bool qk_norm = false;               // qwen3: RMSNorm of each query and key head before RoPE (not in config.json)
  Index sliding_window = 0;           // W: mistral, or qwen with use_sliding_window; 0: no window (null)
  std::vector<bool> sliding_layers;   // which layers use the window (N entries, or empty: none)
  SpecialTokenIds special_tokens;
  /// Not in config.json: Interleaved when q/k weights come in Meta's original RoPE layout (not HF's).
  RopeLayout rope_layout = RopeLayout::HalfSplit;
  json::Value original;               // the file as read, so that saving keeps fields we do not use

  /// Reads and checks config.json. ConfigError naming the file and the field for anything missing, mistyped or
  /// inconsistent — before anything is allocated.
  static LlamaConfig from(const ModelConfig& c) {
    const std::string type = c.string("model_type", "");
    const bool known_other = type == "t5" || type == "bert" || type == "gpt2" || type == "bart";
    c.check(type == "llama" || type == "qwen2" || type == "qwen3" || type == "mistral",
            detail::cat("model_type is '", type, "', expected 'llama', 'qwen2', 'qwen3' or 'mistral' (",
                        known_other ? "run the " + type + " program" : "a different architecture", ")"));
    LlamaConfig l;
    l.model_type = type;
    l.qk_norm = type == "qwen3";
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
    l.attention_bias = type != "qwen2" && c.boolean("attention_bias", false);
    l.mlp_bias = c.boolean("mlp_bias", false);
    c.check(!c.has("pretraining_tp") || c.integer("pretraining_tp") >= 1, "pretraining_tp must be at least 1");
    if (type == "mistral") {
      // MistralConfig has neither field (its projections have no biases); were they in a file, it ignores them.
      l.attention_bias = false;
      l.mlp_bias = false;
    }
    read_sliding_window(c, l);
    l.special_tokens = SpecialTokenIds::from(c, l.vocab_size);
    return l;
  }

  /// The sliding window of each layer (0: the whole prefix), for StackConfig::layer_windows.
  std::vector<Index> layer_windows() const {
    std::vector<Index> windows(static_cast<std::size_t>(num_hidden_layers), 0);
    for (std::size_t i = 0; i < sliding_layers.size() && i < windows.size(); ++i) {
      if (sliding_layers[i]) windows[i] = sliding_window;
    }
    return windows;
  }

  /// config.json as Hugging Face writes it: the fields read at load, updated.
  json::Value to_json() const {
    json::Value j = original.is_object() ? original : json::Value(json::Object{});
    j.set("model_type", model_type);
    const char* architecture = model_type == "qwen2"     ? "Qwen2ForCausalLM"
                               : model_type == "qwen3"   ? "Qwen3ForCausalLM"
                               : model_type == "mistral" ? "MistralForCausalLM"
                                                         : "LlamaForCausalLM";
    if (!j.find("architectures")) j.set("architectures", json::Array{json::Value(architecture)});
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
    if (model_type != "qwen2" && model_type != "mistral") j.set("attention_bias", attention_bias);
    if (model_type != "mistral") j.set("mlp_bias", mlp_bias);
    if (model_type == "mistral") j.set("sliding_window", sliding_window > 0 ? json::Value(sliding_window) : json::Value());
    return j;
  }

  /// The blocks this family picks (see the top of this file).
  /// Hkv and D with their defaults applied (0 in a config built in code means "the default", as in config.json).
  Index kv_heads() const { return num_key_value_heads > 0 ? num_key_value_heads : num_attention_heads; }
  Index head_width() const { return head_dim > 0 ? head_dim : (num_attention_heads > 0 ? hidden_size / num_attention_heads : 0); }
  /// Biases on q, k, v (qwen2 always; otherwise attention_bias) and on o (never for qwen2).
  bool qkv_bias() const { return attention_bias || model_type == "qwen2"; }
  bool out_bias() const { return attention_bias && model_type != "qwen2"; }

  StackConfig stack() const {
    StackConfig s;
    s.block.attention.width = hidden_size;           // C
    s.block.attention.heads = num_attention_heads;   // H
    s.block.attention.kv_heads = kv_heads();         // Hkv (GQA when Hkv < H)
    s.block.attention.head_dim = head_width();       // D
    s.block.attention.qkv_bias = qkv_bias();
    s.block.attention.out_bias = out_bias();
    s.block.attention.qk_norm = qk_norm;             // qwen3
    s.block.attention.qk_norm_eps = rms_norm_eps;
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
    s.layer_windows = layer_windows();             // mistral, qwen2 with use_sliding_window
    return s;
  }

  /// Parameters the model will have: what from_pretrained checks against the checkpoint before allocating.
  std::int64_t parameter_count() const {
    const Count C = hidden_size, V = vocab_size, F = intermediate_size;  // Count: saturates (models/config.hpp)
    const Count HD = Count(num_attention_heads) * head_width(), KD = Count(kv_heads()) * head_width();
    Count layer = C * HD * 2 + C * KD * 2 + 3 * C * F + 2 * C;
    if (qkv_bias()) layer += HD + 2 * KD;
    if (out_bias()) layer += C;
    if (qk_norm) layer += 2 * Count(head_width());
    if (mlp_bias) layer += 2 * F + C;
    return (V * C * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + C).value();
  }

 private:
  // sliding_window, use_sliding_window, max_window_layers, layer_types → sliding_window and sliding_layers.
  static void read_sliding_window(const ModelConfig& c, LlamaConfig& l) {
    const std::size_t N = static_cast<std::size_t>(l.num_hidden_layers);
    // Absent means the config class's default (4096 for both); an explicit null means no window.
    const json::Value* field = c.json().find("sliding_window");
    const bool is_null = field != nullptr && field->is_null();
    if (l.model_type == "mistral") {
      if (is_null) return;
      l.sliding_window = c.positive_or("sliding_window", 4096);
      l.sliding_layers.assign(N, true);  // MistralModel: the sliding-window mask in every layer
      return;
    }
    if (l.model_type == "llama" || !c.boolean("use_sliding_window", false) || is_null) return;
    l.sliding_window = c.positive_or("sliding_window", 4096);
    l.sliding_layers.assign(N, false);
    if (c.has("layer_types")) {
      const json::Value& types = *c.json().find("layer_types");
      c.check(types.is_array() && types.as_array().size() == N,
              detail::cat("layer_types must be a list of ", N, " strings (one per layer, num_hidden_layers)"));
      for (std::size_t i = 0; i < N; ++i) {
        const json::Value& t = types.as_array()[i];
        const bool sliding = t.is_string() && t.as_string() == "sliding_attention";
        c.check(sliding || (t.is_string() && t.as_string() == "full_attention"),
                detail::cat("layer_types[", i, "] must be \"full_attention\" or \"sliding_attention\""));
        l.sliding_layers[i] = sliding;
      }
      return;
    }
    // Qwen2Config: layer i slides when i ≥ max_window_layers.
    const Index first_sliding = c.positive_or("max_window_layers", 28, 0);
    for (std::size_t i = 0; i < N; ++i) l.sliding_layers[i] = static_cast<Index>(i) >= first_sliding;
  }

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

}  // namespace eigenformer
