// The layers' backward passes: finite differences in double, and parity with PyTorch autograd
// (tests/fixtures/training/layer_grads.safetensors, written by tools/training/make_layer_grad_fixtures.py).
//
// Every check uses the scalar loss L = Σ dy ⊙ y for a fixed random upstream gradient dy, so ∂L/∂y = dy and
// backward(dy) must return ∂L/∂ each input and parameter.
//   finite differences: central, (L(p + h) − L(p − h)) / 2h with h = 1e-6·max(1, |p|), for every entry of
//     every input and parameter; relative error = max |numeric − analytic| / max |analytic| ≤ 1e-6;
//   parity: the same relative error against autograd's float64 gradients, ≤ 1e-5 computing in float and
//     ≤ 1e-10 in double (tests/support/fixture.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "eigenformer/eigenformer.hpp"
#include "support/fixture.hpp"
#include "training/gradient_check.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace layer_gradients_test {

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

/// Max |numeric − analytic| / max |analytic| over the n entries at `values`, where numeric is the central
/// difference of `loss` and analytic[i] the backward pass's ∂loss/∂values[i]. `skip` (optional) excludes
/// entries whose gradient is zero by declaration rather than by calculus (an embedding's padding row).
double finite_difference_error(double* values, const double* analytic, Index n, const std::function<double()>& loss,
                               const std::function<bool(Index)>& skip = {}) {
  double max_diff = 0, max_ref = 0;
  for (Index i = 0; i < n; ++i) {
    if (skip && skip(i)) continue;
    const double saved = values[i];
    const double h = 1e-6 * std::max(1.0, std::abs(saved));
    values[i] = saved + h;
    const double plus = loss();
    values[i] = saved - h;
    const double minus = loss();
    values[i] = saved;
    const double numeric = (plus - minus) / (2 * h);
    max_diff = std::max(max_diff, std::abs(numeric - analytic[i]));
    max_ref = std::max(max_ref, std::abs(analytic[i]));
  }
  return max_diff / std::max(max_ref, 1e-300);
}

/// Checks every parameter of a module that has a gradient against finite differences of `loss`.
template <class Module>
void check_parameters_by_finite_differences(Module& module, const std::function<double()>& loss,
                                            const std::string& what) {
  ParameterList<double> params = parameters_with_gradients(module);  // already allocated: pointers only
  for (ParameterRef<double>& p : params) {
    REQUIRE_MESSAGE(p.grad != nullptr, what << ": " << p.name << " has no gradient buffer");
    const double err = finite_difference_error(p.data, p.grad, p.numel(), loss);
    MESSAGE(what << " d" << p.name << ": finite-difference relative error " << err);
    CHECK(err <= kFiniteDifferenceTolerance);
  }
}

void check_input_by_finite_differences(double* x, const double* dx, Index n, const std::function<double()>& loss,
                                       const std::string& what) {
  const double err = finite_difference_error(x, dx, n, loss);
  MESSAGE(what << " dx: finite-difference relative error " << err);
  CHECK(err <= kFiniteDifferenceTolerance);
}

double dot(const Eigen::Ref<const Matrix<double>>& a, const Eigen::Ref<const Matrix<double>>& b) {
  return (a.array() * b.array()).sum();
}

/// check_parity with the error also printed, for the report.
template <class T, class A, class E>
void report_parity(const A& actual, const E& expected, const std::string& what) {
  REQUIRE(static_cast<std::size_t>(actual.size()) == static_cast<std::size_t>(expected.size()));
  const double err = relative_max_error(actual.data(), expected.data(), static_cast<std::size_t>(actual.size()));
  const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
  MESSAGE(what << " (" << scalar << "): autograd parity relative error " << err);
  check_parity<T>(actual, expected, what);
}

/// Fixture matrix cast to T.
template <class T>
Matrix<T> as(const Matrix<double>& m) {
  return m.cast<T>();
}

