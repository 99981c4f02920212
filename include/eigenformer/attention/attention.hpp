// eigenformer/attention/attention.hpp — THE attention core. Every block of eigenformer calls this one
// function; encoder, decoder and cross-attention differ only in the mask they hand it.
//
//     Attention(Q, K, V) = softmax(Q Kᵀ · scale + bias + mask) V          (Vaswani et al. 2017, eq. 1)
//
// For one batch element b and one query head h:
//     Q_bh  (T, D)    the queries,  one row per query position
//     K_bh  (S, D)    the keys,     one row per key position     (key head h / (H/Hkv): grouped-query)
//     V_bh  (S, D)    the values
//     scores  = Q_bh K_bhᵀ · scale            (T, S)   how well query t matches key s; scale = 1/√D by default
//     scores += bias                           (T, S)   T5's relative position bias, ALiBi, an additive mask
//     scores  = −∞ where the mask hides a key           causal: keys after the query; padding keys
//     weights = softmax(scores), row by row    (T, S)   each row sums to 1: how much each key matters
//     context = weights V_bh                   (T, D)   the mixture of values each query reads
//
// Shapes across the batch (see core/tensor.hpp for the legend). Q, K and V are never transposed into
// (B, H, T, D): they stay as the (B·T, H·D) matrices the projections produced, and head h of sequence b is
// the strided block of rows b·T.. and columns h·D.. — a HeadsView. The keys and values may live in a KV
// cache whose rows per sequence (its capacity) exceed the S positions in use; HeadsView carries that
// stride too.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

/// A (B, rows, heads·D) row-major buffer seen as B·heads blocks of (length, D). No copy.
/// Sequence b starts at row b·batch_stride; only its first `length` rows are used.
template <class Scalar>
struct HeadsView {
  using Plain = Matrix<std::remove_const_t<Scalar>>;
  using Block = Eigen::Map<std::conditional_t<std::is_const_v<Scalar>, const Plain, Plain>, Eigen::Unaligned,
                           Eigen::OuterStride<>>;

  Scalar* data = nullptr;
  Index batch = 0;         // B
  Index length = 0;        // T (queries) or S (keys, values)
  Index batch_stride = 0;  // rows from one sequence to the next (= length, or a cache's capacity)
  Index heads = 0;         // H or Hkv
  Index head_dim = 0;      // D

  Index row_width() const { return heads * head_dim; }

  /// Head h of sequence b: a (length, D) block with rows heads·D apart.
  Block block(Index b, Index h) const {
    return Block(data + (b * batch_stride) * row_width() + h * head_dim, length, head_dim,
                 Eigen::OuterStride<>(row_width()));
  }
};

/// Which keys are real tokens and which are padding.
class KeyPadding {
 public:
  using Mask = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  KeyPadding() = default;

  /// Right padding: sequence b has lengths[b] real keys, the rest are padding (any number of keys).
  static KeyPadding from_lengths(std::vector<Index> lengths) {
    KeyPadding p;
    p.lengths_ = std::move(lengths);
    return p;
  }

  /// Any pattern: mask (B, S), nonzero where the key is real (Hugging Face's attention_mask).
  static KeyPadding from_mask(Mask mask) {
    KeyPadding p;
    p.mask_ = std::move(mask);
    p.use_mask_ = true;
    return p;
  }

  Index batch() const { return use_mask_ ? mask_.rows() : static_cast<Index>(lengths_.size()); }

  /// Number of keys the padding describes, or nullopt for lengths (which describe any number).
  std::optional<Index> keys() const { return use_mask_ ? std::optional<Index>(mask_.cols()) : std::nullopt; }

  bool is_real(Index b, Index s) const {
    return use_mask_ ? mask_(b, s) != 0 : s < lengths_[static_cast<std::size_t>(b)];
  }

 private:
  std::vector<Index> lengths_;
  Mask mask_;
  bool use_mask_ = false;
};

/// Everything that changes which keys a query may see, and how much.
template <class Scalar>
struct AttentionMask {
  bool causal = false;                   // query t (at absolute position first_query + t) sees keys s ≤ first_query + t
  Index first_query = 0;                 // position of the first query: the number of cached keys before it
  const KeyPadding* padding = nullptr;   // padding keys are hidden from every query
  const Tensor4<Scalar>* bias = nullptr;      // (B or 1, H or 1, T, S) added to the scores before the softmax
};

/// Softmax of each row, in place, ignoring −∞ entries:
///     w_s = exp(x_s − max_s' x_s') / Σ_s'' exp(x_s'' − max_s' x_s')
/// Subtracting the row maximum changes nothing mathematically and keeps exp() from overflowing.
/// A row that is entirely −∞ (every key hidden) becomes all zeros: that query reads nothing, not NaN.
template <class Derived>
void masked_softmax_rows(Eigen::MatrixBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  for (Index r = 0; r < x.rows(); ++r) {
    const Scalar row_max = x.row(r).maxCoeff();
    if (row_max == -std::numeric_limits<Scalar>::infinity()) {
      x.row(r).setZero();
      continue;
    }
    x.row(r) = (x.row(r).array() - row_max).exp().matrix();  // exp(−∞) = 0 for hidden keys
    x.row(r) /= x.row(r).sum();
  }
}

