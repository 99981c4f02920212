// Exercise 9 — a pre-norm block: a solution. (The text: exercises/09_pre_norm_block/pre_norm_block.hpp.)
#pragma once

#include <functional>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

using Sublayer = std::function<eigenformer::Matrix<double>(const eigenformer::Matrix<double>&)>;

inline eigenformer::Matrix<double> pre_norm_block(const eigenformer::Matrix<double>& x, const Sublayer& norm1,
                                                  const Sublayer& attention, const Sublayer& norm2, const Sublayer& mlp) {
  // 1) Attention reads a normalised copy of the stream; its result is added to the stream itself.
  const eigenformer::Matrix<double> h = x + attention(norm1(x));
  // 2) The same for the MLP. The stream is never normalised here (the model's final norm does that once).
  return h + mlp(norm2(h));
}

}  // namespace exercise
