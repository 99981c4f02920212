// Cross-entropy with an ignore index: loss and gradient against PyTorch (F.cross_entropy and autograd),
// finite differences in double, and the error cases.
#include "training_fixture.hpp"

#include <cmath>
#include <cstdio>

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace loss_test {

using namespace eigenformer;
using namespace eigenformer::testing;
using training::cross_entropy;

TEST_CASE_TEMPLATE("cross_entropy matches PyTorch: loss and dlogits, ignore index, huge scores", Scalar, float, double) {
  Fixture fx("training/training.safetensors");
  const Matrix<Scalar> logits = fx.matrix<Scalar>("cross_entropy.input.logits");
  const std::vector<double> raw = fx.values<double>("cross_entropy.input.labels");
  const TokenSequence labels(raw.begin(), raw.end());
  Matrix<Scalar> dlogits;
  const training::LossValue loss = cross_entropy<Scalar>(logits, labels, &dlogits);
  CHECK(loss.counted == 7);

  // The reference is PyTorch in float64 from the same float32 inputs: float must be within 1e-6 of it,
  // double within 1e-12.
  const std::vector<double> expected_loss = fx.values<double>("cross_entropy.expected.f64.loss");
  const std::vector<double> actual_loss{loss.loss};
  const double e1 = check_close<Scalar>(actual_loss, expected_loss, training_tolerance<Scalar>(), "loss");
  const Matrix<double> expected_grad = fx.matrix<double>("cross_entropy.expected.f64.dlogits");
  const double e2 = check_close<Scalar>(dlogits, expected_grad, training_tolerance<Scalar>(), "dlogits");
  MESSAGE(std::string(dtype_tag<Scalar>()) << ": loss " << loss.loss << " vs torch " << expected_loss[0] << ", relative errors loss "
                              << e1 << ", dlogits " << e2);
  // Ignored rows get exactly zero gradient.
  CHECK(dlogits.row(1).cwiseAbs().maxCoeff() == Scalar(0));
  CHECK(dlogits.row(5).cwiseAbs().maxCoeff() == Scalar(0));
}

TEST_CASE("cross_entropy gradient matches central finite differences in double (relative error <= 1e-6)") {
  const Index N = 5, V = 7;
  Matrix<double> logits(N, V);
  std::srand(7);
  logits.setRandom();
  logits *= 4.0;
  const TokenSequence labels{2, training::kIgnoreIndex, 6, 0, 3};
  Matrix<double> analytic;
  cross_entropy<double>(logits, labels, &analytic);
  Matrix<double> numeric(N, V);
  const double h = 1e-5;
  for (Index i = 0; i < N; ++i) {
    for (Index v = 0; v < V; ++v) {
      Matrix<double> plus = logits, minus = logits;
      plus(i, v) += h;
      minus(i, v) -= h;
      numeric(i, v) = (cross_entropy<double>(plus, labels).loss - cross_entropy<double>(minus, labels).loss) / (2 * h);
    }
  }
  const double err = check_close<double>(analytic, numeric, 1e-6, "dlogits vs finite differences");
  MESSAGE("cross_entropy finite differences: relative error " << err);
}

TEST_CASE("cross_entropy: bad input throws, all-ignored gives NaN and a zero gradient") {
  Matrix<float> logits = Matrix<float>::Zero(3, 4);
  CHECK_THROWS_AS(cross_entropy<float>(logits, TokenSequence{0, 1}), ShapeError);
  CHECK_THROWS_AS(cross_entropy<float>(logits, TokenSequence{0, 4, 1}), ValueError);
  CHECK_THROWS_AS(cross_entropy<float>(logits, TokenSequence{0, -1, 1}), ValueError);
  Matrix<float> d;
  const training::LossValue loss = cross_entropy<float>(logits, TokenSequence{-100, -100, -100}, &d);
  CHECK(std::isnan(loss.loss));
  CHECK(loss.counted == 0);
  CHECK(d.rows() == 3);
  CHECK(d.cwiseAbs().maxCoeff() == 0.0f);
  // Uniform scores: loss = log V exactly.
  CHECK(cross_entropy<float>(logits, TokenSequence{0, 1, 3}).loss == doctest::Approx(std::log(4.0)).epsilon(1e-7));
}

}  // namespace loss_test
