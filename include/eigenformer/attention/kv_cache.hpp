// eigenformer/attention/kv_cache.hpp — the keys and values of the positions already seen.
//
// Generating token n+1 needs the attention of position n over positions 0..n. Their keys and values do
// not change once computed (each depends only on its own token and earlier ones), so a decoder keeps them:
// each step computes q, k, v for the one new position, appends k and v here, and attends over all of them.
// That turns step n from O(n) projections into O(1) — the per-step time stays nearly flat.
//
// Layout: (B, capacity, Hkv·D) row-major, i.e. a (B·capacity, Hkv·D) matrix in which sequence b owns
// rows [b·capacity, b·capacity + length). Keys are stored *after* RoPE. Capacity grows by doubling when
// needed; reserve() up front to never reallocate during generation. Each new capacity is checked against the
// memory available before it is allocated (MemoryError otherwise; core/memory.hpp).
//
// A window-bounded cache (sliding-window attention, Mistral): a query at position i sees only keys
// i − W < j ≤ i (attention.hpp), so once position i is being computed, keys before i − W + 1 are never read
// again. keep_last(W − 1) before appending the next positions drops them: the cache then holds at most
// W − 1 + T positions (W for one-token decoding) however long the sequence grows — memory bounded by the
// window, as transformers' DynamicSlidingWindowLayer (which keeps sliding_window − 1). The positions it
// holds are first_position() .. end_position() − 1; the attention core is told the first (AttentionMask::
// first_key) so that row s is position first_position() + s. Dropping moves the kept rows to the front of
// each sequence (at most W − 1 rows per step, the same order of work as attending over them).
//
// Cross-attention uses the same type: its keys and values come from the encoder output, are computed on
// the first decoder step and reused for every later step (clear() the cache when the source changes).
#pragma once

#include <algorithm>
#include <vector>

#include "eigenformer/attention/attention.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/memory.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

template <class Scalar>
class KVCache {
 public:
  KVCache() = default;

  Index batch() const { return batch_; }
  Index capacity() const { return capacity_; }
  Index length() const { return length_; }  // positions stored (S)
  Index first_position() const { return first_position_; }          // position of stored row 0 (> 0 once dropped)
  Index end_position() const { return first_position_ + length_; }  // positions seen: the next one's position
  Index width() const { return keys.cols(); }  // Hkv·D
  bool empty() const { return length_ == 0; }

  /// Makes room for `capacity` positions of `batch` sequences of `width` features, keeping what is stored.
  void reserve(Index batch, Index capacity, Index width) {
    if (length_ > 0 && (batch != batch_ || width != keys.cols())) {
      throw ShapeError(detail::cat("[KVCache::reserve] the cache holds ", batch_, " sequences of width ", keys.cols(),
                                   "; cannot reserve for ", batch, " of width ", width, " without clear()"));
    }
    if (capacity <= capacity_ && batch == batch_ && width == keys.cols()) return;
    capacity = std::max(capacity, length_);
    // The memory guard (core/memory.hpp) where a capacity is chosen — reserve() ahead of a run, or append()
    // doubling — before the two matrices are allocated: 2 (keys, values) × B × capacity × Hkv·D × sizeof(Scalar).
    check_fits(Count(2) * Count(batch) * Count(capacity) * Count(width) * Count(sizeof(Scalar)), [&] {
      return detail::cat("[KVCache::reserve] 2 (keys, values) × ", batch, " sequences × ", capacity, " positions × ", width,
                         " (Hkv·D) × ", sizeof(Scalar), " bytes");
    }, " for one layer");
    Matrix<Scalar> new_keys(batch * capacity, width), new_values(batch * capacity, width);
    for (Index b = 0; b < batch_ && length_ > 0; ++b) {
      new_keys.middleRows(b * capacity, length_) = keys.middleRows(b * capacity_, length_);
      new_values.middleRows(b * capacity, length_) = values.middleRows(b * capacity_, length_);
    }
    keys.swap(new_keys);
    values.swap(new_values);
    batch_ = batch;
    capacity_ = capacity;
  }

  /// Appends T new positions per sequence. k, v: (B·T, Hkv·D), row b·T + t = sequence b, new position t.
  void append(const Eigen::Ref<const Matrix<Scalar>>& k, const Eigen::Ref<const Matrix<Scalar>>& v, Index batch) {
    if (batch <= 0 || k.rows() % batch != 0 || k.rows() != v.rows() || k.cols() != v.cols()) {
      throw ShapeError(detail::cat("[KVCache::append] keys ", detail::shape_str(shape_of(k)), " and values ",
                                   detail::shape_str(shape_of(v)), " are not both (B·T, Hkv·D) with B = ", batch));
    }
    if (length_ > 0 && (batch != batch_ || k.cols() != keys.cols())) {
      throw ShapeError(detail::cat("[KVCache::append] the cache holds ", batch_, " sequences of width ", keys.cols(),
                                   " but the new keys are ", batch, " sequences of width ", k.cols()));
    }
    const Index added = k.rows() / batch;
    if (length_ + added > capacity_ || batch != batch_ || k.cols() != keys.cols()) {
      reserve(batch, std::max(length_ + added, 2 * capacity_), k.cols());
    }
    for (Index b = 0; b < batch; ++b) {
      keys.middleRows(b * capacity_ + length_, added) = k.middleRows(b * added, added);
      values.middleRows(b * capacity_ + length_, added) = v.middleRows(b * added, added);
    }
    length_ += added;
  }

  /// The stored keys / values as (B, S, Hkv·D) HeadsViews of `heads` heads.
  HeadsView<const Scalar> key_heads(Index heads) const { return view(keys, heads); }
  HeadsView<const Scalar> value_heads(Index heads) const { return view(values, heads); }

