// Hooks that change intermediates in flight (inspect/hooks.hpp), each against a reference computed another
// way: zeroing (scaling) a head equals zeroing (scaling) its columns of W_o; patching another run's residual
// stream reproduces that run's logits; a forced attention pattern matches a PyTorch forward with the same
// weights forced (tools/fixtures/make_intermediates.py); hooks also run in a cached decode.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "eigenformer/inspect/hooks.hpp"
#include "llama/llama.hpp"
#include "models/model_fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

template <class T>
Llama<T> test_llama() {
  return Llama<T>::from_pretrained(model_dir("llama-gqa-sharded"));
}

TokenIds ids_of(const std::vector<TokenId>& v) {
  TokenIds ids(1, static_cast<Index>(v.size()));
  for (Index t = 0; t < ids.cols(); ++t) ids(0, t) = v[static_cast<std::size_t>(t)];
  return ids;
}

const std::vector<TokenId> kRunA = {1, 36, 39, 28, 43, 55, 34};  // the reference's input_ids
const std::vector<TokenId> kRunB = {1, 7, 12, 66, 3, 20, 50};

template <class T>
Matrix<T> run(Llama<T>& model, const TokenIds& ids, Capture<T>* capture) {
  Matrix<T> logits;
  LlamaOptions<T> options;
  options.capture = capture;
  model.forward(ids, logits, options);
  return logits;
}

template <class T>
double max_diff(const Matrix<T>& a, const Matrix<T>& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return static_cast<double>((a - b).cwiseAbs().maxCoeff());
}

template <class T>
constexpr double tight() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

}  // namespace

TEST_CASE_TEMPLATE("zero_head / scale_head on a context equal zeroing / scaling that head's columns of W_o", T, float, double) {
  const TokenIds ids = ids_of(kRunA);
  for (const T factor : {T(0), T(0.5), T(3)}) {
    CAPTURE(factor);
    Llama<T> model = test_llama<T>();
    Hooks<T> hooks;
    Capture<T> capture = inspect::hooks_only(hooks, Llama<T>::hf_names(), "decoder.");
    hooks.add("model.layers.1.self_attn.context", inspect::scale_head<T>(2, factor));
    const Matrix<T> hooked = run(model, ids, &capture);

    // The reference: the same head's D columns of layer 1's o projection, scaled, and no hook.
    Llama<T> edited = test_llama<T>();
    const Index D = edited.config().head_width();
    edited.decoder.layers[1].attention.o.weight.middleCols(2 * D, D) *= factor;
    const Matrix<T> expected = run<T>(edited, ids, nullptr);
    const double diff = max_diff(hooked, expected);
    MESSAGE("head 2 of layer 1 times " << factor << ": max |hooked - edited W_o| = " << diff);
    CHECK(diff <= tight<T>());
    // And it did something: the logits moved (unless the factor is 1).
    const Matrix<T> plain = run<T>(model, ids, nullptr);
    CHECK(max_diff(hooked, plain) > 1e-4);
  }
}

TEST_CASE_TEMPLATE("Activation patching: run B's residual streams patched into run A give run B's logits", T, float, double) {
  Llama<T> model = test_llama<T>();
  const TokenIds a = ids_of(kRunA), b = ids_of(kRunB);
  Capture<T> source;
  source.keep_hidden_states = source.keep_attentions = false;
  source.prefix = "decoder.";
  source.rename = inspect::activation_names(Llama<T>::hf_names());
  source.keep_matching("model.layers.?.out,model.layers.?.resid_mid");  // '*' would span dots: o_proj.out too
  const Matrix<T> logits_b = run(model, b, &source);
  REQUIRE(source.named.size() == 4);
  const Matrix<T> logits_a = run<T>(model, a, nullptr);
  REQUIRE(max_diff(logits_a, logits_b) > 1e-2);

  SUBCASE("every residual stream") {
    Hooks<T> hooks;
    Capture<T> capture = inspect::hooks_only(hooks, Llama<T>::hf_names(), "decoder.");
    inspect::patch_from(hooks, source, "*");
    CHECK(max_diff(run(model, a, &capture), logits_b) <= tight<T>());
  }
  SUBCASE("layer 0's output alone: every later layer reads only it") {
    Hooks<T> hooks;
    Capture<T> capture = inspect::hooks_only(hooks, Llama<T>::hf_names(), "decoder.");
    inspect::patch_from(hooks, source, "model.layers.0.out");
    CHECK(max_diff(run(model, a, &capture), logits_b) <= tight<T>());
  }
  SUBCASE("one position: earlier positions cannot see it (causal), later ones change") {
    Hooks<T> hooks;
    Capture<T> capture = inspect::hooks_only(hooks, Llama<T>::hf_names(), "decoder.");
    hooks.add("model.layers.0.out", inspect::patch_position<T>(*source.find("model.layers.0.out"), 3));
    const Matrix<T> patched = run(model, a, &capture);
    CHECK(max_diff<T>(patched.topRows(3), logits_a.topRows(3)) == 0.0);
    for (Index t = 3; t < 7; ++t) CHECK(max_diff<T>(patched.row(t), logits_a.row(t)) > 1e-4);
  }
  SUBCASE("a patch of the wrong shape is refused") {
    Hooks<T> hooks;
    Capture<T> capture = inspect::hooks_only(hooks, Llama<T>::hf_names(), "decoder.");
    inspect::patch_from(hooks, source, "model.layers.0.out");
    CHECK_THROWS_AS(run(model, ids_of({1, 5, 9}), &capture), ValueError);
    CHECK_THROWS_AS(inspect::patch_from(hooks, source, "model.nothing.*"), ValueError);
  }
}

