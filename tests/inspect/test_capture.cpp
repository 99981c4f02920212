// Named intermediates (attention/forward_context.hpp, inspect/names.hpp): every site of the Llama test
// checkpoint against a step-by-step PyTorch forward (tools/fixtures/make_intermediates.py, float64), under
// Hugging Face's names; the names BERT's and T5's tables give; the filter; and that a forward without a
// capture computes exactly what it did before.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "bert/bert.hpp"
#include "eigenformer/inspect/compare.hpp"
#include "eigenformer/inspect/hooks.hpp"
#include "eigenformer/inspect/names.hpp"
#include "llama/llama.hpp"
#include "models/model_fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::string kIntermediates = "models/llama-gqa-sharded.intermediates.safetensors";

template <class T>
Capture<T> llama_capture(const std::string& pattern) {
  Capture<T> capture;
  capture.keep_hidden_states = false;
  capture.keep_attentions = false;
  capture.prefix = "decoder.";
  capture.rename = inspect::activation_names(Llama<T>::hf_names());
  capture.keep_matching(pattern);
  return capture;
}

TokenIds reference_ids() {
  SafeTensorsReader reader(fixture_path(kIntermediates));
  const std::vector<double> v = reader.read<double>("input_ids");
  TokenIds ids(1, static_cast<Index>(v.size()));
  for (Index t = 0; t < ids.cols(); ++t) ids(0, t) = static_cast<TokenId>(v[static_cast<std::size_t>(t)]);
  return ids;
}

}  // namespace

TEST_CASE("glob_match: '*' spans dots, '?' one character, commas separate patterns") {
  CHECK(glob_match("*", "model.layers.0.out"));
  CHECK(glob_match("model.layers.*.out", "model.layers.12.out"));
  CHECK(glob_match("model.layers.*.self_attn.weights", "model.layers.3.self_attn.weights"));
  CHECK_FALSE(glob_match("model.layers.*.self_attn.weights", "model.layers.3.self_attn.weights_x"));
  CHECK(glob_match("model.layers.?.out", "model.layers.3.out"));
  CHECK_FALSE(glob_match("model.layers.?.out", "model.layers.13.out"));
  CHECK(glob_match("a,*.weights", "x.weights"));
  CHECK(glob_match("*.weights,a", "a"));
  CHECK_FALSE(glob_match("", "a"));
  CHECK(glob_match("", ""));
}

TEST_CASE("activation_names: Hugging Face module paths from a family's parameter table") {
  const auto llama = inspect::activation_names(Llama<float>::hf_names());
  CHECK(llama("decoder.layers.3.attn.q.out") == "model.layers.3.self_attn.q_proj.out");
  CHECK(llama("decoder.layers.3.attn.weights") == "model.layers.3.self_attn.weights");
  CHECK(llama("decoder.layers.3.attn_norm.out") == "model.layers.3.input_layernorm.out");
  CHECK(llama("decoder.layers.3.ffn.hidden") == "model.layers.3.mlp.hidden");
  CHECK(llama("decoder.layers.3.ffn.gate.out") == "model.layers.3.mlp.gate_proj.out");
  CHECK(llama("decoder.layers.3.resid_mid") == "model.layers.3.resid_mid");
  CHECK(llama("decoder.final_norm.out") == "model.norm.out");
  CHECK(llama("decoder.embeddings") == "model.embeddings");
  CHECK(llama("lm_head.out") == "lm_head.out");
  CHECK(llama("nothing.known") == "nothing.known");
  // BERT: q, k, v under attention.self, o under attention.output: the attention's own quantities go where
  // the majority (and BertSelfAttention, which computes them) is; the layer pairs with the layer.
  const auto bert = inspect::activation_names(Bert<float>::hf_names());
  CHECK(bert("encoder.layers.1.attn.weights") == "encoder.layer.1.attention.self.weights");
  CHECK(bert("encoder.layers.1.attn.q.out") == "encoder.layer.1.attention.self.query.out");
  CHECK(bert("encoder.layers.1.attn.o.out") == "encoder.layer.1.attention.output.dense.out");
  CHECK(bert("encoder.layers.1.resid_mid") == "encoder.layer.1.resid_mid");
  CHECK(bert("encoder.layers.1.out") == "encoder.layer.1.out");
  CHECK(bert("encoder.layers.1.ffn.hidden") == "encoder.layer.1.intermediate.hidden");
  T5<float> t5 = T5<float>::from_pretrained(model_dir("flan-t5-style"));
  const auto t5_names = inspect::activation_names(t5.hf_names());
  CHECK(t5_names("decoder.layers.0.cross_attn.weights") == "decoder.block.0.layer.1.EncDecAttention.weights");
  CHECK(t5_names("decoder.layers.0.self_attn.q.out") == "decoder.block.0.layer.0.SelfAttention.q.out");
  CHECK(t5_names("encoder.layers.1.ffn.gate.out") == "encoder.block.1.layer.1.DenseReluDense.wi_0.out");
  CHECK(t5_names("decoder.layers.1.resid_cross") == "decoder.block.1.resid_cross");
}

