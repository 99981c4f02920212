// The check for exercise 6: central finite differences of loss = Σ dy ⊙ y (whose gradient is exactly what a
// backward pass returns), and the library's Norm::backward.
#include <doctest/doctest.h>

#include <eigenformer/layers/norm.hpp>

#include <rms_norm_backward.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

using eigenformer::Index;
using eigenformer::Matrix;
using eigenformer::RowVector;

namespace {

// loss(x, γ) = Σ dy ⊙ rms_norm(x, γ): its derivatives are dx and dγ for this dy.
double probe(const Matrix<double>& x, const RowVector<double>& gamma, double eps, const Matrix<double>& dy) {
  return (exercise::rms_norm(x, gamma, eps).array() * dy.array()).sum();
}

}  // namespace

TEST_CASE("dx and dgamma match central finite differences") {
  const double eps = 1e-6, h = 1e-6;
  const Matrix<double> x = Matrix<double>::Random(3, 5);
  const RowVector<double> gamma = RowVector<double>::Random(5).array() + 1.5;
  const Matrix<double> dy = Matrix<double>::Random(3, 5);
  Matrix<double> dx;
  RowVector<double> dgamma;
  exercise::rms_norm_backward(x, gamma, eps, dy, dx, dgamma);
  REQUIRE(dx.rows() == 3);
  REQUIRE(dx.cols() == 5);
  REQUIRE(dgamma.size() == 5);
  for (Index n = 0; n < 3; ++n) {
    for (Index j = 0; j < 5; ++j) {
      Matrix<double> plus = x, minus = x;
      plus(n, j) += h;
      minus(n, j) -= h;
      INFO("dx(", n, ", ", j, ")");
      CHECK(dx(n, j) == doctest::Approx((probe(plus, gamma, eps, dy) - probe(minus, gamma, eps, dy)) / (2 * h)).epsilon(1e-6));
    }
  }
  for (Index j = 0; j < 5; ++j) {
    RowVector<double> plus = gamma, minus = gamma;
    plus(j) += h;
    minus(j) -= h;
    INFO("dgamma(", j, ")");
    CHECK(dgamma(j) == doctest::Approx((probe(x, plus, eps, dy) - probe(x, minus, eps, dy)) / (2 * h)).epsilon(1e-6));
  }
}

TEST_CASE("agrees with the library's RMSNorm backward") {
  using namespace eigenformer;
  NormConfig config;
  config.kind = NormKind::RMSNorm;
  config.eps = 1e-5;
  Norm<double> norm(8, config);
  norm.weight = RowVector<double>::Random(8);
  norm.weight_grad = RowVector<double>::Zero(8);
  const Matrix<double> x = Matrix<double>::Random(4, 8) * 3.0;
  const Matrix<double> dy = Matrix<double>::Random(4, 8);
  Matrix<double> y, dx_library;
  norm.forward(x, y);
  norm.backward(dy, dx_library);

  Matrix<double> dx;
  RowVector<double> dgamma;
  exercise::rms_norm_backward(x, norm.weight, config.eps, dy, dx, dgamma);
  CHECK((dx - dx_library).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK((dgamma - norm.weight_grad).cwiseAbs().maxCoeff() <= 1e-12);
}
