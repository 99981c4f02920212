// The check for exercise 1. Reference values come from the definition computed in long double with the
// maximum subtracted (exact up to rounding), and from the library's masked_softmax_rows.
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include <eigenformer/attention/attention.hpp>

#include <softmax.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

using eigenformer::Index;
using eigenformer::Matrix;

namespace {

// softmax of one row in long double, the independent reference.
std::vector<long double> reference_softmax(const std::vector<long double>& x) {
  long double m = -std::numeric_limits<long double>::infinity();
  for (long double v : x) m = std::max(m, v);
  std::vector<long double> p(x.size(), 0.0L);
  if (std::isinf(m) && m < 0) return p;
  long double sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += p[i] = std::exp(x[i] - m);
  for (long double& v : p) v /= sum;
  return p;
}

void check_row(const Matrix<float>& scores, Index r, const Matrix<float>& got) {
  std::vector<long double> x;
  for (Index s = 0; s < scores.cols(); ++s) x.push_back(scores(r, s));
  const std::vector<long double> want = reference_softmax(x);
  for (Index s = 0; s < scores.cols(); ++s) {
    INFO("row ", r, ", column ", s, ": score ", scores(r, s));
    REQUIRE(std::isfinite(got(r, s)));
    CHECK(std::abs(static_cast<long double>(got(r, s)) - want[static_cast<std::size_t>(s)]) <= 1e-6L);
  }
}

}  // namespace

TEST_CASE("softmax of ordinary scores sums to one and matches the definition") {
  Matrix<float> scores(3, 4);
  scores << 0.5f, -1.0f, 2.0f, 0.0f,  //
      1.0f, 1.0f, 1.0f, 1.0f,         //
      -3.0f, 0.25f, 0.75f, -0.5f;
  const Matrix<float> p = exercise::softmax_rows(scores);
  REQUIRE(p.rows() == 3);
  REQUIRE(p.cols() == 4);
  for (Index r = 0; r < 3; ++r) check_row(scores, r, p);
}

TEST_CASE("softmax does not overflow on large scores") {
  Matrix<float> scores(2, 3);
  scores << 1000.0f, 1001.0f, 999.0f,  // exp(1000) overflows a float (and a double)
      -1000.0f, -1001.0f, -999.5f;     // exp(−1000) underflows to 0 for every entry: 0/0
  const Matrix<float> p = exercise::softmax_rows(scores);
  for (Index r = 0; r < 2; ++r) check_row(scores, r, p);
}

TEST_CASE("a hidden score (−inf) gets probability exactly 0, and an all-hidden row is all zeros") {
  const float hidden = -std::numeric_limits<float>::infinity();
  Matrix<float> scores(2, 3);
  scores << 2.0f, hidden, 1.0f,  //
      hidden, hidden, hidden;
  const Matrix<float> p = exercise::softmax_rows(scores);
  CHECK(p(0, 1) == 0.0f);
  check_row(scores, 0, p);
  for (Index s = 0; s < 3; ++s) CHECK(p(1, s) == 0.0f);
}

TEST_CASE("softmax agrees with the library's masked_softmax_rows on random scores") {
  Matrix<float> scores = Matrix<float>::Random(8, 16) * 50.0f;  // scores up to ±50: exp overflow territory in float
  Matrix<float> library;
  eigenformer::masked_softmax_rows(scores, library);
  const Matrix<float> p = exercise::softmax_rows(scores);
  CHECK((p - library).cwiseAbs().maxCoeff() <= 1e-6f);
}
