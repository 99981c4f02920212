// RoPE and grouped-query attention: parity with the hand-written Llama reference (half-split and
// interleaved layouts, Llama 3 frequency scaling), the layout conversion, and relative-position invariance.
#include <doctest/doctest.h>

#include "eigenformer/eigenformer.hpp"
#include "support/configs.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

RopeConfig rope_config(const json::Value& cfg) {
  RopeConfig r;
  r.head_dim = cfg.at("head_dim").as_int();
  r.base = cfg.at("theta").as_number();
  r.layout = cfg.at("interleaved").as_bool() ? RopeLayout::Interleaved : RopeLayout::HalfSplit;
  const json::Value& s = cfg.at("scaling");
  if (!s.is_null()) {
    r.scaling.kind = RopeScaling::Kind::Llama3;
    r.scaling.factor = s.at("factor").as_number();
    r.scaling.low_freq_factor = s.at("low_freq_factor").as_number();
    r.scaling.high_freq_factor = s.at("high_freq_factor").as_number();
    r.scaling.original_max_positions = s.at("original_max_position_embeddings").as_number();
  }
  return r;
}

AttentionConfig llama_attention(const json::Value& cfg) {
  return attention_config(cfg.at("width").as_int(), cfg.at("heads").as_int()).with_kv_heads(cfg.at("kv_heads").as_int()).with_head_dim(cfg.at("head_dim").as_int());
}

// Causal self-attention over x whose tokens sit at positions first .. first+T-1 (the reference starts at
// 3 so that position 0's identity rotation hides nothing). MultiHeadAttention only starts later than 0
// after a cache; here the same steps are taken by hand through the public pieces: project, rotate, the
// core, the output projection.
template <class T>
Tensor3<T> attend_at(MultiHeadAttention<T>& mha, const RotaryEmbedding<T>& rope, const Tensor3<T>& x, Index first,
                     Tensor4<T>* probs) {
  const Index B = x.dimension(0), T_ = x.dimension(1), H = mha.heads(), Hkv = mha.kv_heads(), D = mha.head_dim();
  Matrix<T> q = mha.q(as_matrix(x)), k = mha.k(as_matrix(x)), v = mha.v(as_matrix(x));
  rope.rotate(q, B, H, first);
  rope.rotate(k, B, Hkv, first);
  Matrix<T> context(B * T_, H * D);
  AttentionScratch<T> scratch;
  AttentionMask<T> mask;
  mask.causal = true;
  AttentionRecord<T> record;
  record.weights = probs;
  scaled_dot_product_attention<T>(HeadsView<const T>::of(q, B, H), HeadsView<const T>::of(k, B, Hkv),
                                  HeadsView<const T>::of(v, B, Hkv), HeadsView<T>::of(context, B, H), mask,
                                  mha.scale(), scratch, record);
  Tensor3<T> y(B, T_, mha.config().width);
  mha.o.forward(context, as_matrix(y));
  return y;
}

}  // namespace

TEST_CASE_TEMPLATE("RoPE + GQA attention matches the Llama reference", T, float, double) {
  Fixture fx("core/llama.safetensors");
  for (const char* name : {"attn_gqa", "attn_mqa", "attn_mha", "attn_gqa_wide_heads", "attn_interleaved", "attn_llama3_scaling"}) {
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    MultiHeadAttention<T> mha(llama_attention(cfg));
    fx.load(mha, name);
    const RopeConfig rc = rope_config(cfg);
    RotaryEmbedding<T> rope(rc);
    const std::string n(name);

    // The frequencies themselves, θ_i (with Llama 3 scaling where the case has it).
    const std::vector<double> inv_freq = rotary_inverse_frequencies(rc);
    const std::vector<double> expected_freq = fx.values<double>(n + ".expected.inv_freq");
    REQUIRE(inv_freq.size() == expected_freq.size());
    for (std::size_t i = 0; i < inv_freq.size(); ++i) CHECK(inv_freq[i] == doctest::Approx(expected_freq[i]).epsilon(1e-13));

    Tensor4<T> probs;
    const Tensor3<T> y = attend_at(mha, rope, fx.tensor3<T>(n + ".input.x"), cfg.at("first_position").as_int(), &probs);
    check_parity<T>(y, fx.tensor3<double>(n + ".expected.y"), n + " output");
    check_parity<T>(probs, fx.tensor4<double>(n + ".expected.probs"), n + " weights");
  }
}

TEST_CASE_TEMPLATE("interleaved and half-split RoPE agree after the documented weight permutation", T, float, double) {
  Fixture fx("core/llama.safetensors");
  const json::Value cfg = fx.config("attn_interleaved");
  MultiHeadAttention<T> meta(llama_attention(cfg));
  fx.load(meta, "attn_interleaved");
  MultiHeadAttention<T> hf = meta;
  hf.q.weight = rope_interleaved_to_half_split(meta.q.weight, meta.heads());
  hf.k.weight = rope_interleaved_to_half_split(meta.k.weight, meta.kv_heads());
  RopeConfig rc = rope_config(cfg);
  RotaryEmbedding<T> interleaved(rc);
  rc.layout = RopeLayout::HalfSplit;
  RotaryEmbedding<T> half_split(rc);

  const Tensor3<T> x = fx.tensor3<T>("attn_interleaved.input.x");
  Tensor4<T> p_meta, p_hf;
  const Tensor3<T> y_meta = attend_at(meta, interleaved, x, 3, &p_meta);
  const Tensor3<T> y_hf = attend_at(hf, half_split, x, 3, &p_hf);
  check_parity<T>(p_hf, p_meta, "scores after permutation");
  check_parity<T>(y_hf, y_meta, "outputs after permutation");
  check_parity<T>(y_hf, fx.tensor3<double>("attn_interleaved.expected.y"), "vs the Meta-layout reference");

  // Without the permutation the layouts disagree: the test above is not vacuous.
  MultiHeadAttention<T> unpermuted = meta;
  Tensor4<T> p_wrong;
  attend_at(unpermuted, half_split, x, 3, &p_wrong);
  CHECK(relative_max_error(p_wrong.data(), p_meta.data(), static_cast<std::size_t>(p_meta.size())) > 1e-3);

  // And the permutation inverts.
  CHECK(rope_half_split_to_interleaved(hf.q.weight, meta.heads()) == meta.q.weight);
}

