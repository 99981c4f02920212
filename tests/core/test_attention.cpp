// The attention core and MultiHeadAttention: parity with torch.nn.MultiheadAttention, and the properties
// attention must have whatever the weights.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "eigenformer/eigenformer.hpp"
#include "support/configs.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

template <class T>
MultiHeadAttention<T> mha_from_case(Fixture& fx, const std::string& name) {
  const json::Value cfg = fx.config(name);
  AttentionConfig config;
  config.width = cfg.at("width").as_int();
  config.heads = cfg.at("heads").as_int();
  config.kv_width = cfg.at("kv_width").as_int();
  config.qkv_bias = config.out_bias = cfg.at("bias").as_bool();
  MultiHeadAttention<T> mha(config);
  fx.load(mha, name);
  return mha;
}

}  // namespace

TEST_CASE_TEMPLATE("MultiHeadAttention matches torch.nn.MultiheadAttention", T, float, double) {
  Fixture fx("core/mha.safetensors");
  for (const char* name : {"self", "self_causal", "self_padding", "self_causal_padding", "self_nobias", "cross",
                           "cross_padding", "cross_kdim"}) {
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    MultiHeadAttention<T> mha = mha_from_case<T>(fx, name);
    const std::string in = std::string(name) + ".input.";
    const Tensor3<T> x = fx.tensor3<T>(in + "x");
    Tensor3<T> memory;
    KeyPadding padding;
    ForwardContext<T> options;
    const AttentionMode mode = cfg.at("cross").as_bool() ? AttentionMode::Cross
                                             : (cfg.at("causal").as_bool() ? AttentionMode::Causal : AttentionMode::Self);
    if (cfg.at("cross").as_bool()) {
      memory = fx.tensor3<T>(in + "memory");
      options.memory = &memory;
    }
    if (!cfg.at("lengths").is_null()) {
      padding = KeyPadding::from_lengths(fx.indices(in + "lengths"));
      (mode == AttentionMode::Cross ? options.memory_padding : options.padding) = &padding;
    }
    options.keep_weights = true;
    const Tensor3<T> y = mha(x, mode, options);
    const Tensor4<T>& probs = mha.act.weights;

    check_parity<T>(y, fx.tensor3<double>(std::string(name) + ".expected.y"), std::string(name) + " output");
    check_parity<T>(probs, fx.tensor4<double>(std::string(name) + ".expected.probs"), std::string(name) + " weights");
  }
}

TEST_CASE_TEMPLATE("a causal output at t ignores every token after t", T, float, double) {
  const AttentionConfig config = attention_config(16, 4).with_kv_heads(2).with_biases();
  MultiHeadAttention<T> mha(config);
  randomize_parameters(mha, 1);
  Tensor3<T> x = random_tensor3<T>(2, 7, 16, 2);
  const Tensor3<T> before = mha(x, AttentionMode::Causal);
  // Change the tokens at positions 4, 5, 6 of both sequences.
  for (Index b = 0; b < 2; ++b)
    for (Index t = 4; t < 7; ++t)
      for (Index c = 0; c < 16; ++c) x(b, t, c) += T(3);
  const Tensor3<T> after = mha(x, AttentionMode::Causal);
  for (Index b = 0; b < 2; ++b) {
    for (Index t = 0; t < 7; ++t) {
      T diff = 0;
      for (Index c = 0; c < 16; ++c) diff = std::max(diff, std::abs(after(b, t, c) - before(b, t, c)));
      CAPTURE(t);
      if (t < 4) {
        CHECK(diff == T(0));  // exactly: the changed keys get weight exp(−∞) = 0
      } else {
        CHECK(diff > T(1e-3));
      }
    }
  }
}

TEST_CASE_TEMPLATE("padding keys never change the outputs of real tokens", T, float, double) {
  const AttentionConfig config = attention_config(12, 3).with_biases();
  MultiHeadAttention<T> mha(config);
  randomize_parameters(mha, 3);
  Tensor3<T> x = random_tensor3<T>(2, 6, 12, 4);
  const KeyPadding padding = KeyPadding::from_lengths({6, 3});
  ForwardContext<T> options;
  options.padding = &padding;
  const Tensor3<T> before = mha(x, AttentionMode::Self, options);
  for (Index t = 3; t < 6; ++t)
    for (Index c = 0; c < 12; ++c) x(1, t, c) = T(100) * x(1, t, c) - T(7);  // garbage in the padding
  const Tensor3<T> after = mha(x, AttentionMode::Self, options);
  for (Index t = 0; t < 3; ++t)
    for (Index c = 0; c < 12; ++c) CHECK(after(1, t, c) == before(1, t, c));
  for (Index t = 0; t < 6; ++t)
    for (Index c = 0; c < 12; ++c) CHECK(after(0, t, c) == before(0, t, c));  // the other sequence

  // The same padding as an explicit (B, S) mask, e.g. left padding in the second sequence.
  KeyPadding::Mask mask(2, 6);
  mask << 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1;
  const KeyPadding left = KeyPadding::from_mask(mask);
  options.padding = &left;
  const Tensor3<T> l1 = mha(x, AttentionMode::Self, options);
  for (Index t = 0; t < 3; ++t)
    for (Index c = 0; c < 12; ++c) x(1, t, c) = T(-50);
  const Tensor3<T> l2 = mha(x, AttentionMode::Self, options);
  for (Index t = 3; t < 6; ++t)
    for (Index c = 0; c < 12; ++c) CHECK(l1(1, t, c) == l2(1, t, c));
}

