// The check for exercise 3: against the library's attention core with its causal mask, and against two
// facts any causal attention must satisfy (the first token reads only itself; the past does not change when
// a token is appended).
#include <doctest/doctest.h>

#include <eigenformer/attention/attention.hpp>

#include <causal_attention.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

using eigenformer::Index;
using eigenformer::Matrix;

namespace {

Matrix<double> library_causal_attention(Matrix<double> Q, Matrix<double> K, Matrix<double> V) {
  using namespace eigenformer;
  const Index D = Q.cols();
  Matrix<double> context(Q.rows(), D);
  AttentionMask<double> mask;
  mask.causal = true;
  AttentionScratch<double> scratch;
  scaled_dot_product_attention(HeadsView<const double>::of(Q, 1, 1), HeadsView<const double>::of(K, 1, 1),
                               HeadsView<const double>::of(V, 1, 1), HeadsView<double>::of(context, 1, 1), mask,
                               1.0 / std::sqrt(static_cast<double>(D)), scratch);
  return context;
}

}  // namespace

TEST_CASE("matches the library's causal attention") {
  const Matrix<double> Q = Matrix<double>::Random(6, 4), K = Matrix<double>::Random(6, 4), V = Matrix<double>::Random(6, 4);
  const Matrix<double> got = exercise::causal_attention(Q, K, V);
  REQUIRE(got.rows() == 6);
  REQUIRE(got.cols() == 4);
  CHECK((got - library_causal_attention(Q, K, V)).cwiseAbs().maxCoeff() <= 1e-12);
}

TEST_CASE("the first token reads only itself") {
  const Matrix<double> Q = Matrix<double>::Random(5, 3), K = Matrix<double>::Random(5, 3), V = Matrix<double>::Random(5, 3);
  const Matrix<double> got = exercise::causal_attention(Q, K, V);
  CHECK((got.row(0) - V.row(0)).cwiseAbs().maxCoeff() <= 1e-12);
}

TEST_CASE("appending a token leaves the earlier outputs unchanged") {
  const Matrix<double> Q = Matrix<double>::Random(7, 4), K = Matrix<double>::Random(7, 4), V = Matrix<double>::Random(7, 4);
  const Matrix<double> all = exercise::causal_attention(Q, K, V);
  const Matrix<double> prefix = exercise::causal_attention<double>(Q.topRows(5), K.topRows(5), V.topRows(5));
  CHECK((all.topRows(5) - prefix).cwiseAbs().maxCoeff() <= 1e-12);
}
