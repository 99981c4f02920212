// Exercise 7 — the exact parameter count of a Llama: a solution. (The text: exercises/07_parameter_count/.)
#pragma once

#include <cstdint>

namespace exercise {

struct LlamaShape {
  std::int64_t vocab_size = 0;           // V
  std::int64_t hidden_size = 0;          // C
  std::int64_t num_hidden_layers = 0;    // L
  std::int64_t num_attention_heads = 0;  // H
  std::int64_t num_key_value_heads = 0;  // Hkv
  std::int64_t head_dim = 0;             // D
  std::int64_t intermediate_size = 0;    // F
  bool tie_word_embeddings = false;
};

inline std::int64_t parameter_count(const LlamaShape& s) {
  const std::int64_t V = s.vocab_size, C = s.hidden_size, L = s.num_hidden_layers;
  const std::int64_t H = s.num_attention_heads, Hkv = s.num_key_value_heads, D = s.head_dim, F = s.intermediate_size;
  // 1) One layer: q and o are (H·D)×C each; k and v are (Hkv·D)×C each; the MLP's three matrices are F×C
  //    each; two RMSNorm scales of C.
  const std::int64_t attention = 2 * H * D * C + 2 * Hkv * D * C;
  const std::int64_t mlp = 3 * F * C;
  const std::int64_t norms = 2 * C;
  const std::int64_t layer = attention + mlp + norms;
  // 2) The ends: the embedding V×C, the final norm C, and the LM head V×C unless it is the embedding.
  const std::int64_t embedding = V * C;
  const std::int64_t head = s.tie_word_embeddings ? 0 : V * C;
  return embedding + L * layer + C + head;
}

}  // namespace exercise
