// Exercise 5 — the training loss and its gradient (course chapter 9, pretraining objectives).
//
// A language model is trained to give the right next token a high probability. For one position with scores
// z (V) and the right answer y:
//
//     ℓ = −log softmax(z)_y = logsumexp(z) − z_y,          logsumexp(z) = m + log Σ_v exp(z_v − m),  m = max z
//
// A batch averages over the rows whose label is not the ignore index (−100: padding, a prompt the model is
// not asked to learn, an unmasked position in BERT's masked LM):
//
//     L = (1/n) Σ_{i: y_i ≠ −100} ℓ_i,                     n = the number of counted rows
//
// and the gradient — the signal the backward pass starts from — is "probabilities minus one-hot":
//
//     ∂L/∂z_iv = (softmax(z_i)_v − [v = y_i]) / n          for a counted row;  0 for an ignored row.
//
// Derive it before you code it (differentiate logsumexp). The library's version: cross_entropy() in
// include/eigenformer/training/loss.hpp.
// Check: ctest --preset ci -R "exercise.05_cross_entropy"   (see exercises/README.md)
#pragma once

#include <cmath>
#include <vector>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// logits (N, V), labels (N, each in [0, V) or −100) → the mean loss; `dlogits` receives ∂L/∂logits (N, V).
inline double cross_entropy(const eigenformer::Matrix<double>& logits, const std::vector<int>& labels,
                            eigenformer::Matrix<double>& dlogits) {
  // TODO: the loss and its gradient. As written, this returns nothing useful.
  dlogits = eigenformer::Matrix<double>::Zero(logits.rows(), logits.cols());
  (void)labels;
  return 0.0;
}

}  // namespace exercise
