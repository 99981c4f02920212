// The check for exercise 5: a value worked out by hand, the library's cross_entropy (itself checked against
// PyTorch), and central finite differences for the gradient.
#include <cmath>
#include <vector>

#include <doctest/doctest.h>

#include <eigenformer/training/loss.hpp>

#include <cross_entropy.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

using eigenformer::Index;
using eigenformer::Matrix;

TEST_CASE("a value by hand: two equal scores give log 2") {
  Matrix<double> logits(1, 2);
  logits << 3.0, 3.0;
  Matrix<double> d;
  CHECK(exercise::cross_entropy(logits, {0}, d) == doctest::Approx(std::log(2.0)).epsilon(1e-12));
  // p = (1/2, 1/2), one-hot (1, 0): gradient (−1/2, 1/2).
  CHECK(d(0, 0) == doctest::Approx(-0.5).epsilon(1e-12));
  CHECK(d(0, 1) == doctest::Approx(0.5).epsilon(1e-12));
}

TEST_CASE("ignored rows count neither in the loss nor in the mean, and get no gradient") {
  Matrix<double> logits = Matrix<double>::Random(4, 6) * 3.0;
  const std::vector<int> labels = {2, -100, 5, -100};
  Matrix<double> d;
  const double loss = exercise::cross_entropy(logits, labels, d);
  Matrix<double> two(2, 6);
  two << logits.row(0), logits.row(2);
  Matrix<double> d_two;
  CHECK(loss == doctest::Approx(exercise::cross_entropy(two, {2, 5}, d_two)).epsilon(1e-12));
  CHECK(d.row(1).cwiseAbs().maxCoeff() == 0.0);
  CHECK(d.row(3).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("large scores do not overflow") {
  Matrix<double> logits(1, 3);
  logits << 1000.0, 1001.0, 999.0;  // exp(1000) overflows a double
  Matrix<double> d;
  const double loss = exercise::cross_entropy(logits, {1}, d);
  // ℓ = logsumexp − z_1 = log(e^{-1} + 1 + e^{-2}).
  CHECK(loss == doctest::Approx(std::log(std::exp(-1.0) + 1.0 + std::exp(-2.0))).epsilon(1e-12));
  CHECK(std::isfinite(d.sum()));
}

TEST_CASE("agrees with the library and with finite differences") {
  Matrix<double> logits = Matrix<double>::Random(5, 7) * 4.0;
  const std::vector<int> labels = {0, 6, -100, 3, 3};
  Matrix<double> d;
  const double loss = exercise::cross_entropy(logits, labels, d);

  Matrix<double> d_library;
  const eigenformer::TokenSequence library_labels(labels.begin(), labels.end());
  const eigenformer::training::LossValue library = eigenformer::training::cross_entropy<double>(logits, library_labels, &d_library);
  CHECK(loss == doctest::Approx(library.loss).epsilon(1e-12));
  REQUIRE(d.rows() == 5);
  REQUIRE(d.cols() == 7);
  CHECK((d - d_library).cwiseAbs().maxCoeff() <= 1e-12);

  const double h = 1e-6;
  for (Index i = 0; i < logits.rows(); ++i) {
    for (Index v = 0; v < logits.cols(); ++v) {
      Matrix<double> plus = logits, minus = logits, unused;
      plus(i, v) += h;
      minus(i, v) -= h;
      const double numeric =
          (exercise::cross_entropy(plus, labels, unused) - exercise::cross_entropy(minus, labels, unused)) / (2 * h);
      INFO("row ", i, ", column ", v);
      // Central differences in double with h = 1e-6: truncation ~h² and rounding ~1e-16/h, so ~1e-9 absolute.
      CHECK(std::abs(d(i, v) - numeric) <= 1e-8);
    }
  }
}
