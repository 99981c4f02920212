// The check for exercise 9: a block computed by PyTorch with the same simple sublayers
// (tools/fixtures/make_exercise_values.py), and two facts only the pre-norm wiring has.
#include <cmath>
#include <vector>

#include <doctest/doctest.h>

#include <pre_norm_block.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

using eigenformer::Index;
using eigenformer::Matrix;

namespace {

Matrix<double> from_rows(Index rows, Index cols, const std::vector<double>& values) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < rows * cols; ++i) m.data()[i] = values[static_cast<std::size_t>(i)];
  return m;
}

// The sublayers of make_exercise_values.py, written again here.
Matrix<double> rms_norm(const Matrix<double>& z) {  // no learned scale, eps 1e-6
  Matrix<double> out(z.rows(), z.cols());
  for (Index t = 0; t < z.rows(); ++t) {
    out.row(t) = z.row(t) / std::sqrt(z.row(t).squaredNorm() / static_cast<double>(z.cols()) + 1e-6);
  }
  return out;
}

Matrix<double> mixing_attention(const Matrix<double>& z) {  // causal mean over positions 0..t, times A
  const Matrix<double> A = from_rows(3, 3, {0.5, -0.25, 0.125, 0.25, 0.75, -0.5, -0.125, 0.5, 1.0});
  Matrix<double> prefix_mean(z.rows(), z.cols());
  for (Index t = 0; t < z.rows(); ++t) prefix_mean.row(t) = z.topRows(t + 1).colwise().mean();
  return prefix_mean * A;
}

Matrix<double> silu_mlp(const Matrix<double>& z) {
  const Matrix<double> W1 = from_rows(3, 4, {1.0, -0.5, 0.25, 0.0, 0.5, 0.25, -1.0, 0.5, -0.25, 1.0, 0.5, -0.5});
  const Matrix<double> W2 = from_rows(4, 3, {0.5, -0.25, 0.25, 1.0, 0.5, -0.5, -0.5, 0.25, 1.0, 0.25, -1.0, 0.5});
  Matrix<double> hidden = z * W1;
  for (Index i = 0; i < hidden.size(); ++i) {
    const double a = hidden.data()[i];
    hidden.data()[i] = a / (1.0 + std::exp(-a));
  }
  return hidden * W2;
}

Matrix<double> example_input() {  // x(t, c) = sin(1 + 3t + c), T = 4, C = 3
  Matrix<double> x(4, 3);
  for (Index t = 0; t < 4; ++t) {
    for (Index c = 0; c < 3; ++c) x(t, c) = std::sin(1.0 + static_cast<double>(t * 3 + c));
  }
  return x;
}

}  // namespace

TEST_CASE("matches PyTorch's pre-norm block") {
  const Matrix<double> expected = from_rows(4, 3,
      // tools/fixtures/make_exercise_values.py
      {2.5985554987402053, 0.67582629964824514, 0.29212990449473908, -1.3632379663037839, -0.70800427707327596, 0.20605422384912592, 1.9144695333569954, 0.66184528279827148, 0.51116999257209594, -1.2158447341114544, -0.85699140343377167, -0.031451435634762714});
  const Matrix<double> got = exercise::pre_norm_block(example_input(), rms_norm, mixing_attention, rms_norm, silu_mlp);
  REQUIRE(got.rows() == 4);
  REQUIRE(got.cols() == 3);
  const double difference = (got - expected).cwiseAbs().maxCoeff();
  INFO("max |difference| = ", difference);
  CHECK(difference <= 1e-12);
}

TEST_CASE("sublayers that add nothing leave the residual stream untouched") {
  // Pre-norm: y = x exactly. (Post-norm would return norm(norm(x)), a different vector.)
  const exercise::Sublayer nothing = [](const Matrix<double>& z) { return Matrix<double>::Zero(z.rows(), z.cols()).eval(); };
  const Matrix<double> x = example_input();
  CHECK((exercise::pre_norm_block(x, rms_norm, nothing, rms_norm, nothing) - x).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("each sublayer reads a normalised stream") {
  // Scaling x by 10 scales nothing a sublayer sees (RMSNorm is scale-free, up to eps), so with the attention
  // sublayer alone, y − x is the same for x and 10x.
  const exercise::Sublayer nothing = [](const Matrix<double>& z) { return Matrix<double>::Zero(z.rows(), z.cols()).eval(); };
  const Matrix<double> x = example_input();
  const Matrix<double> small = exercise::pre_norm_block(x, rms_norm, mixing_attention, rms_norm, nothing) - x;
  const Matrix<double> large = exercise::pre_norm_block(10.0 * x, rms_norm, mixing_attention, rms_norm, nothing) - 10.0 * x;
  CHECK((small - large).cwiseAbs().maxCoeff() <= 1e-5);
}
