// Exercise 13 — switch one attention head off (course chapter 11, looking inside; docs/looking_inside.md,
// "The classic lesson: ablate each head in turn").
//
// Multi-head attention ends with the output projection W_o (C, H·D) applied to the heads' contexts laid side
// by side, context (T, H·D), head h in columns [h·D, (h+1)·D):
//
//     output = context W_oᵀ = Σ_h context_h W_o[:, h·D:(h+1)·D]ᵀ          (T, C)
//
// so the output is a *sum* of one term per head, and setting head h's context to zero removes exactly its
// term (zero-ablation; Michel et al. 2019). Interpretability experiments do this for each head in turn and
// watch the loss: most heads matter a little, a few matter a lot.
//
// Write the attention output with head `head` switched off. The starting point switches nothing off.
// The library does it with a hook on <attn>.context: inspect::zero_head() in
// include/eigenformer/inspect/hooks.hpp; examples/head_ablation runs it over a whole model.
// Check: ctest --preset ci -R "exercise.13_head_ablation"   (see exercises/README.md)
#pragma once

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// context (T, H·D), w_o (C, H·D), H = heads → output (T, C) without head `head` (0 ≤ head < H).
inline eigenformer::Matrix<double> output_without_head(const eigenformer::Matrix<double>& context,
                                                       const eigenformer::Matrix<double>& w_o, eigenformer::Index heads,
                                                       eigenformer::Index head) {
  // TODO: remove head `head`'s contribution. As written: every head contributes.
  (void)heads;
  (void)head;
  return context * w_o.transpose();
}

}  // namespace exercise
