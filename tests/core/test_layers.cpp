// Layers: activations, LayerNorm, RMSNorm, gated feed-forward networks, sinusoidal positions, embeddings
// and linear maps — against PyTorch.
#include <doctest/doctest.h>

#include "eigenformer/eigenformer.hpp"
#include "support/configs.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

TEST_CASE_TEMPLATE("activations match torch.nn.functional", T, float, double) {
  Fixture fx("core/misc.safetensors");
  const Matrix<T> x = fx.matrix<T>("activations.input.x");
  for (auto [act, name] : {std::pair{Activation::ReLU, "relu"}, std::pair{Activation::GeluErf, "gelu"},
                           std::pair{Activation::GeluTanh, "gelu_tanh"}, std::pair{Activation::SiLU, "silu"}}) {
    Matrix<T> y = x;
    apply_activation<T>(act, y);
    check_parity<T>(y, fx.matrix<double>(std::string("activations.expected.") + name), name);
  }
  CHECK(activation_from_name("gelu_new") == Activation::GeluTanh);
  CHECK(activation_from_name("gelu") == Activation::GeluErf);
  CHECK(activation_from_name("swish") == Activation::SiLU);
  CHECK_FALSE(activation_from_name("tanh").has_value());
}

TEST_CASE_TEMPLATE("LayerNorm and RMSNorm match PyTorch", T, float, double) {
  Fixture fx("core/misc.safetensors");
  for (const char* name : {"layer_norm", "layer_norm_bert_eps"}) {
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    Norm<T> norm(cfg.at("width").as_int(), norm_config(NormKind::LayerNorm, cfg.at("eps").as_number()).with_bias());
    fx.load(norm, name);
    const Tensor3<T> x = fx.tensor3<T>(std::string(name) + ".input.x");
    Matrix<T> y = norm(as_matrix(x));
    check_parity<T>(y, fx.tensor3<double>(std::string(name) + ".expected.y"), name);
  }
  Fixture llama("core/llama.safetensors");
  const json::Value cfg = llama.config("rms_norm");
  Norm<T> rms(cfg.at("width").as_int(), norm_config(NormKind::RMSNorm, cfg.at("eps").as_number()));
  llama.load(rms, "rms_norm");
  const Tensor3<T> x = llama.tensor3<T>("rms_norm.input.x");
  Matrix<T> y = rms(as_matrix(x));
  check_parity<T>(y, llama.tensor3<double>("rms_norm.expected.y"), "rms_norm");

  // In place works too (the output may be the input).
  Matrix<T> inplace = as_matrix(x);
  rms.forward(inplace, Eigen::Ref<Matrix<T>>(inplace));
  check_parity<T>(inplace, y, "rms_norm in place");
}

TEST_CASE_TEMPLATE("SwiGLU and GeGLU feed-forward networks match the reference", T, float, double) {
  Fixture fx("core/llama.safetensors");
  for (const auto& [name_binding, act] : {std::pair{"swiglu", Activation::SiLU}, std::pair{"geglu", Activation::GeluTanh}}) {
    const char* const name = name_binding;  // CAPTURE takes it in a lambda: C++17 cannot capture a structured binding
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    FeedForward<T> ffn(cfg.at("width").as_int(), ffn_config(cfg.at("hidden").as_int(), act).gated_linear_unit());
    fx.load(ffn, name);
    Tensor3<T> y;
    ffn.forward(fx.tensor3<T>(std::string(name) + ".input.x"), y);
    check_parity<T>(y, fx.tensor3<double>(std::string(name) + ".expected.y"), name);
  }
}

TEST_CASE_TEMPLATE("sinusoidal positions match the Annotated Transformer's table", T, float, double) {
  Fixture fx("core/misc.safetensors");
  const Matrix<T> table = sinusoidal_positions<T>(20, 16);
  check_parity<T>(table, fx.matrix<double>("sinusoidal.expected.table"), "sinusoidal");
  // Rows first..: the same table, shifted.
  const Matrix<T> shifted = sinusoidal_positions<T>(5, 16, 15);
  CHECK((shifted - table.bottomRows(5)).cwiseAbs().maxCoeff() <= T(1e-6));
  Tensor3<T> x(2, 20, 16);
  x.setZero();
  add_sinusoidal_positions(x);
  CHECK((as_matrix(x).bottomRows(20) - table).cwiseAbs().maxCoeff() == T(0));
  CHECK_THROWS_AS(sinusoidal_positions<T>(4, 7), ValueError);
}

TEST_CASE("Embedding looks up rows and names a bad id with its place") {
  Embedding<float> emb(5, 3);
  for (Index i = 0; i < 5; ++i) emb.weight.row(i).setConstant(static_cast<float>(i));
  TokenIds ids(2, 3);
  ids << 0, 4, 2, 1, 1, 3;
  const Tensor3<float> x = emb(ids);
  CHECK(x(0, 1, 2) == 4.0f);
  CHECK(x(1, 2, 0) == 3.0f);
  ids(1, 2) = 5;
  CHECK_THROWS_WITH_AS(emb(ids), "[Embedding] token id 5 at batch 1, position 2 is outside the table of 5 entries",
                       ValueError);
  ids(1, 2) = -1;
  CHECK_THROWS_AS(emb(ids), ValueError);

  Embedding<float> pos(4, 3);
  pos.weight.setRandom();
  Tensor3<float> y(1, 2, 3);
  y.setZero();
  pos.add_positions(y, 2);
  CHECK(as_matrix(y).row(1) == pos.weight.row(3));
  CHECK_THROWS_WITH_AS(pos.add_positions(y, 3), doctest::Contains("positions 3..4 exceed the table of 4"), ValueError);
}

TEST_CASE("Linear is y = x Wᵀ + b and checks its shapes") {
  Linear<double> lin(3, 2, true);
  lin.weight << 1, 2, 3, 4, 5, 6;
  lin.bias << 10, 20;
  Matrix<double> x(1, 3);
  x << 1, 0, -1;
  const Matrix<double> y = lin(x);
  CHECK(y(0, 0) == 1 - 3 + 10);
  CHECK(y(0, 1) == 4 - 6 + 20);
  Matrix<double> bad(2, 4);
  CHECK_THROWS_WITH_AS(lin(bad), "[Linear::forward] input [2, 4] has 4 features but the weight [2, 3] expects 3", ShapeError);
  Matrix<double> out(2, 3);
  CHECK_THROWS_WITH_AS(lin.forward(Matrix<double>::Zero(2, 3), Eigen::Ref<Matrix<double>>(out)),
                       "[Linear::forward] output [2, 3] should be [2, 2]", ShapeError);
}
