// Exercise 7 — how many parameters does a Llama have? (course chapter 0, what a large language model is:
// its scale.)
//
// "7B" and "8B" are counts of the numbers a model learned. Every one of them sits in a weight matrix you can
// name from the config alone (docs/00_start_here.md, "How large is large"; the tensors of a checkpoint are
// listed in docs/models.md). For a Llama-style model with
//     V  vocab_size          C  hidden_size          L  num_hidden_layers
//     H  num_attention_heads Hkv num_key_value_heads D  head_dim          F  intermediate_size
// the weights are
//     embedding                  (V, C)
//     per layer: q_proj (H·D, C), k_proj (Hkv·D, C), v_proj (Hkv·D, C), o_proj (C, H·D),
//                gate_proj (F, C), up_proj (F, C), down_proj (C, F),
//                input_layernorm (C), post_attention_layernorm (C)      — RMSNorm has a scale, no bias
//     final norm (C)
//     lm_head (V, C)             — unless tie_word_embeddings: then the head *is* the embedding, counted once
// Llama has no biases anywhere.
//
// The starting point returns the rule of thumb 12·L·C² (Kaplan et al. 2020, §2.1: attention 4C², an MLP of
// width 4C 8C²). Write the exact count. The check compares it with the counts published for real models
// (Llama 2 7B: 6 738 415 616).
// Check: ctest --preset ci -R "exercise.07_parameter_count"   (see exercises/README.md)
#pragma once

#include <cstdint>

namespace exercise {

/// The sizes of a Llama-style model, named as in its config.json.
struct LlamaShape {
  std::int64_t vocab_size = 0;           // V
  std::int64_t hidden_size = 0;          // C
  std::int64_t num_hidden_layers = 0;    // L
  std::int64_t num_attention_heads = 0;  // H
  std::int64_t num_key_value_heads = 0;  // Hkv (= H without grouped-query attention)
  std::int64_t head_dim = 0;             // D (usually C / H)
  std::int64_t intermediate_size = 0;    // F, the MLP's hidden width
  bool tie_word_embeddings = false;      // the LM head shares the embedding's (V, C) matrix
};

/// The exact number of learned parameters of the model.
inline std::int64_t parameter_count(const LlamaShape& s) {
  // TODO: count every weight listed above. As written: the rule of thumb, which forgets the embedding, the
  // LM head, the norms, and that the MLP is 3·C·F with F ≠ 4C, and that Hkv < H shrinks k and v.
  return 12 * s.num_hidden_layers * s.hidden_size * s.hidden_size;
}

}  // namespace exercise
