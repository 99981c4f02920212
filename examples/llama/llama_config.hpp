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
// Qwen's sliding_window applies only when use_sliding_window is true (transformers' Qwen2Config sets it to None
// otherwise): when false, sliding_window and max_window_layers are read and ignored; when true, the config is
// refused (a ConfigError naming use_sliding_window) — this build has no sliding-window mask.
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
  SpecialTokenIds special_tokens;
  /// Not in config.json: Interleaved when q/k weights come in Meta's original RoPE layout (not HF's).
  RopeLayout rope_layout = RopeLayout::HalfSplit;
  json::Value original;               // the file as read, so that saving keeps fields we do not use

  /// Reads and checks config.json. ConfigError naming the file and the field for anything missing, mistyped or
  /// inconsistent — before anything is allocated.
  static LlamaConfig from(const ModelConfig& c) {
    const std::string type = c.string("model_type", "");
    const bool known_other = type == "t5" || type == "bert" || type == "gpt2" || type == "bart";
    c.check(type == "llama" || type == "qwen2" || type == "qwen3",
            detail::cat("model_type is '", type, "', expected 'llama', 'qwen2' or 'qwen3' (",
                        known_other ? "run the " + type + " program" : "a different architecture", ")"));
    LlamaConfig l;
    l.model_type = type;
    l.qk_norm = type == "qwen3";
    if (type != "llama" && c.boolean("use_sliding_window", false)) {
      c.fail("use_sliding_window is true: sliding-window attention is not supported by this build (with it false, "
             "sliding_window is ignored, as transformers does)");
    }
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
    l.special_tokens = SpecialTokenIds::from(c, l.vocab_size);
    return l;
  }

  /// config.json as Hugging Face writes it: the fields read at load, updated.
  json::Value to_json() const {
    json::Value j = original.is_object() ? original : json::Value(json::Object{});
    j.set("model_type", model_type);
    const char* architecture = model_type == "qwen2" ? "Qwen2ForCausalLM" : model_type == "qwen3" ? "Qwen3ForCausalLM"
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
    if (model_type != "qwen2") j.set("attention_bias", attention_bias);
    j.set("mlp_bias", mlp_bias);
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
