// bench/stories_shapes.hpp — the shapes of llama2.c's TinyStories models, shared by the benchmarks:
//   stories15M   dim 288, 6 layers, 6 heads, FFN 768,   vocab 32000, tied embeddings
//   stories110M  dim 768, 12 layers, 12 heads, FFN 2048, vocab 32000, tied embeddings
#pragma once

#include "llama/llama.hpp"

namespace eigenformer::bench {

/// stories110M's config when `large`, else stories15M's (1024 positions).
inline LlamaConfig stories(bool large) {
  LlamaConfig c;
  c.vocab_size = 32000;
  c.hidden_size = large ? 768 : 288;
  c.intermediate_size = large ? 2048 : 768;
  c.num_hidden_layers = large ? 12 : 6;
  c.num_attention_heads = large ? 12 : 6;  // num_key_value_heads and head_dim keep their defaults: H and C / H
  c.max_position_embeddings = 1024;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  return c;
}

}  // namespace eigenformer::bench
