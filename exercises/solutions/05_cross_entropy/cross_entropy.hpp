// Exercise 5 — the training loss and its gradient: a solution. (The text: exercises/05_cross_entropy/.)
#pragma once

#include <cmath>
#include <vector>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// logits (N, V), labels (N, each in [0, V) or −100) → the mean loss; `dlogits` receives ∂L/∂logits (N, V).
inline double cross_entropy(const eigenformer::Matrix<double>& logits, const std::vector<int>& labels,
                            eigenformer::Matrix<double>& dlogits) {
  const eigenformer::Index N = logits.rows();
  dlogits = eigenformer::Matrix<double>::Zero(N, logits.cols());
  int counted = 0;
  for (int y : labels) counted += (y != -100);

  double total = 0;
  for (eigenformer::Index i = 0; i < N; ++i) {
    const int y = labels[static_cast<std::size_t>(i)];
    if (y == -100) continue;  // ignored: no loss, no gradient
    // logsumexp with the maximum subtracted, so no exp() overflows.
    const double m = logits.row(i).maxCoeff();
    const eigenformer::RowVector<double> e = (logits.row(i).array() - m).exp().matrix();
    const double logsumexp = m + std::log(e.sum());
    total += logsumexp - logits(i, y);
    // ∂ℓ/∂z_v = softmax(z)_v − [v = y], and the mean divides by n.
    dlogits.row(i) = e / e.sum();
    dlogits(i, y) -= 1.0;
    dlogits.row(i) /= counted;
  }
  return total / counted;  // 0/0 = NaN when every row is ignored, as PyTorch returns
}

}  // namespace exercise