TEST_CASE_TEMPLATE("force_pattern: layer 0 head 1 reads the previous token, as in a PyTorch forward forced alike", T, float, double) {
  Llama<T> model = test_llama<T>();
  const TokenIds ids = ids_of(kRunA);
  const Index T_ = ids.cols();
  Matrix<T> previous = Matrix<T>::Zero(T_, T_);
  for (Index t = 0; t < T_; ++t) previous(t, t > 0 ? t - 1 : 0) = 1;
  Hooks<T> hooks;
  Capture<T> capture = inspect::hooks_only(hooks, Llama<T>::hf_names(), "decoder.");
  capture.keep_attentions = true;  // the maps show the forced pattern
  hooks.add("model.layers.0.self_attn.weights", inspect::force_pattern<T>(1, previous));
  const Matrix<T> logits = run(model, ids, &capture);

  SafeTensorsReader reader(fixture_path("models/llama-gqa-sharded.intermediates.safetensors"));
  const std::vector<double> expected = reader.read<double>("forced.lm_head.out");
  REQUIRE(expected.size() == static_cast<std::size_t>(logits.size()));
  const double diff = max_abs_error(logits.data(), expected);
  MESSAGE("forced pattern: max |ours - PyTorch| = " << diff);
  CHECK(diff <= (std::is_same_v<T, float> ? 1e-5 : 1e-12));
  for (Index t = 0; t < T_; ++t) {
    for (Index s = 0; s < T_; ++s) CHECK(capture.attentions[0](0, 1, t, s) == previous(t, s));
  }
}

TEST_CASE("Hooks run in a cached decode as in the full forward — misuse is refused by name") {
  Llama<double> model = test_llama<double>();
  const TokenIds ids = ids_of(kRunA);
  Hooks<double> hooks;
  Capture<double> capture = inspect::hooks_only(hooks, Llama<double>::hf_names(), "decoder.");
  hooks.add("model.layers.0.self_attn.context", inspect::zero_head<double>(3));
  hooks.add("model.layers.1.self_attn.q_rope", inspect::scale_head<double>(0, 0.25));
  const Matrix<double> full = run(model, ids, &capture);

  DecoderCache<double> cache;
  LlamaOptions<double> options;
  options.cache = &cache;
  options.capture = &capture;
  Matrix<double> first, rest;
  model.forward(ids.leftCols(4), first, options);
  model.forward(ids.rightCols(3), rest, options);
  CHECK(max_diff<double>(first, full.topRows(4)) <= 1e-12);
  CHECK(max_diff<double>(rest, full.bottomRows(3)) <= 1e-12);

  // A site computed after the fact cannot be changed; a head that does not exist is named.
  Hooks<double> bad;
  Capture<double> c2 = inspect::hooks_only(bad, Llama<double>::hf_names(), "decoder.");
  bad.add("model.layers.0.self_attn.scores", inspect::zero_head<double>(0));
  CHECK_THROWS_AS(run(model, ids, &c2), ValueError);
  bad.clear();
  bad.add("model.layers.0.self_attn.context", inspect::zero_head<double>(4));  // H = 4
  CHECK_THROWS_AS(run(model, ids, &c2), ValueError);
  bad.clear();
  bad.add("model.layers.0.out", inspect::zero_head<double>(0));  // (B, T, C): no head axis
  CHECK_THROWS_AS(run(model, ids, &c2), ValueError);
}
