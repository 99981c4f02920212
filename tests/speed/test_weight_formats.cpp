// tests/speed/test_weight_formats.cpp — weights kept as BF16 or Q8_0 (layers/packed_weight.hpp), against fp32.
//
// What must hold (issue 15, "fewer bytes per token"):
//   - packing: BF16 is float_to_bf16 of each weight (round to nearest even); Q8_0 keeps |w̃ − w| ≤ s_g / 2 with
//     s_g = max_g |w| / 127, in groups of 32 along the input with a shorter last group (ragged inputs work);
//   - one product y = x W̃ᵀ, entry by entry, within the bounds of packed_weight.hpp's header:
//         BF16  |ỹ − y| ≤ 2⁻⁸ Σ_i |x_i w_i|
//         Q8_0  |ỹ − y| ≤ Σ_g [(s_g / 2) Σ_{i∈g} |x_i| + (t_g / 2) Σ_{i∈g} |w̃_i|],  t_g = max_g |x| / 127 (decoding
//               quantises the activations too; a prompt's product does not, and stays within the first term)
//     each plus 1e-6 Σ_i |x_i w_i| for fp32's own rounding; BF16 within 1e-6 (relative) of the fp32 product over
//     the dequantised W̃ (the conversion itself adds nothing);
//   - the hand-vectorised int8 dot product (AVX2) equals the portable loop bit for bit. The ci preset compiles for
//     any x86-64 and takes the portable loop; test_speed_native (tests/speed/CMakeLists.txt) compiles this
//     file with -march=native to run the vector path;
//   - 1 and 2 threads give the same bits, for every format (the split depends on the shapes only), in both builds.
//     Under -march=native this once failed from the ~11th step even for fp32, and even for 1 thread against 1
//     thread: the single-query attention's scratch was a std::vector (16-byte aligned), and Eigen's AVX-512 sums
//     start at the first 64-byte-aligned entry, so their order moved with the heap. It is an aligned Eigen vector
//     now (attention.hpp, AttentionScratch::single_query);
//   - the Llama fixtures (tests/fixtures/models, PyTorch-checked in float): the logits' max abs error against
//     the fp32 model is printed and bounded, to first order, by one relative error per product on the path
//     from the input to a logit — 4 in series per layer (q/k/v, o, gate/up, down) and the head:
//         max |Δlogits| ≤ (4N + 1) · ε · max |logits|,     ε = 2⁻⁸ (BF16),  ε = 2/127 (Q8_0: s_g/2 over the
//     group's largest weight is 1/254; a weight of half the group's largest sees twice that relative error, and
//     the fixtures' weights are spread about that much, so 4× headroom: 4/254 = 2/127);
//     a BF16 checkpoint loses nothing in BF16 (its values are BF16 already): there the error is fp32 rounding
//     only, ≤ 1e-5 relative; greedy decoding with BF16 weights gives the same tokens as fp32;
//   - misuse is refused: an unknown format name, a NaN weight for Q8_0 (naming the layer), and loading or
//     training a packed layer.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>

#include "eigenformer/eigenformer.hpp"
#include "llama/llama.hpp"
#include "support/threads_guard.hpp"
#include "models/model_fixture.hpp"