Activation activation_named(const std::string& name) {
  const std::optional<Activation> a = activation_from_name(name);
  REQUIRE_MESSAGE(a.has_value(), "unknown activation " << name);
  return *a;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Linear
// ---------------------------------------------------------------------------------------------

TEST_CASE("Linear backward matches finite differences") {
  struct Shape {
    Index rows, in, out;
    bool bias;
  };
  for (const Shape s : {Shape{1, 1, 1, true}, Shape{5, 3, 4, true}, Shape{7, 8, 2, false}, Shape{4, 6, 6, true}}) {
    CAPTURE(s.rows);
    CAPTURE(s.in);
    Linear<double> lin(s.in, s.out, s.bias);
    ParameterList<double> params = parameters_with_gradients(lin);
    randomize_parameters(lin, 11);
    Matrix<double> x = random_matrix(s.rows, s.in, 12);
    const Matrix<double> dy = random_matrix(s.rows, s.out, 13);
    Matrix<double> dx;
    lin.backward(x, dy, dx);
    const std::function<double()> loss = [&] { return dot(lin(x), dy); };
    const std::string what = detail::cat("Linear (", s.rows, ", ", s.in, ") → ", s.out);
    check_input_by_finite_differences(x.data(), dx.data(), x.size(), loss, what);
    check_parameters_by_finite_differences(lin, loss, what);
  }
}

TEST_CASE("Linear backward accumulates parameter gradients, assigns or adds dx, and skips frozen parameters") {
  Linear<double> lin(3, 2, true);
  randomize_parameters(lin, 1);
  const Matrix<double> x = random_matrix(4, 3, 2), dy = random_matrix(4, 2, 3);

  // No gradient buffers allocated: only dx is computed (the parameters are frozen).
  Matrix<double> dx_frozen;
  lin.backward(x, dy, dx_frozen);
  CHECK(lin.weight_grad.size() == 0);
  CHECK(lin.bias_grad.size() == 0);
  CHECK((dx_frozen - dy * lin.weight).cwiseAbs().maxCoeff() == 0.0);

  // Allocated through the parameter list: the list's grad pointers are the layer's buffers.
  ParameterList<double> params = parameters_with_gradients(lin);
  REQUIRE(params.size() == 2);
  CHECK(params[0].grad == lin.weight_grad.data());
  CHECK(params[1].grad == lin.bias_grad.data());
  Matrix<double> dx;
  lin.backward(x, dy, dx);
  const Matrix<double> once = lin.weight_grad;
  lin.backward(x, dy, dx);
  CHECK((lin.weight_grad - 2 * once).cwiseAbs().maxCoeff() <= 1e-15);  // accumulated, not overwritten
  Matrix<double> sum = dx;
  lin.backward(x, dy, Eigen::Ref<Matrix<double>>(sum), GradientWrite::Add);
  CHECK((sum - 2 * dx).cwiseAbs().maxCoeff() <= 1e-15);
  zero_gradients(params);
  CHECK(lin.weight_grad.cwiseAbs().maxCoeff() == 0.0);

  // Bad shapes name themselves.
  Matrix<double> bad_dy(4, 3);
  bad_dy.setZero();
  CHECK_THROWS_WITH_AS(lin.backward(x, bad_dy, dx), doctest::Contains("[Linear::backward]"), ShapeError);
  lin.weight_grad.resize(3, 3);
  CHECK_THROWS_WITH_AS(lin.backward(x, dy, dx),
                       "[Linear::backward] weight gradient buffer [3, 3] does not match the weight [2, 3]", ShapeError);
}

TEST_CASE_TEMPLATE("Linear backward matches PyTorch autograd", T, float, double) {
  Fixture fx("training/layer_grads.safetensors");
  for (const char* name : {"linear", "linear_nobias"}) {
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    Linear<T> lin(cfg.at("in").as_int(), cfg.at("out").as_int(), cfg.at("bias").as_bool());
    fx.load(lin, name);
    ParameterList<T> params = parameters_with_gradients(lin);
    const std::string c = name;
    Matrix<T> dx;
    lin.backward(fx.matrix<T>(c + ".input.x"), fx.matrix<T>(c + ".input.dy"), dx);
    report_parity<T>(dx, fx.matrix<double>(c + ".expected.dx"), c + " dx");
    for (ParameterRef<T>& p : params) {
      const std::vector<double> expected = fx.values<double>(c + ".expected.grad." + p.name);
      report_parity<T>(Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p.grad, p.numel()),
                       Eigen::Map<const Eigen::ArrayXd>(expected.data(), static_cast<Index>(expected.size())),
                       c + " d" + p.name);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Embedding: lookups, learned positions, tied LM head
// ---------------------------------------------------------------------------------------------

TEST_CASE("Embedding backward: finite differences, padding_idx, positions and the tied head") {
  const Index V = 6, C = 3;
  TokenIds ids(2, 4);
  ids << 2, 0, 2, 5, 1, 1, 4, 2;  // 2 three times, 1 twice, 3 never

  SUBCASE("lookup: rows scatter-add; the padding row gets nothing") {
    Embedding<double> emb(V, C);
    ParameterList<double> params = parameters_with_gradients(emb);
    randomize_parameters(emb, 5);
    emb.padding_idx = 1;
    const Matrix<double> dy = random_matrix(8, C, 6);
    emb.backward(ids, dy);
    const std::function<double()> loss = [&] { return dot(as_matrix(emb(ids)), dy); };
    // Calculus says row 1 has a gradient; padding_idx declares it zero. Check the others numerically...
    const double err = finite_difference_error(emb.weight.data(), emb.weight_grad.data(), emb.weight.size(), loss,
                                               [&](Index i) { return i / C == 1; });
    MESSAGE("Embedding lookup dweight: finite-difference relative error " << err);
    CHECK(err <= kFiniteDifferenceTolerance);
    CHECK(emb.weight_grad.row(1).cwiseAbs().maxCoeff() == 0.0);  // ...and the padding row exactly zero,
    CHECK(emb.weight_grad.row(3).cwiseAbs().maxCoeff() == 0.0);  // as is the row never looked up
    CHECK((emb.weight_grad.row(2) - (dy.row(0) + dy.row(2) + dy.row(7))).cwiseAbs().maxCoeff() <= 1e-15);
    emb.padding_idx = 9;
    CHECK_THROWS_WITH_AS(emb.backward(ids, dy), "[Embedding::backward] padding_idx 9 is outside the table of 6 entries",
                         ValueError);
    CHECK_THROWS_AS(emb.backward(ids, random_matrix(7, C, 1)), ShapeError);
  }

  SUBCASE("no gradient buffer: nothing to do") {
    Embedding<double> emb(V, C);
    emb.backward(ids, random_matrix(8, C, 6));
    CHECK(emb.weight_grad.size() == 0);
  }

  SUBCASE("learned positions") {
    Embedding<double> pos(9, C);
    ParameterList<double> params = parameters_with_gradients(pos);
    randomize_parameters(pos, 7);
    const Index B = 2, T = 4, first = 3;
    Tensor3<double> x = random_tensor(B, T, C, 8);
    const Matrix<double> dy = random_matrix(B * T, C, 9);
    pos.add_positions_backward(dy, B, first);
    const std::function<double()> loss = [&] {
      Tensor3<double> y = x;
      pos.add_positions(y, first);
      return dot(as_matrix(y), dy);
    };
    check_parameters_by_finite_differences(pos, loss, "learned positions");
    // For x, the map is a shift: dx = dy, which the finite differences confirm.
    check_input_by_finite_differences(x.data(), dy.data(), x.size(), loss, "learned positions");
    CHECK_THROWS_WITH_AS(pos.add_positions_backward(dy, B, 6),
                         doctest::Contains("positions 6..9 exceed the table of 9 positions"), ValueError);
  }

  SUBCASE("tied weights: the lookup and the LM head add into one buffer") {
    Embedding<double> emb(V, C);
    ParameterList<double> params = parameters_with_gradients(emb);
    randomize_parameters(emb, 10);
    Matrix<double> h = random_matrix(5, C, 11);
    const Matrix<double> dx_lookup = random_matrix(8, C, 12), dlogits = random_matrix(5, V, 13);
    emb.backward(ids, dx_lookup);
    Matrix<double> dh(5, C);
    emb.backward_as_head(h, dlogits, dh);
    const std::function<double()> loss = [&] {
      const Matrix<double> logits = h * emb.weight.transpose();
      return dot(as_matrix(emb(ids)), dx_lookup) + dot(logits, dlogits);
    };
    check_parameters_by_finite_differences(emb, loss, "tied embedding");
    check_input_by_finite_differences(h.data(), dh.data(), h.size(), loss, "tied head");
  }
}

TEST_CASE_TEMPLATE("Embedding backward matches PyTorch autograd (padding_idx, tied, positions)", T, float, double) {
  Fixture fx("training/layer_grads.safetensors");
  std::vector<Index> flat = fx.indices("embedding.input.ids");
  TokenIds ids(2, 4);
  for (Index i = 0; i < ids.size(); ++i) ids.data()[i] = static_cast<TokenId>(flat[static_cast<std::size_t>(i)]);
  {
    const json::Value cfg = fx.config("embedding");
    Embedding<T> emb(cfg.at("count").as_int(), cfg.at("width").as_int());
    fx.load(emb, "embedding");
    emb.padding_idx = cfg.at("padding_idx").as_int();
    ParameterList<T> params = parameters_with_gradients(emb);
    emb.backward(ids, as_matrix(fx.tensor3<T>("embedding.input.dy")));
    report_parity<T>(emb.weight_grad, fx.matrix<double>("embedding.expected.grad.weight"), "embedding dweight");
  }
  {
    const json::Value cfg = fx.config("tied");
    Embedding<T> emb(cfg.at("count").as_int(), cfg.at("width").as_int());
    fx.load(emb, "tied");
    emb.padding_idx = cfg.at("padding_idx").as_int();
    ParameterList<T> params = parameters_with_gradients(emb);
    emb.backward(ids, as_matrix(fx.tensor3<T>("tied.input.dx_lookup")));
    const Matrix<T> h = fx.matrix<T>("tied.input.h");
    Matrix<T> dh(h.rows(), h.cols());
    emb.backward_as_head(h, fx.matrix<T>("tied.input.dlogits"), dh);
    report_parity<T>(emb.weight_grad, fx.matrix<double>("tied.expected.grad.weight"), "tied dweight");
    report_parity<T>(dh, fx.matrix<double>("tied.expected.dh"), "tied dh");
  }
  {
    const json::Value cfg = fx.config("positions");
    Embedding<T> pos(cfg.at("count").as_int(), cfg.at("width").as_int());
    fx.load(pos, "positions");
    ParameterList<T> params = parameters_with_gradients(pos);
    const Tensor3<T> dy = fx.tensor3<T>("positions.input.dy");
    pos.add_positions_backward(as_matrix(dy), dy.dimension(0), cfg.at("first").as_int());
    report_parity<T>(pos.weight_grad, fx.matrix<double>("positions.expected.grad.weight"), "positions dweight");
    report_parity<T>(dy, fx.tensor3<double>("positions.expected.dx"), "positions dx (= dy)");
  }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm and RMSNorm
// ---------------------------------------------------------------------------------------------

TEST_CASE("LayerNorm and RMSNorm backward match finite differences") {
  struct Case {
    NormKind kind;
    double eps;
    bool bias;
    Index rows, width;
  };
  // (LayerNorm of width 2 is left out: there x̂ = ±d/√(d² + eps) ≈ ±1 whatever x is, so dx is of order eps
  //  and the relative error measures only the finite differences' rounding.)
  for (const Case c : {Case{NormKind::LayerNorm, 1e-5, true, 4, 6}, Case{NormKind::LayerNorm, 1e-12, false, 3, 5},
                       Case{NormKind::LayerNorm, 1e-5, true, 1, 3}, Case{NormKind::RMSNorm, 1e-6, false, 4, 6},
                       Case{NormKind::RMSNorm, 1e-5, false, 2, 1}, Case{NormKind::RMSNorm, 1e-6, false, 5, 9}}) {
    NormConfig config;
    config.kind = c.kind;
    config.eps = c.eps;
    config.bias = c.bias;
    Norm<double> norm(c.width, config);
    ParameterList<double> params = parameters_with_gradients(norm);
    randomize_parameters(norm, 21, 1.5);
    Matrix<double> x = random_matrix(c.rows, c.width, 22, 2.0);
    const Matrix<double> dy = random_matrix(c.rows, c.width, 23);
    Matrix<double> y;
    norm.forward(x, y);
    Matrix<double> dx;
    norm.backward(dy, dx);
    const std::function<double()> loss = [&] { return dot(norm(x), dy); };
    const std::string what = detail::cat(to_string(c.kind), " (", c.rows, ", ", c.width, ") eps ", c.eps);
    check_input_by_finite_differences(x.data(), dx.data(), x.size(), loss, what);
    check_parameters_by_finite_differences(norm, loss, what);
  }
}

TEST_CASE("Norm backward reads only what the forward kept: in-place forward, in-place backward") {
  NormConfig config;
  config.kind = NormKind::LayerNorm;
  Norm<double> norm(5, config);
  randomize_parameters(norm, 3, 1.0);
  const Matrix<double> x = random_matrix(3, 5, 4, 2.0), dy = random_matrix(3, 5, 5);
  Matrix<double> y;
  norm.forward(x, y);
  Matrix<double> dx;
  norm.backward(dy, dx);
  Matrix<double> buffer = x;  // forward in place: x is gone afterwards
  norm.forward(buffer, Eigen::Ref<Matrix<double>>(buffer));
  buffer = dy;                // backward in place: dy becomes dx
  norm.backward(buffer, Eigen::Ref<Matrix<double>>(buffer));
  CHECK((buffer - dx).cwiseAbs().maxCoeff() <= 1e-15);
  Matrix<double> sum = dx;  // GradientWrite::Add: a residual stream's gradient plus the norm's
  norm.backward(dy, Eigen::Ref<Matrix<double>>(sum), GradientWrite::Add);
  CHECK((sum - 2 * dx).cwiseAbs().maxCoeff() <= 1e-15);
  CHECK(norm.weight_grad.size() == 0);  // not collected with gradients: γ, β frozen
  CHECK_THROWS_WITH_AS(norm.backward(random_matrix(2, 5, 1), dx),
                       "[LayerNorm::backward] gradients [2, 5] → [2, 5] do not match the last forward's [3, 5]",
                       ShapeError);
}

TEST_CASE_TEMPLATE("LayerNorm and RMSNorm backward match PyTorch autograd", T, float, double) {
  Fixture fx("training/layer_grads.safetensors");
  for (const char* name : {"layer_norm", "layer_norm_nobias", "rms_norm"}) {
    CAPTURE(name);
    const std::string c = name;
    const json::Value cfg = fx.config(name);
    NormConfig config;
    config.kind = c == "rms_norm" ? NormKind::RMSNorm : NormKind::LayerNorm;
    config.eps = cfg.at("eps").as_number();
    config.bias = cfg.find("bias") != nullptr && cfg.at("bias").as_bool();
    Norm<T> norm(cfg.at("width").as_int(), config);
    fx.load(norm, name);
    ParameterList<T> params = parameters_with_gradients(norm);
    Matrix<T> y, dx;
    norm.forward(fx.matrix<T>(c + ".input.x"), y);
    norm.backward(fx.matrix<T>(c + ".input.dy"), dx);
    report_parity<T>(dx, fx.matrix<double>(c + ".expected.dx"), c + " dx");
    report_parity<T>(norm.weight_grad, fx.matrix<double>(c + ".expected.grad.weight"), c + " dweight");
    if (config.bias && config.kind == NormKind::LayerNorm) {
      report_parity<T>(norm.bias_grad, fx.matrix<double>(c + ".expected.grad.bias"), c + " dbias");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------------------------

TEST_CASE("activation backward matches finite differences") {
  for (Activation act : {Activation::ReLU, Activation::GeluErf, Activation::GeluTanh, Activation::SiLU}) {
    Matrix<double> x = random_matrix(6, 7, 31, 4.0);
    for (Index i = 0; i < x.size(); ++i) {  // keep ReLU's kink more than a step away
      if (std::abs(x.data()[i]) < 1e-3) x.data()[i] = 0.5;
    }
    const Matrix<double> dy = random_matrix(6, 7, 32);
    Matrix<double> dx(6, 7);
    activation_backward<double>(act, x, dy, dx);
    const std::function<double()> loss = [&] {
      Matrix<double> y = x;
      apply_activation<double>(act, y);
      return dot(y, dy);
    };
    check_input_by_finite_differences(x.data(), dx.data(), x.size(), loss, to_string(act));
  }
  Matrix<double> dx(2, 2);
  CHECK_THROWS_AS(activation_backward<double>(Activation::ReLU, Matrix<double>::Zero(2, 3), Matrix<double>::Zero(2, 3), dx),
                  ShapeError);
}

TEST_CASE_TEMPLATE("activation backward matches PyTorch autograd", T, float, double) {
  Fixture fx("training/layer_grads.safetensors");
  const Matrix<T> x = fx.matrix<T>("activations.input.x");
  const Matrix<T> dy = fx.matrix<T>("activations.input.dy");
  for (const char* name : {"relu", "gelu", "gelu_tanh", "silu"}) {
    Matrix<T> dx(x.rows(), x.cols());
    activation_backward<T>(activation_named(name), x, dy, dx);
    report_parity<T>(dx, fx.matrix<double>(std::string("activations.expected.dx.") + name), name);
    Matrix<T> in_place = dy;  // dx may be dy
    activation_backward<T>(activation_named(name), x, in_place, in_place);
    CHECK((in_place - dx).cwiseAbs().maxCoeff() == T(0));
  }
}

// ---------------------------------------------------------------------------------------------
// Feed-forward networks
// ---------------------------------------------------------------------------------------------

TEST_CASE("plain and gated FFN backward match finite differences") {
  struct Case {
    Activation act;
    bool gated, bias;
    Index rows, width, hidden;
  };
  for (const Case c : {Case{Activation::ReLU, false, true, 4, 3, 5}, Case{Activation::GeluErf, false, true, 3, 4, 6},
                       Case{Activation::SiLU, true, false, 5, 4, 6}, Case{Activation::GeluTanh, true, false, 2, 3, 4},
                       Case{Activation::GeluErf, true, true, 3, 2, 3}}) {
    FeedForwardConfig config;
    config.hidden = c.hidden;
    config.activation = c.act;
    config.gated = c.gated;
    config.bias = c.bias;
    FeedForward<double> ffn(c.width, config);
    ParameterList<double> params = parameters_with_gradients(ffn);
    randomize_parameters(ffn, 41, 0.8);
    Matrix<double> x = random_matrix(c.rows, c.width, 42, 1.5);
    const Matrix<double> dy = random_matrix(c.rows, c.width, 43);
    Matrix<double> y(c.rows, c.width), dx(c.rows, c.width);
    ffn.forward(x, y);
    ffn.backward(x, dy, dx);
    const std::function<double()> loss = [&] {
      Matrix<double> out(c.rows, c.width);
      ffn.forward(x, out);
      return dot(out, dy);
    };
    const std::string what = detail::cat(c.gated ? "gated " : "plain ", to_string(c.act), " FFN");
    check_input_by_finite_differences(x.data(), dx.data(), x.size(), loss, what);
    check_parameters_by_finite_differences(ffn, loss, what);

    // The (B, T, C) form gives the same dx; parameter gradients accumulate across the two calls.
    const Matrix<double> up_grad = ffn.up.weight_grad;
    Tensor3<double> x3 = to_tensor3<double>(x, 1, c.rows), y3, dx3;
    ffn.forward(x3, y3);
    ffn.backward(x3, to_tensor3<double>(dy, 1, c.rows), dx3);
    CHECK((as_matrix(dx3) - dx).cwiseAbs().maxCoeff() <= 1e-14);
    CHECK((ffn.up.weight_grad - 2 * up_grad).cwiseAbs().maxCoeff() <= 1e-14);
  }
}

TEST_CASE_TEMPLATE("plain and gated FFN backward match PyTorch autograd", T, float, double) {
  Fixture fx("training/layer_grads.safetensors");
  for (const char* name : {"ffn_relu", "ffn_gelu", "swiglu", "geglu"}) {
    CAPTURE(name);
    const std::string c = name;
    const json::Value cfg = fx.config(name);
    FeedForwardConfig config;
    config.hidden = cfg.at("hidden").as_int();
    config.activation = activation_named(cfg.at("activation").as_string());
    config.gated = cfg.at("gated").as_bool();
    config.bias = cfg.at("bias").as_bool();
    FeedForward<T> ffn(cfg.at("width").as_int(), config);
    fx.load(ffn, name);
    ParameterList<T> params = parameters_with_gradients(ffn);
    const Matrix<T> x = fx.matrix<T>(c + ".input.x");
    Matrix<T> y(x.rows(), x.cols()), dx(x.rows(), x.cols());
    ffn.forward(x, y);
    ffn.backward(x, fx.matrix<T>(c + ".input.dy"), dx);
    report_parity<T>(dx, fx.matrix<double>(c + ".expected.dx"), c + " dx");
    for (ParameterRef<T>& p : params) {
      const std::vector<double> expected = fx.values<double>(c + ".expected.grad." + p.name);
      report_parity<T>(Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p.grad, p.numel()),
                       Eigen::Map<const Eigen::ArrayXd>(expected.data(), static_cast<Index>(expected.size())),
                       c + " d" + p.name);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Positions: sinusoidal, RoPE, T5's relative bias
// ---------------------------------------------------------------------------------------------

TEST_CASE("sinusoidal positions pass the gradient through unchanged") {
  Tensor3<double> x = random_tensor(2, 5, 6, 51);
  const Matrix<double> dy = random_matrix(10, 6, 52);
  const std::function<double()> loss = [&] {
    Tensor3<double> y = x;
    add_sinusoidal_positions(y, 3);
    return dot(as_matrix(y), dy);
  };
  check_input_by_finite_differences(x.data(), dy.data(), x.size(), loss, "sinusoidal positions (dx = dy)");
}

TEST_CASE("RoPE backward (both layouts) matches finite differences") {
  for (RopeLayout layout : {RopeLayout::HalfSplit, RopeLayout::Interleaved}) {
    for (Index first : {0, 7}) {
      RopeConfig config;
      config.head_dim = 6;
      config.base = 100.0;  // large angles over a few positions
      config.layout = layout;
      RotaryEmbedding<double> rope(config);
      const Index B = 2, T = 3, H = 2;
      Matrix<double> x = random_matrix(B * T, H * 6, 61);
      const Matrix<double> dy = random_matrix(B * T, H * 6, 62);
      Matrix<double> dx = dy;
      rotate_backward<double>(rope, dx, B, H, first);
      const std::function<double()> loss = [&] {
        Matrix<double> y = x;
        rope.rotate(y, B, H, first);
        return dot(y, dy);
      };
      check_input_by_finite_differences(
          x.data(), dx.data(), x.size(), loss,
          detail::cat("RoPE ", layout == RopeLayout::HalfSplit ? "half-split" : "interleaved", " from position ", first));
      // The backward is the inverse rotation: rotating its output forward gives dy back.
      Matrix<double> back = dx;
      rope.rotate(back, B, H, first);
      CHECK((back - dy).cwiseAbs().maxCoeff() <= 1e-14);
    }
  }
  RopeConfig config;
  config.head_dim = 4;
  RotaryEmbedding<double> rope(config);
  Matrix<double> bad(3, 8);
  CHECK_THROWS_AS(rotate_backward<double>(rope, bad, 2, 2, 0), ShapeError);
}

TEST_CASE_TEMPLATE("RoPE backward (both layouts) matches PyTorch autograd", T, float, double) {
  Fixture fx("training/layer_grads.safetensors");
  for (const char* name : {"rope_half_split", "rope_interleaved"}) {
    CAPTURE(name);
    const std::string c = name;
    const json::Value cfg = fx.config(name);
    RopeConfig config;
    config.head_dim = cfg.at("head_dim").as_int();
    config.base = cfg.at("base").as_number();
    config.layout = c == "rope_half_split" ? RopeLayout::HalfSplit : RopeLayout::Interleaved;
    RotaryEmbedding<T> rope(config);
    const Index B = cfg.at("batch").as_int(), H = cfg.at("heads").as_int(), first = cfg.at("first").as_int();
    Matrix<T> y = fx.matrix<T>(c + ".input.x");
    rope.rotate(y, B, H, first);  // the forward agrees with the reference's layout first
    report_parity<T>(y, fx.matrix<double>(c + ".expected.y"), c + " y");
    Matrix<T> dx = fx.matrix<T>(c + ".input.dy");
    rotate_backward<T>(rope, dx, B, H, first);
    report_parity<T>(dx, fx.matrix<double>(c + ".expected.dx"), c + " dx");
  }
}

TEST_CASE("T5 relative position bias backward matches finite differences") {
  for (bool bidirectional : {true, false}) {
    RelativePositionBiasConfig config;
    config.heads = 2;
    config.num_buckets = 8;
    config.max_distance = 12;
    config.bidirectional = bidirectional;
    RelativePositionBias<double> rpb(config);
    ParameterList<double> params = parameters_with_gradients(rpb);
    randomize_parameters(rpb, 71);
    const Index B = 3, T = 5, S = 9, first = 4;
    Tensor4<double> dbias(B, 2, T, S);
    dbias.setRandom();
    rpb.backward(dbias, first);
    const std::function<double()> loss = [&] {
      const Tensor4<double> bias = rpb.compute(T, S, first);  // (1, H, T, S), broadcast over the batch
      double total = 0;
      for (Index b = 0; b < B; ++b) {
        for (Index h = 0; h < 2; ++h) {
          for (Index i = 0; i < T; ++i) {
            for (Index j = 0; j < S; ++j) total += dbias(b, h, i, j) * bias(0, h, i, j);
          }
        }
      }
      return total;
    };
    check_parameters_by_finite_differences(rpb, loss, bidirectional ? "T5 bias (encoder)" : "T5 bias (decoder)");
  }
  RelativePositionBiasConfig config;
  config.heads = 2;
  RelativePositionBias<double> rpb(config);
  CHECK_THROWS_AS(rpb.backward(Tensor4<double>(1, 3, 2, 2)), ShapeError);
}

TEST_CASE_TEMPLATE("T5 relative position bias backward matches PyTorch autograd", T, float, double) {
  Fixture fx("training/layer_grads.safetensors");
  for (const char* name : {"t5_bias_encoder", "t5_bias_decoder"}) {
    CAPTURE(name);
    const std::string c = name;
    const json::Value cfg = fx.config(name);
    RelativePositionBiasConfig config;
    config.heads = cfg.at("heads").as_int();
    config.num_buckets = cfg.at("num_buckets").as_int();
    config.max_distance = cfg.at("max_distance").as_int();
    config.bidirectional = cfg.at("bidirectional").as_bool();
    RelativePositionBias<T> rpb(config);
    fx.load(rpb, name);
    ParameterList<T> params = parameters_with_gradients(rpb);
    rpb.backward(fx.tensor4<T>(c + ".input.dbias"), cfg.at("first").as_int());
    report_parity<T>(rpb.weight_grad, fx.matrix<double>(c + ".expected.grad.weight"), c + " dweight");
  }
}

}  // namespace layer_gradients_test
