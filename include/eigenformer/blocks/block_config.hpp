// eigenformer/blocks/block_config.hpp — the choices that make a block BERT's, Llama's or T5's.
//
// A Transformer block is always "attention, then a feed-forward network, each wrapped in a residual
// connection and a normalisation". Families differ only in these choices:
//
//                     norm       placement  FFN                attention biases   score scale
//   original (2017)   LayerNorm  post       ReLU               yes                1/√D
//   BERT              LayerNorm  post       GELU (erf)         yes                1/√D
//   T5 (t5-small)     RMSNorm    pre        ReLU               no                 1
//   T5 v1.1, flan-t5  RMSNorm    pre        GeGLU (tanh GELU)  no                 1
//   Llama             RMSNorm    pre        SwiGLU             no                 1/√D
//
// and in the position scheme, which lives in the stack (it is shared by all layers): sinusoidal or
// learned vectors added before the first block, RoPE inside every self-attention, or T5's relative bias
// added to every self-attention's scores.
//
// The choices are plain runtime values rather than template parameters: a checkpoint's config.json picks
// them when the program runs, and one compiled code path is what a student steps through.
#pragma once

#include "eigenformer/attention/multi_head_attention.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/feed_forward.hpp"
#include "eigenformer/layers/norm.hpp"

namespace eigenformer {

/// Where the normalisation sits around each sublayer f (attention or FFN):
///   Pre   y = x + f(Norm(x))     GPT-2, T5, Llama — the residual stream is never normalised; trains deep
///   Post  y = Norm(x + f(x))     the original Transformer and BERT
enum class NormPlacement { Pre, Post };

struct BlockConfig {
  AttentionConfig attention{};      // the self-attention; its width is the block's width C
  AttentionConfig cross_attention{};// CrossDecoderBlock only; width 0 means "same as attention"
  FeedForwardConfig ffn{};
  NormConfig norm{};
  NormPlacement placement = NormPlacement::Pre;

  Index width() const { return attention.width; }
  const AttentionConfig& resolved_cross_attention() const {
    return cross_attention.width > 0 ? cross_attention : attention;
  }
};

/// One residual sublayer's two ends, for either placement:
///     x → input(x) → [ the sublayer f ] → add(x, f) → y
/// input(x) is Norm(x) for pre-norm and x itself for post-norm; add() is x + f for pre-norm and
/// Norm(x + f) for post-norm.
template <class Scalar>
class Residual {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  Residual() = default;
  Residual(Index width, const NormConfig& norm_config, NormPlacement placement)
      : norm(width, norm_config), placement_(placement) {}

  NormPlacement placement() const { return placement_; }

  /// What the sublayer reads: Norm(x) (pre-norm) or x (post-norm).  x: (B, T, C).
  const Tensor3<Scalar>& input(const Tensor3<Scalar>& x) {
    if (placement_ == NormPlacement::Post) return x;
    normed.resize(x.dimensions());
    norm.forward(as_matrix(x), as_matrix(normed));
    return normed;
  }

  /// y = x + f (pre-norm) or y = Norm(x + f) (post-norm).  x, f, y: (B, T, C); y may be x.
  void add(const Tensor3<Scalar>& x, const Tensor3<Scalar>& f, Tensor3<Scalar>& y) {
    if (placement_ == NormPlacement::Pre) {
      y.resize(x.dimensions());
      as_matrix(y) = as_matrix(x) + as_matrix(f);
    } else {
      sum = as_matrix(x) + as_matrix(f);
      y.resize(x.dimensions());
      norm.forward(sum, as_matrix(y));
    }
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) { norm.collect_parameters(prefix, out); }

  // ---- Backward (training) ------------------------------------------------------------------------------
  // The two ends in reverse. In both placements x and f reach y through the same sum, so they receive the
  // same gradient:
  //   Pre   y = x + f              ∂y/∂x = ∂y/∂f = I             dx = df = dy
  //   Post  y = Norm(x + f)        dx = df = Norm'ᵀ dy            (the norm's backward, from its kept x̂, 1/σ)
  // and the sublayer's input gradient flows back through input():
  //   Pre   input = Norm(x)        dx += Norm'ᵀ d_input
  //   Post  input = x              dx += d_input                  (the residual and the sublayer both read x)

