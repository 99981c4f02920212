// The attention core and MultiHeadAttention: parity with torch.nn.MultiheadAttention, and the properties
// attention must have whatever the weights.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "eigenformer/eigenformer.hpp"
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
    Tensor4<T> probs;
    AttentionOptions<T> options;
    options.mode = cfg.at("cross").as_bool() ? AttentionMode::Cross
                                             : (cfg.at("causal").as_bool() ? AttentionMode::Causal : AttentionMode::Self);
    if (cfg.at("cross").as_bool()) {
      memory = fx.tensor3<T>(in + "memory");
      options.memory = &memory;
    }
    if (!cfg.at("lengths").is_null()) {
      padding = KeyPadding::from_lengths(fx.indices(in + "lengths"));
      options.padding = &padding;
    }
    options.probs = &probs;
    const Tensor3<T> y = mha(x, options);

    check_parity<T>(y, fx.tensor3<double>(std::string(name) + ".expected.y"), std::string(name) + " output");
    check_parity<T>(probs, fx.tensor4<double>(std::string(name) + ".expected.probs"), std::string(name) + " weights");
  }
}

TEST_CASE_TEMPLATE("a causal output at t ignores every token after t", T, float, double) {
  AttentionConfig config{16, 4, 2, 0, 0, true, true, std::nullopt};
  MultiHeadAttention<T> mha(config);
  randomize_parameters(mha, 1);
  Tensor3<T> x = random_tensor3<T>(2, 7, 16, 2);
  AttentionOptions<T> options;
  options.mode = AttentionMode::Causal;
  const Tensor3<T> before = mha(x, options);
  // Change the tokens at positions 4, 5, 6 of both sequences.
  for (Index b = 0; b < 2; ++b)
    for (Index t = 4; t < 7; ++t)
      for (Index c = 0; c < 16; ++c) x(b, t, c) += T(3);
  const Tensor3<T> after = mha(x, options);
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
  AttentionConfig config{12, 3, 0, 0, 0, true, true, std::nullopt};
  MultiHeadAttention<T> mha(config);
  randomize_parameters(mha, 3);
  Tensor3<T> x = random_tensor3<T>(2, 6, 12, 4);
  const KeyPadding padding = KeyPadding::from_lengths({6, 3});
  AttentionOptions<T> options;
  options.padding = &padding;
  const Tensor3<T> before = mha(x, options);
  for (Index t = 3; t < 6; ++t)
    for (Index c = 0; c < 12; ++c) x(1, t, c) = T(100) * x(1, t, c) - T(7);  // garbage in the padding
  const Tensor3<T> after = mha(x, options);
  for (Index t = 0; t < 3; ++t)
    for (Index c = 0; c < 12; ++c) CHECK(after(1, t, c) == before(1, t, c));
  for (Index t = 0; t < 6; ++t)
    for (Index c = 0; c < 12; ++c) CHECK(after(0, t, c) == before(0, t, c));  // the other sequence

  // The same padding as an explicit (B, S) mask, e.g. left padding in the second sequence.
  KeyPadding::Mask mask(2, 6);
  mask << 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1;
  const KeyPadding left = KeyPadding::from_mask(mask);
  options.padding = &left;
  const Tensor3<T> l1 = mha(x, options);
  for (Index t = 0; t < 3; ++t)
    for (Index c = 0; c < 12; ++c) x(1, t, c) = T(-50);
  const Tensor3<T> l2 = mha(x, options);
  for (Index t = 3; t < 6; ++t)
    for (Index c = 0; c < 12; ++c) CHECK(l1(1, t, c) == l2(1, t, c));
}