/// Shapes of everything the core touches, checked once per call.
template <class Scalar>
void check_attention_shapes(const HeadsView<const Scalar>& q, const HeadsView<const Scalar>& k, const HeadsView<const Scalar>& v,
                            const HeadsView<Scalar>& context, const AttentionMask<Scalar>& mask) {
  const char* where = "[attention] ";
  if (q.head_dim != k.head_dim || k.head_dim != v.head_dim || context.head_dim != q.head_dim) {
    throw ShapeError(detail::cat(where, "head widths differ: queries ", q.head_dim, ", keys ", k.head_dim, ", values ",
                                 v.head_dim, ", context ", context.head_dim));
  }
  if (k.batch != q.batch || v.batch != q.batch || context.batch != q.batch) {
    throw ShapeError(detail::cat(where, "batch sizes differ: queries ", q.batch, ", keys ", k.batch, ", values ",
                                 v.batch, ", context ", context.batch));
  }
  if (k.length != v.length) {
    throw ShapeError(detail::cat(where, "keys have ", k.length, " positions but values have ", v.length));
  }
  if (k.heads != v.heads || k.heads <= 0 || q.heads % k.heads != 0) {
    throw ShapeError(detail::cat(where, q.heads, " query heads cannot share ", k.heads, " key heads and ", v.heads,
                                 " value heads (need Hkv dividing H)"));
  }
  if (context.heads != q.heads || context.length != q.length) {
    throw ShapeError(detail::cat(where, "context (", context.length, " positions, ", context.heads,
                                 " heads) does not match the queries (", q.length, ", ", q.heads, ")"));
  }
  if (mask.padding != nullptr) {
    if (mask.padding->batch() != q.batch) {
      throw ShapeError(detail::cat(where, "the batch has ", q.batch, " sequences but the key padding describes ",
                                   mask.padding->batch()));
    }
    if (mask.padding->keys() && *mask.padding->keys() != k.length) {
      throw ShapeError(detail::cat(where, "keys have ", k.length, " positions but the key mask has ",
                                   *mask.padding->keys()));
    }
  }
  if (mask.bias != nullptr) {
    const Tensor4<Scalar>& bias = *mask.bias;
    const bool ok = (bias.dimension(0) == 1 || bias.dimension(0) == q.batch) &&
                    (bias.dimension(1) == 1 || bias.dimension(1) == q.heads) && bias.dimension(2) == q.length &&
                    bias.dimension(3) == k.length;
    if (!ok) {
      throw ShapeError(detail::cat(where, "bias ", detail::shape_str(shape_of(bias)), " does not broadcast to (B, H, T, S) = ",
                                   detail::shape_str({q.batch, q.heads, q.length, k.length})));
    }
  }
}

/// The core. For every batch element b and query head h:
///     context_bh = softmax(Q_bh K_gᵀ · scale + bias + mask) V_g,     g = h / (H / Hkv)
///
/// q        (B, T, H·D)     as a HeadsView
/// k, v     (B, S, Hkv·D)   as HeadsViews (may be a KV cache)
/// context  (B, T, H·D)     written, head h into its D columns
/// scratch  resized to (T, S) and reused for every (b, h) when probs is null
/// probs    when not null, resized to (B, H, T, S) and filled with the weights — the very numbers used
///          for the context, so inspection costs no second pass
template <class Scalar>
void scaled_dot_product_attention(const HeadsView<const Scalar>& q, const HeadsView<const Scalar>& k, const HeadsView<const Scalar>& v,
                                  const HeadsView<Scalar>& context, const AttentionMask<Scalar>& mask, Scalar scale,
                                  Matrix<Scalar>& scratch, Tensor4<Scalar>* probs = nullptr) {
  check_attention_shapes(q, k, v, context, mask);
  const Index B = q.batch, H = q.heads, T = q.length, S = k.length;
  const Index group = H / k.heads;  // query heads per key/value head (1 = MHA, H = MQA)
  const Scalar hidden = -std::numeric_limits<Scalar>::infinity();

  if (probs != nullptr) {
    if (probs->dimension(0) != B || probs->dimension(1) != H || probs->dimension(2) != T || probs->dimension(3) != S) {
      probs->resize(B, H, T, S);
    }
  } else {
    scratch.resize(T, S);
  }

  for (Index b = 0; b < B; ++b) {
    for (Index h = 0; h < H; ++h) {
      const Index g = h / group;
      // The weights are computed in place: in the caller's probs tensor when kept, else in the scratch.
      Eigen::Map<Matrix<Scalar>> scores(probs != nullptr ? as_matrix(*probs, b, h).data() : scratch.data(), T, S);

      // 1) scores = Q Kᵀ · scale
      scores.noalias() = q.block(b, h) * k.block(b, g).transpose();
      scores *= scale;

      // 2) + bias (broadcast over batch and heads when its first dimensions are 1)
      if (mask.bias != nullptr) {
        const Tensor4<Scalar>& bias = *mask.bias;
        scores += as_matrix(bias, bias.dimension(0) == 1 ? 0 : b, bias.dimension(1) == 1 ? 0 : h);
      }

      // 3) hide keys: after the query (causal) and padding
      if (mask.causal) {
        for (Index t = 0; t < T; ++t) {
          const Index last_visible = mask.first_query + t;
          if (last_visible + 1 < S) scores.row(t).tail(S - last_visible - 1).setConstant(hidden);
        }
      }
      if (mask.padding != nullptr) {
        for (Index s = 0; s < S; ++s) {
          if (!mask.padding->is_real(b, s)) scores.col(s).setConstant(hidden);
        }
      }

      // 4) weights = softmax(scores), row by row
      masked_softmax_rows(scores);

      // 5) context = weights V
      context.block(b, h).noalias() = scores * v.block(b, g);
    }
  }
}

}  // namespace eigenformer
