// tests/training/gradient_dump_check.hpp — what the whole-model gradient tests share (llama, gpt2, bart):
// comparing a --grad dump with a PyTorch autograd fixture (tests/fixtures/models/<checkpoint>.grad.safetensors,
// from tools/training/make_*_grad_fixtures.py) in memory (gradient_tensors: in the computation's own precision)
// and through the family program (the F32 file it writes), and the causal-LM finite-difference check.
//
// Errors are relative, per tensor: max |ours − reference| / max |reference| (support/fixture.hpp).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "models/model_fixture.hpp"  // model_dir
#include "support/fixture.hpp"
#include "training/gradient_check.hpp"
#include "training/training_fixture.hpp"

namespace eigenformer::testing {

/// The parity tolerance of whole-model gradients: computing in float, 1e-4; in double, 1e-10 (the fixture is
/// float64 autograd from the same stored weights).
template <class T>
constexpr double model_gradient_tolerance() {
  return std::is_same_v<T, float> ? 1e-4 : 1e-10;
}

/// One sequence of ids (1, T) from a fixture's indices.
inline TokenIds row_of(const std::vector<Index>& values) {
  TokenIds ids(1, static_cast<Index>(values.size()));
  for (std::size_t t = 0; t < values.size(); ++t) ids(0, static_cast<Index>(t)) = static_cast<TokenId>(values[t]);
  return ids;
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

/// The largest |value| of every grad.* tensor of a fixture: the scale of its gradients.
inline double fixture_gradient_scale(const std::string& fixture) {
  Fixture fx(fixture);
  double scale = 0;
  for (const std::string& name : fixture_gradient_names(fixture)) {
    for (double v : fx.values<double>("grad." + name)) scale = std::max(scale, std::abs(v));
  }
  return scale;
}

/// One tensor's error against the fixture. Relative, max |ours − ref| / max |ref| — except for a gradient that
/// is zero by symmetry (max |ref| ≤ 1e-12 of the fixture's scale: a key projection's bias, which softmax cancels,
/// so autograd's value is rounding noise): then max |ours − ref| / scale, how far from zero against the size of
/// the other gradients. `zero` is set for those.
inline double gradient_error(const std::vector<double>& ours, const std::vector<double>& ref, double scale, bool& zero) {
  double max_ref = 0;
  for (double v : ref) max_ref = std::max(max_ref, std::abs(v));
  zero = max_ref <= 1e-12 * scale;
  if (!zero) return relative_max_error(ours.data(), ref.data(), ref.size());
  double max_diff = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) max_diff = std::max(max_diff, std::abs(ours[i] - ref[i]));
  return max_diff / scale;
}

/// Every tensor of a dump against the fixture: the same names (every stored tensor has its gradient, nothing
/// else is written), the same shapes, each within `tolerance` (gradient_error). Returns the worst error; prints
/// it with `what`.
template <class Scalar>
double check_dump_against_fixture(const std::vector<GradientTensor<Scalar>>& tensors, const std::string& fixture,
                                  double tolerance, const std::string& what) {
  Fixture fx(fixture);
  const double scale = fixture_gradient_scale(fixture);
  std::set<std::string> ours;
  double worst = 0, worst_zero = 0;
  std::size_t zeros = 0;
  std::string worst_name;
  for (const GradientTensor<Scalar>& t : tensors) {
    CAPTURE(t.name);
    CHECK_MESSAGE(ours.insert(t.name).second, "written twice");
    REQUIRE_MESSAGE(fx.has("grad." + t.name), "the fixture has no grad." << t.name);
    CHECK(fx.info("grad." + t.name).shape == t.shape);
    const std::vector<double> expected = fx.values<double>("grad." + t.name);
    REQUIRE(expected.size() == t.values.size());
    bool zero = false;
    const double err = gradient_error(std::vector<double>(t.values.begin(), t.values.end()), expected, scale, zero);
    CHECK_MESSAGE(err <= tolerance, t.name << ": error " << err << " (tolerance " << tolerance << ")");
    if (zero) {
      ++zeros;
      worst_zero = std::max(worst_zero, err);
    } else if (err >= worst) {
      worst = err;
      worst_name = t.name;
    }
  }
  CHECK(ours == fixture_gradient_names(fixture));
  MESSAGE(what << ": " << tensors.size() << " gradients, worst relative error " << worst << " (" << worst_name
               << "; tolerance " << tolerance << ")"
               << (zeros > 0 ? detail::cat("; ", zeros, " zero by symmetry (key biases), |ours| ≤ ", worst_zero,
                                           " of the largest gradient")
                             : std::string()));
  return std::max(worst, worst_zero);
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

/// A model loaded from tests/fixtures/models/<checkpoint> against its .grad fixture: loss_and_gradients on the
/// fixture's input_ids and labels (one sequence), then the loss and every tensor of `dump(params)` (the model's
/// GradientTensors, in its own precision) within model_gradient_tolerance.
template <class Model, class Dump>
void check_model_gradients(Model& model, const std::string& checkpoint, const Dump& dump) {
  using T = typename Model::scalar_type;
  const std::string fixture = "models/" + checkpoint + ".grad.safetensors";
  Fixture fx(fixture);
  ParameterList<T> params = parameters_with_gradients(model);
  const training::LossValue loss = model.loss_and_gradients(row_of(fx.indices("input_ids")), row_of(fx.indices("labels")));
  const std::string what = checkpoint + (std::is_same_v<T, float> ? " (float)" : " (double)");
  check_loss_against_fixture(loss.loss, fixture, model_gradient_tolerance<T>(), what);
  check_dump_against_fixture(dump(params), fixture, model_gradient_tolerance<T>(), what);
}

/// Runs a family program's --grad (`command` writes `out`), then compares the file with the fixture: F32
/// throughout, the loss and every gradient within 1e-4, and exactly the fixture's tensors. Returns the worst.
inline double check_program_dump(const std::string& command, const std::string& out, const std::string& fixture,
                                 const std::string& what) {
  std::remove(out.c_str());
  REQUIRE_MESSAGE(std::system((command + " > /dev/null").c_str()) == 0, command);
  SafeTensorsReader file(out);
  Fixture fx(fixture);
  const double scale = fixture_gradient_scale(fixture);
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
    bool zero = false;
    worst = std::max(worst, t.name == "loss" ? relative_max_error(ours.data(), expected.data(), 1)
                                             : gradient_error(ours, expected, scale, zero));
  }
  CHECK(file.contains("loss"));
  CHECK(written == fixture_gradient_names(fixture));
  MESSAGE(what << ": " << file.tensors().size() << " tensors written, worst relative error " << worst << " (tolerance 1e-4)");
  CHECK(worst <= 1e-4);
  std::remove(out.c_str());
  return worst;
}

/// `program --model <checkpoint> --ids <the fixture's input_ids> --labels <its labels> --grad FILE`, checked by
/// check_program_dump against tests/fixtures/models/<checkpoint>.grad.safetensors.
inline double check_program_gradients(const std::string& program, const std::string& checkpoint) {
  const std::string fixture = "models/" + checkpoint + ".grad.safetensors";
  Fixture fx(fixture);
  const std::string name = program.substr(program.find_last_of('/') + 1);
  const std::string out = training_scratch_dir() + "/" + name + "-grad-" + checkpoint + ".safetensors";
  const std::string command = program + " --model " + model_dir(checkpoint) + " --ids " +
                              join_indices(fx.indices("input_ids")) + " --labels " + join_indices(fx.indices("labels")) +
                              " --grad " + out;
  return check_program_dump(command, out, fixture, name + " --grad " + checkpoint);
}

/// A causal LM's backward (Model: Llama or GPT2, double) against finite differences of its plain forward, on one
/// batch: two sequences over a vocabulary of at least 13, the second right-padded after 3 tokens (hidden, not
/// scored), one target of the first ignored — 5 counted targets. `Options` is the model's forward options
/// (padding). Every entry of every parameter (check_finite_differences; `invariant` as there).
template <class Model, class Options>
void check_causal_lm_finite_differences(Model& model, const std::string& what,
                                        const std::function<bool(const std::string&)>& invariant = {}) {
  TokenIds ids(2, 5), labels(2, 5);
  ids << 1, 7, 3, 12, 5, 2, 9, 4, 0, 0;
  labels = ids;
  labels(0, 3) = training::kIgnoreIndex;
  labels(1, 3) = labels(1, 4) = training::kIgnoreIndex;
  const KeyPadding padding = KeyPadding::from_lengths({5, 3});
  ParameterList<double> params = parameters_with_gradients(model);
  const training::LossValue value = model.loss_and_gradients(ids, labels, &padding);
  CHECK(value.counted == 5);  // 4 targets of sequence 0 minus the ignored one, 2 of sequence 1
  // The loss through the plain (inference) forward: an independent path to the same number.
  const std::function<double()> loss = [&] {
    Matrix<double> logits;
    Options options;
    options.padding = &padding;
    model.forward(ids, logits, options);
    return training::causal_lm_loss<double>(logits, labels).loss;
  };
  CHECK(std::abs(loss() - value.loss) <= 1e-14);
  check_finite_differences(params, loss, what, invariant);
}

}  // namespace eigenformer::testing
