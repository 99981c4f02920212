// The check for exercise 13: outputs computed by PyTorch (tools/fixtures/make_exercise_values.py: the
// context's columns zeroed, then torch.nn.functional.linear), and the fact that makes ablation meaningful:
// the heads' contributions add up to the whole output.
#include <cmath>
#include <vector>

#include <doctest/doctest.h>

#include <head_ablation.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

using eigenformer::Index;
using eigenformer::Matrix;

namespace {

// The inputs of make_exercise_values.py: T = 3, H = 3, D = 2, C = 4.
Matrix<double> example_context() {
  Matrix<double> m(3, 6);
  for (Index t = 0; t < 3; ++t) {
    for (Index j = 0; j < 6; ++j) m(t, j) = std::cos(0.5 * static_cast<double>(t * 6 + j));
  }
  return m;
}

Matrix<double> example_w_o() {
  Matrix<double> m(4, 6);
  for (Index c = 0; c < 4; ++c) {
    for (Index j = 0; j < 6; ++j) m(c, j) = std::sin(0.3 * static_cast<double>(c * 6 + j) + 0.1);
  }
  return m;
}

}  // namespace

TEST_CASE("matches PyTorch for each head switched off") {
  const std::vector<std::vector<double>> expected = {
      // tools/fixtures/make_exercise_values.py: head 0, head 1, head 2 switched off
      {-0.79418809639097532, 0.53447346505656135, 0.55132111475352941, -0.78499608929761988, 0.38322528970053421, -0.63110098768673006, -0.096450356969932011, 0.67492843396165869, 0.035407773768853575, 0.71509701975742435, -0.3603508553641947, -0.55135208143104275},
      {-0.76020353789926076, 1.8432438942960387, -0.077374209729344737, -1.8080847292445796, 0.51818487615236841, -1.8632512438669575, 0.32848429493977671, 1.7139866040987597, -0.26579474058609087, 1.8459656071234309, -0.57301976475358807, -1.5855830254183207},
      {0.84917576778259707, 2.0028744368216502, -1.7592903026888285, -1.203445552933377, -1.0619750748497905, -2.1557534445203705, 2.0415584713235218, 1.22806072227413, 1.2535189435733807, 2.2654850323698135, -2.2829648332738959, -1.2280962479088477},
  };
  REQUIRE(expected.size() == 3);
  for (Index head = 0; head < 3; ++head) {
    const Matrix<double> got = exercise::output_without_head(example_context(), example_w_o(), 3, head);
    REQUIRE(got.rows() == 3);
    REQUIRE(got.cols() == 4);
    double difference = 0;
    for (Index i = 0; i < 12; ++i) {
      difference = std::fmax(difference, std::fabs(got.data()[i] - expected[static_cast<std::size_t>(head)][static_cast<std::size_t>(i)]));
    }
    INFO("head ", head, ": max |difference| = ", difference);
    CHECK(difference <= 1e-12);
  }
}

TEST_CASE("the heads' contributions add up to the whole output") {
  // contribution_h = full − without_h; Σ_h contribution_h = full, for any context and W_o.
  const Matrix<double> context = Matrix<double>::Random(5, 8), w_o = Matrix<double>::Random(6, 8);
  const Matrix<double> full = context * w_o.transpose();
  Matrix<double> sum = Matrix<double>::Zero(5, 6);
  for (Index head = 0; head < 4; ++head) sum += full - exercise::output_without_head(context, w_o, 4, head);
  CHECK((sum - full).cwiseAbs().maxCoeff() <= 1e-12);
}

TEST_CASE("a head that read nothing changes nothing when switched off") {
  Matrix<double> context = Matrix<double>::Random(4, 6);
  context.middleCols(2, 2).setZero();  // head 1 of 3 (D = 2) has a zero context
  const Matrix<double> w_o = Matrix<double>::Random(5, 6);
  CHECK((exercise::output_without_head(context, w_o, 3, 1) - context * w_o.transpose()).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK((exercise::output_without_head(context, w_o, 3, 0) - context * w_o.transpose()).cwiseAbs().maxCoeff() > 1e-6);
}
