// eigenformer/layers/learned_positions.hpp — learned absolute positions, with the offset some families store.
//
//     x(b, t, :) += P(offset + first + t, :)        P (offset + max_positions, C)   x (B, T, C)
//
// One learned vector per position, added to the token embeddings before the first block (BERT, GPT-2: Radford et
// al. 2019; BART: Lewis et al. 2020). `first` is the position of x's first token: 0 for a whole sequence, the
// number of cached positions when decoding step by step.
//
// The offset: BART's table has max_position_embeddings + 2 rows and position p reads row p + 2
// (transformers' BartLearnedPositionalEmbedding: "if padding_idx is specified then offset the embedding ids
// by 2", kept from fairseq, whose position ids started after the padding index). Rows 0 and 1 are never read.
// GPT-2 and BERT have offset 0. Forgetting the offset shifts every position by two: the model still runs, and
// every number is wrong — the BART tests check that it matters.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/embedding.hpp"

namespace eigenformer {

template <class Scalar>
class LearnedPositions {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  LearnedPositions() = default;
  /// A table for `max_positions` positions, stored with `offset` unused rows first: (offset + max_positions, C).
  LearnedPositions(Index max_positions, Index width, Index offset = 0)
      : table(offset + max_positions, width), offset_(offset) {
    if (max_positions <= 0 || width <= 0 || offset < 0) {
      throw ValueError(detail::cat("[LearnedPositions] need positions > 0, width > 0 and offset >= 0, got ", max_positions,
                                   ", ", width, " and ", offset));
    }
  }

  Index offset() const { return offset_; }
  /// How many positions the table covers (its rows minus the offset).
  Index max_positions() const { return table.count() - offset_; }

  /// x (B, T, C) += P[offset + first + t] for t = 0 .. T-1, in every sequence. ValueError when a position passes
  /// max_positions() (naming them), ShapeError for a width that is not the table's.
  void add(Tensor3<Scalar>& x, Index first) const {
    if (first < 0 || first + x.dimension(1) > max_positions()) {
      throw ValueError(detail::cat("[LearnedPositions] positions ", first, "..", first + x.dimension(1) - 1,
                                   " exceed the ", max_positions(), " learned positions"));
    }
    table.add_positions(x, offset_ + first);
  }

  /// The same for a left-padded batch, each sequence at its own positions:
  ///     x(b, t, :) += P(offset + max(0, first + t − position_shift[b]), :)
  /// position_shift (B): sequence b's left pads, so that its first real token reads position 0 (Hugging Face's
  /// position_ids = cumsum(attention_mask) − 1). A padding slot (first + t < position_shift[b]) reads position 0:
  /// any row would do — its key is hidden from every query and its output is never read (Hugging Face gives it 1).
  /// ValueError when a sequence's last position passes max_positions().
  void add(Tensor3<Scalar>& x, Index first, const std::vector<Index>& position_shift) const {
    const Index B = x.dimension(0), T = x.dimension(1);
    if (static_cast<Index>(position_shift.size()) != B || x.dimension(2) != table.width()) {
      throw ShapeError(detail::cat("[LearnedPositions] input ", detail::shape_str(shape_of(x)), " with ", position_shift.size(),
                                   " position shifts: expected one per sequence and width ", table.width()));
    }
    MatrixMap<Scalar> rows = as_matrix(x);
    for (Index b = 0; b < B; ++b) {
      const Index shift = position_shift[static_cast<std::size_t>(b)];
      if (first < 0 || shift < 0 || first + T - shift > max_positions()) {
        throw ValueError(detail::cat("[LearnedPositions] sequence ", b, ": positions up to ", first + T - 1 - shift,
                                     " exceed the ", max_positions(), " learned positions"));
      }
      for (Index t = 0; t < T; ++t) {
        const Index position = std::max<Index>(0, first + t - shift);
        rows.row(b * T + t) += table.weight.row(offset_ + position);
      }
    }
  }

  /// Backward of add(x, first): the rows read collect the output gradient summed over the batch (embedding.hpp).
  ///   dx (B·T, C)   B = batch
  void add_backward(const Eigen::Ref<const Matrix<Scalar>>& dx, Index batch, Index first) {
    table.add_positions_backward(dx, batch, offset_ + first);
  }

  /// Names: weight (the whole table, offset rows included, as the file stores it).
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) { table.collect_parameters(prefix, out); }

  Embedding<Scalar> table;  // P (offset + max_positions, C)

 private:
  Index offset_ = 0;
};

}  // namespace eigenformer