TEST_CASE_TEMPLATE("grouped-query attention equals MHA with the key/value heads repeated", T, float, double) {
  const Index C = 16, H = 4, Hkv = 2, D = 4;
  MultiHeadAttention<T> gqa(attention_config(C, H).with_kv_heads(Hkv).with_biases());
  randomize_parameters(gqa, 5);
  MultiHeadAttention<T> mha(attention_config(C, H).with_kv_heads(H).with_biases());
  mha.q = gqa.q;
  mha.o = gqa.o;
  // Query head h reads key/value head h / (H / Hkv): repeat each kv head's rows H / Hkv times.
  for (Index h = 0; h < H; ++h) {
    const Index g = h / (H / Hkv);
    mha.k.weight.middleRows(h * D, D) = gqa.k.weight.middleRows(g * D, D);
    mha.v.weight.middleRows(h * D, D) = gqa.v.weight.middleRows(g * D, D);
    mha.k.bias.segment(h * D, D) = gqa.k.bias.segment(g * D, D);
    mha.v.bias.segment(h * D, D) = gqa.v.bias.segment(g * D, D);
  }
  const Tensor3<T> x = random_tensor3<T>(2, 5, C, 6);
  const Tensor3<T> a = gqa(x, AttentionMode::Causal), b = mha(x, AttentionMode::Causal);
  check_parity<T>(a, b, "GQA vs repeated-head MHA");

  // Hkv = H given explicitly is the same layer as the default.
  MultiHeadAttention<T> explicit_mha(attention_config(C, H).with_kv_heads(H));
  MultiHeadAttention<T> default_mha(attention_config(C, H));
  randomize_parameters(explicit_mha, 9);
  randomize_parameters(default_mha, 9);
  check_parity<T>(explicit_mha(x, AttentionMode::Causal), default_mha(x, AttentionMode::Causal), "Hkv = H vs default");
}

TEST_CASE_TEMPLATE("incremental decoding with a KV cache equals the full recompute", T, float, double) {
  MultiHeadAttention<T> mha(attention_config(16, 4).with_kv_heads(2).with_biases());
  randomize_parameters(mha, 7);
  RotaryEmbedding<T> rope(rope_config(4, 10000.0));
  const Tensor3<T> x = random_tensor3<T>(2, 6, 16, 8);
  ForwardContext<T> full;
  full.rope = &rope;
  const Tensor3<T> reference = mha(x, AttentionMode::Causal, full);

  // A prompt of 3 positions, then one position at a time.
  DecoderCache<T> cache;
  ForwardContext<T> step = full;
  step.cache = &cache;
  Tensor3<T> prompt = x.slice(std::array<Index, 3>{0, 0, 0}, std::array<Index, 3>{2, 3, 16});
  Tensor3<T> out = mha(prompt, AttentionMode::Causal, step);
  for (Index b = 0; b < 2; ++b)
    for (Index t = 0; t < 3; ++t)
      for (Index c = 0; c < 16; ++c) CHECK(std::abs(out(b, t, c) - reference(b, t, c)) <= parity_tolerance<T>());
  for (Index t = 3; t < 6; ++t) {
    Tensor3<T> one = x.slice(std::array<Index, 3>{0, t, 0}, std::array<Index, 3>{2, 1, 16});
    out = mha(one, AttentionMode::Causal, step);
    for (Index b = 0; b < 2; ++b)
      for (Index c = 0; c < 16; ++c) CHECK(std::abs(out(b, 0, c) - reference(b, t, c)) <= parity_tolerance<T>());
  }
  CHECK(cache.self[0].length() == 6);

  // Cross-attention: keys and values come from the memory once; later calls reuse them.
  const Tensor3<T> memory = random_tensor3<T>(2, 4, 16, 9);
  ForwardContext<T> cross;
  cross.memory = &memory;
  const Tensor3<T> cross_reference = mha(x, AttentionMode::Cross, cross);
  DecoderCache<T> cross_cache;
  cross.cache = &cross_cache;
  for (Index t = 0; t < 6; ++t) {
    Tensor3<T> one = x.slice(std::array<Index, 3>{0, t, 0}, std::array<Index, 3>{2, 1, 16});
    out = mha(one, AttentionMode::Cross, cross);
    for (Index b = 0; b < 2; ++b)
      for (Index c = 0; c < 16; ++c) CHECK(std::abs(out(b, 0, c) - cross_reference(b, t, c)) <= parity_tolerance<T>());
    CHECK(cross_cache.cross[0].length() == 4);  // computed once, never appended to
  }
  // Once filled, the cache alone is enough: the memory is not read again.
  cross.memory = nullptr;
  Tensor3<T> last = x.slice(std::array<Index, 3>{0, 5, 0}, std::array<Index, 3>{2, 1, 16});
  out = mha(last, AttentionMode::Cross, cross);
  for (Index c = 0; c < 16; ++c) CHECK(std::abs(out(1, 0, c) - cross_reference(1, 5, c)) <= parity_tolerance<T>());
}

