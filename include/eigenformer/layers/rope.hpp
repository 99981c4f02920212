// eigenformer/layers/rope.hpp — rotary position embeddings (RoPE; Su et al. 2021, "RoFormer", §3.4).
//
// Instead of adding a position vector to the token, RoPE *rotates* each query and key: the D features of
// a head are split into D/2 pairs, and pair i of the vector at position p turns by the angle p·θ_i,
//
//     θ_i = base^(-2i/D)          i = 0 .. D/2-1     (base, "rope_theta": 10000 for Llama 2, 500000 for Llama 3)
//     (x, y) ↦ (x cos pθ_i − y sin pθ_i,  x sin pθ_i + y cos pθ_i)
//
// Because rotations compose, q(m)·k(n) depends on m and n only through m − n: attention scores see
// *relative* positions, yet each token is rotated once, by its absolute position (the KV cache stores
// keys already rotated).
//
// Which features form a pair is a layout choice, and checkpoints differ:
//   HalfSplit   pair (i, i + D/2)  — Hugging Face transformers ("rotate_half"); HF Llama checkpoints
//   Interleaved pair (2i, 2i + 1)  — Meta's original Llama code, llama2.c, GPT-J
// The two give identical attention scores once the rows of W_q and W_k are permuted within each head:
//   half-split row  j       = interleaved row 2j
//   half-split row  D/2 + j = interleaved row 2j + 1          (j < D/2)
// (rope_interleaved_to_half_split below; this is the permutation HF's Llama conversion script applies.)
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

enum class RopeLayout { HalfSplit, Interleaved };

/// Frequency scaling for contexts longer than the model was trained on.
struct RopeScaling {
  enum class Kind { None, Linear, Llama3 };
  Kind kind = Kind::None;
  double factor = 1.0;                   // Linear: θ_i / factor; Llama3: see rotary_inverse_frequencies
  double low_freq_factor = 1.0;          // Llama3
  double high_freq_factor = 4.0;         // Llama3
  double original_max_positions = 8192;  // Llama3: the context length before scaling
};

struct RopeConfig {
  Index head_dim = 0;        // D (even)
  double base = 10000.0;     // "rope_theta"
  RopeLayout layout = RopeLayout::HalfSplit;
  RopeScaling scaling{};
};

