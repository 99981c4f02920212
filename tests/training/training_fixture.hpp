// tests/training/training_fixture.hpp — shared helpers of the training tests: the PyTorch fixture file, a
// named parameter set with gradient buffers built from it, and the tolerances.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "eigenformer/training.hpp"
#include "support/fixture.hpp"

namespace eigenformer::testing {

/// Tolerances of the training parity tests (relative to the expected tensor's largest magnitude): float
/// computations against PyTorch in float32, double against PyTorch in float64.
template <class Scalar>
constexpr double training_tolerance() {
  return std::is_same_v<Scalar, float> ? 1e-6 : 1e-12;
}

template <class Scalar>
const char* dtype_tag() {
  return std::is_same_v<Scalar, float> ? "f32" : "f64";
}

/// Named tensors that own their data and gradient storage, listed as a ParameterList with gradients.
template <class Scalar>
struct OwnedParameters {
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::int64_t>> shapes;
  std::map<std::string, std::vector<Scalar>> data, grad;

  void add(const std::string& name, const std::vector<std::int64_t>& shape, std::vector<Scalar> values) {
    names.push_back(name);
    shapes[name] = shape;
    grad[name].assign(values.size(), Scalar(0));
    data[name] = std::move(values);
  }

  ParameterList<Scalar> list() {
    ParameterList<Scalar> out;
    out.gradients = true;
    for (const std::string& n : names) out.push_back({n, shapes[n], data[n].data(), grad[n].data()});
    return out;
  }
};

/// Prints and checks the relative max error of `actual` against `expected`.
template <class Scalar, class A, class E>
double check_close(const A& actual, const E& expected, double tolerance, const std::string& what) {
  REQUIRE_MESSAGE(actual.size() == expected.size(), what << ": sizes differ " << actual.size() << " vs " << expected.size());
  std::size_t where = 0;
  const double err = relative_max_error(actual.data(), expected.data(), static_cast<std::size_t>(actual.size()), &where);
  INFO(what << ": relative max error " << err << " at flat index " << where << " (tolerance " << tolerance << ")");
  CHECK(err <= tolerance);
  return err;
}

inline std::vector<std::string> string_list(const json::Value& v) {
  std::vector<std::string> out;
  for (const json::Value& s : v.as_array()) out.push_back(s.as_string());
  return out;
}

/// A folder for the files the training tests write (checkpoints, caches, optimizer state), created when
/// missing: build/test_training_scratch under the source tree (ignored by git).
inline std::string training_scratch_dir() {
  const std::string dir = std::string(EIGENFORMER_SOURCE_DIR) + "/build/test_training_scratch";
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace eigenformer::testing
