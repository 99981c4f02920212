// eigenformer/blocks/self_attention_block.hpp — the block made of self-attention and a feed-forward
// network: the encoder block (bidirectional) and the decoder-only block (causal) are both this one.
//
//     h = Residual_attn(x, SelfAttention)         every token gathers information from the others
//     y = Residual_ffn (h, FFN)                   then each token is transformed on its own
//
// with Residual(x, f) = x + f(Norm(x)) (pre-norm) or Norm(x + f(x)) (post-norm); see block_config.hpp.
#pragma once

#include <string>

#include "eigenformer/blocks/block_config.hpp"

namespace eigenformer {

/// Intermediates of the last forward call, named as the lecture names them.
template <class Scalar>
struct SelfAttentionBlockActivations {
  Tensor3<Scalar> attention_out;  // (B, T, C)  the attention sublayer's output, before the residual
  Tensor3<Scalar> h;              // (B, T, C)  the residual stream between the two sublayers
  Tensor3<Scalar> ffn_out;        // (B, T, C)  the FFN sublayer's output, before the residual
};

template <class Scalar>
class SelfAttentionBlock {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  static constexpr bool has_cross_attention = false;  // what a Stack reads to size caches and captures

  SelfAttentionBlock() = default;
  SelfAttentionBlock(const BlockConfig& config, AttentionMode mode)
      : config_(config),
        mode_(mode),
        attention(config.attention),
        attention_residual(config.width(), config.norm, config.placement),
        ffn(config.width(), config.ffn),
        ffn_residual(config.width(), config.norm, config.placement) {}

  const BlockConfig& config() const { return config_; }
  AttentionMode mode() const { return mode_; }

  /// x (B, T, C) → y (B, T, C). y must not be x. The context goes to the attention unchanged.
  void forward(const Tensor3<Scalar>& x, Tensor3<Scalar>& y, const ForwardContext<Scalar>& context = {}) {
    // 1) Self-attention sublayer: each token looks at the tokens its mask allows.
    attention.forward(attention_residual.input(x), act.attention_out, mode_, context);
    attention_residual.add(x, act.attention_out, act.h);

    // 2) Feed-forward sublayer: each token alone.
    ffn.forward(ffn_residual.input(act.h), act.ffn_out);
    ffn_residual.add(act.h, act.ffn_out, y);
  }

  Tensor3<Scalar> operator()(const Tensor3<Scalar>& x, const ForwardContext<Scalar>& context = {}) {
    Tensor3<Scalar> y;
    forward(x, y, context);
    return y;
  }

  /// Names: attn.{q,k,v,o}.*, attn_norm.*, ffn.{gate,up,down}.*, ffn_norm.*
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    attention.collect_parameters(prefix + "attn.", out);
    attention_residual.collect_parameters(prefix + "attn_norm.", out);
    ffn.collect_parameters(prefix + "ffn.", out);
    ffn_residual.collect_parameters(prefix + "ffn_norm.", out);
  }

 private:
  BlockConfig config_;
  AttentionMode mode_ = AttentionMode::Self;

 public:
  MultiHeadAttention<Scalar> attention;
  Residual<Scalar> attention_residual;  // holds the norm around the attention
  FeedForward<Scalar> ffn;
  Residual<Scalar> ffn_residual;        // holds the norm around the FFN
  SelfAttentionBlockActivations<Scalar> act;
};

}  // namespace eigenformer
