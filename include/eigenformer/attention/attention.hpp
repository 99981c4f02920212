// eigenformer/attention/attention.hpp — THE attention core. Every block of eigenformer calls this one
// function; encoder, decoder and cross-attention differ only in the mask they hand it.
//
//     Attention(Q, K, V) = softmax(Q Kᵀ · scale + bias + mask) V          (Vaswani et al. 2017, eq. 1)
//
// For one batch element b and one query head h — each line is a named local of the core below, so a
// debugger stopped there prints Q, K, V, scores, weights and context by these names:
//     Q     (T, D)    the queries,  one row per query position
//     K     (S, D)    the keys,     one row per key position     (key head h / (H/Hkv): grouped-query)
//     V     (S, D)    the values
//     scores  = Q Kᵀ · scale                   (T, S)   how well query t matches key s; scale = 1/√D by default
//     scores += bias                           (T, S)   T5's relative position bias, ALiBi, an additive mask
//     scores  = −∞ where the mask hides a key           causal: keys after the query; sliding window: keys
//                                                       W or more positions before it; padding keys
//     weights = softmax(scores), row by row    (T, S)   each row sums to 1: how much each key matters
//     context = weights V                      (T, D)   the mixture of values each query reads
//
// Shapes across the batch (see core/tensor.hpp for the legend). Q, K and V are never transposed into
// (B, H, T, D): they stay as the (B·T, H·D) matrices the projections produced, and head h of sequence b is
// the strided block of rows b·T.. and columns h·D.. — a HeadsView. The keys and values may live in a KV
// cache whose rows per sequence (its capacity) exceed the S positions in use; HeadsView carries that
// stride too.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/threads.hpp"

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

  /// m (B·L, heads·D), L = m.rows() / batch, seen as `batch` sequences of L rows and `heads` heads.
  /// Set `length` afterwards when fewer than L rows per sequence are in use (a KV cache).
  template <class MatrixType>
  static HeadsView of(MatrixType& m, Index batch, Index heads) {
    HeadsView view;
    view.data = m.data();
    view.batch = batch;
    view.length = batch > 0 ? m.rows() / batch : 0;
    view.batch_stride = view.length;
    view.heads = heads;
    view.head_dim = heads > 0 ? m.cols() / heads : 0;
    return view;
  }

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
    p.kind_ = Kind::Mask;
    return p;
  }

  /// Left padding (batched generation, generation/generate.hpp: generate_batch): sequence b's first pads[b] keys
  /// are padding and every later key is real, however many there are — the prompt's and all the generated ones,
  /// so the same padding serves the prompt pass and every decode step. pads (B).
  static KeyPadding from_left_pads(std::vector<Index> pads) {
    KeyPadding p;
    p.lengths_ = std::move(pads);
    p.kind_ = Kind::LeftPads;
    return p;
  }

  Index batch() const { return kind_ == Kind::Mask ? mask_.rows() : static_cast<Index>(lengths_.size()); }

  /// Number of keys the padding describes, or nullopt for lengths and left pads (which describe any number).
  std::optional<Index> keys() const { return kind_ == Kind::Mask ? std::optional<Index>(mask_.cols()) : std::nullopt; }

  /// For left padding, pads (B): the padding keys before each sequence's first real one; null otherwise. A model
  /// shifts its positions by them (ForwardContext::position_shift), so that positions count real tokens only.
  const std::vector<Index>* left_pads() const { return kind_ == Kind::LeftPads ? &lengths_ : nullptr; }

  bool is_real(Index b, Index s) const {
    switch (kind_) {
      case Kind::Mask: return mask_(b, s) != 0;
      case Kind::LeftPads: return s >= lengths_[static_cast<std::size_t>(b)];
      case Kind::Lengths: break;
    }
    return s < lengths_[static_cast<std::size_t>(b)];
  }

 private:
  enum class Kind { Lengths, Mask, LeftPads };
  std::vector<Index> lengths_;  // (B) Lengths: real keys per sequence; LeftPads: padding keys before the real ones
  Mask mask_;                   // (B, S) Mask: nonzero where the key is real
  Kind kind_ = Kind::Lengths;
};

/// Everything that changes which keys a query may see, and how much.
///
/// Positions are absolute: query t sits at position i = first_query + t, key s at position j = first_key + s
/// (first_key > 0 only when a window-bounded KV cache has dropped the keys before it; kv_cache.hpp).
/// The mask kinds, as the set of key positions j that query position i sees:
///     full (causal = false)            every j
///     causal                           j ≤ i
///     causal + sliding window W > 0    i − W < j ≤ i          the W most recent positions, i itself included
/// The sliding window (Mistral; Qwen2 with use_sliding_window) is that of Hugging Face transformers ≥ 4.53,
/// masking_utils.sliding_window_overlay: key j is kept when j > i − W (docs/attention.md, "Sliding window",
/// says why this version and how older ones differed by one key).
template <class Scalar>
struct AttentionMask {
  bool causal = false;                   // query t (at absolute position first_query + t) sees keys s ≤ first_query + t
  Index first_query = 0;                 // position of the first query: the number of cached keys before it
  const KeyPadding* padding = nullptr;   // padding keys are hidden from every query (indexed by key position j)
  const Tensor4<Scalar>* bias = nullptr;      // (B or 1, H or 1, T, S) added to the scores before the softmax
  // Last, so that brace lists written before they existed still mean what they meant.
  Index window = 0;                      // W: causal only; query i sees keys i − W < j ≤ i. 0: no window
  Index first_key = 0;                   // position j of key row s = 0 (keys dropped before it by a bounded cache)
};