// test_threads.cpp, test_weight_formats.cpp and test_tiled_attention.cpp compile into one translation unit
// (test_speed, CMakeLists.txt here): each keeps its helpers, and the namespaces it uses, in a namespace of its own.
namespace weight_formats_test {

using namespace eigenformer;
using eigenformer::testing::ThreadsGuard;

namespace {

Matrix<float> random_matrix(Index rows, Index cols, std::mt19937& rng, double range = 1.0) {
  std::uniform_real_distribution<double> u(-range, range);
  Matrix<float> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(u(rng));
  return m;
}

/// Greedy decoding through the KV cache, no end-of-sequence: `steps` tokens after `prompt` and each step's logits.
struct Greedy {
  std::vector<TokenId> tokens;
  std::vector<Matrix<float>> logits;
};

Greedy greedy(Llama<float>& model, const TokenIds& prompt, int steps) {
  Greedy out;
  DecoderCache<float> cache;
  Matrix<float> logits;
  model.forward(prompt, cache, logits, /*last_only=*/true);
  TokenIds next(1, 1);
  for (int i = 0; i < steps; ++i) {
    out.logits.push_back(logits);
    Index best = 0;
    logits.row(0).maxCoeff(&best);
    out.tokens.push_back(static_cast<TokenId>(best));
    if (i + 1 == steps) break;
    next(0, 0) = static_cast<TokenId>(best);
    model.forward(next, cache, logits, true);
  }
  return out;
}

LlamaConfig threaded_llama() {  // as in test_threads.cpp: the LM head (2048, 256) takes the threaded path
  LlamaConfig c;
  c.vocab_size = 2048;
  c.hidden_size = 256;
  c.intermediate_size = 640;  // 640 = 20 groups of 32
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 128;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = false;  // an untied head: lm_head packed as a Linear
  return c;
}

}  // namespace

TEST_CASE("weight formats: names, and unknown ones refused") {
  CHECK(weight_format_from_name("fp32") == WeightFormat::F32);
  CHECK(weight_format_from_name("bf16") == WeightFormat::BF16);
  CHECK(weight_format_from_name("int8") == WeightFormat::Q8_0);
  CHECK(std::string(weight_format_name(WeightFormat::Q8_0)) == "int8");
  CHECK_THROWS_WITH_AS(weight_format_from_name("int4"),
                       "[weights] unknown weight format 'int4': expected fp32, bf16 or int8", ValueError);
}

TEST_CASE("weight formats: packing — BF16 rounds each weight to nearest even, Q8_0 groups of 32 with a ragged last") {
  std::mt19937 rng(3);
  const Index out = 5, in = 75;  // 75 = 32 + 32 + 11: the last group holds 11 weights
  Matrix<float> w = random_matrix(out, in, rng);
  w(1, 70) = 0.0f;
  w.row(2).setZero();  // an all-zero row: scale 0, every q 0
  const PackedWeight bf = pack_weight<float>(w, WeightFormat::BF16);
  REQUIRE(bf.bf16.size() == static_cast<std::size_t>(out * in));
  CHECK(bf.bytes() == static_cast<std::size_t>(2 * out * in));
  Matrix<float> back(out, in);
  unpack_rows<float>(bf, 0, out, back);
  for (Index o = 0; o < out; ++o) {
    for (Index i = 0; i < in; ++i) {
      CHECK(bf.bf16[static_cast<std::size_t>(o * in + i)] == float_to_bf16(w(o, i)));
      CHECK(std::abs(back(o, i) - w(o, i)) <= std::ldexp(std::abs(w(o, i)), -8));  // |w̃ − w| ≤ 2⁻⁸ |w|
    }
  }
  const PackedWeight q8 = pack_weight<float>(w, WeightFormat::Q8_0);
  REQUIRE(q8.q.size() == static_cast<std::size_t>(out * in));
  REQUIRE(q8.groups() == 3);
  CHECK(q8.bytes() == static_cast<std::size_t>(out * in + 4 * out * 3));
  unpack_rows<float>(q8, 0, out, back);
  for (Index o = 0; o < out; ++o) {
    for (Index g = 0; g < 3; ++g) {
      const Index first = 32 * g, count = std::min<Index>(32, in - first);
      const float largest = w.row(o).segment(first, count).cwiseAbs().maxCoeff();
      const float s = q8.scales[static_cast<std::size_t>(o * 3 + g)];
      CHECK(s == doctest::Approx(largest / 127.0f).epsilon(1e-6));
      for (Index i = first; i < first + count; ++i) {
        CHECK(std::abs(static_cast<int>(q8.q[static_cast<std::size_t>(o * in + i)])) <= 127);
        CHECK(std::abs(back(o, i) - w(o, i)) <= 0.5f * s * (1 + 1e-6f) + 1e-7f);
      }
    }
  }
  CHECK(back.row(2).isZero(0));
  CHECK(back(1, 70) == 0.0f);
}

TEST_CASE("weight formats: one product within the stated bounds, 1 vs 2 threads bit-identical, ragged inputs") {
  ThreadsGuard guard;
  std::mt19937 rng(5);
  for (WeightFormat format : {WeightFormat::BF16, WeightFormat::Q8_0}) {
    for (Index in : {17, 300, 1024}) {  // 17 and 300 are not multiples of 32 (or of the 64 partial sums)
      for (Index out : {256, 4099}) {
        for (Index rows : {1, 3, 8, 20}) {  // 20: a prompt, through unpacked runs of 256 rows
          Linear<float> layer(in, out, /*bias=*/true);
          layer.weight = random_matrix(out, in, rng);
          layer.bias = random_matrix(1, out, rng);
          const Matrix<float> w = layer.weight;
          layer.pack(format);
          CHECK(layer.weight.size() == 0);  // the fp32 copy is freed
          CHECK(layer.in_features() == in);
          CHECK(layer.out_features() == out);
          const Matrix<float> x = random_matrix(rows, in, rng);
          Matrix<float> one, two;
          set_threads(1);
          layer.forward(x, one);
          set_threads(2);
          layer.forward(x, two);
          if (use_decode_path(rows)) CHECK(one == two);  // decoding's split; a prompt's product is Eigen's
          // Beside fp32 over the dequantised W̃: only the order of the sums differs.
          Matrix<float> dequantised(out, in);
          unpack_rows<float>(layer.packed, 0, out, dequantised);
          Matrix<float> same_weights = x * dequantised.transpose();
          same_weights.rowwise() += layer.bias;
          const double order = (two - same_weights).cwiseAbs().maxCoeff() / same_weights.cwiseAbs().maxCoeff();
          // Beside fp32 over the original W: entry by entry within the format's bound.
          const Matrix<double> xd = x.cast<double>(), wd = w.cast<double>();
          const Matrix<double> exact = xd * wd.transpose() + layer.bias.cast<double>().replicate(rows, 1);
          const Matrix<double> magnitude = xd.cwiseAbs() * wd.cwiseAbs().transpose();  // Σ_i |x_i w_i|
          double worst_ratio = 0;  // max over entries of |ỹ − y| / bound
          for (Index n = 0; n < rows; ++n) {
            for (Index o = 0; o < out; ++o) {
              double bound = 1e-6 * magnitude(n, o);
              if (format == WeightFormat::BF16) {
                bound += std::ldexp(magnitude(n, o), -8);
              } else {
                for (Index g = 0; g < layer.packed.groups(); ++g) {
                  const Index first = 32 * g, count = std::min<Index>(32, in - first);
                  bound += 0.5 * layer.packed.scales[static_cast<std::size_t>(o * layer.packed.groups() + g)] *
                           xd.row(n).segment(first, count).cwiseAbs().sum();
                  if (use_decode_path(rows)) {  // the activations' quantisation: t_g / 2 per input
                    const double t = xd.row(n).segment(first, count).cwiseAbs().maxCoeff() / 127.0;
                    bound += 0.5 * t * dequantised.row(o).segment(first, count).cast<double>().cwiseAbs().sum() * (1 + 1e-6);
                  }
                }
              }
              worst_ratio = std::max(worst_ratio, std::abs(two(n, o) - exact(n, o)) / bound);
            }
          }
          INFO(std::string(weight_format_name(format)), " in ", in, ", out ", out, ", rows ", rows, ": max |packed − fp32(W̃)| / max = ",
               order, ", worst |packed − exact| / bound = ", worst_ratio);
          if (format == WeightFormat::BF16 || !use_decode_path(rows)) CHECK(order <= 1e-6);
          CHECK(worst_ratio <= 1.0);
        }
      }
    }
  }
}

TEST_CASE("weight formats: the int8 dot product, AVX2 (when compiled for it) against the portable loop, bit for bit") {
  std::mt19937 rng(13);
  for (Index n : {32, 64, 96, 288, 300, 768, 2048, 2060}) {
    const Matrix<float> x = random_matrix(1, n, rng, 3.0);
    const Matrix<float> w = random_matrix(1, n, rng, 0.1);
    const PackedWeight packed = pack_weight<float>(w, WeightFormat::Q8_0);
    std::vector<std::int16_t> p(static_cast<std::size_t>(n));
    std::vector<float> t(static_cast<std::size_t>(packed.groups()));
    detail::quantize_activations<float>(x.data(), n, p.data(), t.data());
    const float fast = detail::dot_q8(p.data(), t.data(), packed.q.data(), packed.scales.data(), n);
    const float portable = detail::dot_q8_portable(p.data(), t.data(), packed.q.data(), packed.scales.data(), n);
    INFO("n = ", n, ": ", fast, " vs ", portable);
    CHECK(fast == portable);
  }
#if defined(__AVX2__) && defined(__FMA__)
  MESSAGE("the AVX2 int8 product was compared");
#else
  MESSAGE("this build has no AVX2 + FMA: dot_q8 is the portable loop (test_speed_native compares both)");
#endif
}

TEST_CASE("weight formats: activations quantise as p_i = std::round(x_i / t_g), halves away from zero, bit for bit") {
  // quantize_activations spells the rounding out so that it vectorises; here it meets the definition, the portable
  // loop — t_g from the group's largest |x|, then std::round of each x_i / t_g in double, clamped to ±127 — on random
  // rows and on rows built to land exactly on halves (x_i / t_g = k + 1/2, both signs), where a rounding to even
  // would differ. (A build for plain x86-64 runs the portable loop on both sides: test_speed_native,
  // compiled for the CPU with AVX2 or AVX-512, compares.)
  std::mt19937 rng(17);
  int halves = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const Index n = trial % 2 == 0 ? 288 : 77;
    std::vector<float> x(static_cast<std::size_t>(n));
    std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
    for (auto& v : x) v = uniform(rng);
    if (trial % 4 >= 2) {
      // Ties: the group's largest |x| is 127 · 2⁻⁴, so t_g = 2⁻⁴ exactly, and x_i = (k + 1/2) · 2⁻⁴ divides exactly.
      for (Index i = 0; i < n; ++i) {
        const int k = static_cast<int>(rng() % 253) - 126;
        x[static_cast<std::size_t>(i)] = i % 32 == 0 ? 127.0f / 16.0f : (static_cast<float>(k) + (k < 0 ? -0.5f : 0.5f)) / 16.0f;
      }
    }
    const Index G = (n + 31) / 32;
    std::vector<std::int16_t> p(x.size()), p_ref(x.size());
    std::vector<float> t(static_cast<std::size_t>(G)), t_ref(static_cast<std::size_t>(G));
    detail::quantize_activations<float>(x.data(), n, p.data(), t.data());
    detail::quantize_activations_portable<float>(x.data(), n, p_ref.data(), t_ref.data());
    CHECK(t == t_ref);
    for (Index i = 0; i < n; ++i) {
      INFO("trial ", trial, ", x[", i, "] = ", x[static_cast<std::size_t>(i)], ", t = ", t[static_cast<std::size_t>(i / 32)]);
      CHECK(p[static_cast<std::size_t>(i)] == p_ref[static_cast<std::size_t>(i)]);
      const double v = static_cast<double>(x[static_cast<std::size_t>(i)]) / t[static_cast<std::size_t>(i / 32)];
      if (v - std::trunc(v) == 0.5 || v - std::trunc(v) == -0.5) ++halves;
    }
  }
  CHECK(halves > 1000);  // the ties were really there
}

