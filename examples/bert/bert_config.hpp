// examples/bert/bert_config.hpp — config.json of a BERT checkpoint: Hugging Face's field names and defaults,
// every field checked (ConfigError naming the file and the field) before anything is allocated, the file
// written back on save, and the blocks this family picks from the kit. The model itself is bert.hpp.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace eigenformer {

/// config.json of a BERT checkpoint, with Hugging Face's field names and defaults (BertConfig).
struct BertConfig {
  Index vocab_size = 0;                   // V
  Index hidden_size = 0;                  // C
  Index num_hidden_layers = 0;            // N
  Index num_attention_heads = 0;          // H
  Index intermediate_size = 0;            // F
  Index max_position_embeddings = 512;    // P
  Index type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  Activation hidden_act = Activation::GeluErf;
  Index num_labels = 2;                   // L: the size of id2label (classifier checkpoints)
  bool tie_word_embeddings = true;        // the masked-LM output layer is the word embedding
  std::optional<TokenId> pad_token_id;
  json::Value original;                   // the file as read, so that saving keeps fields we do not use

  static BertConfig from(const ModelConfig& c) {
    const std::string type = c.string("model_type", "");
    c.check(type == "bert", detail::cat("model_type is '", type, "', expected 'bert'"));
    BertConfig b;
    b.original = c.json();
    b.vocab_size = c.positive("vocab_size");
    b.hidden_size = c.positive("hidden_size");
    b.num_hidden_layers = c.positive("num_hidden_layers");
    b.num_attention_heads = c.positive("num_attention_heads");
    c.check_divisible("hidden_size", b.hidden_size, "num_attention_heads", b.num_attention_heads);
    b.intermediate_size = c.positive("intermediate_size");
    b.max_position_embeddings = c.positive_or("max_position_embeddings", 512);
    b.type_vocab_size = c.positive_or("type_vocab_size", 2);
    b.layer_norm_eps = c.positive_number("layer_norm_eps", 1e-12);
    b.hidden_act = activation_field(c, "hidden_act", c.string("hidden_act", "gelu"));
    const std::string positions = c.string("position_embedding_type", "absolute");
    c.check(positions == "absolute",
            detail::cat("position_embedding_type '", positions, "' is not supported (only 'absolute')"));
    b.num_labels = c.has("id2label") ? c.object_size("id2label", 2) : c.positive_or("num_labels", 2);
    c.check(b.num_labels >= 1, "id2label is empty");
    b.tie_word_embeddings = c.boolean("tie_word_embeddings", true);
    b.pad_token_id = SpecialTokenIds::from(c, b.vocab_size).pad;
    return b;
  }

  json::Value to_json() const {
    json::Value j = original.is_object() ? original : json::Value(json::Object{});
    j.set("model_type", "bert");
    j.set("vocab_size", vocab_size);
    j.set("hidden_size", hidden_size);
    j.set("num_hidden_layers", num_hidden_layers);
    j.set("num_attention_heads", num_attention_heads);
    j.set("intermediate_size", intermediate_size);
    j.set("max_position_embeddings", max_position_embeddings);
    j.set("type_vocab_size", type_vocab_size);
    j.set("layer_norm_eps", layer_norm_eps);
    j.set("hidden_act", hf_activation_name(hidden_act));
    j.set("position_embedding_type", "absolute");
    return j;
  }

  /// The encoder this family picks (see the top of this file).
  StackConfig encoder() const {
    StackConfig s;
    s.block.attention.width = hidden_size;          // C
    s.block.attention.heads = num_attention_heads;  // H; D = C / H
    s.block.attention.qkv_bias = true;
    s.block.attention.out_bias = true;
    s.block.ffn.hidden = intermediate_size;         // F
    s.block.ffn.activation = hidden_act;            // GELU
    s.block.ffn.gated = false;
    s.block.ffn.bias = true;
    s.block.norm.kind = NormKind::LayerNorm;
    s.block.norm.eps = layer_norm_eps;
    s.block.norm.bias = true;
    s.block.placement = NormPlacement::Post;
    s.layers = num_hidden_layers;
    s.final_norm = false;
    return s;
  }
};

}  // namespace eigenformer