TEST_CASE_TEMPLATE("Every named intermediate of Llama matches a step-by-step PyTorch forward", T, float, double) {
  Llama<T> model = Llama<T>::from_pretrained(model_dir("llama-gqa-sharded"));
  Capture<T> capture = llama_capture<T>("*");
  Matrix<T> logits;
  LlamaOptions<T> options;
  options.capture = &capture;
  model.forward(reference_ids(), logits, options);
  capture.record("lm_head.out", logits.data(), {1, logits.rows(), logits.cols()}, {"batch", "position", "vocabulary"});

  // Every site the table of forward_context.hpp lists, for both layers, and nothing else.
  const std::vector<std::string> per_layer = {
      "input_layernorm.out", "self_attn.q_proj.out", "self_attn.k_proj.out", "self_attn.v_proj.out",
      "self_attn.q_rope", "self_attn.k_rope", "self_attn.scores", "self_attn.bias_mask", "self_attn.weights",
      "self_attn.context", "self_attn.o_proj.out", "resid_mid", "post_attention_layernorm.out",
      "mlp.gate_proj.out", "mlp.up_proj.out", "mlp.hidden", "mlp.down_proj.out", "out"};
  std::set<std::string> expected = {"model.embeddings", "model.norm.out", "lm_head.out"};
  for (int l = 0; l < 2; ++l) {
    for (const std::string& site : per_layer) expected.insert("model.layers." + std::to_string(l) + "." + site);
  }
  std::set<std::string> kept;
  for (const Intermediate<T>& a : capture.named) kept.insert(a.name);
  CHECK(kept == expected);
  CHECK(capture.named.front().name == "model.embeddings");  // kept in the order computed
  CHECK(capture.at("model.layers.1.self_attn.weights").axes == std::vector<std::string>{"batch", "head", "query", "key"});
  CHECK(capture.at("model.layers.1.self_attn.k_proj.out").shape == std::vector<Index>{1, 7, 2, 4});  // Hkv = 2

  // Against PyTorch, every value (the mask's −∞ included: equal infinities agree).
  const inspect::NamedTensors reference = inspect::read_named_tensors(fixture_path(kIntermediates));
  const inspect::NamedTensors ours = inspect::named_tensors(capture);
  inspect::Tolerance tolerance;
  tolerance.absolute = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  const inspect::Comparison c = inspect::compare(ours, reference, tolerance);
  INFO(c.to_text());
  CHECK(c.agree());
  std::size_t compared = 0;
  double worst = 0;
  for (const inspect::TensorComparison& t : c.tensors) {
    if (t.in_a && t.in_b) {
      ++compared;
      worst = std::max(worst, t.max_error);
    }
  }
  CHECK(compared == expected.size());

  // A port with a RoPE bug in layer 1 (one value of q_rope off) and everything after it wrong too: compare walks
  // the intermediates in the order computed and names the first one, with its axes.
  inspect::NamedTensors broken = reference;
  for (inspect::NamedTensor& t : broken.tensors) {
    if (t.name == "model.layers.1.self_attn.q_rope") t.values[3 * 16 + 2 * 4 + 1] += 0.01;  // (T, H, D) = (7, 4, 4)
    if (t.name == "model.layers.1.out" || t.name == "lm_head.out") t.values[0] += 0.01;
  }
  const inspect::Comparison bug = inspect::compare(ours, broken, tolerance);
  INFO(bug.to_text());
  CHECK(bug.summary().rfind("first divergence: model.layers.1.self_attn.q_rope \xE2\x80\x94 layer 1, position 3, head 2, dim 1: ", 0) == 0);
  MESSAGE("llama intermediates (" << std::string(std::is_same_v<T, float> ? "float" : "double") << "): " << compared
                                  << " tensors, max |ours - PyTorch| = " << worst);
}

