// eigenformer/layers/feed_forward.hpp — the position-wise feed-forward network (FFN).
//
// Each token's vector is expanded to F features, passed through a non-linearity, and projected back:
//   plain  (Vaswani et al. 2017, eq. 2):  FFN(x) = act(x W_upᵀ + b_up) W_downᵀ + b_down
//   gated  (Shazeer 2020, "GLU Variants"): FFN(x) = (act(x W_gateᵀ) ⊙ x W_upᵀ) W_downᵀ
//          SwiGLU = gated with SiLU (Llama: gate_proj, up_proj, down_proj)
//          GeGLU  = gated with GELU (T5 v1.1: wi_0 = gate, wi_1 = up, wo = down)
// It acts on each token alone: attention mixes positions, the FFN transforms each one.
#pragma once

#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/activation.hpp"
#include "eigenformer/layers/linear.hpp"

namespace eigenformer {

struct FeedForwardConfig {
  Index hidden = 0;                       // F, the inner width (BERT-base 3072, Llama 7B 11008)
  Activation activation = Activation::ReLU;
  bool gated = false;                     // SwiGLU / GeGLU
  bool bias = true;                       // BERT and the original Transformer: yes; Llama and T5: no
};

/// Intermediates of the last forward call, named as the lecture names them (a backward pass will read them).
template <class Scalar>
struct FeedForwardActivations {
  Matrix<Scalar> up;      // (N, F)  x W_upᵀ + b_up, before any activation
  Matrix<Scalar> gate;    // (N, F)  x W_gateᵀ, before the activation (gated FFN only)
  Matrix<Scalar> hidden;  // (N, F)  what W_down sees: act(up), or act(gate) ⊙ up
  Matrix<Scalar> activated;  // (N, F)  act(gate), the gate's output (gated FFN only; backward reads it)
};

template <class Scalar>
class FeedForward {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  FeedForward() = default;
  FeedForward(Index width, const FeedForwardConfig& config)
      : config_(config),
        up(width, config.hidden, config.bias),
        down(config.hidden, width, config.bias) {
    if (config.gated) gate = Linear<Scalar>(width, config.hidden, config.bias);
  }

  const FeedForwardConfig& config() const { return config_; }

  /// x: (B, T, C) → y: (B, T, C), resized when needed.
  void forward(const Tensor3<Scalar>& x, Tensor3<Scalar>& y) {
    y.resize(x.dimension(0), x.dimension(1), down.out_features());
    forward(as_matrix(x), as_matrix(y));
  }

  /// x: (N, C) → y: (N, C); y must already be (N, C).
  void forward(const Eigen::Ref<const Matrix<Scalar>>& x, Eigen::Ref<Matrix<Scalar>> y) {
    if (config_.gated) {
      // hidden = act(x W_gateᵀ) ⊙ (x W_upᵀ). The two products read the same x: they run together
      // (forward_together, layers/linear.hpp — when decoding, the threads meet once for both; same bits).
      forward_together<Scalar, 2>(x, {&gate, &up}, {&act.gate, &act.up});
      act.activated = act.gate;
      apply_activation<Scalar>(config_.activation, act.activated);
      act.hidden = (act.activated.array() * act.up.array()).matrix();
    } else {
      // hidden = act(x W_upᵀ + b_up)
      up.forward(x, act.up);
      act.hidden = act.up;
      apply_activation<Scalar>(config_.activation, act.hidden);
    }
    down.forward(act.hidden, y);  // y = hidden W_downᵀ + b_down
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    if (config_.gated) gate.collect_parameters(prefix + "gate.", out);
    up.collect_parameters(prefix + "up.", out);
    down.collect_parameters(prefix + "down.", out);
  }

 private:
  FeedForwardConfig config_;

 public:
  Linear<Scalar> up;    // (F, C)
  Linear<Scalar> gate;  // (F, C), gated only
  Linear<Scalar> down;  // (C, F)
  FeedForwardActivations<Scalar> act;

  // ---- Backward (training) ------------------------------------------------------------------------------
  FeedForwardActivations<Scalar> grad;  // ∂loss/∂ each tensor of `act` in the last backward call (same shapes)

  /// Backward of the last forward call: the chain rule through its steps in reverse.
  ///   x (N, C)   the forward's input (the caller keeps it: a block's normed input)
  ///   dy (N, C)  ∂loss/∂y     dx (N, C)  ∂loss/∂x, written (Assign) or added (Add)
  /// Reads x, act.up, act.gate, act.activated, act.hidden and the three weights; the Linear layers add
  /// their weight (and bias) gradients.
  ///   plain:  hidden = act(up)            d_up   = act'(up) ⊙ d_hidden
  ///   gated:  hidden = act(gate) ⊙ up     d_up   = d_hidden ⊙ act(gate)
  ///                                       d_gate = act'(gate) ⊙ (d_hidden ⊙ up)     (product rule)
  ///   and x feeds up (and gate), so dx = d_up W_up (+ d_gate W_gate).
  void backward(const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& dy,
                Eigen::Ref<Matrix<Scalar>> dx, GradientWrite write = GradientWrite::Assign) {
    if (x.rows() != act.hidden.rows() || dy.rows() != x.rows() || dy.cols() != down.out_features()) {
      throw ShapeError(detail::cat("[FeedForward::backward] input ", detail::shape_str(shape_of(x)), " and gradient ",
                                   detail::shape_str(shape_of(dy)), " do not match the last forward's ",
                                   act.hidden.rows(), " rows of width ", down.out_features()));
    }
    // 1) y = hidden W_downᵀ + b_down:  d_hidden = dy W_down.
    down.backward(act.hidden, dy, grad.hidden);
    if (config_.gated) {
      // 2) hidden = activated ⊙ up:  each factor's gradient is d_hidden times the other factor.
      grad.up = (grad.hidden.array() * act.activated.array()).matrix();
      grad.activated = (grad.hidden.array() * act.up.array()).matrix();
      // 3) activated = act(gate):  d_gate = act'(gate) ⊙ d_activated.
      grad.gate.resize(act.gate.rows(), act.gate.cols());
      activation_backward<Scalar>(config_.activation, act.gate, grad.activated, grad.gate);
      // 4) up and gate both read x: their input gradients add.
      up.backward(x, grad.up, dx, write);
      gate.backward(x, grad.gate, dx, GradientWrite::Add);
    } else {
      // 2) hidden = act(up):  d_up = act'(up) ⊙ d_hidden.
      grad.up.resize(act.up.rows(), act.up.cols());
      activation_backward<Scalar>(config_.activation, act.up, grad.hidden, grad.up);
      // 3) up = x W_upᵀ + b_up:  dx = d_up W_up.
      up.backward(x, grad.up, dx, write);
    }
  }

  /// The same on (B, T, C) tensors; dx resized and written.
  void backward(const Tensor3<Scalar>& x, const Tensor3<Scalar>& dy, Tensor3<Scalar>& dx) {
    dx.resize(x.dimension(0), x.dimension(1), x.dimension(2));
    backward(as_matrix(x), as_matrix(dy), as_matrix(dx), GradientWrite::Assign);
  }
};

}  // namespace eigenformer
