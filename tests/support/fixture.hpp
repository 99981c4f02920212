// tests/support/fixture.hpp — reading the PyTorch parity fixtures and comparing with tolerances.
//
// Fixtures are .safetensors files written by tools/fixtures/*.py. Tensor names follow
//   "<case>.params.<eigenformer parameter name>"   weights, loaded into a module by name
//   "<case>.input.<name>"                          inputs
//   "<case>.expected.<name>"                       what PyTorch computed (float64)
// and the metadata maps "<case>" to a JSON object of the case's settings.
//
// Tolerances (the foundation issue's): the largest absolute difference, divided by the largest magnitude
// of the expected tensor, must be ≤ 1e-5 when eigenformer computes in float and ≤ 1e-10 in double.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "eigenformer/eigenformer.hpp"

namespace eigenformer::testing {

inline std::string fixture_path(const std::string& relative) {
  return std::string(EIGENFORMER_FIXTURE_DIR) + "/" + relative;
}

/// The parity tolerance for computations in T (relative to the expected tensor's largest magnitude).
template <class T>
constexpr double parity_tolerance() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-10;
}

class Fixture {
 public:
  explicit Fixture(const std::string& file) : reader_(fixture_path(file)) {}

  /// The settings of case `name`.
  json::Value config(const std::string& name) const {
    auto it = reader_.metadata().find(name);
    REQUIRE_MESSAGE(it != reader_.metadata().end(), "fixture has no case '" << name << "'");
    return json::parse(it->second, name);
  }

  bool has(const std::string& name) const { return reader_.contains(name); }

  const TensorInfo& info(const std::string& name) const { return reader_.info(name); }

  template <class T>
  std::vector<T> values(const std::string& name) {
    return reader_.read<T>(name);
  }

  template <class T>
  Tensor3<T> tensor3(const std::string& name) {
    const TensorInfo& t = reader_.info(name);
    REQUIRE_MESSAGE(t.shape.size() == 3, name << " has rank " << t.shape.size());
    Tensor3<T> x(t.shape[0], t.shape[1], t.shape[2]);
    reader_.read_into(t, x.data());
    return x;
  }

  template <class T>
  Tensor4<T> tensor4(const std::string& name) {
    const TensorInfo& t = reader_.info(name);
    REQUIRE_MESSAGE(t.shape.size() == 4, name << " has rank " << t.shape.size());
    Tensor4<T> x(t.shape[0], t.shape[1], t.shape[2], t.shape[3]);
    reader_.read_into(t, x.data());
    return x;
  }

  /// A 2-D tensor as a matrix, or a 1-D tensor as a (1, n) row.
  template <class T>
  Matrix<T> matrix(const std::string& name) {
    const TensorInfo& t = reader_.info(name);
    REQUIRE_MESSAGE((t.shape.size() == 1 || t.shape.size() == 2), name << " has rank " << t.shape.size());
    Matrix<T> m(t.shape.size() == 2 ? t.shape[0] : 1, t.shape.back());
    reader_.read_into(t, m.data());
    return m;
  }

  std::vector<Index> indices(const std::string& name) {
    std::vector<double> v = reader_.read<double>(name);
    return std::vector<Index>(v.begin(), v.end());
  }

  /// Loads every "<case>.params.*" tensor into the module's parameters of the same name; strict both
  /// ways within the case (a missing or an unused weight is an error).
  template <class Module>
  void load(Module& module, const std::string& case_name) {
    const std::string prefix = case_name + ".params.";
    LoadOptions options;
    options.rename = [&](const std::string& n) { return prefix + n; };
    options.ignore = [&](const std::string& n) { return n.compare(0, prefix.size(), prefix) != 0; };
    auto params = named_parameters(module);
    load_parameters(params, reader_, options);
  }

 private:
  SafeTensorsReader reader_;
};

/// Largest |actual − expected| divided by the largest |expected| (or by 1 when that is smaller).
template <class A, class E>
double relative_max_error(const A* actual, const E* expected, std::size_t n, std::size_t* where = nullptr) {
  double max_diff = 0, max_ref = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = std::abs(static_cast<double>(actual[i]) - static_cast<double>(expected[i]));
    if (!(d <= max_diff)) {  // also catches NaN
      max_diff = std::isnan(d) ? INFINITY : d;
      if (where) *where = i;
    }
    max_ref = std::max(max_ref, std::abs(static_cast<double>(expected[i])));
  }
  return max_diff / std::max(max_ref, 1e-300);
}

/// CHECKs that `actual` matches `expected` within the parity tolerance for T; prints the error either way
/// when it fails, so a regression shows by how much.
template <class T, class ActualTensor, class ExpectedTensor>
void check_parity(const ActualTensor& actual, const ExpectedTensor& expected, const std::string& what) {
  REQUIRE_MESSAGE(actual.size() == expected.size(),
                  what << ": sizes differ, " << actual.size() << " vs " << expected.size());
  std::size_t where = 0;
  const double err = relative_max_error(actual.data(), expected.data(), static_cast<std::size_t>(actual.size()), &where);
  INFO(what << ": relative max error " << err << " at flat index " << where << " (tolerance "
            << parity_tolerance<T>() << ")");
  CHECK(err <= parity_tolerance<T>());
}

/// Random activations (B, T, C) with a fixed seed.
template <class T>
Tensor3<T> random_tensor3(Index b, Index t, Index c, unsigned seed) {
  std::srand(seed);
  Tensor3<T> x(b, t, c);
  x.setRandom();
  return x;
}

/// Fills every parameter of a module with deterministic pseudo-random values in [-scale, scale].
template <class Module>
void randomize_parameters(Module& module, unsigned seed, double scale = 0.5) {
  std::uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (auto& p : named_parameters(module)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      const double u = static_cast<double>(state >> 11) / static_cast<double>(1ULL << 53);  // [0, 1)
      p.data[i] = static_cast<typename Module::scalar_type>((2 * u - 1) * scale);
    }
  }
}

}  // namespace eigenformer::testing