namespace detail {

/// p_s = exp(x_s − shift) for one row of scores, and exactly 0 where x_s = −∞ (a hidden key):
/// scores (1, n) → p (1, n), separate storage (step 2 reads the scores after step 1 has written p).
/// The softmax below and the tiled core's running softmax both take their exponentials here.
template <class ScoresRow, class WeightsRow>
void exp_visible(const ScoresRow& scores, typename ScoresRow::Scalar shift, WeightsRow&& p) {
  using Scalar = typename ScoresRow::Scalar;
  const Scalar hidden = -std::numeric_limits<Scalar>::infinity();
  // 1) exp(x_s − shift) for every key, with Eigen's vectorised exp (many numbers per instruction).
  p = (scores.array() - shift).exp().matrix();
  // 2) exp(−∞) = 0 for hidden keys — said explicitly: Eigen's vectorised exp() clamps its argument and would
  //    give a hidden key ~1e-40 (float) instead of exactly 0. (Folding this into step 1 with Eigen's select()
  //    costs a call of std::exp per key: Eigen 3.4 does not vectorise select() — docs/performance.md, "Decode: is
  //    every step as fast as its neighbours?".) Over the rows' own pointers, so that the compiler turns the loop
  //    into a compare and a blend per register: written with Eigen's element access on the tiled core's row
  //    blocks it stayed a loop of scalars, and the tiled core's softmax cost twice the reference's (full attention
  //    at T = 512: 0.70–0.77× the reference's speed, after this 0.92–0.93×; docs/performance.md, "Long attention").
  static_assert(std::decay_t<WeightsRow>::InnerStrideAtCompileTime == 1 && ScoresRow::InnerStrideAtCompileTime == 1,
                "exp_visible reads and writes contiguous rows");
  const Scalar* x = scores.data();
  Scalar* out = p.data();
  for (Index s = 0; s < scores.size(); ++s) out[s] = x[s] == hidden ? Scalar(0) : out[s];
}

}  // namespace detail

/// Softmax of each row, ignoring −∞ entries: scores (R, S) → weights (R, S)
///     w_s = exp(x_s − max_s' x_s') / Σ_s'' exp(x_s'' − max_s' x_s')
/// Subtracting the row maximum changes nothing mathematically and keeps exp() from overflowing.
/// A row that is entirely −∞ (every key hidden) becomes all zeros: that query reads nothing, not NaN.
/// weights and scores are separate storage.
/// One row of masked_softmax_rows: scores (1, S) → weights (1, S).
template <class Scalar>
void masked_softmax_row(const Eigen::Ref<const RowVector<Scalar>>& scores, Eigen::Ref<RowVector<Scalar>> weights) {
  const Scalar hidden = -std::numeric_limits<Scalar>::infinity();
  const Scalar row_max = scores.maxCoeff();
  if (row_max == hidden) {
    weights.setZero();
    return;
  }
  detail::exp_visible(scores, row_max, weights);
  weights /= weights.sum();
}

template <class Scalar>
void masked_softmax_rows(const Matrix<Scalar>& scores, Matrix<Scalar>& weights) {
  weights.resize(scores.rows(), scores.cols());
  for (Index r = 0; r < scores.rows(); ++r) masked_softmax_row<Scalar>(scores.row(r), weights.row(r));
}

/// The tiled path's workspace for one query tile of Tq rows against one key tile of Sk rows (tiled_attention).
template <class Scalar>
struct AttentionTiles {
  Matrix<Scalar> scores;       // (Tq, Sk)  Q_tile K_tileᵀ · scale + bias, −∞ where hidden
  Matrix<Scalar> weights;      // (Tq, Sk)  exp(scores − m_new), 0 where hidden: unnormalised weights
  Matrix<Scalar> accumulator;  // (Tq, D)   o: the running, unnormalised context of the tile's queries
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> running_max;  // (Tq)  m: the largest visible score so far
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> running_sum;  // (Tq)  l: Σ exp(score − m) over the keys so far
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> rescale;      // (Tq)  exp(m − m_new) of the last key tile

  /// Sizes the buffers for (Tq, Sk) tiles of D-wide heads; allocates only when a size changes.
  void reserve(Index Tq, Index Sk, Index D) {
    if (scores.rows() != Tq || scores.cols() != Sk) {
      scores.resize(Tq, Sk);
      weights.resize(Tq, Sk);
    }
    if (accumulator.rows() != Tq || accumulator.cols() != D) accumulator.resize(Tq, D);
    if (running_max.size() != Tq) {
      running_max.resize(Tq);
      running_sum.resize(Tq);
      rescale.resize(Tq);
    }
  }
};

/// The core's workspace for one (batch, head): the scores and the weights in two separate (T, S)
/// matrices, reused for every (b, h). After a call of the reference core they hold those of the last (b, h);
/// the tiled path (AttentionPath) uses `tiles` instead and leaves them as they were.
template <class Scalar>
struct AttentionScratch {
  Matrix<Scalar> scores;   // (T, S)  Q Kᵀ · scale + bias, −∞ where hidden
  Matrix<Scalar> weights;  // (T, S)  softmax(scores), row by row
  // The single-query path (one new token: T = 1): the scores and weights of every (batch, head) side by side,
  // room for (B·H, 2·S_max) with S_max the keys' rows per sequence (a KV cache's capacity). It only grows, so a
  // decode step after the first allocates nothing; its length is not T·S, read `scores`/`weights` there.
  // An Eigen vector, not a std::vector: its storage is aligned to Eigen's widest vector (64 bytes with AVX-512),
  // so where each head's row starts relative to that alignment depends on the shapes alone. Eigen's vectorised
  // sums (the softmax's max and Σ exp, weights · V) peel the first few entries up to an aligned address, so the
  // order of their additions follows the address: with a std::vector (16-byte aligned from malloc) the last bit
  // of a decode step changed from run to run whenever the buffer moved (tests/speed/test_weight_formats.cpp,
  // built with -march=native, caught it).
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> single_query;