/// θ_i for i = 0 .. D/2-1, after any scaling.
///
/// Llama 3 scaling (Meta's llama3 reference, also HF `rope_type: "llama3"`), with wavelength λ_i = 2π/θ_i
/// and L = original_max_positions:
///   λ_i < L / high_freq_factor   (high frequencies)  θ_i unchanged
///   λ_i > L / low_freq_factor    (low frequencies)   θ_i / factor
///   otherwise                                        (1 − s) θ_i / factor + s θ_i,
///                                                    s = (L/λ_i − low_freq_factor) / (high_freq_factor − low_freq_factor)
inline std::vector<double> rotary_inverse_frequencies(const RopeConfig& c) {
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) {
    throw ValueError(detail::cat("[rope] head dimension must be even and positive, got ", c.head_dim));
  }
  if (!(c.base > 0)) throw ValueError(detail::cat("[rope] base (rope_theta) must be positive, got ", c.base));
  const Index half = c.head_dim / 2;
  std::vector<double> inv_freq(static_cast<std::size_t>(half));
  for (Index i = 0; i < half; ++i) {
    inv_freq[static_cast<std::size_t>(i)] =
        1.0 / std::pow(c.base, static_cast<double>(2 * i) / static_cast<double>(c.head_dim));
  }
  const RopeScaling& s = c.scaling;
  if (s.kind == RopeScaling::Kind::Linear) {
    for (double& f : inv_freq) f /= s.factor;
  } else if (s.kind == RopeScaling::Kind::Llama3) {
    const double pi = 3.14159265358979323846;
    const double low_freq_wavelen = s.original_max_positions / s.low_freq_factor;
    const double high_freq_wavelen = s.original_max_positions / s.high_freq_factor;
    for (double& f : inv_freq) {
      const double wavelen = 2 * pi / f;
      if (wavelen < high_freq_wavelen) continue;
      if (wavelen > low_freq_wavelen) {
        f /= s.factor;
      } else {
        const double smooth = (s.original_max_positions / wavelen - s.low_freq_factor) /
                              (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv_freq;
}

template <class Scalar>
class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  explicit RotaryEmbedding(const RopeConfig& config)
      : config_(config),
        inv_freq_(rotary_inverse_frequencies(config)) {}

  const RopeConfig& config() const { return config_; }
  Index head_dim() const { return config_.head_dim; }

  /// Rotates, in place, every head of every token of a (B·T, heads·D) matrix; row b·T + t sits at
  /// position first_position + t.
  /// Thread-safe: rotate() only reads the embedding (the cos/sin of one position live in this call's own
  /// storage), so one RotaryEmbedding may serve every layer and several threads at once.
  void rotate(Eigen::Ref<Matrix<Scalar>> x, Index batch, Index heads, Index first_position) const {
    const Index D = config_.head_dim, half = D / 2;
    if (batch <= 0 || x.rows() % batch != 0 || x.cols() != heads * D) {
      throw ShapeError(detail::cat("[rope] input ", detail::shape_str(shape_of(x)), " is not (B·T, heads·D) with B = ",
                                   batch, ", heads = ", heads, ", D = ", D));
    }
    const Index positions = x.rows() / batch;
    // cos p·θ_i and sin p·θ_i (D/2 each) of the position at hand: on the stack for the head widths models use
    // (a decode step then allocates nothing here), on the heap beyond.
    constexpr Index kOnStack = 256;
    Scalar cos_stack[kOnStack], sin_stack[kOnStack];
    std::vector<Scalar> cos_heap(half > kOnStack ? static_cast<std::size_t>(half) : 0), sin_heap(cos_heap.size());
    Scalar* const cos = half > kOnStack ? cos_heap.data() : cos_stack;
    Scalar* const sin = half > kOnStack ? sin_heap.data() : sin_stack;
    // The angles p·θ_i are computed in double: at p = 100000, a float angle would be off by ~0.004 rad.
    for (Index t = 0; t < positions; ++t) {
      const double p = static_cast<double>(first_position + t);
      for (Index i = 0; i < half; ++i) {
        cos[i] = static_cast<Scalar>(std::cos(p * inv_freq_[static_cast<std::size_t>(i)]));
        sin[i] = static_cast<Scalar>(std::sin(p * inv_freq_[static_cast<std::size_t>(i)]));
      }
      for (Index b = 0; b < batch; ++b) {
        Scalar* row = x.row(b * positions + t).data();
        for (Index h = 0; h < heads; ++h) rotate_head(row + h * D, cos, sin);
      }
    }
  }

  /// The same for a left-padded batch, each sequence at its own positions: row b·T + t sits at position
  /// first_position + t − position_shift[b] (position_shift (B): sequence b's left pads, so that its first real
  /// token is at position 0 — Hugging Face's position_ids = cumsum(attention_mask) − 1). A padding slot gets a
  /// negative position: a rotation like any other, and its key is hidden from every query anyway.
  void rotate(Eigen::Ref<Matrix<Scalar>> x, Index batch, Index heads, Index first_position,
              const std::vector<Index>& position_shift) const {
    if (batch <= 0 || x.rows() % batch != 0 || static_cast<Index>(position_shift.size()) != batch) {
      throw ShapeError(detail::cat("[rope] input ", detail::shape_str(shape_of(x)), " of ", batch, " sequences with ",
                                   position_shift.size(), " position shifts (one per sequence)"));
    }
    const Index positions = x.rows() / batch;
    for (Index b = 0; b < batch; ++b) {
      rotate(x.middleRows(b * positions, positions), 1, heads, first_position - position_shift[static_cast<std::size_t>(b)]);
    }
  }

 private:
  // One head's D features: turn pair i (first, second) by the angle whose cosine and sine are cos[i], sin[i].
  void rotate_head(Scalar* v, const Scalar* cos, const Scalar* sin) const {
    const Index half = config_.head_dim / 2;
    for (Index i = 0; i < half; ++i) {
      const Index a = config_.layout == RopeLayout::HalfSplit ? i : 2 * i;
      const Index b = config_.layout == RopeLayout::HalfSplit ? i + half : 2 * i + 1;
      const Scalar x = v[a], y = v[b];
      const Scalar c = cos[i], s = sin[i];
      v[a] = x * c - y * s;
      v[b] = x * s + y * c;
    }
  }

  RopeConfig config_;
  std::vector<double> inv_freq_;  // θ_i (D/2)
};

/// The head width D of a (heads·D, in) q or k weight about to be permuted; throws unless D is even.
template <class Scalar>
Index rope_permutation_head_dim(const Matrix<Scalar>& w, Index heads) {
  const Index D = heads > 0 ? w.rows() / heads : 0;
  if (heads <= 0 || w.rows() != heads * D || D % 2 != 0) {
    throw ShapeError(detail::cat("[rope] weight ", detail::shape_str(shape_of(w)), " is not (heads·D, in) with ",
                                 heads, " heads of even width"));
  }
  return D;
}

/// Backward of RotaryEmbedding::rotate (same arguments). Each pair turns by the rotation R(pθ_i), a linear
/// map whose Jacobian is R itself, so ∂loss/∂x = R(pθ_i)ᵀ ∂loss/∂y = R(−pθ_i) ∂loss/∂y: the gradient turns
/// back by the same angle,
///     (gx, gy) ↦ (gx cos pθ_i + gy sin pθ_i,  −gx sin pθ_i + gy cos pθ_i)      per pair, either layout.
/// In place: grad (B·T, heads·D) holds ∂loss/∂(rotated q or k) on entry and ∂loss/∂(q or k before rotation)
/// on return. Nothing from the forward is needed (R depends only on the position); the angles come from the
/// public config, in double as in rotate().
template <class Scalar>
void rotate_backward(const RotaryEmbedding<Scalar>& rope, Eigen::Ref<Matrix<Scalar>> grad, Index batch, Index heads,
                     Index first_position) {
  const RopeConfig& config = rope.config();
  const Index D = config.head_dim, half = D / 2;
  if (batch <= 0 || grad.rows() % batch != 0 || grad.cols() != heads * D) {
    throw ShapeError(detail::cat("[rope backward] gradient ", detail::shape_str(shape_of(grad)),
                                 " is not (B·T, heads·D) with B = ", batch, ", heads = ", heads, ", D = ", D));
  }
  const std::vector<double> inv_freq = rotary_inverse_frequencies(config);
  const Index positions = grad.rows() / batch;
  for (Index t = 0; t < positions; ++t) {
    const double p = static_cast<double>(first_position + t);
    for (Index i = 0; i < half; ++i) {
      const Scalar c = static_cast<Scalar>(std::cos(p * inv_freq[static_cast<std::size_t>(i)]));
      const Scalar s = static_cast<Scalar>(std::sin(p * inv_freq[static_cast<std::size_t>(i)]));
      const Index first = config.layout == RopeLayout::HalfSplit ? i : 2 * i;      // the pair's features
      const Index second = config.layout == RopeLayout::HalfSplit ? i + half : 2 * i + 1;
      for (Index b = 0; b < batch; ++b) {
        for (Index h = 0; h < heads; ++h) {
          Scalar* v = grad.row(b * positions + t).data() + h * D;
          const Scalar gx = v[first], gy = v[second];
          v[first] = gx * c + gy * s;
          v[second] = -gx * s + gy * c;
        }
      }
    }
  }
}

/// Permutes the rows of a q or k projection weight (heads·D, in) from the interleaved RoPE layout to the
/// half-split one, head by head. Biases (heads·D) permute the same way; pass them as a (heads·D, 1) matrix.
template <class Scalar>
Matrix<Scalar> rope_interleaved_to_half_split(const Matrix<Scalar>& w, Index heads) {
  const Index D = rope_permutation_head_dim(w, heads), half = D / 2;
  Matrix<Scalar> out(w.rows(), w.cols());
  for (Index h = 0; h < heads; ++h) {
    for (Index j = 0; j < half; ++j) {
      out.row(h * D + j) = w.row(h * D + 2 * j);
      out.row(h * D + half + j) = w.row(h * D + 2 * j + 1);
    }
  }
  return out;
}

/// The inverse permutation: half-split rows back to interleaved.
template <class Scalar>
Matrix<Scalar> rope_half_split_to_interleaved(const Matrix<Scalar>& w, Index heads) {
  const Index D = rope_permutation_head_dim(w, heads), half = D / 2;
  Matrix<Scalar> out(w.rows(), w.cols());
  for (Index h = 0; h < heads; ++h) {
    for (Index j = 0; j < half; ++j) {
      out.row(h * D + 2 * j) = w.row(h * D + j);
      out.row(h * D + 2 * j + 1) = w.row(h * D + half + j);
    }
  }
  return out;
}

}  // namespace eigenformer
