// tests/training/gradient_dump_check.hpp — comparing a --grad dump with a PyTorch autograd fixture
// (tests/fixtures/models/<checkpoint>.grad.safetensors, from tools/training/make_*_grad_fixtures.py), for the
// model tests that check the dump in memory (gradient_tensors: in the computation's own precision) and through
// the family program (the F32 file it writes).
//
// Errors are relative, per tensor: max |ours − reference| / max |reference| (support/fixture.hpp).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "support/fixture.hpp"
#include "training/training_fixture.hpp"

namespace eigenformer::testing {

/// The parity tolerance of whole-model gradients: computing in float, 1e-4; in double, 1e-10 (the fixture is
/// float64 autograd from the same stored weights).
template <class T>
constexpr double model_gradient_tolerance() {
  return std::is_same_v<T, float> ? 1e-4 : 1e-10;
}

/// "1,5,17" from {1, 5, 17}: ids and labels for a command line (-100 included).
inline std::string join_indices(const std::vector<Index>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

/// The names of the fixture's gradients, without the "grad." prefix.
inline std::set<std::string> fixture_gradient_names(const std::string& fixture) {
  std::set<std::string> names;
  const SafeTensorsReader file(fixture_path(fixture));
  for (const TensorInfo& t : file.tensors()) {
    if (t.name.rfind("grad.", 0) == 0) names.insert(t.name.substr(5));
  }
  return names;
}

/// Every tensor of a dump against the fixture: the same names (every stored tensor has its gradient, nothing
/// else is written), the same shapes, each within `tolerance`. Returns the worst error; prints it with `what`.
template <class Scalar>
double check_dump_against_fixture(const std::vector<GradientTensor<Scalar>>& tensors, const std::string& fixture,
                                  double tolerance, const std::string& what) {
  Fixture fx(fixture);
  std::set<std::string> ours;
  double worst = 0;
  std::string worst_name;
  for (const GradientTensor<Scalar>& t : tensors) {
    CAPTURE(t.name);
    CHECK_MESSAGE(ours.insert(t.name).second, "written twice");
    REQUIRE_MESSAGE(fx.has("grad." + t.name), "the fixture has no grad." << t.name);
    CHECK(fx.info("grad." + t.name).shape == t.shape);
    const std::vector<double> expected = fx.values<double>("grad." + t.name);
    REQUIRE(expected.size() == t.values.size());
    const double err = relative_max_error(t.values.data(), expected.data(), expected.size());
    CHECK_MESSAGE(err <= tolerance, t.name << ": relative error " << err << " (tolerance " << tolerance << ")");
    if (err >= worst) {
      worst = err;
      worst_name = t.name;
    }
  }
  CHECK(ours == fixture_gradient_names(fixture));
  MESSAGE(what << ": " << tensors.size() << " gradients, worst relative error " << worst << " (" << worst_name
               << "; tolerance " << tolerance << ")");
  return worst;
}

/// The loss against the fixture's; returns the relative error, CHECKed against `tolerance`.
inline double check_loss_against_fixture(double loss, const std::string& fixture, double tolerance, const std::string& what) {
  Fixture fx(fixture);
  const double expected = fx.values<double>("loss").at(0);
  const double err = std::abs(loss - expected) / std::abs(expected);
  MESSAGE(what << ": loss " << loss << " vs autograd " << expected << ", relative error " << err);
  CHECK(err <= tolerance);
  return err;
}

/// Runs a family program's --grad (`command` writes `out`), then compares the file with the fixture: F32
/// throughout, the loss and every gradient within 1e-4, and exactly the fixture's tensors. Returns the worst.
inline double check_program_dump(const std::string& command, const std::string& out, const std::string& fixture,
                                 const std::string& what) {
  std::remove(out.c_str());
  REQUIRE_MESSAGE(std::system((command + " > /dev/null").c_str()) == 0, command);
  SafeTensorsReader file(out);
  Fixture fx(fixture);
  std::set<std::string> written;
  double worst = 0;
  for (const TensorInfo& t : file.tensors()) {
    CAPTURE(t.name);
    CHECK(t.dtype == DType::F32);
    if (t.name != "loss") written.insert(t.name.substr(5));
    REQUIRE_MESSAGE(fx.has(t.name), "the fixture has no " << t.name);
    CHECK(fx.info(t.name).shape == t.shape);
    const std::vector<double> ours = file.read<double>(t.name);
    const std::vector<double> expected = fx.values<double>(t.name);
    REQUIRE(ours.size() == expected.size());
    worst = std::max(worst, relative_max_error(ours.data(), expected.data(), ours.size()));
  }
  CHECK(file.contains("loss"));
  CHECK(written == fixture_gradient_names(fixture));
  MESSAGE(what << ": " << file.tensors().size() << " tensors written, worst relative error " << worst << " (tolerance 1e-4)");
  CHECK(worst <= 1e-4);
  std::remove(out.c_str());
  return worst;
}

}  // namespace eigenformer::testing
