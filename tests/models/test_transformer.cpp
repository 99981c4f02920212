// The original Transformer (examples/transformer/transformer.hpp) against torch.nn.TransformerEncoder/Decoder with
// the paper's embedding (shared, ×√C, sinusoidal positions) and tied output layer.
#include <doctest/doctest.h>

#include "model_fixture.hpp"
#include "transformer/transformer.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

TEST_CASE_TEMPLATE("The 2017 Transformer matches torch.nn's post-norm encoder-decoder", T, float, double) {
  Fixture fx("models/transformer.safetensors");
  const json::Value cfg = fx.config("base");
  TransformerConfig config;
  config.vocab = cfg.at("vocab").as_int();
  config.width = cfg.at("width").as_int();
  config.heads = cfg.at("heads").as_int();
  config.ffn = cfg.at("ffn").as_int();
  config.layers = cfg.at("layers").as_int();
  config.eps = cfg.at("eps").as_number();
  Transformer<T> model(config);
  fx.load(model, "base");

  const auto ids = [&](const std::string& name) {
    const Matrix<double> m = fx.matrix<double>(name);
    return TokenIds(m.cast<TokenId>());
  };
  Matrix<T> logits;
  model.forward(ids("base.input.source"), ids("base.input.target"), logits);
  check_parity<T>(model.memory, fx.tensor3<double>("base.expected.memory"), "memory");
  const Tensor3<double> expected = fx.tensor3<double>("base.expected.logits");
  check_parity<T>(logits, expected, "logits");
}

TEST_CASE("The paper's base model has ~63M parameters") {
  // §6.1, Table 3: "base" has 65 × 10⁶ parameters with separate source/target vocabularies' bookkeeping;
  // with one shared 37000-token table: 37000·512 + 6·(4·512² + 2·512·2048 + ...) ≈ 63.1M.
  TransformerConfig config;
  const std::int64_t C = config.width, F = config.ffn, N = config.layers, V = config.vocab;
  const std::int64_t attention = 4 * (C * C + C), ffn = 2 * C * F + F + C, norm = 2 * C;
  const std::int64_t expected = V * C + N * (attention + ffn + 2 * norm) + N * (2 * attention + ffn + 3 * norm);
  Transformer<float> model(config);
  CHECK(count_parameters(model) == expected);
  CHECK(expected > 60'000'000);
  CHECK(expected < 66'000'000);
}
