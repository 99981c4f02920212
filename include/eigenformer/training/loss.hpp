// eigenformer/training/loss.hpp — cross-entropy over the vocabulary, and its gradient.
//
// Shape legend: N rows (N = B·T token positions, or B sequences for classification), V classes (the
// vocabulary, or the labels of a classifier).
//
// For one row with scores z (V) and target y, the model's probabilities are p = softmax(z) and
//
//     ℓ = −log p_y = logsumexp(z) − z_y,      logsumexp(z) = m + log Σ_v exp(z_v − m),   m = max_v z_v
//
// Subtracting the row's maximum m first keeps every exp() ≤ 1, so nothing overflows however large the
// scores are (a float overflows at exp(88.7)); the result is the same number. The loss of a batch is the
// mean over the rows whose label is not the ignore index (−100, PyTorch's default):
//
//     L = (1/n) Σ_{i: y_i ≠ −100} ℓ_i,        n = number of such rows
//
// Its gradient with respect to the scores is the famous "probabilities minus one-hot":
//
//     ∂L/∂z_iv = (p_iv − [v = y_i]) / n    for a counted row,      0 for an ignored row.
//
// (Differentiate ℓ = logsumexp(z) − z_y: ∂logsumexp/∂z_v = exp(z_v)/Σexp = p_v, and ∂z_y/∂z_v = [v = y].)
// This is torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="mean");
// tests/training/test_loss.cpp checks both the loss and the gradient against PyTorch and finite differences.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer::training {

/// A label that takes no part in the loss (a prompt token, padding, an unmasked position): PyTorch's -100.
constexpr TokenId kIgnoreIndex = -100;

/// The loss of a batch and how many rows it averaged over.
struct LossValue {
  double loss = 0;   // mean over the counted rows (NaN when no row counts, as PyTorch returns)
  Index counted = 0; // rows whose label was not ignored
};

/// Mean cross-entropy of `logits` (N, V) against `labels` (N entries in [0, V) or `ignore_index`).
/// When `dlogits` is not null it is resized to (N, V) and receives ∂loss/∂logits (zero on ignored rows).
/// When every row is ignored the mean is 0/0: the loss is NaN (as in PyTorch), the gradient is zero.
/// Throws ShapeError when the sizes disagree and ValueError for a label outside the vocabulary.
template <class Scalar>
LossValue cross_entropy(const Eigen::Ref<const Matrix<Scalar>>& logits, const TokenSequence& labels,
                        Matrix<Scalar>* dlogits = nullptr, TokenId ignore_index = kIgnoreIndex) {
  const Index N = logits.rows(), V = logits.cols();
  if (static_cast<Index>(labels.size()) != N) {
    throw ShapeError(detail::cat("[cross_entropy] logits have ", N, " rows ", detail::shape_str({N, V}), " but there are ",
                                 labels.size(), " labels"));
  }
  // 1) Which rows count: the labels are checked before anything is written.
  Index counted = 0;
  for (Index i = 0; i < N; ++i) {
    const TokenId y = labels[static_cast<std::size_t>(i)];
    if (y == ignore_index) continue;
    if (y < 0 || y >= V) {
      throw ValueError(detail::cat("[cross_entropy] label ", y, " at row ", i, " is outside the ", V,
                                   " classes (and is not the ignore index ", ignore_index, ")"));
    }
    ++counted;
  }
  if (dlogits != nullptr) dlogits->setZero(N, V);
  if (counted == 0) return {std::numeric_limits<double>::quiet_NaN(), 0};

  // 2) Per row: m = max, logsumexp = m + log Σ exp(z − m), ℓ = logsumexp − z_y; gradient (p − onehot)/n.
  const Scalar inv_n = Scalar(1) / static_cast<Scalar>(counted);
  double total = 0;  // the sum of up to B·T losses, kept in double so a long batch loses no digits
  RowVector<Scalar> shifted_exp(V);
  for (Index i = 0; i < N; ++i) {
    const TokenId y = labels[static_cast<std::size_t>(i)];
    if (y == ignore_index) continue;
    const Scalar m = logits.row(i).maxCoeff();
    shifted_exp = (logits.row(i).array() - m).exp().matrix();
    const Scalar sum = shifted_exp.sum();
    const Scalar log_sum_exp = m + std::log(sum);
    total += static_cast<double>(log_sum_exp - logits(i, y));
    if (dlogits != nullptr) {
      dlogits->row(i) = shifted_exp * (inv_n / sum);  // p_v / n
      (*dlogits)(i, y) -= inv_n;                       // − [v = y] / n
    }
  }
  return {total / static_cast<double>(counted), counted};
}

}  // namespace eigenformer::training