TEST_CASE_TEMPLATE("a fully masked row reads nothing: zeros, never NaN", T, float, double) {
  // Core-level: queries whose every key is hidden.
  Matrix<T> q = Matrix<T>::Random(3, 4), k = Matrix<T>::Random(3, 4), v = Matrix<T>::Random(3, 4);
  Matrix<T> context(3, 4);
  AttentionScratch<T> scratch;
  const HeadsView<const T> qv = HeadsView<const T>::of(q, 1, 1), kv = HeadsView<const T>::of(k, 1, 1),
                           vv = HeadsView<const T>::of(v, 1, 1);
  const HeadsView<T> cv = HeadsView<T>::of(context, 1, 1);
  const KeyPadding none = KeyPadding::from_lengths({0});
  AttentionMask<T> mask;
  mask.padding = &none;
  Tensor4<T> probs;
  AttentionRecord<T> record;
  record.weights = &probs;
  scaled_dot_product_attention<T>(qv, kv, vv, cv, mask, T(0.5), scratch, record);
  CHECK(context.isZero(0));
  for (Index i = 0; i < probs.size(); ++i) CHECK(probs.data()[i] == T(0));

  // A −∞ bias hides keys too: only key 1 remains for every query.
  Tensor4<T> bias(1, 1, 3, 3);
  bias.setConstant(-std::numeric_limits<T>::infinity());
  for (Index t = 0; t < 3; ++t) bias(0, 0, t, 1) = T(0);
  AttentionMask<T> biased;
  biased.bias = &bias;
  scaled_dot_product_attention<T>(qv, kv, vv, cv, biased, T(0.5), scratch, record);
  for (Index t = 0; t < 3; ++t) CHECK((context.row(t) - v.row(1)).norm() <= parity_tolerance<T>());
}

TEST_CASE_TEMPLATE("kept scores and weights are the core's own, for every (batch, head)", T, float, double) {
  MultiHeadAttention<T> mha(attention_config(12, 3).with_kv_heads(1));
  randomize_parameters(mha, 11);
  const Tensor3<T> x = random_tensor3<T>(2, 5, 12, 12);
  ForwardContext<T> keep;
  keep.keep_scores = true;
  keep.keep_weights = true;
  const Tensor3<T> y = mha(x, AttentionMode::Causal, keep);
  REQUIRE(mha.act.scores.dimension(0) == 2);
  REQUIRE(mha.act.scores.dimension(1) == 3);
  REQUIRE(mha.act.weights.dimension(2) == 5);
  REQUIRE(mha.act.weights.dimension(3) == 5);
  const Index D = mha.head_dim();
  for (Index b = 0; b < 2; ++b) {
    for (Index h = 0; h < 3; ++h) {
      const Matrix<T> scores = as_matrix(mha.act.scores, b, h), weights = as_matrix(mha.act.weights, b, h);
      // scores = Q Kᵀ · scale, −∞ after the query (one key/value head shared by the three query heads)
      const Matrix<T> Q = mha.act.q.block(b * 5, h * D, 5, D), K = mha.act.k.block(b * 5, 0, 5, D);
      const Matrix<T> expected = (Q * K.transpose()) * mha.scale();
      for (Index t = 0; t < 5; ++t) {
        for (Index s = 0; s < 5; ++s) {
          if (s > t) {
            CHECK(scores(t, s) == -std::numeric_limits<T>::infinity());
          } else {
            CHECK(std::abs(scores(t, s) - expected(t, s)) <= parity_tolerance<T>());
          }
        }
      }
      Matrix<T> softmax;
      masked_softmax_rows(scores, softmax);
      CHECK((softmax - weights).cwiseAbs().maxCoeff() <= parity_tolerance<T>());  // the softmax of the kept scores
      // context = weights V, column block h of act.context
      const Matrix<T> V = mha.act.v.block(b * 5, 0, 5, D);
      const Matrix<T> context = mha.act.context.block(b * 5, h * D, 5, D);
      CHECK((context - weights * V).cwiseAbs().maxCoeff() <= parity_tolerance<T>());
    }
  }
  // Without the flags nothing is kept: the layer's (B, H, T, S) tensors are not filled.
  MultiHeadAttention<T> plain(attention_config(12, 3).with_kv_heads(1));
  plain(x, AttentionMode::Causal);
  CHECK(plain.act.scores.size() == 0);
  CHECK(plain.act.weights.size() == 0);
  CHECK(y.dimension(1) == 5);
}

