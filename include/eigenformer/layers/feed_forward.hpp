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
    up.forward(x, act.up);
    if (config_.gated) {
      // hidden = act(x W_gateᵀ) ⊙ (x W_upᵀ)
      gate.forward(x, act.gate);
      act.hidden = act.gate;
      apply_activation<Scalar>(config_.activation, act.hidden);
      act.hidden.array() *= act.up.array();
    } else {
      // hidden = act(x W_upᵀ + b_up)
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
};

}  // namespace eigenformer