TEST_CASE("weight formats: activations holding NaN or infinities quantise without undefined behaviour") {
  // A NaN activation used to reach a float-to-integer conversion (undefined: UBSan's float-cast-overflow, which
  // the sanitize preset runs this suite under). Now a NaN gives 0, and the group's scale is that of its finite
  // values. A group holding ±inf has an infinite scale: its values are meaningless (the finite checks upstream
  // report them) but stay integers in [−127, 127].
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> x(40, 0.25f);
  x[3] = nan;
  x[5] = -1.0f;
  x[33] = inf;
  x[34] = -inf;
  std::vector<std::int16_t> p(x.size());
  std::vector<float> t(2);
  detail::quantize_activations<float>(x.data(), static_cast<Index>(x.size()), p.data(), t.data());
  CHECK(p[3] == 0);
  CHECK(p[5] == -127);  // the group's largest finite |x|
  CHECK(p[0] == 32);    // round(0.25 · 127) = round(31.75)
  CHECK(t[0] == doctest::Approx(1.0 / 127.0));
  for (std::size_t i = 32; i < x.size(); ++i) {
    INFO("p[", i, "] = ", p[i]);
    CHECK(std::abs(static_cast<int>(p[i])) <= 127);
  }
  // The same values in full groups (the vector path, when compiled for it) give what the portable loop gives:
  // group 0 with a NaN, group 1 with ±inf, group 2 all NaN.
  std::vector<float> wide(96, -0.75f);
  wide[3] = nan;
  wide[40] = inf;
  wide[41] = -inf;
  for (std::size_t i = 64; i < 96; ++i) wide[i] = nan;
  std::vector<std::int16_t> fast(wide.size()), portable(wide.size());
  std::vector<float> t_fast(3), t_portable(3);
  detail::quantize_activations<float>(wide.data(), 96, fast.data(), t_fast.data());
  detail::quantize_activations_portable<float>(wide.data(), 96, portable.data(), t_portable.data());
  CHECK(fast == portable);
  CHECK(t_fast[0] == t_portable[0]);
  CHECK(std::isinf(t_fast[1]));
  CHECK(t_fast[2] == 0.0f);
}