TEST_CASE("The filter keeps only what it names — a capture without keep or hooks changes nothing") {
  Llama<double> model = Llama<double>::from_pretrained(model_dir("llama-gqa-sharded"));
  const TokenIds ids = reference_ids();
  Matrix<double> plain, filtered;
  model.forward(ids, plain);

  Capture<double> capture = llama_capture<double>("model.layers.*.self_attn.weights,model.layers.0.out");
  LlamaOptions<double> options;
  options.capture = &capture;
  model.forward(ids, filtered, options);
  CHECK(capture.named.size() == 3);
  CHECK(capture.find("model.layers.0.self_attn.weights") != nullptr);
  CHECK(capture.find("model.layers.1.self_attn.weights") != nullptr);
  CHECK(capture.find("model.layers.0.out") != nullptr);
  CHECK(capture.find("model.layers.1.out") == nullptr);
  CHECK_THROWS_AS(capture.at("model.layers.1.out"), ValueError);
  CHECK((filtered - plain).cwiseAbs().maxCoeff() == 0.0);  // keeping changes no value

  // The usual capture (hidden states and maps) names nothing and keeps no named intermediate.
  Capture<double> usual;
  options.capture = &usual;
  model.forward(ids, filtered, options);
  CHECK_FALSE(usual.inspecting());
  CHECK(usual.named.empty());
  CHECK(usual.hidden_states.size() == 3);
  CHECK((filtered - plain).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("An encoder-decoder names both stacks and the cross-attention — the weights are the maps") {
  T5<double> model = T5<double>::from_pretrained(model_dir("flan-t5-style"));
  Reference ref("flan-t5-style");
  Capture<double> encoder, decoder;
  encoder.prefix = "encoder.";
  decoder.prefix = "decoder.";
  encoder.rename = decoder.rename = inspect::activation_names(model.hf_names());
  encoder.keep_matching("*");
  decoder.keep_matching("*");
  T5Options<double> options;
  options.encoder_capture = &encoder;
  options.decoder_capture = &decoder;
  Matrix<double> logits;
  model.forward(ref.ids("input_ids"), ref.ids("decoder_input_ids"), logits, options);
  const Intermediate<double>& cross = decoder.at("decoder.block.1.layer.1.EncDecAttention.weights");
  const Tensor4<double>& map = decoder.cross_attentions[1];
  REQUIRE(cross.values.size() == static_cast<std::size_t>(map.size()));
  for (std::size_t i = 0; i < cross.values.size(); ++i) CHECK(cross.values[i] == map.data()[i]);
  // T5 has a relative bias and no RoPE: bias_mask is the bias (finite), and there is no q_rope.
  const Intermediate<double>& bias = encoder.at("encoder.block.0.layer.0.SelfAttention.bias_mask");
  for (double v : bias.values) CHECK(std::isfinite(v));
  CHECK(encoder.find("encoder.block.0.layer.0.SelfAttention.q_rope") == nullptr);
  CHECK(decoder.find("decoder.block.0.layer.2.DenseReluDense.wi_0.out") != nullptr);  // gated: the gate apart
  CHECK(decoder.find("decoder.block.0.resid_cross") != nullptr);
  // The last block's output, after the final norm, is what Hugging Face reports as the last hidden state.
  const Intermediate<double>& last = decoder.at("decoder.final_layer_norm.out");
  const Tensor3<double>& hidden = decoder.hidden_states.back();
  for (std::size_t i = 0; i < last.values.size(); ++i) CHECK(last.values[i] == hidden.data()[i]);
}

TEST_CASE("A post-norm encoder (BERT): each block's output is the hidden state — no normed-input site") {
  Bert<double> model = Bert<double>::from_pretrained(model_dir("bert-base-style"));
  Reference ref("bert-base-style");
  Capture<double> capture;
  capture.prefix = "encoder.";
  capture.rename = inspect::activation_names(Bert<double>::hf_names());
  capture.keep_matching("*");
  BertOptions<double> options;
  options.capture = &capture;
  Tensor3<double> hidden;
  model.forward(ref.ids("input_ids"), hidden, options);
  const Intermediate<double>& out0 = capture.at("encoder.layer.0.out");
  for (std::size_t i = 0; i < out0.values.size(); ++i) CHECK(out0.values[i] == capture.hidden_states[1].data()[i]);
  CHECK(capture.find("encoder.layer.0.attention.output.LayerNorm.out") == nullptr);  // post-norm: resid_mid is it
  CHECK(capture.find("encoder.layer.0.resid_mid") != nullptr);
  CHECK(capture.find("encoder.layer.0.intermediate.dense.out") != nullptr);
}