TEST_CASE_TEMPLATE("grouped-query attention equals MHA with the key/value heads repeated", T, float, double) {
  const Index C = 16, H = 4, Hkv = 2, D = 4;
  MultiHeadAttention<T> gqa(AttentionConfig{C, H, Hkv, 0, 0, true, true, std::nullopt});
  randomize_parameters(gqa, 5);
  MultiHeadAttention<T> mha(AttentionConfig{C, H, H, 0, 0, true, true, std::nullopt});
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
  AttentionOptions<T> options;
  options.mode = AttentionMode::Causal;
  const Tensor3<T> a = gqa(x, options), b = mha(x, options);
  check_parity<T>(a, b, "GQA vs repeated-head MHA");

  // Hkv = H given explicitly is the same layer as the default.
  MultiHeadAttention<T> explicit_mha(AttentionConfig{C, H, H, 0, 0, false, false, std::nullopt});
  MultiHeadAttention<T> default_mha(AttentionConfig{C, H, 0, 0, 0, false, false, std::nullopt});
  randomize_parameters(explicit_mha, 9);
  randomize_parameters(default_mha, 9);
  check_parity<T>(explicit_mha(x, options), default_mha(x, options), "Hkv = H vs default");
}

TEST_CASE_TEMPLATE("incremental decoding with a KV cache equals the full recompute", T, float, double) {
  MultiHeadAttention<T> mha(AttentionConfig{16, 4, 2, 0, 0, true, true, std::nullopt});
  randomize_parameters(mha, 7);
  RotaryEmbedding<T> rope(RopeConfig{4, 10000.0, RopeLayout::HalfSplit, {}});
  const Tensor3<T> x = random_tensor3<T>(2, 6, 16, 8);
  AttentionOptions<T> full;
  full.mode = AttentionMode::Causal;
  full.rope = &rope;
  const Tensor3<T> reference = mha(x, full);

  // A prompt of 3 positions, then one position at a time.
  KVCache<T> cache;
  AttentionOptions<T> step = full;
  step.cache = &cache;
  Tensor3<T> prompt = x.slice(std::array<Index, 3>{0, 0, 0}, std::array<Index, 3>{2, 3, 16});
  Tensor3<T> out = mha(prompt, step);
  for (Index b = 0; b < 2; ++b)
    for (Index t = 0; t < 3; ++t)
      for (Index c = 0; c < 16; ++c) CHECK(std::abs(out(b, t, c) - reference(b, t, c)) <= parity_tolerance<T>());
  for (Index t = 3; t < 6; ++t) {
    Tensor3<T> one = x.slice(std::array<Index, 3>{0, t, 0}, std::array<Index, 3>{2, 1, 16});
    out = mha(one, step);
    for (Index b = 0; b < 2; ++b)
      for (Index c = 0; c < 16; ++c) CHECK(std::abs(out(b, 0, c) - reference(b, t, c)) <= parity_tolerance<T>());
  }
  CHECK(cache.length() == 6);

  // Cross-attention: keys and values come from the memory once; later calls reuse them.
  const Tensor3<T> memory = random_tensor3<T>(2, 4, 16, 9);
  AttentionOptions<T> cross;
  cross.mode = AttentionMode::Cross;
  cross.memory = &memory;
  const Tensor3<T> cross_reference = mha(x, cross);
  KVCache<T> cross_cache;
  cross.cache = &cross_cache;
  for (Index t = 0; t < 6; ++t) {
    Tensor3<T> one = x.slice(std::array<Index, 3>{0, t, 0}, std::array<Index, 3>{2, 1, 16});
    out = mha(one, cross);
    for (Index b = 0; b < 2; ++b)
      for (Index c = 0; c < 16; ++c) CHECK(std::abs(out(b, 0, c) - cross_reference(b, t, c)) <= parity_tolerance<T>());
    CHECK(cross_cache.length() == 4);  // computed once, never appended to
  }
  // Once filled, the cache alone is enough: the memory is not read again.
  cross.memory = nullptr;
  Tensor3<T> last = x.slice(std::array<Index, 3>{0, 5, 0}, std::array<Index, 3>{2, 1, 16});
  out = mha(last, cross);
  for (Index c = 0; c < 16; ++c) CHECK(std::abs(out(1, 0, c) - cross_reference(1, 5, c)) <= parity_tolerance<T>());
}