  /// What the sublayer read in the last forward: normed (pre-norm) or the caller's x (post-norm). Its backward
  /// needs it.  x: the x of that forward call, (B, T, C).
  const Tensor3<Scalar>& last_input(const Tensor3<Scalar>& x) const {
    return placement_ == NormPlacement::Post ? x : normed;
  }

  /// Backward of add(): dy (B, T, C) = ∂loss/∂y → ∂loss/∂x = ∂loss/∂f (B, T, C), equal in both placements.
  /// Returns dy itself (pre-norm) or this residual's d_sum buffer (post-norm; norm gradients added).
  const Tensor3<Scalar>& add_backward(const Tensor3<Scalar>& dy) {
    if (placement_ == NormPlacement::Pre) return dy;
    d_sum.resize(dy.dimensions());
    norm.backward(as_matrix(dy), as_matrix(d_sum), GradientWrite::Assign);
    return d_sum;
  }

  /// Backward of input(): adds the path through it to dx.  d_input (B, T, C) = ∂loss/∂input; dx (B, T, C)
  /// already holds the residual path's gradient (from add_backward) and receives the sublayer's.
  void input_backward(const Tensor3<Scalar>& d_input, Tensor3<Scalar>& dx) {
    if (d_input.dimensions() != dx.dimensions()) {
      throw ShapeError(detail::cat("[Residual::input_backward] gradients ", detail::shape_str(shape_of(d_input)), " and ",
                                   detail::shape_str(shape_of(dx)), " differ"));
    }
    if (placement_ == NormPlacement::Post) {
      as_matrix(dx) += as_matrix(d_input);
    } else {
      norm.backward(as_matrix(d_input), as_matrix(dx), GradientWrite::Add);
    }
  }

  Norm<Scalar> norm;

 private:
  NormPlacement placement_ = NormPlacement::Pre;
  Tensor3<Scalar> normed;  // (B, T, C)  Norm(x), pre-norm
  Matrix<Scalar> sum;      // (B·T, C)   x + f, post-norm
  Tensor3<Scalar> d_sum;   // (B, T, C)  ∂loss/∂(x + f), post-norm: the last add_backward's
};

// ---- Named intermediates of a block (attention/forward_context.hpp's table) ---------------------------------

/// Records a sublayer's normed input "<layer>.<norm>" (pre-norm only: post-norm reads x itself, and its norm's
/// output is the residual stream after the sublayer). Read-only: the sublayer has already read it.
template <class Scalar>
void inspect_input(Capture<Scalar>& inspect, Index layer, const std::string& norm, const Residual<Scalar>& residual,
                   const Tensor3<Scalar>& x) {
  if (residual.placement() != NormPlacement::Pre) return;
  Tensor3<Scalar> normed = residual.last_input(x);  // a copy: record() takes a buffer
  inspect.record_sequence(layer_site(inspect, layer, norm), normed, layer, /*writable=*/false);
}

/// Records the FFN's normed input and its inner intermediates (read-only: recorded after it ran), then its
/// output ffn.down.out (writable: the residual has not added it yet).  h: the FFN sublayer's x; out (B, T, C).
template <class Scalar>
void inspect_ffn(Capture<Scalar>& inspect, Index layer, const Residual<Scalar>& residual, FeedForward<Scalar>& ffn,
                 const Tensor3<Scalar>& h, Tensor3<Scalar>& out) {
  const Index B = h.dimension(0);
  inspect_input(inspect, layer, "ffn_norm.out", residual, h);
  if (ffn.config().gated) inspect.record_rows(layer_site(inspect, layer, "ffn.gate.out"), ffn.act.gate, B, 0, layer, false);
  inspect.record_rows(layer_site(inspect, layer, "ffn.up.out"), ffn.act.up, B, 0, layer, false);
  inspect.record_rows(layer_site(inspect, layer, "ffn.hidden"), ffn.act.hidden, B, 0, layer, false);
  inspect.record_sequence(layer_site(inspect, layer, "ffn.down.out"), out, layer);
}

}  // namespace eigenformer