TEST_CASE("weight formats: a Linear packs and unpacks, and packed layers refuse loading, training and NaN for int8") {
  std::mt19937 rng(9);
  Linear<float> layer(40, 8, /*bias=*/false);
  layer.weight = random_matrix(8, 40, rng);
  const Matrix<float> w = layer.weight;
  CHECK(layer.weight_bytes() == 8 * 40 * 4);
  layer.pack(WeightFormat::BF16);
  CHECK(layer.weight_format() == WeightFormat::BF16);
  CHECK(layer.weight_bytes() == 8 * 40 * 2);
  ParameterList<float> params;
  CHECK_THROWS_AS(layer.collect_parameters("attn.q.", params), ValueError);
  Matrix<float> dx(1, 40);
  CHECK_THROWS_AS(layer.backward(Matrix<float>::Zero(1, 40), Matrix<float>::Zero(1, 8), dx), ValueError);
  layer.pack(WeightFormat::F32);  // back to fp32: exactly the BF16 values
  REQUIRE(layer.weight.rows() == 8);
  for (Index i = 0; i < w.size(); ++i) CHECK(layer.weight.data()[i] == bf16_to_float(float_to_bf16(w.data()[i])));
  CHECK_NOTHROW(layer.collect_parameters("attn.q.", params));

  layer.weight(3, 33) = std::nanf("");
  CHECK_THROWS_WITH_AS(layer.pack(WeightFormat::Q8_0, "decoder.layers.0.attn.q"),
                       "[pack_weight] decoder.layers.0.attn.q: row 3, inputs 32..39 hold a NaN or infinite weight, which "
                       "int8 groups cannot store",
                       ValueError);
}

