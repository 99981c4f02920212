// examples/t5/t5_config.hpp — config.json of a T5 checkpoint: Hugging Face's field names and defaults,
// every field checked (ConfigError naming the file and the field) before anything is allocated, the file
// written back on save, and the blocks this family picks from the kit. The model itself is t5.hpp.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace eigenformer {

/// config.json of a T5 checkpoint, with Hugging Face's field names and defaults (T5Config).
struct T5Config {
  Index vocab_size = 0;                        // V
  Index d_model = 0;                           // C
  Index d_kv = 0;                              // D
  Index d_ff = 0;                              // F
  Index num_layers = 0;                        // encoder blocks
  Index num_decoder_layers = 0;                // decoder blocks (default num_layers)
  Index num_heads = 0;                         // H
  Index relative_attention_num_buckets = 32;
  Index relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  std::string feed_forward_proj = "relu";      // "relu", "gated-gelu", "gated-silu", ...
  bool gated = false;                          // from feed_forward_proj
  Activation activation = Activation::ReLU;    // from feed_forward_proj ("gated-gelu" means the tanh GELU)
  bool tie_word_embeddings = true;
  SpecialTokenIds special_tokens;              // pad 0, eos 1, decoder_start 0 unless config.json says otherwise
  json::Value original;                        // the file as read, so that saving keeps fields we do not use

  static T5Config from(const ModelConfig& c) {
    const std::string type = c.string("model_type", "");
    c.check(type == "t5" || type == "mt5", detail::cat("model_type is '", type, "', expected 't5' or 'mt5'"));
    T5Config t;
    t.original = c.json();
    t.vocab_size = c.positive("vocab_size");
    t.d_model = c.positive("d_model");
    t.d_kv = c.positive("d_kv");
    t.d_ff = c.positive("d_ff");
    t.num_layers = c.positive("num_layers");
    t.num_decoder_layers = c.positive_or("num_decoder_layers", t.num_layers);
    t.num_heads = c.positive("num_heads");
    // The buckets: half exact, half logarithmic up to max_distance, which must lie beyond the exact ones.
    t.relative_attention_num_buckets = c.positive_or("relative_attention_num_buckets", 32, 4);
    t.relative_attention_max_distance = c.positive_or("relative_attention_max_distance", 128);
    c.check(t.relative_attention_max_distance > t.relative_attention_num_buckets / 2,
            detail::cat("relative_attention_max_distance ", t.relative_attention_max_distance, " must exceed half of ",
                        t.relative_attention_num_buckets, " relative_attention_num_buckets"));
    t.layer_norm_epsilon = c.positive_number("layer_norm_epsilon", 1e-6);
    // feed_forward_proj is "<act>" or "gated-<act>"; "gated-gelu" means the tanh GELU (configuration_t5.py).
    t.feed_forward_proj = c.string("feed_forward_proj", "relu");
    const std::size_t dash = t.feed_forward_proj.find('-');
    const std::string head = t.feed_forward_proj.substr(0, dash);
    const std::string act = dash == std::string::npos ? t.feed_forward_proj : t.feed_forward_proj.substr(dash + 1);
    c.check(dash == std::string::npos || (head == "gated" && act.find('-') == std::string::npos),
            detail::cat("feed_forward_proj '", t.feed_forward_proj, "' is not '<activation>' or 'gated-<activation>'"));
    t.gated = dash != std::string::npos;
    t.activation =
        t.feed_forward_proj == "gated-gelu" ? Activation::GeluTanh : activation_field(c, "feed_forward_proj", act);
    t.tie_word_embeddings = c.boolean("tie_word_embeddings", true);
    t.special_tokens = SpecialTokenIds::from(c, t.vocab_size);
    if (!t.special_tokens.pad) t.special_tokens.pad = 0;                   // T5Config's defaults
    if (t.special_tokens.eos.empty()) t.special_tokens.eos = {1};
    if (!t.special_tokens.decoder_start) t.special_tokens.decoder_start = t.special_tokens.pad;
    return t;
  }

  json::Value to_json() const {
    json::Value j = original.is_object() ? original : json::Value(json::Object{});
    j.set("model_type", "t5");
    if (!j.find("architectures")) j.set("architectures", json::Array{json::Value("T5ForConditionalGeneration")});
    j.set("vocab_size", vocab_size);
    j.set("d_model", d_model);
    j.set("d_kv", d_kv);
    j.set("d_ff", d_ff);
    j.set("num_layers", num_layers);
    j.set("num_decoder_layers", num_decoder_layers);
    j.set("num_heads", num_heads);
    j.set("relative_attention_num_buckets", relative_attention_num_buckets);
    j.set("relative_attention_max_distance", relative_attention_max_distance);
    j.set("layer_norm_epsilon", layer_norm_epsilon);
    j.set("feed_forward_proj", feed_forward_proj);
    j.set("tie_word_embeddings", tie_word_embeddings);
    j.set("is_encoder_decoder", true);
    return j;
  }

  /// The two stacks this family picks (see the top of this file).
  EncoderDecoderConfig stacks() const {
    StackConfig s;
    s.block.attention.width = d_model;     // C
    s.block.attention.heads = num_heads;   // H
    s.block.attention.head_dim = d_kv;     // D (H·D may differ from C)
    s.block.attention.qkv_bias = false;
    s.block.attention.out_bias = false;
    s.block.attention.scale = 1.0;         // no 1/√D: T5 folds it into its initialisation
    s.block.ffn.hidden = d_ff;             // F
    s.block.ffn.activation = activation;
    s.block.ffn.gated = gated;             // "gated-gelu" (t5-v1_1, flan-t5) or plain "relu" (t5-small)
    s.block.ffn.bias = false;
    s.block.norm.kind = NormKind::RMSNorm;
    s.block.norm.eps = layer_norm_epsilon;
    s.block.norm.bias = false;
    s.block.placement = NormPlacement::Pre;
    s.layers = num_layers;
    s.final_norm = true;
    RelativePositionBiasConfig bias;
    bias.heads = num_heads;
    bias.num_buckets = relative_attention_num_buckets;
    bias.max_distance = relative_attention_max_distance;
    bias.bidirectional = true;
    s.relative_bias = bias;
    EncoderDecoderConfig config;
    config.encoder = s;
    config.decoder = s;
    config.decoder.layers = num_decoder_layers;
    config.decoder.relative_bias->bidirectional = false;  // the decoder only looks left
    return config;
  }

  std::int64_t parameter_count() const {
    const Count C = d_model, HD = Count(num_heads) * d_kv, F = d_ff;  // Count: saturates (models/config.hpp)
    const Count attention = 4 * C * HD, ffn = (gated ? 3 : 2) * C * F;
    const Count bias = Count(relative_attention_num_buckets) * num_heads;
    const Count encoder = num_layers * (attention + ffn + 2 * C) + C + bias;
    const Count decoder = num_decoder_layers * (2 * attention + ffn + 3 * C) + C + bias;
    return (vocab_size * C * (tie_word_embeddings ? 1 : 2) + encoder + decoder).value();
  }
};

}  // namespace eigenformer
