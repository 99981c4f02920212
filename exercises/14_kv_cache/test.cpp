// The check for exercise 14: each step against the library's full causal attention recomputed over every
// position (itself checked against PyTorch), and the cache's growth.
#include <cmath>

#include <doctest/doctest.h>

#include <eigenformer/attention/attention.hpp>

#include <kv_cache.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

using eigenformer::Index;
using eigenformer::Matrix;
using eigenformer::RowVector;

namespace {

Matrix<double> full_causal_attention(const Matrix<double>& Q, const Matrix<double>& K, const Matrix<double>& V) {
  using namespace eigenformer;
  Matrix<double> context(Q.rows(), Q.cols());
  AttentionMask<double> mask;
  mask.causal = true;
  AttentionScratch<double> scratch;
  scaled_dot_product_attention(HeadsView<const double>::of(Q, 1, 1), HeadsView<const double>::of(K, 1, 1),
                               HeadsView<const double>::of(V, 1, 1), HeadsView<double>::of(context, 1, 1), mask,
                               1.0 / std::sqrt(static_cast<double>(Q.cols())), scratch);
  return context;
}

}  // namespace

TEST_CASE("every cached step equals a full recompute") {
  const Index T = 9, D = 4;
  const Matrix<double> Q = Matrix<double>::Random(T, D), K = Matrix<double>::Random(T, D), V = Matrix<double>::Random(T, D);
  const Matrix<double> full = full_causal_attention(Q, K, V);
  exercise::KVCache cache;
  for (Index t = 0; t < T; ++t) {
    const RowVector<double> got = exercise::decode_step(cache, Q.row(t), K.row(t), V.row(t));
    REQUIRE(got.cols() == D);
    const double difference = (got - full.row(t)).cwiseAbs().maxCoeff();
    INFO("step ", t, ": max |difference| = ", difference);
    CHECK(difference <= 1e-12);
  }
}

TEST_CASE("the cache holds one row per position, in order") {
  const Index T = 5, D = 3;
  const Matrix<double> Q = Matrix<double>::Random(T, D), K = Matrix<double>::Random(T, D), V = Matrix<double>::Random(T, D);
  exercise::KVCache cache;
  for (Index t = 0; t < T; ++t) exercise::decode_step(cache, Q.row(t), K.row(t), V.row(t));
  REQUIRE(cache.keys.rows() == T);
  REQUIRE(cache.values.rows() == T);
  CHECK((cache.keys - K).cwiseAbs().maxCoeff() == 0.0);
  CHECK((cache.values - V).cwiseAbs().maxCoeff() == 0.0);
}
