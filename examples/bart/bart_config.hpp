// examples/bart/bart_config.hpp — config.json of a BART checkpoint: Hugging Face's field names and defaults
// (BartConfig), every field checked (ConfigError naming the file and the field) before anything is allocated, the
// file written back on save, and the blocks this family picks from the kit. The model itself is bart.hpp.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include <string>
#include <vector>

namespace eigenformer {

/// config.json of a BART checkpoint, with Hugging Face's field names and defaults (BartConfig: bart-large).
struct BartConfig {
  /// BartLearnedPositionalEmbedding's offset: position p reads row p + 2 of a (max_position_embeddings + 2, C) table.
  static constexpr Index kPositionOffset = 2;
  /// nn.LayerNorm's default ε: BART's LayerNorms take no ε from config.json.
  static constexpr double kLayerNormEps = 1e-5;

  Index vocab_size = 50265;              // V
  Index max_position_embeddings = 1024;  // positions per stack
  Index d_model = 1024;                  // C
  Index encoder_layers = 12;
  Index decoder_layers = 12;
  Index encoder_attention_heads = 16;    // H in the encoder (D = C / H)
  Index decoder_attention_heads = 16;    // H in the decoder, self- and cross-attention
  Index encoder_ffn_dim = 4096;          // F in the encoder
  Index decoder_ffn_dim = 4096;          // F in the decoder
  Activation activation_function = Activation::GeluErf;  // "gelu": the exact (erf) GELU
  bool scale_embedding = false;          // token embeddings times √C (bart-large: false)
  bool tie_word_embeddings = true;       // the LM head is the shared embedding
  SpecialTokenIds special_tokens;        // <s> 0, <pad> 1, </s> 2; decoder_start 2; forced_eos 2 unless config.json says otherwise
  json::Value original;                  // the file as read, so that saving keeps fields we do not use

  /// Reads and checks config.json. Fields BART checkpoints carry that change nothing at inference (the dropouts,
  /// init_std, classifier fields, and the fairseq leftovers normalize_before / add_final_layer_norm, which
  /// transformers' BART ignores as well) are accepted and ignored.
  static BartConfig from(const ModelConfig& c) {
    const std::string type = c.string("model_type", "");
    c.check(type == "bart", detail::cat("model_type is '", type, "', expected 'bart'"));
    BartConfig b;
    b.original = c.json();
    b.vocab_size = c.positive_or("vocab_size", 50265);
    b.max_position_embeddings = c.positive_or("max_position_embeddings", 1024);
    b.d_model = c.positive_or("d_model", 1024);
    b.encoder_layers = c.positive_or("encoder_layers", 12);
    b.decoder_layers = c.positive_or("decoder_layers", 12);
    b.encoder_attention_heads = c.positive_or("encoder_attention_heads", 16);
    b.decoder_attention_heads = c.positive_or("decoder_attention_heads", 16);
    c.check_divisible("d_model", b.d_model, "encoder_attention_heads", b.encoder_attention_heads);
    c.check_divisible("d_model", b.d_model, "decoder_attention_heads", b.decoder_attention_heads);
    b.encoder_ffn_dim = c.positive_or("encoder_ffn_dim", 4096);
    b.decoder_ffn_dim = c.positive_or("decoder_ffn_dim", 4096);
    b.activation_function = activation_field(c, "activation_function", c.string("activation_function", "gelu"));
    b.scale_embedding = c.boolean("scale_embedding", false);
    b.tie_word_embeddings = c.boolean("tie_word_embeddings", true);
    b.special_tokens = SpecialTokenIds::from(c, b.vocab_size);
    // BartConfig's defaults, each checked against the vocabulary like the ones config.json gives.
    const auto fallback = [&](const char* field, TokenId id) {
      c.check(id < b.vocab_size, detail::cat("field '", field, "' defaults to ", id, ", outside the vocabulary of ",
                                              b.vocab_size, " tokens: give it in config.json"));
      return id;
    };
    if (!b.special_tokens.bos) b.special_tokens.bos = fallback("bos_token_id", 0);
    if (!b.special_tokens.pad) b.special_tokens.pad = fallback("pad_token_id", 1);
    if (b.special_tokens.eos.empty()) b.special_tokens.eos = {fallback("eos_token_id", 2)};
    if (!b.special_tokens.decoder_start) b.special_tokens.decoder_start = fallback("decoder_start_token_id", 2);
    if (!c.json().find("forced_eos_token_id")) b.special_tokens.forced_eos = {fallback("forced_eos_token_id", 2)};
    return b;
  }

