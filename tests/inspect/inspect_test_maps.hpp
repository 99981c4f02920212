// tests/inspect/inspect_test_maps.hpp — small attention maps with hand-picked weights for the picture tests.
#pragma once

#include <string>
#include <vector>

#include "eigenformer/inspect.hpp"

namespace inspect_tests {

using eigenformer::Index;
using eigenformer::inspect::AttentionKind;
using eigenformer::inspect::AttentionMaps;
using eigenformer::inspect::LayerAttention;

/// One layer, one head, causal, T = S = 3:
///     query 0 <s>  [1     ·     ·  ]
///     query 1 The  [0.25  0.75  ·  ]
///     query 2 cat  [0.05  0.45  0.5]
inline AttentionMaps causal_three() {
  AttentionMaps m;
  m.name = "attentions";
  m.kind = AttentionKind::CausalSelf;
  m.query_tokens = {"<s>", "The", "cat"};
  m.key_tokens = m.query_tokens;
  LayerAttention l;
  l.layer = 0;
  l.heads = 1;
  l.queries = 3;
  l.keys = 3;
  l.weights = {1, 0, 0, 0.25, 0.75, 0, 0.05, 0.45, 0.5};
  m.layers.push_back(l);
  return m;
}

/// Two layers, two heads, bidirectional, T = S = 2, with tokens that need escaping and a Chinese one.
inline AttentionMaps encoder_two() {
  AttentionMaps m;
  m.name = "encoder_attentions";
  m.kind = AttentionKind::EncoderSelf;
  m.query_tokens = {"<b>&\"'", "\xE7\x8C\xAB"};  // 猫
  m.key_tokens = m.query_tokens;
  for (Index layer = 0; layer < 2; ++layer) {
    LayerAttention l;
    l.layer = layer;
    l.heads = 2;
    l.queries = 2;
    l.keys = 2;
    l.weights = {0.5, 0.5, 0.125, 0.875, 0.9, 0.1, 0.3, 0.7};
    m.layers.push_back(l);
  }
  return m;
}

inline std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace inspect_tests