TEST_CASE_TEMPLATE("RoPE scores depend only on the distance between query and key", T, float, double) {
  const Index D = 16;
  for (RopeLayout layout : {RopeLayout::HalfSplit, RopeLayout::Interleaved}) {
    RotaryEmbedding<T> rope(rope_config(D, 10000.0).with_layout(layout));
    Matrix<T> q0 = Matrix<T>::Random(1, D), k0 = Matrix<T>::Random(1, D);
    // score(m, n) = rot_m(q) · rot_n(k) for (m, n) = (5, 2) and shifted by 37 and by 1000.
    auto score = [&](Index m, Index n) {
      Matrix<T> q = q0, k = k0;
      rope.rotate(q, 1, 1, m);
      rope.rotate(k, 1, 1, n);
      return (q.row(0).dot(k.row(0)));
    };
    const T base = score(5, 2);
    CHECK(std::abs(score(42, 39) - base) <= 1e3 * parity_tolerance<T>());
    CHECK(std::abs(score(1005, 1002) - base) <= 1e3 * parity_tolerance<T>());
    CHECK(std::abs(score(5, 3) - base) > 1e-4);  // a different distance gives a different score
    // Rotation preserves length.
    Matrix<T> q = q0;
    rope.rotate(q, 1, 1, 123);
    CHECK(std::abs(q.norm() - q0.norm()) <= 10 * parity_tolerance<T>());
  }
}

TEST_CASE("RoPE configuration errors") {
  CHECK_THROWS_AS(RotaryEmbedding<float>(rope_config(7, 10000.0)), ValueError);
  CHECK_THROWS_AS(RotaryEmbedding<float>(rope_config(8, 0.0)), ValueError);
  RotaryEmbedding<float> rope(rope_config(8, 10000.0));
  Matrix<float> wrong(3, 12);
  CHECK_THROWS_WITH_AS(rope.rotate(wrong, 1, 2, 0), doctest::Contains("[rope] input [3, 12]"), ShapeError);
  MultiHeadAttention<float> mha(attention_config(16, 4));
  Tensor3<float> x(1, 2, 16);
  x.setZero();
  ForwardContext<float> options;
  options.rope = &rope;
  CHECK_THROWS_WITH_AS(mha(x, AttentionMode::Self, options), doctest::Contains("RoPE is set up for head width 8 but the heads are 4 wide"),
                       ShapeError);
}

// tools/fixtures/make_rope_fixtures.py: Llama 3 scaling in float64 from its published definition, with θ_i in
// all three bands (unchanged, divided by factor, and the smoothing band between them), and vectors rotated at
// positions past the original context. θ_i agree to 1e-14 relative; rotated values to 1e-12 (angles p·θ_i
// up to 8200 rad: cos/sin of a double angle carry ~1e-12 of its rounding).
TEST_CASE("Llama 3 RoPE scaling: every band, the smoothing band included, as PyTorch computes it") {
  const json::Value file = json::parse_file(fixture_path("core/rope_llama3.json"));
  int in_band = 0;
  for (const json::Value& c : file.at("cases").as_array()) {
    const std::string name = c.at("name").as_string();
    CAPTURE(name);
    RopeConfig r;
    r.head_dim = c.at("head_dim").as_int();
    r.base = c.at("theta").as_number();
    r.scaling.kind = RopeScaling::Kind::Llama3;
    r.scaling.factor = c.at("factor").as_number();
    r.scaling.low_freq_factor = c.at("low_freq_factor").as_number();
    r.scaling.high_freq_factor = c.at("high_freq_factor").as_number();
    r.scaling.original_max_positions = c.at("original_max_position_embeddings").as_number();
    const std::vector<double> got = rotary_inverse_frequencies(r);
    const json::Array& want = c.at("inv_freq").as_array();
    const json::Array& band = c.at("band").as_array();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CAPTURE(band[i].as_string());
      CHECK(std::abs(got[i] - want[i].as_number()) <= 1e-14 * want[i].as_number());
      in_band += band[i].as_string() == "band";
    }
    // The rotation at positions past the original context (one head, half-split layout).
    const json::Array& x = c.at("x").as_array();
    const json::Array& rotated = c.at("rotated").as_array();
    const Index T = static_cast<Index>(x.size()), D = r.head_dim;
    Matrix<double> m(T, D);
    for (Index t = 0; t < T; ++t)
      for (Index d = 0; d < D; ++d) m(t, d) = x[static_cast<std::size_t>(t)].as_array()[static_cast<std::size_t>(d)].as_number();
    RotaryEmbedding<double> rope(r);
    rope.rotate(m, /*batch=*/1, /*heads=*/1, c.at("first_position").as_int());
    double worst = 0;
    for (Index t = 0; t < T; ++t)
      for (Index d = 0; d < D; ++d)
        worst = std::max(worst, std::abs(m(t, d) - rotated[static_cast<std::size_t>(t)].as_array()[static_cast<std::size_t>(d)].as_number()));
    INFO("largest rotation difference " << worst);
    CHECK(worst <= 1e-12);
  }
  CHECK(in_band == 6 + 2 + 3);  // the smoothing band is exercised in every case
}
