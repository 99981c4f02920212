// eigenformer/blocks/cross_decoder_block.hpp — the decoder block of an encoder-decoder (the original
// Transformer, T5, BART): three sublayers.
//
//     h1 = Residual(x,  CausalSelfAttention)   the target so far: token t sees target tokens 0..t
//     h2 = Residual(h1, CrossAttention(memory)) each target token reads the source sentence (the encoder
//                                               output); this is where translation "looks up" the input
//     y  = Residual(h2, FFN)
#pragma once

#include <string>

#include "eigenformer/blocks/block_config.hpp"

namespace eigenformer {

/// Intermediates of the last forward call.
template <class Scalar>
struct CrossDecoderBlockActivations {
  Tensor3<Scalar> self_attention_out;   // (B, T, C)
  Tensor3<Scalar> h1;                   // (B, T, C)  after the self-attention sublayer
  Tensor3<Scalar> cross_attention_out;  // (B, T, C)
  Tensor3<Scalar> h2;                   // (B, T, C)  after the cross-attention sublayer
  Tensor3<Scalar> ffn_out;              // (B, T, C)
};

/// Gradients of the last backward call: d<name> = ∂loss/∂<name>.
template <class Scalar>
struct CrossDecoderBlockGradients {
  Tensor3<Scalar> dh2;                       // (B, T, C)
  Tensor3<Scalar> dh1;                       // (B, T, C)
  Tensor3<Scalar> d_ffn_input;               // (B, T, C)  what the FFN read
  Tensor3<Scalar> d_cross_attention_input;   // (B, T, C)  what the cross-attention's queries read
  Tensor3<Scalar> d_self_attention_input;    // (B, T, C)  what the self-attention read
};

template <class Scalar>
class CrossDecoderBlock {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  static constexpr bool has_cross_attention = true;  // what a Stack reads to size caches and captures

  CrossDecoderBlock() = default;
  explicit CrossDecoderBlock(const BlockConfig& config)
      : config_(config),
        self_attention(config.attention),
        self_attention_residual(config.width(), config.norm, config.placement),
        cross_attention(config.resolved_cross_attention()),
        cross_attention_residual(config.width(), config.norm, config.placement),
        ffn(config.width(), config.ffn),
        ffn_residual(config.width(), config.norm, config.placement) {}

  const BlockConfig& config() const { return config_; }

  /// x (B, T, C) and context.memory (B, S, C) → y (B, T, C). y must not be x. The context goes to both
  /// attentions unchanged; each reads its own part (attention/forward_context.hpp).
  void forward(const Tensor3<Scalar>& x, Tensor3<Scalar>& y, const ForwardContext<Scalar>& context) {
    Capture<Scalar>* inspect = context.inspecting();  // named intermediates: attention/forward_context.hpp
    ForwardContext<Scalar> scoped = context;           // names the two attentions in captures
    const Index l = context.layer;
    // 1) Causal self-attention over the target.
    scoped.scope = "self_attn.";
    self_attention.forward(self_attention_residual.input(x), act.self_attention_out, AttentionMode::Causal, scoped);
    if (inspect != nullptr) inspect_input(*inspect, l, "self_attn_norm.out", self_attention_residual, x);
    self_attention_residual.add(x, act.self_attention_out, act.h1);
    if (inspect != nullptr) inspect->record_sequence(layer_site(*inspect, l, "resid_mid"), act.h1, l);

    // 2) Cross-attention: queries from the target, keys and values from the encoder output.
    scoped.scope = "cross_attn.";
    cross_attention.forward(cross_attention_residual.input(act.h1), act.cross_attention_out, AttentionMode::Cross,
                            scoped);
    if (inspect != nullptr) inspect_input(*inspect, l, "cross_attn_norm.out", cross_attention_residual, act.h1);
    cross_attention_residual.add(act.h1, act.cross_attention_out, act.h2);
    if (inspect != nullptr) inspect->record_sequence(layer_site(*inspect, l, "resid_cross"), act.h2, l);

    // 3) Feed-forward, each token alone.
    ffn.forward(ffn_residual.input(act.h2), act.ffn_out);
    if (inspect != nullptr) inspect_ffn(*inspect, l, ffn_residual, ffn, act.h2, act.ffn_out);
    ffn_residual.add(act.h2, act.ffn_out, y);
    if (inspect != nullptr) inspect->record_sequence(layer_site(*inspect, l, "out"), y, l);
  }

  /// Backward of forward(x, y, context): dy (B, T, C) → dx (B, T, C), written; parameter gradients added
  /// into; `inputs.memory` (B, S, C) gets ∂loss/∂memory added (from the cross-attention's k and v), and
  /// `inputs.bias` the self-attention's ∂loss/∂bias. Same requirements as SelfAttentionBlock::backward.
  /// The three sublayers in reverse, each residual passing its gradient both ways (block_config.hpp).
  void backward(const Tensor3<Scalar>& x, const Tensor3<Scalar>& dy, Tensor3<Scalar>& dx,
                const ForwardContext<Scalar>& context, const AttentionInputGradients<Scalar>& inputs = {}) {
    // 3) Feed-forward.
    const Tensor3<Scalar>& d_ffn_sum = ffn_residual.add_backward(dy);
    ffn.backward(ffn_residual.last_input(act.h2), d_ffn_sum, grad.d_ffn_input);
    grad.dh2 = d_ffn_sum;
    ffn_residual.input_backward(grad.d_ffn_input, grad.dh2);

    // 2) Cross-attention: the queries' gradient goes to h1, the keys' and values' to the memory.
    const Tensor3<Scalar>& d_cross_sum = cross_attention_residual.add_backward(grad.dh2);
    cross_attention.backward(cross_attention_residual.last_input(act.h1), d_cross_sum, grad.d_cross_attention_input,
                             AttentionMode::Cross, context, inputs);
    grad.dh1 = d_cross_sum;
    cross_attention_residual.input_backward(grad.d_cross_attention_input, grad.dh1);

    // 1) Causal self-attention.
    const Tensor3<Scalar>& d_self_sum = self_attention_residual.add_backward(grad.dh1);
    self_attention.backward(self_attention_residual.last_input(x), d_self_sum, grad.d_self_attention_input,
                            AttentionMode::Causal, context, inputs);
    dx = d_self_sum;
    self_attention_residual.input_backward(grad.d_self_attention_input, dx);
  }

  /// Names: self_attn.*, self_attn_norm.*, cross_attn.*, cross_attn_norm.*, ffn.*, ffn_norm.*
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    self_attention.collect_parameters(prefix + "self_attn.", out);
    self_attention_residual.collect_parameters(prefix + "self_attn_norm.", out);
    cross_attention.collect_parameters(prefix + "cross_attn.", out);
    cross_attention_residual.collect_parameters(prefix + "cross_attn_norm.", out);
    ffn.collect_parameters(prefix + "ffn.", out);
    ffn_residual.collect_parameters(prefix + "ffn_norm.", out);
  }

 private:
  BlockConfig config_;

 public:
  MultiHeadAttention<Scalar> self_attention;
  Residual<Scalar> self_attention_residual;
  MultiHeadAttention<Scalar> cross_attention;
  Residual<Scalar> cross_attention_residual;
  FeedForward<Scalar> ffn;
  Residual<Scalar> ffn_residual;
  CrossDecoderBlockActivations<Scalar> act;
  CrossDecoderBlockGradients<Scalar> grad;  // the last backward call's gradients
};

}  // namespace eigenformer
