// eigenformer/attention/forward_context.hpp — the one object that travels down a forward call:
// stack → block → attention. Each level reads what it needs from it and passes it on unchanged; nothing
// is copied field by field from one level's options into the next.
//
//   given by the caller      padding, memory, memory_padding, cache, capture, keep_scores, keep_weights
//   set by a Stack           rope, bias (its position scheme, shared by every layer) and layer (which block)
//
// Which fields a level reads:
//   Stack                    cache and capture (sized for its layers), then sets rope, bias, layer
//   block                    nothing itself: it hands the context to each of its attentions
//   MultiHeadAttention       Self/Causal: padding, bias, rope, cache->self[layer], capture->attentions[layer]
//                            Cross:       memory, memory_padding, cache->cross[layer],
//                                         capture->cross_attentions[layer]
//                            both:        keep_scores, keep_weights
// A MultiHeadAttention or a block used on its own takes a context too (layer 0).
#pragma once

#include <vector>

#include "eigenformer/attention/attention.hpp"
#include "eigenformer/attention/kv_cache.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/rope.hpp"

namespace eigenformer {

/// What a forward call records when asked, with the meaning of Hugging Face's output_hidden_states and
/// output_attentions.
template <class Scalar>
struct Capture {
  bool keep_hidden_states = true;
  bool keep_attentions = true;
  /// N + 1 entries: [0] the stack's input, [l] the output of block l for l < N, and [N] the stack's
  /// output (after the final norm, when there is one — as Hugging Face reports it).
  std::vector<Tensor3<Scalar>> hidden_states;
  std::vector<Tensor4<Scalar>> attentions;        // N entries, (B, H, T, S): self-attention weights per layer
  std::vector<Tensor4<Scalar>> cross_attentions;  // N entries (cross-attention only)

  /// Where layer `layer`'s self- (cross = false) or cross-attention (cross = true) weights go, or null
  /// when attentions are not kept. The list grows to hold it.
  Tensor4<Scalar>* attention_slot(Index layer, bool cross) {
    if (!keep_attentions) return nullptr;
    std::vector<Tensor4<Scalar>>& maps = cross ? cross_attentions : attentions;
    if (static_cast<Index>(maps.size()) <= layer) maps.resize(static_cast<std::size_t>(layer + 1));
    return &maps[static_cast<std::size_t>(layer)];
  }
};

/// The context of one forward call. All pointers are optional.
template <class Scalar>
struct ForwardContext {
  // Given by the caller.
  const KeyPadding* padding = nullptr;          // padding keys of the input (over cached + new positions)
  const Tensor3<Scalar>* memory = nullptr;      // cross-attention: the encoder output (B, S, Ckv)
  const KeyPadding* memory_padding = nullptr;   // cross-attention: padding positions of the encoder input
  DecoderCache<Scalar>* cache = nullptr;        // incremental decoding: the KV caches of every layer
  Capture<Scalar>* capture = nullptr;           // record hidden states and attention weights
  bool keep_scores = false;   // every attention keeps its (B, H, T, S) scores in act.scores
  bool keep_weights = false;  // every attention keeps its (B, H, T, S) weights in act.weights; a forward
                              // that backward() will differentiate must set it (the backward reads them)

  // Set by a Stack for its blocks (a caller running one block or attention alone may set them too).
  const RotaryEmbedding<Scalar>* rope = nullptr;  // rotate queries and keys by position (self-attention)
  const Tensor4<Scalar>* bias = nullptr;          // (B|1, H|1, T, S) added to the self-attention scores
  Index layer = 0;                                // the block being run: selects its cache and capture slots
};

}  // namespace eigenformer