  // The tiled path (tiled_attention): one query tile against one key tile at a time, in buffers sized by the
  // tiles and D, never by T or S, and only grown, so later calls allocate nothing. One AttentionTiles per
  // thread that works (tiles[0] on one thread). After a tiled call `scores` and `weights` above are untouched:
  // they do not hold the last head, the tiled path never forms them.
  Index query_tile = 64;   // Tq: query rows per tile
  Index key_tile = 256;    // Sk: key rows per tile
  std::vector<AttentionTiles<Scalar>> tiles;
};

/// What the caller asks the core to keep for every (batch, head), beside the context. Each pointer is
/// optional; a kept tensor is resized to (B, H, T, S) and holds the very numbers the context was made from.
template <class Scalar>
struct AttentionRecord {
  Tensor4<Scalar>* scores = nullptr;   // (B, H, T, S)  the scores, masked (−∞ where hidden), before the softmax
  Tensor4<Scalar>* weights = nullptr;  // (B, H, T, S)  the weights, softmax(scores)
  Tensor4<Scalar>* raw_scores = nullptr;  // (B, H, T, S)  Q Kᵀ · scale alone, before bias and mask (inspection)
};

/// Shapes of everything the core touches, checked once per call.
template <class Scalar>
void check_attention_shapes(const HeadsView<const Scalar>& q, const HeadsView<const Scalar>& k,
                            const HeadsView<const Scalar>& v, const HeadsView<Scalar>& context,
                            const AttentionMask<Scalar>& mask) {
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
    if (mask.padding->keys() && *mask.padding->keys() != mask.first_key + k.length) {
      throw ShapeError(detail::cat(where, "keys have ", k.length, " positions",
                                   mask.first_key > 0 ? detail::cat(" (from position ", mask.first_key, ")") : std::string(),
                                   " but the key mask has ", *mask.padding->keys()));
    }
  }
  if (mask.window < 0 || (mask.window > 0 && !mask.causal)) {
    throw ValueError(detail::cat(where, "a sliding window (", mask.window, ") must be positive and needs a causal mask"));
  }
  if (mask.first_key < 0 || mask.first_key > mask.first_query) {
    throw ShapeError(detail::cat(where, "the first key is at position ", mask.first_key,
                                 " but the first query at ", mask.first_query, " (keys cannot start after it)"));
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

/// Resizes a kept (B, H, T, S) tensor when its shape differs (so a second call allocates nothing).
template <class Scalar>
void resize_kept(Tensor4<Scalar>* kept, Index B, Index H, Index T, Index S) {
  if (kept == nullptr) return;
  if (kept->dimension(0) != B || kept->dimension(1) != H || kept->dimension(2) != T || kept->dimension(3) != S) {
    kept->resize(B, H, T, S);
  }
}

/// Which implementation of the core runs when nothing asks for the (T, S) scores or weights.
///   Reference  the core below, step by step: it forms the (T, S) scores and weights of each (b, h) — what a
///              student steps through, and what inspection, capture and training read. T = 1 without a bias
///              takes its single-query form (single_query_attention), as always.
///   Tiled      tiled_attention whenever nothing is recorded (any T, with or without a bias): the same
///              context without a (T, S) buffer. Forcing it cannot drop a record the caller asked for: a call
///              that keeps scores or weights (AttentionRecord; keep_weights, a capture, an inspection, a
///              forward that training will differentiate) still runs the reference.
///   Automatic  Tiled when nothing is recorded, T > 1 and S ≥ kTiledAttentionMinKeys; Reference otherwise.
enum class AttentionPath { Automatic, Reference, Tiled };

/// Keys from which the automatic choice tiles. Measured on this repository's machine (docs/performance.md,
/// "Long attention"): at H = 12, D = 64, one thread, the tiled path is no slower from here on.
inline constexpr Index kTiledAttentionMinKeys = 512;

namespace detail {

/// The process-wide choice: nullopt until first read or set.
inline std::optional<AttentionPath>& attention_path_setting() {
  static std::optional<AttentionPath> path;
  return path;
}

/// EIGENFORMER_ATTENTION parsed: auto, reference or tiled; ValueError naming the variable and the text.
inline AttentionPath attention_path_from_environment(const std::string& text) {
  if (text.empty() || text == "auto") return AttentionPath::Automatic;
  if (text == "reference") return AttentionPath::Reference;
  if (text == "tiled") return AttentionPath::Tiled;
  throw ValueError(detail::cat("[attention] EIGENFORMER_ATTENTION='", text, "' is not a path (auto, reference or tiled)"));
}

}  // namespace detail

/// Sets the attention path for the whole process (tests force each path to compare them; a benchmark times
/// both). Overrides EIGENFORMER_ATTENTION. Call it between forward passes, not during one.
inline void set_attention_path(AttentionPath path) { detail::attention_path_setting() = path; }

/// The path in effect: set_attention_path's value, else EIGENFORMER_ATTENTION (auto | reference | tiled), else
/// Automatic.
inline AttentionPath attention_path() {
  std::optional<AttentionPath>& setting = detail::attention_path_setting();
  if (!setting) {
    const char* text = std::getenv("EIGENFORMER_ATTENTION");
    setting = detail::attention_path_from_environment(text != nullptr ? std::string(text) : std::string());
  }
  return *setting;
}

template <class Scalar>
void tiled_attention(const HeadsView<const Scalar>& queries, const HeadsView<const Scalar>& keys,
                     const HeadsView<const Scalar>& values, const HeadsView<Scalar>& contexts,
                     const AttentionMask<Scalar>& mask, Scalar scale, AttentionScratch<Scalar>& scratch);

/// The core. For every batch element b and query head h:
///     context = softmax(Q Kᵀ · scale + bias + mask) V,     Q = queries[b, h], K, V = keys, values[b, g],
///                                                           g = h / (H / Hkv)
///
/// queries   (B, T, H·D)     as a HeadsView
/// keys      (B, S, Hkv·D)   as a HeadsView (may be a KV cache)
/// values    (B, S, Hkv·D)   as a HeadsView (may be a KV cache)
/// contexts  (B, T, H·D)     written, head h into its D columns
/// scratch   the (T, S) scores and weights of one (b, h), reused; after the call, those of the last (b, h)
///           (unless the tiled path ran: see AttentionPath above — it runs only when nothing is recorded)
/// record    optional (B, H, T, S) copies of the scores and weights of every (b, h), for inspection and
///           for the training work
///
/// In a debugger, stop at step 5 and `print Q`, `print K`, `print V`, `print scores`, `print weights`,
/// `print context`: the quantities of the equation for the current (b, h), each under its own name.
template <class Scalar>
void single_query_attention(const HeadsView<const Scalar>& queries, const HeadsView<const Scalar>& keys,
                            const HeadsView<const Scalar>& values, const HeadsView<Scalar>& contexts,
                            const AttentionMask<Scalar>& mask, Scalar scale, AttentionScratch<Scalar>& scratch);

template <class Scalar>
void scaled_dot_product_attention(const HeadsView<const Scalar>& queries, const HeadsView<const Scalar>& keys,
                                  const HeadsView<const Scalar>& values, const HeadsView<Scalar>& contexts,
                                  const AttentionMask<Scalar>& mask, Scalar scale, AttentionScratch<Scalar>& scratch,
                                  const AttentionRecord<Scalar>& record = {}) {
  using ConstHead = typename HeadsView<const Scalar>::Block;
  using Head = typename HeadsView<Scalar>::Block;
  check_attention_shapes(queries, keys, values, contexts, mask);
  const Index B = queries.batch, H = queries.heads, T = queries.length, S = keys.length;
  // When nobody keeps the scores or weights, two shortcuts give the same context: the tiled path (long
  // sequences, or when forced: no (T, S) buffer; tiled_attention below) and, for decoding (one query per
  // sequence, no bias), the single-query path (the same steps, every (batch, head) in its own buffers, shared
  // out over threads). Everything else — and everything a student steps through — runs here.
  const bool recorded = record.scores != nullptr || record.weights != nullptr || record.raw_scores != nullptr;
  const AttentionPath path = attention_path();
  if (!recorded && (path == AttentionPath::Tiled ||
                    (path == AttentionPath::Automatic && T > 1 && S >= kTiledAttentionMinKeys))) {
    tiled_attention<Scalar>(queries, keys, values, contexts, mask, scale, scratch);
    return;
  }
  if (T == 1 && mask.bias == nullptr && !recorded) {
    single_query_attention<Scalar>(queries, keys, values, contexts, mask, scale, scratch);
    return;
  }
  const Index group = H / keys.heads;  // query heads per key/value head (1 = MHA, H = MQA)
  const Scalar hidden = -std::numeric_limits<Scalar>::infinity();

  Matrix<Scalar>& scores = scratch.scores;    // (T, S)
  Matrix<Scalar>& weights = scratch.weights;  // (T, S)
  scores.resize(T, S);
  weights.resize(T, S);
  resize_kept(record.scores, B, H, T, S);
  resize_kept(record.weights, B, H, T, S);
  resize_kept(record.raw_scores, B, H, T, S);

  for (Index b = 0; b < B; ++b) {
    for (Index h = 0; h < H; ++h) {
      const Index g = h / group;          // the key/value head this query head reads
      const ConstHead Q = queries.block(b, h);  // (T, D)
      const ConstHead K = keys.block(b, g);     // (S, D)
      const ConstHead V = values.block(b, g);   // (S, D)
      Head context = contexts.block(b, h);      // (T, D), written in place

      // 1) scores = Q Kᵀ · scale
      scores.noalias() = Q * K.transpose();
      scores *= scale;
      if (record.raw_scores != nullptr) as_matrix(*record.raw_scores, b, h) = scores;

      // 2) + bias (broadcast over batch and heads when its first dimensions are 1)
      if (mask.bias != nullptr) {
        const Tensor4<Scalar>& bias = *mask.bias;
        scores += as_matrix(bias, bias.dimension(0) == 1 ? 0 : b, bias.dimension(1) == 1 ? 0 : h);
      }

      // 3) hide keys: after the query (causal), out of the sliding window, and padding. In key rows s
      //    (position j = first_key + s), query t at position i = first_query + t sees the rows
      //        first_visible ≤ s ≤ last_visible,   last_visible = i − first_key,
      //        first_visible = i − W + 1 − first_key  (window W: keys i − W < j ≤ i), else 0
      if (mask.causal) {
        for (Index t = 0; t < T; ++t) {
          const Index i = mask.first_query + t;       // the query's position
          const Index last_visible = i - mask.first_key;
          if (last_visible + 1 < S) scores.row(t).tail(S - last_visible - 1).setConstant(hidden);
          if (mask.window > 0) {
            const Index first_visible = i - mask.window + 1 - mask.first_key;
            if (first_visible > 0) scores.row(t).head(std::min(first_visible, S)).setConstant(hidden);
          }
        }
      }
      if (mask.padding != nullptr) {
        for (Index s = 0; s < S; ++s) {
          if (!mask.padding->is_real(b, mask.first_key + s)) scores.col(s).setConstant(hidden);
        }
      }

      // 4) weights = softmax(scores), row by row, into their own buffer
      masked_softmax_rows(scores, weights);

      // 5) context = weights V
      context.noalias() = weights * V;

      // 6) keep what the caller asked for
      if (record.scores != nullptr) as_matrix(*record.scores, b, h) = scores;
      if (record.weights != nullptr) as_matrix(*record.weights, b, h) = weights;
    }
  }
}

/// The core for one query per sequence (T = 1, decoding with a KV cache), without a bias and without keeping
/// anything: for every batch element b and head h, the steps 1, 3, 4, 5 of scaled_dot_product_attention,
///     scores  = q Kᵀ · scale          (1, S)
///     scores  = −∞ where hidden       causal: keys after position first_query; padding keys
///     weights = softmax(scores)       (1, S)
///     context = weights V             (1, D)
/// with the same Eigen expressions, so it gives the reference's numbers (tests/speed/test_threads.cpp compares).
/// Each (b, h) has its own scores and weights in scratch.single_query, so the B·H heads are independent tasks
/// shared out over threads() threads (core/threads.hpp) when there is enough work; the result does not depend
/// on the thread count. The buffer is sized by the keys' rows per sequence (a cache's capacity), so decode steps
/// after the first allocate nothing.
template <class Scalar>
void single_query_attention(const HeadsView<const Scalar>& queries, const HeadsView<const Scalar>& keys,
                            const HeadsView<const Scalar>& values, const HeadsView<Scalar>& contexts,
                            const AttentionMask<Scalar>& mask, Scalar scale, AttentionScratch<Scalar>& scratch) {
  using ConstHead = typename HeadsView<const Scalar>::Block;
  using Head = typename HeadsView<Scalar>::Block;
  using RowMap = Eigen::Map<RowVector<Scalar>>;
  const Index B = queries.batch, H = queries.heads, S = keys.length, D = queries.head_dim;
  const Index group = H / keys.heads;
  const Index room = std::max(keys.batch_stride, S);  // scores' room per head: S may grow up to it
  const Index needed = 2 * B * H * room;
  if (scratch.single_query.size() < needed) scratch.single_query.resize(needed);
  Scalar* const buffer = scratch.single_query.data();
  const Scalar hidden = -std::numeric_limits<Scalar>::infinity();

  const auto head_task = [&](Index task) {
    const Index b = task / H, h = task % H, g = h / group;
    const ConstHead Q = queries.block(b, h);  // (1, D)
    const ConstHead K = keys.block(b, g);     // (S, D)
    const ConstHead V = values.block(b, g);   // (S, D)
    Head context = contexts.block(b, h);      // (1, D)
    RowMap scores(buffer + 2 * task * room, S);          // (1, S)
    RowMap weights(buffer + (2 * task + 1) * room, S);   // (1, S)
    // 1) scores = q Kᵀ · scale
    scores.noalias() = Q * K.transpose();
    scores *= scale;
    // 3) hide keys as the general path does, for its one query at position i = first_query: key row s is
    //    position first_key + s; visible are first_visible ≤ s ≤ last_visible (window W: keys i − W < j ≤ i)
    if (mask.causal) {
      const Index i = mask.first_query;
      const Index last_visible = i - mask.first_key;
      if (last_visible + 1 < S) scores.tail(S - last_visible - 1).setConstant(hidden);
      if (mask.window > 0) {
        const Index first_visible = i - mask.window + 1 - mask.first_key;
        if (first_visible > 0) scores.head(std::min(first_visible, S)).setConstant(hidden);
      }
    }
    if (mask.padding != nullptr) {
      for (Index s = 0; s < S; ++s) {
        if (!mask.padding->is_real(b, mask.first_key + s)) scores(s) = hidden;
      }
    }
    // 4) weights = softmax(scores);  5) context = weights V
    masked_softmax_row<Scalar>(scores, weights);
    context.noalias() = weights * V;
  };
  // Threads pay off once the heads hold enough work (a parallel region costs microseconds).
  const bool worth_threads = B * H * S * D >= (Index(1) << 16);
  if (worth_threads) {
    parallel_for(B * H, head_task);
  } else {
    for (Index task = 0; task < B * H; ++task) head_task(task);
  }
}

/// The tiled core: the reference's context without its (T, S) scores and weights — the FlashAttention
/// recurrence (Dao et al. 2022, §3.1, "online softmax": Milakov & Gimelshein 2018). Used when nobody keeps the
/// scores or weights (AttentionPath above); shapes and mask as scaled_dot_product_attention.
///
/// For one (b, h), split the queries into tiles of Tq rows and the keys into tiles of Sk rows. For one query
/// row, x_s is its score with key s (Q Kᵀ · scale + bias, −∞ where hidden: exactly the reference's steps 1–3).
/// Going through the key tiles k = 1, 2, … in order, keep per query row
///     m   the largest visible score so far           m_0 = −∞
///     l   Σ exp(x_s − m) over the keys so far        l_0 = 0
///     o   Σ exp(x_s − m) V_s over the keys so far    o_0 = 0     (a row of D numbers)
/// and for the next tile, with scores x_s for its keys s:
///     m_new = max(m, max_s x_s)
///     p_s   = exp(x_s − m_new)                        (0 for a hidden key: exp(−∞) = 0)
///     l     ← exp(m − m_new) · l + Σ_s p_s
///     o     ← exp(m − m_new) · o + Σ_s p_s V_s        (one small product: p (Tq, Sk) times V_tile (Sk, D))
///     m     ← m_new
/// and at the end context = o / l.
///
/// Why this is the reference exactly (in exact arithmetic): after any number of tiles, by induction,
///     l = Σ_s exp(x_s − m) and o = Σ_s exp(x_s − m) V_s over the keys seen, with m their maximum —
/// rescaling by exp(m − m_new) turns every earlier term exp(x_s − m) into exp(x_s − m_new). After the last
/// tile m = max_s x_s over every key, so
///     o / l = Σ_s exp(x_s − max) V_s / Σ_s exp(x_s − max) = Σ_s softmax(x)_s V_s = (weights V)_row,
/// the very quantity the reference forms: its softmax subtracts the same maximum. Only the order of the
/// floating-point sums differs (and the reference divides before the product, this path after it), so the two
/// agree to rounding: tests/speed/test_tiled_attention.cpp bounds the difference (float 2e-6, double 1e-12,
/// relative to the largest |context|).
///
/// The cases the reference handles, each the same here:
///   masks      causal, sliding window, padding: step 3's rule, applied to the tile's rows and columns; a key
///              tile that every query of the tile cannot see (after the last query's position, or before the
///              first query's window) is skipped — it would add exp(−∞) = 0 to l and o and leave m unchanged
///   a row with every key hidden: m stays −∞, l = 0, and its context is 0 — the reference's all-zero weights
///              (masked_softmax_row). exp(m − m_new) is not formed while m_new = −∞ (it would be −∞ − (−∞) = NaN)
///   bias       (B|1, H|1, T, S): its (Tq, Sk) block is added to the tile's scores. The bias itself is T×S,
///              made by the caller (T5's relative position bias); this path adds no further T×S buffer
///   GQA/MQA, cross attention, a KV cache (first_query, first_key, the cache's row stride): as the reference,
///              through the HeadsViews and the absolute positions
/// Memory: scratch.tiles, per thread 2·(Tq, Sk) + (Tq, D) + 3·Tq numbers, whatever T and S — nothing T×S.
/// Work: a causal mask skips the key tiles above the diagonal, about half of Q Kᵀ and of weights V.
/// Threads: the (b, h, query tile) tasks are shared out over threads() threads (core/threads.hpp), each with
/// its own tiles; the result does not depend on the thread count.
template <class Scalar>
void tiled_attention(const HeadsView<const Scalar>& queries, const HeadsView<const Scalar>& keys,
                     const HeadsView<const Scalar>& values, const HeadsView<Scalar>& contexts,
                     const AttentionMask<Scalar>& mask, Scalar scale, AttentionScratch<Scalar>& scratch) {
  using ConstHead = typename HeadsView<const Scalar>::Block;
  using Head = typename HeadsView<Scalar>::Block;
  check_attention_shapes(queries, keys, values, contexts, mask);
  if (scratch.query_tile < 1 || scratch.key_tile < 1) {
    throw ValueError(detail::cat("[attention] tiles must hold at least one row, got ", scratch.query_tile,
                                 " queries and ", scratch.key_tile, " keys"));
  }
  const Index B = queries.batch, H = queries.heads, T = queries.length, S = keys.length, D = queries.head_dim;
  const Index group = H / keys.heads;  // query heads per key/value head
  const Index Tq = scratch.query_tile, Sk = scratch.key_tile;
  const Scalar hidden = -std::numeric_limits<Scalar>::infinity();

  const Index query_tiles = (T + Tq - 1) / Tq;

  // Tasks: one (b, h, query tile) each, independent. A worker (a thread) takes tasks worker, worker + workers,
  // … — interleaved, so that the causal mask's cheap first tiles and costly last ones are shared out evenly —
  // in its own tiles. Inside a parallel region Eigen runs each small product on its one thread. The result does
  // not depend on the thread count: every task does the same arithmetic whoever runs it.
  const Index tasks = B * H * query_tiles;
  const Index workers = std::max<Index>(1, std::min<Index>(threads(), tasks / 4));
  if (static_cast<Index>(scratch.tiles.size()) < workers) scratch.tiles.resize(static_cast<std::size_t>(workers));
  for (Index w = 0; w < workers; ++w) scratch.tiles[static_cast<std::size_t>(w)].reserve(Tq, Sk, D);

  const auto query_tile_task = [&](Index task, AttentionTiles<Scalar>& tiles) {
    const Index b = task / (H * query_tiles), h = (task / query_tiles) % H, g = h / group;
    const Index t0 = (task % query_tiles) * Tq;
    const ConstHead Q = queries.block(b, h);  // (T, D)
    const ConstHead K = keys.block(b, g);     // (S, D)
    const ConstHead V = values.block(b, g);   // (S, D)
    Head context = contexts.block(b, h);      // (T, D), rows t0 .. t0 + tq − 1 written here
    Matrix<Scalar>& tile_scores = tiles.scores;     // (Tq, Sk)
    Matrix<Scalar>& tile_weights = tiles.weights;   // (Tq, Sk)
    Matrix<Scalar>& accumulator = tiles.accumulator;  // (Tq, D)  o
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& running_max = tiles.running_max;  // (Tq)  m
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& running_sum = tiles.running_sum;  // (Tq)  l
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& rescale = tiles.rescale;          // (Tq)  exp(m − m_new)
    const Index tq = std::min(Tq, T - t0);  // rows in this query tile
    // The keys some query of the tile may see, [s_begin, s_end): the causal mask ends them at the last
    // query's position, a sliding window starts them at the first query's window.
    Index s_begin = 0, s_end = S;
    if (mask.causal) {
      const Index i_last = mask.first_query + t0 + tq - 1;
      s_end = std::min(S, i_last - mask.first_key + 1);
      if (mask.window > 0) s_begin = std::max<Index>(0, mask.first_query + t0 - mask.window + 1 - mask.first_key);
    }
    running_max.head(tq).setConstant(hidden);  // m_0 = −∞
    running_sum.head(tq).setZero();            // l_0 = 0
    accumulator.topRows(tq).setZero();         // o_0 = 0

    for (Index s0 = s_begin; s0 < s_end; s0 += Sk) {
      const Index sk = std::min(Sk, s_end - s0);  // rows in this key tile
      // 1) scores = Q_tile K_tileᵀ · scale                                  (tq, sk)
      tile_scores.topLeftCorner(tq, sk).noalias() = Q.middleRows(t0, tq) * K.middleRows(s0, sk).transpose();
      tile_scores.topLeftCorner(tq, sk) *= scale;
      // 2) + the bias's (tq, sk) block
      if (mask.bias != nullptr) {
        const Tensor4<Scalar>& bias = *mask.bias;
        tile_scores.topLeftCorner(tq, sk) +=
            as_matrix(bias, bias.dimension(0) == 1 ? 0 : b, bias.dimension(1) == 1 ? 0 : h).block(t0, s0, tq, sk);
      }
      // 3) hide keys, the reference's rule (query t at position i sees rows first_visible ≤ s ≤
      //    last_visible), restricted to this tile's columns s0 .. s0 + sk − 1; then padding columns
      if (mask.causal) {
        for (Index r = 0; r < tq; ++r) {
          const Index i = mask.first_query + t0 + r;
          const Index last_visible = i - mask.first_key;
          const Index hide_from = std::max<Index>(0, last_visible + 1 - s0);  // tile column
          if (hide_from < sk) tile_scores.row(r).segment(hide_from, sk - hide_from).setConstant(hidden);
          if (mask.window > 0) {
            const Index hide_to = std::min(sk, i - mask.window + 1 - mask.first_key - s0);  // columns < this
            if (hide_to > 0) tile_scores.row(r).head(hide_to).setConstant(hidden);
          }
        }
      }
      if (mask.padding != nullptr) {
        for (Index c = 0; c < sk; ++c) {
          if (!mask.padding->is_real(b, mask.first_key + s0 + c)) tile_scores.col(c).head(tq).setConstant(hidden);
        }
      }
      // 4) the running softmax, row by row: m_new, p = exp(x − m_new), l ← exp(m − m_new)·l + Σ p
      for (Index r = 0; r < tq; ++r) {
        const Scalar m_new = std::max(running_max(r), tile_scores.row(r).head(sk).maxCoeff());
        if (m_new == hidden) {  // nothing visible to this query yet: m, l, o stay as they are
          tile_weights.row(r).head(sk).setZero();
          rescale(r) = Scalar(1);
          continue;
        }
        rescale(r) = std::exp(running_max(r) - m_new);  // exactly 0 while m = −∞: o and l are 0 anyway
        detail::exp_visible(tile_scores.row(r).head(sk), m_new, tile_weights.row(r).head(sk));  // 0 where hidden
        running_sum(r) = rescale(r) * running_sum(r) + tile_weights.row(r).head(sk).sum();
        running_max(r) = m_new;
      }
      // 5) o ← exp(m − m_new)·o + p V_tile
      accumulator.topRows(tq).array().colwise() *= rescale.head(tq).array();
      accumulator.topRows(tq).noalias() += tile_weights.topLeftCorner(tq, sk) * V.middleRows(s0, sk);
    }

    // 6) context = o / l; a row that saw no key (l = 0) reads nothing: 0, as the reference
    for (Index r = 0; r < tq; ++r) {
      if (running_sum(r) > Scalar(0)) {
        context.row(t0 + r) = accumulator.row(r) / running_sum(r);
      } else {
        context.row(t0 + r).setZero();
      }
    }
  };
  if (workers == 1) {
    for (Index task = 0; task < tasks; ++task) query_tile_task(task, scratch.tiles[0]);
  } else {
    parallel_for(workers, [&](Index w) {
      for (Index task = w; task < tasks; task += workers) query_tile_task(task, scratch.tiles[static_cast<std::size_t>(w)]);
    });
  }
}

// ---- Backward (training) ----------------------------------------------------------------------------------

/// Where the core's backward writes its gradients, each a view like the forward's inputs.
///   queries  (B, T, H·D)     ∂loss/∂Q, written
///   keys     (B, S, Hkv·D)   ∂loss/∂K, written (zeroed, then summed over each key head's query group)
///   values   (B, S, Hkv·D)   ∂loss/∂V, written likewise
///   bias     optional (B|1, H|1, T, S) ∂loss/∂bias, ADDED into (so a bias shared by several layers — T5's —
///            collects every layer's share); must already have the bias's shape
template <class Scalar>
struct AttentionGradients {
  HeadsView<Scalar> queries;
  HeadsView<Scalar> keys;
  HeadsView<Scalar> values;
  Tensor4<Scalar>* bias = nullptr;
};

/// The core's workspace for one (batch, head) in the backward pass, reused for every (b, h).
template <class Scalar>
struct AttentionBackwardScratch {
  Matrix<Scalar> dweights;  // (T, S)  ∂loss/∂weights = dC Vᵀ
  Matrix<Scalar> dscores;   // (T, S)  ∂loss/∂scores, through the softmax
};

/// Backward of scaled_dot_product_attention. For every batch element b and query head h, with
/// W = the kept weights (T, S), dC = ∂loss/∂context (T, D), g = h / (H / Hkv):
///
///   context = W V                 →  dV_g     += Wᵀ dC                    (S, D)
///                                     dW        = dC Vᵀ                    (T, S)
///   W = softmax(scores), per row  →  dscores  = W ⊙ (dW − rowsum(dW ⊙ W))  (T, S)
///       (∂w_j/∂x_i = w_j(δ_ij − w_i), so dx_i = Σ_j dw_j w_j(δ_ij − w_i) = w_i (dw_i − Σ_j dw_j w_j))
///   hidden keys: their weight is 0, so dscores is 0 there — the −∞ of the mask passes no gradient, and a
///       row whose keys are all hidden (weights all 0) gives none at all
///   scores = Q Kᵀ·scale + bias    →  dQ        = dscores K · scale         (T, D)
///                                     dK_g     += dscoresᵀ Q · scale       (S, D)
///                                     dbias    += dscores, summed over b where bias has batch 1, and over h
///                                                 where it has 1 head (broadcasting's backward is a sum)
/// Grouped-query and multi-query attention: key/value head g serves H/Hkv query heads, so its gradients are
/// the sum over that group (the "+=" above).
///
/// Reads the weights the forward kept — weights (B, H, T, S), AttentionRecord::weights — never recomputes
/// them; the mask is therefore not needed (it is inside the weights). queries, keys, values are the forward's
/// inputs (the scores' gradient needs Q and K, the weights' gradient needs V).
///   dcontexts (B, T, H·D)   ∂loss/∂context
/// Throws ShapeError when the shapes disagree.
template <class Scalar>
void scaled_dot_product_attention_backward(const HeadsView<const Scalar>& queries, const HeadsView<const Scalar>& keys,
                                           const HeadsView<const Scalar>& values,
                                           const HeadsView<const Scalar>& dcontexts, const Tensor4<Scalar>& weights,
                                           Scalar scale, const AttentionGradients<Scalar>& grads,
                                           AttentionBackwardScratch<Scalar>& scratch) {
  using ConstHead = typename HeadsView<const Scalar>::Block;
  using Head = typename HeadsView<Scalar>::Block;
  const char* where = "[attention backward] ";
  const Index B = queries.batch, H = queries.heads, T = queries.length, S = keys.length, D = queries.head_dim;
  const auto same = [](const HeadsView<Scalar>& g, const HeadsView<const Scalar>& x) {
    return g.batch == x.batch && g.length == x.length && g.heads == x.heads && g.head_dim == x.head_dim;
  };
  if (!same(grads.queries, queries) || !same(grads.keys, keys) || !same(grads.values, values)) {
    throw ShapeError(detail::cat(where, "gradient views do not match queries (", B, ", ", T, ", ", H, "·", D,
                                 ") and keys/values (", B, ", ", S, ", ", keys.heads, "·", D, ")"));
  }
  AttentionMask<Scalar> shapes_only;
  shapes_only.bias = grads.bias;
  // The forward's checks, with the query gradient in the context's place (it has the context's shape).
  check_attention_shapes(queries, keys, values, grads.queries, shapes_only);
  if (dcontexts.batch != B || dcontexts.length != T || dcontexts.heads != H || dcontexts.head_dim != D) {
    throw ShapeError(detail::cat(where, "context gradient (", dcontexts.batch, ", ", dcontexts.length, ", ",
                                 dcontexts.heads, "·", dcontexts.head_dim, ") does not match the queries (", B, ", ", T,
                                 ", ", H, "·", D, ")"));
  }
  if (weights.dimension(0) != B || weights.dimension(1) != H || weights.dimension(2) != T || weights.dimension(3) != S) {
    throw ShapeError(detail::cat(where, "kept weights ", detail::shape_str(shape_of(weights)), " are not (B, H, T, S) = ",
                                 detail::shape_str({B, H, T, S}), " (did the forward keep them?)"));
  }
  const Index group = H / keys.heads;
  Matrix<Scalar>& dweights = scratch.dweights;  // (T, S)
  Matrix<Scalar>& dscores = scratch.dscores;    // (T, S)

  // Key and value gradients are sums over their query group: start them at zero.
  for (Index b = 0; b < B; ++b) {
    for (Index g = 0; g < keys.heads; ++g) {
      grads.keys.block(b, g).setZero();
      grads.values.block(b, g).setZero();
    }
  }
  for (Index b = 0; b < B; ++b) {
    for (Index h = 0; h < H; ++h) {
      const Index g = h / group;
      const ConstHead Q = queries.block(b, h);     // (T, D)
      const ConstHead K = keys.block(b, g);        // (S, D)
      const ConstHead V = values.block(b, g);      // (S, D)
      const ConstHead dC = dcontexts.block(b, h);  // (T, D)
      const ConstMatrixMap<Scalar> W = as_matrix(weights, b, h);  // (T, S)
      Head dQ = grads.queries.block(b, h);
      Head dK = grads.keys.block(b, g);
      Head dV = grads.values.block(b, g);

      // 1) context = W V:  dV += Wᵀ dC,  dW = dC Vᵀ
      dV.noalias() += W.transpose() * dC;
      dweights.noalias() = dC * V.transpose();

      // 2) softmax, row by row: dscores = W ⊙ (dW − rowsum(dW ⊙ W))
      const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> row_dot = (dweights.array() * W.array()).rowwise().sum().matrix();  // (T)
      dscores = (W.array() * (dweights.colwise() - row_dot).array()).matrix();

      // 3) bias: broadcasting forward is a sum backward
      if (grads.bias != nullptr) {
        Tensor4<Scalar>& dbias = *grads.bias;
        as_matrix(dbias, dbias.dimension(0) == 1 ? 0 : b, dbias.dimension(1) == 1 ? 0 : h) += dscores;
      }

      // 4) scores = Q Kᵀ · scale:  dQ = dscores K · scale,  dK += dscoresᵀ Q · scale
      dQ.noalias() = scale * (dscores * K);
      dK.noalias() += scale * (dscores.transpose() * Q);
    }
  }
}

}  // namespace eigenformer
