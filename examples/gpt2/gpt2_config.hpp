// examples/gpt2/gpt2_config.hpp — config.json of a GPT-2 checkpoint: Hugging Face's field names and defaults
// (GPT2Config), every field checked (ConfigError naming the file and the field) before anything is allocated, the
// file written back on save, and the blocks this family picks from the kit. The model itself is gpt2.hpp.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include <string>
#include <vector>

namespace eigenformer {

/// config.json of a GPT-2 checkpoint, with Hugging Face's field names and defaults (GPT2Config).
struct GPT2Config {
  Index vocab_size = 50257;             // V
  Index n_positions = 1024;             // the learned positions: the context length
  Index n_embd = 768;                   // C
  Index n_layer = 12;                   // N
  Index n_head = 12;                    // H (D = C / H)
  Index n_inner = 0;                    // F; "n_inner": null (0 here) means 4·C
  Activation activation_function = Activation::GeluTanh;  // "gelu_new": the tanh approximation
  double layer_norm_epsilon = 1e-5;
  bool scale_attn_weights = true;       // scores / √D (false: unscaled)
  bool tie_word_embeddings = true;      // the LM head is wte
  SpecialTokenIds special_tokens;       // bos = eos = 50256 (<|endoftext|>) in the released checkpoints
  json::Value original;                 // the file as read, so that saving keeps fields we do not use

  /// Reads and checks config.json. ConfigError naming the file and the field for anything missing, mistyped or
  /// inconsistent — before anything is allocated. Fields GPT-2 checkpoints carry that change nothing at
  /// inference (n_ctx, the dropouts, summary_*, reorder_and_upcast_attn: float32 scores are what we compute) are
  /// accepted and ignored; scale_attn_by_inverse_layer_idx (used by Stanford CRFM's training runs) is refused, not ignored.
  static GPT2Config from(const ModelConfig& c) {
    const std::string type = c.string("model_type", "");
    c.check(type == "gpt2", detail::cat("model_type is '", type, "', expected 'gpt2'"));
    GPT2Config g;
    g.original = c.json();
    g.vocab_size = c.positive_or("vocab_size", 50257);
    g.n_positions = c.positive_or("n_positions", 1024);
    g.n_embd = c.positive_or("n_embd", 768);
    g.n_layer = c.positive_or("n_layer", 12);
    g.n_head = c.positive_or("n_head", 12);
    c.check_divisible("n_embd", g.n_embd, "n_head", g.n_head);
    g.n_inner = c.positive_or("n_inner", 0);  // null or absent: 4·n_embd (inner())
    g.activation_function = activation_field(c, "activation_function", c.string("activation_function", "gelu_new"));
    g.layer_norm_epsilon = c.positive_number("layer_norm_epsilon", 1e-5);
    g.scale_attn_weights = c.boolean("scale_attn_weights", true);
    c.check(!c.boolean("scale_attn_by_inverse_layer_idx", false),
            "scale_attn_by_inverse_layer_idx is true: scores divided by the layer number are not supported");
    g.tie_word_embeddings = c.boolean("tie_word_embeddings", true);
    g.special_tokens = SpecialTokenIds::from(c, g.vocab_size);
    return g;
  }

  /// F with its default applied: n_inner, or 4·C when config.json says null.
  Index inner() const { return n_inner > 0 ? n_inner : 4 * n_embd; }

  /// config.json as Hugging Face writes it: the fields read at load, updated.
  json::Value to_json() const {
    json::Value j = original.is_object() ? original : json::Value(json::Object{});
    j.set("model_type", "gpt2");
    if (!j.find("architectures")) j.set("architectures", json::Array{json::Value("GPT2LMHeadModel")});
    j.set("vocab_size", vocab_size);
    j.set("n_positions", n_positions);
    j.set("n_embd", n_embd);
    j.set("n_layer", n_layer);
    j.set("n_head", n_head);
    j.set("n_inner", n_inner > 0 ? json::Value(n_inner) : json::Value());
    j.set("activation_function", hf_activation_name(activation_function));
    j.set("layer_norm_epsilon", layer_norm_epsilon);
    j.set("scale_attn_weights", scale_attn_weights);
    j.set("tie_word_embeddings", tie_word_embeddings);
    return j;
  }

  /// The blocks this family picks (see the top of gpt2.hpp).
  StackConfig stack() const {
    StackConfig s;
    s.block.attention.width = n_embd;        // C
    s.block.attention.heads = n_head;        // H, D = C / H
    s.block.attention.qkv_bias = true;       // c_attn has a bias
    s.block.attention.out_bias = true;       // c_proj has a bias
    if (!scale_attn_weights) s.block.attention.scale = 1.0;  // otherwise 1/√D
    s.block.ffn.hidden = inner();            // F
    s.block.ffn.activation = activation_function;
    s.block.ffn.gated = false;               // c_fc → GELU → c_proj
    s.block.ffn.bias = true;
    s.block.norm.kind = NormKind::LayerNorm;
    s.block.norm.eps = layer_norm_epsilon;
    s.block.norm.bias = true;
    s.block.placement = NormPlacement::Pre;  // ln_1 before the attention, ln_2 before the MLP
    s.layers = n_layer;
    s.final_norm = true;                     // ln_f
    return s;
  }

  /// Parameters the model will have: what from_pretrained checks against the checkpoint before allocating.
  std::int64_t parameter_count() const {
    const std::int64_t C = n_embd, F = inner();
    const std::int64_t layer = 4 * C * C + 4 * C + 2 * C * F + F + C + 4 * C;  // attention, MLP, two LayerNorms
    return vocab_size * C * (tie_word_embeddings ? 1 : 2) + n_positions * C + n_layer * layer + 2 * C;
  }
};

}  // namespace eigenformer
