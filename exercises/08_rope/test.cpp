// The check for exercise 8: numbers computed by PyTorch with transformers' rotate_half formula
// (tools/fixtures/make_exercise_values.py), the library's RotaryEmbedding, and the property RoPE exists for:
// a query·key score depends only on the distance between the two positions.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include <eigenformer/layers/rope.hpp>

#include <rope.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

namespace {

double max_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double m = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// v = 0.1·(i+1)·(−1)^i, D = 8: the input of make_exercise_values.py.
std::vector<double> example_vector() {
  std::vector<double> v(8);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.1 * static_cast<double>(i + 1) * (i % 2 == 0 ? 1 : -1);
  return v;
}

}  // namespace

TEST_CASE("matches PyTorch (transformers' rotate_half) at three positions") {
  struct Case {
    std::int64_t position;
    double base;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      // tools/fixtures/make_exercise_values.py
      {1, 10000.0, {-0.36670526181713425, -0.13910078306750825, 0.29298511679108297, -0.39919980013334999, 0.35429825141485954, -0.61696918249618116, 0.70296495029191575, -0.80039959993336662}},
      {3, 10000.0, {-0.16955925368997815, -0.013755173828317424, 0.27886815998294934, -0.3975982036013484, -0.48088424749423597, -0.63230593480763153, 0.70868367368504004, -0.80119639820270083}},
      {1000, 500000.0, {-0.35720186263693099, -0.25490215617775136, -0.64465305376530246, -0.35690813443385039, 0.3638774921985517, -0.57881334709553256, 0.40549037013358291, -0.82013205252260968}},
  };
  for (const Case& c : cases) {
    const std::vector<double> got = exercise::rope_rotate(example_vector(), c.position, c.base);
    INFO("position ", c.position, ", base ", c.base, ": max |difference| = ", max_difference(got, c.expected));
    CHECK(max_difference(got, c.expected) <= 1e-12);
  }
}

TEST_CASE("position 0 changes nothing") {
  CHECK(max_difference(exercise::rope_rotate(example_vector(), 0), example_vector()) == 0.0);
}

TEST_CASE("agrees with the library's RotaryEmbedding on random vectors") {
  std::mt19937 rng(8);
  std::normal_distribution<double> normal(0.0, 1.0);
  eigenformer::RopeConfig config;
  config.head_dim = 16;
  config.base = 10000.0;
  const eigenformer::RotaryEmbedding<double> library(config);
  for (std::int64_t position : {1, 7, 100, 4095}) {
    std::vector<double> v(16);
    for (double& x : v) x = normal(rng);
    eigenformer::Matrix<double> row(1, 16);
    for (eigenformer::Index j = 0; j < 16; ++j) row(0, j) = v[static_cast<std::size_t>(j)];
    library.rotate(row, 1, 1, position);
    const std::vector<double> expected(row.data(), row.data() + 16);
    INFO("position ", position);
    CHECK(max_difference(exercise::rope_rotate(v, position), expected) <= 1e-12);
  }
}

TEST_CASE("a query·key score depends only on the distance m − n") {
  std::mt19937 rng(9);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> q(8), k(8);
  for (double& x : q) x = normal(rng);
  for (double& x : k) x = normal(rng);
  // The same distance 3 at two places gives the same score; distance 4 gives another.
  const double near = dot(exercise::rope_rotate(q, 5), exercise::rope_rotate(k, 2));
  const double far_along = dot(exercise::rope_rotate(q, 105), exercise::rope_rotate(k, 102));
  const double other_distance = dot(exercise::rope_rotate(q, 6), exercise::rope_rotate(k, 2));
  CHECK(std::fabs(near - far_along) <= 1e-12);
  CHECK(std::fabs(near - other_distance) > 1e-6);
}