  /// config.json as Hugging Face writes it: the fields read at load, updated.
  json::Value to_json() const {
    json::Value j = original.is_object() ? original : json::Value(json::Object{});
    j.set("model_type", "bart");
    if (!j.find("architectures")) j.set("architectures", json::Array{json::Value("BartForConditionalGeneration")});
    j.set("vocab_size", vocab_size);
    j.set("max_position_embeddings", max_position_embeddings);
    j.set("d_model", d_model);
    j.set("encoder_layers", encoder_layers);
    j.set("decoder_layers", decoder_layers);
    j.set("encoder_attention_heads", encoder_attention_heads);
    j.set("decoder_attention_heads", decoder_attention_heads);
    j.set("encoder_ffn_dim", encoder_ffn_dim);
    j.set("decoder_ffn_dim", decoder_ffn_dim);
    j.set("activation_function", hf_activation_name(activation_function));
    j.set("scale_embedding", scale_embedding);
    j.set("tie_word_embeddings", tie_word_embeddings);
    j.set("is_encoder_decoder", true);
    return j;
  }

  /// The two stacks this family picks (see the top of bart.hpp): post-norm, biases everywhere, no final norm.
  EncoderDecoderConfig stacks() const {
    const auto stack = [&](Index layers, Index heads, Index ffn) {
      StackConfig s;
      s.block.attention.width = d_model;     // C
      s.block.attention.heads = heads;       // H, D = C / H, scores scaled by 1/√D
      s.block.attention.qkv_bias = true;
      s.block.attention.out_bias = true;
      s.block.ffn.hidden = ffn;              // F
      s.block.ffn.activation = activation_function;
      s.block.ffn.gated = false;             // fc2(act(fc1(x)))
      s.block.ffn.bias = true;
      s.block.norm.kind = NormKind::LayerNorm;
      s.block.norm.eps = kLayerNormEps;
      s.block.norm.bias = true;
      s.block.placement = NormPlacement::Post;  // y = LayerNorm(x + f(x)), as the 2017 Transformer
      s.layers = layers;
      s.final_norm = false;                  // BART has none (mBART adds one)
      return s;
    };
    EncoderDecoderConfig config;
    config.encoder = stack(encoder_layers, encoder_attention_heads, encoder_ffn_dim);
    config.decoder = stack(decoder_layers, decoder_attention_heads, decoder_ffn_dim);
    return config;
  }

  /// Parameters the model will have: what from_pretrained checks against the checkpoint before allocating.
  std::int64_t parameter_count() const {
    const std::int64_t C = d_model, V = vocab_size;
    const std::int64_t attention = 4 * C * C + 4 * C, norm = 2 * C;
    const std::int64_t encoder = encoder_layers * (attention + 2 * C * encoder_ffn_dim + encoder_ffn_dim + C + 2 * norm);
    const std::int64_t decoder = decoder_layers * (2 * attention + 2 * C * decoder_ffn_dim + decoder_ffn_dim + C + 3 * norm);
    const std::int64_t embeddings = 2 * ((max_position_embeddings + kPositionOffset) * C + norm);
    return V * C * (tie_word_embeddings ? 1 : 2) + V + embeddings + encoder + decoder;
  }
};

}  // namespace eigenformer
