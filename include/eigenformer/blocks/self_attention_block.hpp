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

/// Gradients of the last backward call: d<name> = ∂loss/∂<name>.
template <class Scalar>
struct SelfAttentionBlockGradients {
  Tensor3<Scalar> dh;               // (B, T, C)  the residual stream between the sublayers
  Tensor3<Scalar> d_ffn_input;      // (B, T, C)  what the FFN read (Norm(h) or h)
  Tensor3<Scalar> d_attention_input;// (B, T, C)  what the attention read (Norm(x) or x)
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
    Capture<Scalar>* inspect = context.inspecting();  // named intermediates: attention/forward_context.hpp
    // 1) Self-attention sublayer: each token looks at the tokens its mask allows.
    attention.forward(attention_residual.input(x), act.attention_out, mode_, context);
    if (inspect != nullptr) inspect_input(*inspect, context.layer, "attn_norm.out", attention_residual, x);
    attention_residual.add(x, act.attention_out, act.h);
    if (inspect != nullptr) inspect->record_sequence(layer_site(*inspect, context.layer, "resid_mid"), act.h, context.layer);

    // 2) Feed-forward sublayer: each token alone.
    ffn.forward(ffn_residual.input(act.h), act.ffn_out);
    if (inspect != nullptr) inspect_ffn(*inspect, context.layer, ffn_residual, ffn, act.h, act.ffn_out);
    ffn_residual.add(act.h, act.ffn_out, y);
    if (inspect != nullptr) inspect->record_sequence(layer_site(*inspect, context.layer, "out"), y, context.layer);
  }

  Tensor3<Scalar> operator()(const Tensor3<Scalar>& x, const ForwardContext<Scalar>& context = {}) {
    Tensor3<Scalar> y;
    forward(x, y, context);
    return y;
  }

  /// Backward of forward(x, y, context): dy (B, T, C) = ∂loss/∂y → dx (B, T, C) = ∂loss/∂x, written; every
  /// parameter gradient added into (when allocated); `inputs.bias` gets the attention's ∂loss/∂bias added.
  /// x and context must be those of the forward, which must have kept its weights (context.keep_weights)
  /// and used no cache. The forward in reverse; each residual passes its gradient both ways (block_config.hpp):
  ///   2) y = Residual_ffn(h, FFN):   dh = add_backward(dy);  d_ffn_input = FFN'ᵀ dh;  dh += input path
  ///   1) h = Residual_attn(x, Attn): dx = add_backward(dh);  d_attention_input = Attn'ᵀ dh_sum;  dx += input path
  void backward(const Tensor3<Scalar>& x, const Tensor3<Scalar>& dy, Tensor3<Scalar>& dx,
                const ForwardContext<Scalar>& context = {}, const AttentionInputGradients<Scalar>& inputs = {}) {
    // 2) Feed-forward sublayer.
    const Tensor3<Scalar>& d_ffn_sum = ffn_residual.add_backward(dy);  // ∂loss/∂h (residual) = ∂loss/∂ffn_out
    ffn.backward(ffn_residual.last_input(act.h), d_ffn_sum, grad.d_ffn_input);
    grad.dh = d_ffn_sum;
    ffn_residual.input_backward(grad.d_ffn_input, grad.dh);

    // 1) Self-attention sublayer.
    const Tensor3<Scalar>& d_attention_sum = attention_residual.add_backward(grad.dh);
    attention.backward(attention_residual.last_input(x), d_attention_sum, grad.d_attention_input, mode_, context, inputs);
    dx = d_attention_sum;
    attention_residual.input_backward(grad.d_attention_input, dx);
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
  SelfAttentionBlockGradients<Scalar> grad;  // the last backward call's gradients
};

}  // namespace eigenformer
