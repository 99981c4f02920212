// Exercise 13 — one head switched off: a solution. (The text: exercises/13_head_ablation/head_ablation.hpp.)
#pragma once

#include <eigenformer/core/tensor.hpp>

namespace exercise {

inline eigenformer::Matrix<double> output_without_head(const eigenformer::Matrix<double>& context,
                                                       const eigenformer::Matrix<double>& w_o, eigenformer::Index heads,
                                                       eigenformer::Index head) {
  const eigenformer::Index D = context.cols() / heads;
  // 1) Zero the head's D columns of the context: what it read no longer reaches the output.
  eigenformer::Matrix<double> ablated = context;
  ablated.middleCols(head * D, D).setZero();
  // 2) The output projection as usual: the remaining heads' terms, summed.
  return ablated * w_o.transpose();
}

}  // namespace exercise