TEST_CASE("softmax weights are a distribution even for huge scores") {
  Matrix<float> scores(2, 3);
  scores << 1e30f, 1e30f, -1e30f, 88.0f, 89.0f, 90.0f;  // exp(90) overflows float without the max shift
  Matrix<float> weights;
  masked_softmax_rows(scores, weights);
  CHECK(weights(0, 0) == doctest::Approx(0.5));
  CHECK(weights(0, 2) == 0.0f);
  CHECK(weights.row(1).sum() == doctest::Approx(1.0));
  CHECK(std::isfinite(weights(1, 2)));
}

TEST_CASE_TEMPLATE("a hidden key's weight is exactly zero, not exp's tiny clamp", T, float, double) {
  const T hidden = -std::numeric_limits<T>::infinity();
  Matrix<T> scores(2, 4);
  scores << T(2), hidden, T(-1), hidden,  //
      hidden, T(0.5), hidden, T(3);
  Matrix<T> weights;
  masked_softmax_rows(scores, weights);
  CHECK(weights(0, 1) == T(0));  // Eigen's vectorised exp(−∞) alone gives ~1e-40 in float
  CHECK(weights(0, 3) == T(0));
  CHECK(weights(1, 0) == T(0));
  CHECK(weights(1, 2) == T(0));
  CHECK(weights.row(0).sum() == doctest::Approx(1.0));
}

TEST_CASE("attention shape errors name the function and both shapes") {
  MultiHeadAttention<float> mha(attention_config(16, 4));
  Tensor3<float> x(2, 5, 12);
  x.setZero();
  CHECK_THROWS_WITH_AS(mha(x), doctest::Contains("input [2, 5, 12] has width 12 but the layer expects 16"), ShapeError);

  Tensor3<float> good(2, 5, 16);
  good.setZero();
  const KeyPadding wrong_batch = KeyPadding::from_lengths({5, 5, 5});
  ForwardContext<float> options;
  options.padding = &wrong_batch;
  CHECK_THROWS_WITH_AS(mha(good, AttentionMode::Self, options), doctest::Contains("key padding describes 3"), ShapeError);

  KeyPadding::Mask m(2, 9);
  m.setOnes();
  const KeyPadding wrong_keys = KeyPadding::from_mask(m);
  options.padding = &wrong_keys;
  CHECK_THROWS_WITH_AS(mha(good, AttentionMode::Self, options), doctest::Contains("keys have 5 positions but the key mask has 9"), ShapeError);

  Tensor4<float> bias(1, 3, 5, 5);
  bias.setZero();
  ForwardContext<float> with_bias;
  with_bias.bias = &bias;
  CHECK_THROWS_WITH_AS(mha(good, AttentionMode::Self, with_bias), doctest::Contains("bias [1, 3, 5, 5] does not broadcast"), ShapeError);

  ForwardContext<float> cross;
  CHECK_THROWS_AS(mha(good, AttentionMode::Cross, cross), ValueError);
  Tensor3<float> memory(3, 4, 16);
  memory.setZero();
  cross.memory = &memory;
  CHECK_THROWS_WITH_AS(mha(good, AttentionMode::Cross, cross), doctest::Contains("memory [3, 4, 16] does not fit queries [2, 5, 16]"), ShapeError);

  CHECK_THROWS_WITH_AS(MultiHeadAttention<float>(attention_config(16, 4).with_kv_heads(3)),
                       doctest::Contains("cannot be grouped over 3"), ValueError);
  CHECK_THROWS_WITH_AS(MultiHeadAttention<float>(attention_config(18, 4)),
                       doctest::Contains("not divisible by 4 heads"), ValueError);
}
