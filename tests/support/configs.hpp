// Configurations for the tests, built by name: a reader never counts commas to know what `false` means.
//
//     MultiHeadAttention<T> mha(attention_config(16, 4).with_kv_heads(2).with_biases());
//     Norm<T> norm(C, norm_config(NormKind::RMSNorm, 1e-6));
//
// Each helper takes the (at most two) values that every such config needs and returns the library's config
// struct, whose other fields keep their documented defaults until a with_*() call names them.
#pragma once

#include "eigenformer/eigenformer.hpp"

namespace eigenformer::testing {

/// An AttentionConfig with width C and H heads; the rest by name.
struct NamedAttentionConfig : AttentionConfig {
  NamedAttentionConfig& with_kv_heads(Index n) { kv_heads = n; return *this; }
  NamedAttentionConfig& with_head_dim(Index d) { head_dim = d; return *this; }
  NamedAttentionConfig& with_kv_width(Index w) { kv_width = w; return *this; }
  NamedAttentionConfig& with_biases() { qkv_bias = out_bias = true; return *this; }  // on q, k, v and o
  NamedAttentionConfig& with_scale(double s) { scale = s; return *this; }
};
inline NamedAttentionConfig attention_config(Index width, Index heads) {
  NamedAttentionConfig c;
  c.width = width;
  c.heads = heads;
  return c;
}

/// A NormConfig of a kind and eps, without a bias (β) unless with_bias() says so.
struct NamedNormConfig : NormConfig {
  NamedNormConfig& with_bias() { bias = true; return *this; }
};
inline NamedNormConfig norm_config(NormKind kind, double eps) {
  NamedNormConfig c;
  c.kind = kind;
  c.eps = eps;
  c.bias = false;
  return c;
}

/// A FeedForwardConfig of inner width F and an activation, not gated and without biases unless named.
struct NamedFeedForwardConfig : FeedForwardConfig {
  NamedFeedForwardConfig& gated_linear_unit() { gated = true; return *this; }
  NamedFeedForwardConfig& with_bias() { bias = true; return *this; }
};
inline NamedFeedForwardConfig ffn_config(Index hidden, Activation activation) {
  NamedFeedForwardConfig c;
  c.hidden = hidden;
  c.activation = activation;
  c.gated = false;
  c.bias = false;
  return c;
}

/// A RopeConfig of head width D and base θ (half-split pairs, no scaling) unless named.
struct NamedRopeConfig : RopeConfig {
  NamedRopeConfig& with_layout(RopeLayout l) { layout = l; return *this; }
};
inline NamedRopeConfig rope_config(Index head_dim, double base) {
  NamedRopeConfig c;
  c.head_dim = head_dim;
  c.base = base;
  return c;
}

}  // namespace eigenformer::testing