TEST_CASE("weight formats: the Llama fixtures in BF16 and int8 against fp32 — logit error bounded, greedy tokens") {
  const std::vector<std::string> names = {"llama-gqa-sharded", "llama-tied-bf16", "llama-mqa-f16"};
  for (const std::string& name : names) {
    CAPTURE(name);
    testing::Reference ref(name);
    const TokenIds ids = ref.ids("input_ids");
    const std::vector<double> torch_logits = ref.values("logits");
    Llama<float> reference = Llama<float>::from_pretrained(testing::model_dir(name));
    const Index N = reference.config().num_hidden_layers;
    Matrix<float> expected;
    reference.forward(ids, expected);
    const int steps = static_cast<int>(std::min<Index>(24, reference.config().max_position_embeddings - ids.cols()));
    const Greedy greedy_fp32 = greedy(reference, ids, steps);

    for (WeightFormat format : {WeightFormat::BF16, WeightFormat::Q8_0}) {
      Llama<float> model = Llama<float>::from_pretrained(testing::model_dir(name));
      model.pack_weights(format);
      CHECK(model.weight_format() == format);
      CHECK(model.weight_bytes() < reference.weight_bytes());
      // 1) The whole prompt at once (the prompt path: unpacked runs and a matrix product).
      Matrix<float> logits;
      model.forward(ids, logits);
      const double scale = expected.cwiseAbs().maxCoeff();
      const double err = (logits - expected).cwiseAbs().maxCoeff();
      const double vs_torch = testing::max_abs_error(logits.data(), torch_logits);
      const double eps = format == WeightFormat::BF16 ? std::ldexp(1.0, -8) : 2.0 / 127.0;
      const bool lossless = format == WeightFormat::BF16 && name == "llama-tied-bf16";  // BF16 values already
      const double bound = lossless ? 1e-5 * scale : static_cast<double>(4 * N + 1) * eps * scale;
      // 2) Greedy decoding through the cache (the decoding path: on-the-fly conversion).
      const Greedy decoded = greedy(model, ids, steps);
      double step_err = 0;
      for (int i = 0; i < steps; ++i) {
        if (decoded.tokens[static_cast<std::size_t>(i)] != greedy_fp32.tokens[static_cast<std::size_t>(i)]) break;
        step_err = std::max<double>(step_err, (decoded.logits[static_cast<std::size_t>(i)] -
                                               greedy_fp32.logits[static_cast<std::size_t>(i)]).cwiseAbs().maxCoeff());
      }
      const std::size_t same = static_cast<std::size_t>(
          std::mismatch(decoded.tokens.begin(), decoded.tokens.end(), greedy_fp32.tokens.begin()).first - decoded.tokens.begin());
      MESSAGE(name, " ", std::string(weight_format_name(format)), ": weights ", model.weight_bytes(), " bytes (fp32 ",
              reference.weight_bytes(), "); prompt logits max |Δ| vs fp32 ", err, " (bound ", bound, ", max |logit| ",
              scale, "), vs PyTorch fp32 ", vs_torch, "; decode steps max |Δ| ", step_err, "; greedy: ", same, " of ",
              steps, " tokens as fp32");
      CHECK(err <= bound);
      CHECK(step_err <= bound);
      if (format == WeightFormat::BF16) CHECK(decoded.tokens == greedy_fp32.tokens);
    }
  }
}

TEST_CASE("weight formats: a Llama decodes with the same bits on 1 and 2 threads, in every format") {
  ThreadsGuard guard;
  for (WeightFormat format : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Q8_0}) {
    const std::string format_name = weight_format_name(format);
    CAPTURE(format_name);
    Llama<float> model(threaded_llama());
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> u(-0.08, 0.08);
    for (auto& p : named_parameters(model)) {
      for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = static_cast<float>(u(rng));
    }
    model.pack_weights(format);
    TokenIds prompt(1, 5);
    prompt << 1, 17, 300, 42, 7;
    set_threads(1);
    const Greedy one = greedy(model, prompt, 30);
    set_threads(2);
    const Greedy two = greedy(model, prompt, 30);
    CHECK(one.tokens == two.tokens);
    for (std::size_t i = 0; i < one.logits.size(); ++i) {
      INFO("step ", i, ": max |1 thread − 2 threads| = ", (one.logits[i] - two.logits[i]).cwiseAbs().maxCoeff());
      CHECK(one.logits[i] == two.logits[i]);
    }
  }
}

}  // namespace weight_formats_test
