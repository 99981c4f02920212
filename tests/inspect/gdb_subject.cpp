// tests/inspect/gdb_subject.cpp — a small program for the pretty-printer test (printers.gdb, which stops at
// line numbers of this file: keep main()'s first lines where they are): tensors with
// values a reader can check by eye, then one call of the attention core.
//
//   m     Matrix<double> (3, 4)            m(i, j) = i + j / 4
//   row   RowVector<float> (5)             0.5, 1.5, ..., 4.5
//   x     Tensor3<float> (2, 3, 4)         x(b, t, c) = 100·b + 10·t + c
//   view  Map (2, 2) over m with an outer stride of 4, starting at m(1, 1)
//   q, k, v   HeadsViews over (1, 3, 2·2) matrices: 2 heads of D = 2
//   weights   Tensor4<double> (1, 2, 3, 3) filled by the attention core (causal): row 0 is [1, 0, 0],
//             and head 1's keys are all equal, so its row t is uniform over keys 0..t: 1/2, 1/3.
#include <cmath>
#include <cstdio>

#include "eigenformer/eigenformer.hpp"

using namespace eigenformer;

// The test's breakpoint: every argument printed with `info args` goes through the printers.
__attribute__((noinline)) void look(const Matrix<double>& m, const RowVector<float>& row, const Tensor3<float>& x,
                                    const Eigen::Map<Matrix<double>, Eigen::Unaligned, Eigen::OuterStride<>>& view,
                                    const HeadsView<const double>& q, const Tensor4<double>& weights) {
  std::printf("look: %g %g %g %g %g %g\n", m(0, 0), static_cast<double>(row(0)), static_cast<double>(x(0, 0, 0)),
              view(0, 0), q.data[0], weights(0, 0, 0, 0));
}

int main() {
  Matrix<double> m(3, 4);
  for (Index i = 0; i < 3; ++i) {
    for (Index j = 0; j < 4; ++j) m(i, j) = static_cast<double>(i) + static_cast<double>(j) / 4;
  }
  RowVector<float> row(5);
  for (Index j = 0; j < 5; ++j) row(j) = 0.5f + static_cast<float>(j);
  Tensor3<float> x(2, 3, 4);
  for (Index b = 0; b < 2; ++b) {
    for (Index t = 0; t < 3; ++t) {
      for (Index c = 0; c < 4; ++c) x(b, t, c) = static_cast<float>(100 * b + 10 * t + c);
    }
  }
  Eigen::Map<Matrix<double>, Eigen::Unaligned, Eigen::OuterStride<>> view(m.data() + 5, 2, 2, Eigen::OuterStride<>(4));

  // Queries, keys, values (B = 1, T = S = 3, H = 2, D = 2). Head 1's keys are all [1, 1]: every score in
  // a row is equal, so the softmax spreads evenly over the visible keys.
  Matrix<double> qm(3, 4), km(3, 4), vm(3, 4);
  qm << 1, 0, 1, 1,
        0, 1, 2, 0,
        1, 1, 0, 2;
  km << 1, 0, 1, 1,
        0, 1, 1, 1,
        1, 1, 1, 1;
  vm << 1, 2, 3, 4,
        5, 6, 7, 8,
        9, 10, 11, 12;
  Matrix<double> context(3, 4);
  AttentionScratch<double> scratch;
  HeadsView<const double> q{qm.data(), 1, 3, 3, 2, 2};
  HeadsView<const double> k{km.data(), 1, 3, 3, 2, 2};
  HeadsView<const double> v{vm.data(), 1, 3, 3, 2, 2};
  HeadsView<double> out{context.data(), 1, 3, 3, 2, 2};
  AttentionMask<double> mask;
  mask.causal = true;
  Tensor4<double> weights(1, 2, 3, 3);
  AttentionRecord<double> record;
  record.weights = &weights;
  scaled_dot_product_attention(q, k, v, out, mask, 1.0 / std::sqrt(2.0), scratch, record);

  look(m, row, x, view, q, weights);
  return 0;
}