TEST_CASE_TEMPLATE("a fully masked row reads nothing: zeros, never NaN", T, float, double) {
  // Core-level: queries whose every key is hidden.
  Matrix<T> q = Matrix<T>::Random(3, 4), k = Matrix<T>::Random(3, 4), v = Matrix<T>::Random(3, 4);
  Matrix<T> context(3, 4), scratch;
  HeadsView<const T> qv{q.data(), 1, 3, 3, 1, 4}, kv{k.data(), 1, 3, 3, 1, 4}, vv{v.data(), 1, 3, 3, 1, 4};
  HeadsView<T> cv{context.data(), 1, 3, 3, 1, 4};
  const KeyPadding none = KeyPadding::from_lengths({0});
  AttentionMask<T> mask;
  mask.padding = &none;
  Tensor4<T> probs;
  scaled_dot_product_attention<T>(qv, kv, vv, cv, mask, T(0.5), scratch, &probs);
  CHECK(context.isZero(0));
  for (Index i = 0; i < probs.size(); ++i) CHECK(probs.data()[i] == T(0));

  // A −∞ bias hides keys too: only key 1 remains for every query.
  Tensor4<T> bias(1, 1, 3, 3);
  bias.setConstant(-std::numeric_limits<T>::infinity());
  for (Index t = 0; t < 3; ++t) bias(0, 0, t, 1) = T(0);
  AttentionMask<T> biased;
  biased.bias = &bias;
  scaled_dot_product_attention<T>(qv, kv, vv, cv, biased, T(0.5), scratch, &probs);
  for (Index t = 0; t < 3; ++t) CHECK((context.row(t) - v.row(1)).norm() <= parity_tolerance<T>());
}

TEST_CASE("softmax weights are a distribution even for huge scores") {
  Matrix<float> scores(2, 3);
  scores << 1e30f, 1e30f, -1e30f, 88.0f, 89.0f, 90.0f;  // exp(90) overflows float without the max shift
  masked_softmax_rows(scores);
  CHECK(scores(0, 0) == doctest::Approx(0.5));
  CHECK(scores(0, 2) == 0.0f);
  CHECK(scores.row(1).sum() == doctest::Approx(1.0));
  CHECK(std::isfinite(scores(1, 2)));
}

TEST_CASE("attention shape errors name the function and both shapes") {
  MultiHeadAttention<float> mha(AttentionConfig{16, 4, 0, 0, 0, false, false, std::nullopt});
  Tensor3<float> x(2, 5, 12);
  x.setZero();
  CHECK_THROWS_WITH_AS(mha(x), doctest::Contains("input [2, 5, 12] has width 12 but the layer expects 16"), ShapeError);

  Tensor3<float> good(2, 5, 16);
  good.setZero();
  const KeyPadding wrong_batch = KeyPadding::from_lengths({5, 5, 5});
  AttentionOptions<float> options;
  options.padding = &wrong_batch;
  CHECK_THROWS_WITH_AS(mha(good, options), doctest::Contains("key padding describes 3"), ShapeError);

  KeyPadding::Mask m(2, 9);
  m.setOnes();
  const KeyPadding wrong_keys = KeyPadding::from_mask(m);
  options.padding = &wrong_keys;
  CHECK_THROWS_WITH_AS(mha(good, options), doctest::Contains("keys have 5 positions but the key mask has 9"), ShapeError);

  Tensor4<float> bias(1, 3, 5, 5);
  bias.setZero();
  AttentionOptions<float> with_bias;
  with_bias.bias = &bias;
  CHECK_THROWS_WITH_AS(mha(good, with_bias), doctest::Contains("bias [1, 3, 5, 5] does not broadcast"), ShapeError);

  AttentionOptions<float> cross;
  cross.mode = AttentionMode::Cross;
  CHECK_THROWS_AS(mha(good, cross), ValueError);
  Tensor3<float> memory(3, 4, 16);
  memory.setZero();
  cross.memory = &memory;
  CHECK_THROWS_WITH_AS(mha(good, cross), doctest::Contains("memory [3, 4, 16] does not fit queries [2, 5, 16]"), ShapeError);

  CHECK_THROWS_WITH_AS(MultiHeadAttention<float>(AttentionConfig{16, 4, 3, 0, 0, false, false, std::nullopt}),
                       doctest::Contains("cannot be grouped over 3"), ValueError);
  CHECK_THROWS_WITH_AS(MultiHeadAttention<float>(AttentionConfig{18, 4, 0, 0, 0, false, false, std::nullopt}),
                       doctest::Contains("not divisible by 4 heads"), ValueError);
}