  /// Beam search: new sequence i becomes a copy of old sequence source[i]. The batch may change size.
  /// The copies go into a spare pair of matrices that then changes places with keys and values: from the second
  /// call on with the same batch, no allocation.
  void reorder(const std::vector<Index>& source) {
    const Index new_batch = static_cast<Index>(source.size());
    Matrix<Scalar>& new_keys = spare_keys_;
    Matrix<Scalar>& new_values = spare_values_;
    new_keys.resize(new_batch * capacity_, keys.cols());
    new_values.resize(new_batch * capacity_, keys.cols());
    for (Index i = 0; i < new_batch; ++i) {
      const Index from = source[static_cast<std::size_t>(i)];
      if (from < 0 || from >= batch_) {
        throw ValueError(detail::cat("[KVCache::reorder] source sequence ", from, " does not exist (batch ", batch_, ")"));
      }
      new_keys.middleRows(i * capacity_, length_) = keys.middleRows(from * capacity_, length_);
      new_values.middleRows(i * capacity_, length_) = values.middleRows(from * capacity_, length_);
    }
    keys.swap(new_keys);
    values.swap(new_values);
    batch_ = new_batch;
  }

  /// Sliding window: drops the oldest stored positions so that at most `count` remain (nothing when fewer are
  /// stored). The dropped positions are gone for good: first_position() advances past them.
  void keep_last(Index count) {
    if (count < 0) throw ValueError(detail::cat("[KVCache::keep_last] cannot keep ", count, " positions"));
    const Index drop = length_ - count;
    if (drop <= 0) return;
    for (Index b = 0; b < batch_; ++b) {
      // Rows [drop, length) move to [0, count): a copy through a temporary, since the ranges may overlap.
      keys.middleRows(b * capacity_, count) = keys.middleRows(b * capacity_ + drop, count).eval();
      values.middleRows(b * capacity_, count) = values.middleRows(b * capacity_ + drop, count).eval();
    }
    first_position_ += drop;
    length_ = count;
  }

  /// Forgets every position (keeps the memory for reuse).
  void clear() {
    length_ = 0;
    first_position_ = 0;
  }

  /// Drops the positions from `position` on (e.g. to re-run from a shorter prefix). Positions a bounded cache
  /// has already dropped cannot be brought back: `position` must be at least first_position().
  void truncate(Index position) {
    if (position < first_position_ || position > end_position()) {
      throw ValueError(detail::cat("[KVCache::truncate] cannot truncate to position ", position, ": the cache holds positions ",
                                   first_position_, " to ", end_position() - 1));
    }
    length_ = position - first_position_;
  }

  Matrix<Scalar> keys;    // (B·capacity, Hkv·D)
  Matrix<Scalar> values;  // (B·capacity, Hkv·D)

 private:
  // Sequences are `capacity` rows apart; only the first `length` rows of each are in use.
  HeadsView<const Scalar> view(const Matrix<Scalar>& m, Index heads) const {
    HeadsView<const Scalar> h = HeadsView<const Scalar>::of(m, batch_, heads);
    h.length = length_;
    return h;
  }

  Index batch_ = 0;
  Index capacity_ = 0;
  Index length_ = 0;
  Index first_position_ = 0;                   // positions dropped by keep_last()
  Matrix<Scalar> spare_keys_, spare_values_;  // reorder()'s destination, swapped in
};

/// The per-layer key/value caches of a decoder stack, for incremental decoding.
template <class Scalar>
struct DecoderCache {
  std::vector<KVCache<Scalar>> self;   // one per layer: keys and values of the positions generated so far
  std::vector<KVCache<Scalar>> cross;  // one per layer (cross-attention only): keys and values of the memory
  /// Sliding-window layers keep only what their window still sees (KVCache::keep_last(W − 1) before each
  /// append): memory bounded by W per layer. Off by default: every position stays (and truncate() can go back).
  bool bound_to_window = false;

  /// Positions already processed (the position of the next token).
  Index length() const { return self.empty() ? 0 : self.front().end_position(); }

  /// The cache of layer `layer`'s self-attention (cross = false) or cross-attention (cross = true); the
  /// list grows to hold it.
  KVCache<Scalar>& layer_cache(Index layer, bool cross) {
    std::vector<KVCache<Scalar>>& caches = cross ? this->cross : self;
    if (static_cast<Index>(caches.size()) <= layer) caches.resize(static_cast<std::size_t>(layer + 1));
    return caches[static_cast<std::size_t>(layer)];
  }

  void clear() {
    for (KVCache<Scalar>& c : self) c.clear();
    for (KVCache<Scalar>& c : cross) c.clear();
  }

  /// Room for `positions` positions in every layer's self-attention cache that holds keys already (same batch
  /// and width): decoding up to there never reallocates.
  void reserve(Index positions) {
    for (KVCache<Scalar>& c : self) {
      if (c.batch() > 0 && c.width() > 0) c.reserve(c.batch(), positions, c.width());
    }
  }

  /// Forgets the positions from `length` on (the cross caches keep the source). E.g. to decode again
  /// from a shorter prefix. A bounded cache cannot go back before what it dropped (ValueError).
  void truncate(Index length) {
    for (KVCache<Scalar>& c : self) c.truncate(length);
  }

  /// Beam search: new sequence i continues old sequence source[i] (self caches; cross caches too, so
  /// every beam keeps its copy of the source).
  void reorder(const std::vector<Index>& source) {
    for (KVCache<Scalar>& c : self) c.reorder(source);
    for (KVCache<Scalar>& c : cross) c.reorder(source);
  }
};

}  // namespace eigenformer
