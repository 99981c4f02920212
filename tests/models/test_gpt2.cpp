// GPT-2 (examples/gpt2/gpt2.hpp) against tools/fixtures/reference_gpt2.py (which multiplies by the Conv1D weights as
// the file stores them): logits, every hidden state and attention map of a GPT2LMHeadModel-style checkpoint
// ("transformer." names, n_inner null) and of one with the original gpt2 file's bare names, causal-mask buffers and
// F16 weights; the fused/transposed loader (models/stored_layout.hpp) and its errors; cached decoding; saving.
#include <doctest/doctest.h>

#include "gpt2/gpt2.hpp"
#include "model_fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::vector<std::string> kGPT2Checkpoints = {"gpt2-style", "gpt2-bare-f16"};

template <class T>
Matrix<T> full_logits(GPT2<T>& model, const TokenIds& ids, Capture<T>* capture = nullptr) {
  Matrix<T> logits;
  GPT2Options<T> options;
  options.capture = capture;
  model.forward(ids, logits, options);
  return logits;
}

}  // namespace

TEST_CASE_TEMPLATE("GPT-2 checkpoints match the PyTorch reference: logits, hidden states, attentions", T, float, double) {
  for (const std::string& name : kGPT2Checkpoints) {
    CAPTURE(name);
    Reference ref(name);
    GPT2<T> model = GPT2<T>::from_pretrained(model_dir(name));
    Capture<T> capture;
    const Matrix<T> logits = full_logits(model, ref.ids("input_ids"), &capture);
    double worst = ref.check(logits, "logits");
    worst = std::max(worst, ref.check_capture(capture, ""));
    CHECK(capture.hidden_states.size() == static_cast<std::size_t>(model.config().n_layer + 1));
    const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
    MESSAGE(name << " (" << scalar << "): max abs error " << worst);
  }
}

TEST_CASE("GPT-2 configs: n_inner null means 4 × n_embd, activation_function, refused options") {
  const GPT2Config style = GPT2Config::from(Checkpoint(model_dir("gpt2-style")).config());
  CHECK(style.n_inner == 0);
  CHECK(style.inner() == 4 * style.n_embd);
  CHECK(style.activation_function == Activation::GeluTanh);
  CHECK(style.special_tokens.eos == std::vector<TokenId>{66});
  const GPT2Config bare = GPT2Config::from(Checkpoint(model_dir("gpt2-bare-f16")).config());
  CHECK(bare.inner() == 36);
  CHECK(bare.activation_function == Activation::GeluErf);
  GPT2<float> model(bare);
  CHECK(model.decoder.layers[0].ffn.up.weight.rows() == 36);  // (F, C)

  TempDir tmp("gpt2-config");
  const std::string folder = tmp.copy_checkpoint("gpt2-style");
  edit_config(folder, [](json::Value& c) { c.set("scale_attn_by_inverse_layer_idx", true); });
  CHECK_THROWS_WITH_AS(GPT2<float>::from_pretrained(folder), doctest::Contains("scale_attn_by_inverse_layer_idx"), ConfigError);
  edit_config(folder, [](json::Value& c) {
    c.set("scale_attn_by_inverse_layer_idx", false);
    c.set("n_head", 5);
  });
  CHECK_THROWS_WITH_AS(GPT2<float>::from_pretrained(folder), doctest::Contains("n_embd 24 is not divisible by n_head 5"), ConfigError);
  edit_config(folder, [](json::Value& c) {
    c.set("n_head", 4);
    c.set("activation_function", "gelu_weird");
  });
  CHECK_THROWS_WITH_AS(GPT2<float>::from_pretrained(folder), doctest::Contains("activation_function"), ConfigError);
  edit_config(folder, [](json::Value& c) { c.set("model_type", "gpt_neo"); });
  CHECK_THROWS_WITH_AS(GPT2<float>::from_pretrained(folder), doctest::Contains("expected 'gpt2'"), ConfigError);
}

TEST_CASE("GPT-2 loading: c_attn is split into q, k, v and every Conv1D weight is transposed, once") {
  Checkpoint file(model_dir("gpt2-style"));
  GPT2<double> model = GPT2<double>::from_pretrained(model_dir("gpt2-style"));
  const Index C = model.config().n_embd, F = model.config().inner();
  const std::vector<double> c_attn = file.read<double>("transformer.h.1.attn.c_attn.weight");  // (C, 3C)
  const std::vector<double> c_bias = file.read<double>("transformer.h.1.attn.c_attn.bias");    // (3C)
  const std::vector<double> c_fc = file.read<double>("transformer.h.1.mlp.c_fc.weight");       // (C, F)
  const MultiHeadAttention<double>& attn = model.decoder.layers[1].attention;
  double worst = 0;
  for (Index i = 0; i < C; ++i) {      // input feature
    for (Index o = 0; o < C; ++o) {    // output feature of each of q, k, v
      worst = std::max(worst, std::abs(attn.q.weight(o, i) - c_attn[static_cast<std::size_t>(i * 3 * C + o)]));
      worst = std::max(worst, std::abs(attn.k.weight(o, i) - c_attn[static_cast<std::size_t>(i * 3 * C + C + o)]));
      worst = std::max(worst, std::abs(attn.v.weight(o, i) - c_attn[static_cast<std::size_t>(i * 3 * C + 2 * C + o)]));
    }
    for (Index f = 0; f < F; ++f) {
      worst = std::max(worst, std::abs(model.decoder.layers[1].ffn.up.weight(f, i) - c_fc[static_cast<std::size_t>(i * F + f)]));
    }
  }
  for (Index o = 0; o < C; ++o) {
    worst = std::max(worst, std::abs(attn.q.bias(o) - c_bias[static_cast<std::size_t>(o)]));
    worst = std::max(worst, std::abs(attn.v.bias(o) - c_bias[static_cast<std::size_t>(2 * C + o)]));
  }
  CHECK(worst == 0.0);
}

TEST_CASE("GPT-2 loading is strict and names the file's tensors") {
  TempDir tmp("gpt2-strict");
  {
    std::filesystem::rename(tmp.copy_checkpoint("gpt2-style"), tmp / "missing");
    const std::string folder = tmp / "missing";
    edit_safetensors(folder + "/model.safetensors", [](std::vector<StoredTensor>& tensors) {
      tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                   [](const StoredTensor& t) { return t.name == "transformer.h.2.attn.c_attn.weight"; }),
                    tensors.end());
    });
    CHECK_THROWS_WITH_AS(GPT2<float>::from_pretrained(folder), doctest::Contains("transformer.h.2.attn.c_attn.weight"), FormatError);
  }
  {
    // A c_attn in nn.Linear's (3C, C) layout instead of Conv1D's (C, 3C): the shape error names both.
    const std::string folder = tmp.copy_checkpoint("gpt2-style");
    std::filesystem::rename(folder, tmp / "transposed");
    edit_safetensors(tmp / "transposed/model.safetensors", [](std::vector<StoredTensor>& tensors) {
      for (StoredTensor& t : tensors) {
        if (t.name == "transformer.h.0.attn.c_attn.weight") std::swap(t.shape[0], t.shape[1]);
      }
    });
    CHECK_THROWS_WITH_AS(GPT2<float>::from_pretrained(tmp / "transposed"),
                         doctest::Contains("tensor 'transformer.h.0.attn.c_attn.weight' has shape [72, 24] but config.json "
                                           "implies [24, 72]"),
                         FormatError);
  }
  {
    const std::string folder = tmp.copy_checkpoint("gpt2-style");
    std::filesystem::rename(folder, tmp / "extra");
    edit_safetensors(tmp / "extra/model.safetensors", [](std::vector<StoredTensor>& tensors) {
      tensors.push_back({"transformer.h.0.attn.surprise", {2}, {1.0f, 2.0f}});
    });
    CHECK_THROWS_WITH_AS(GPT2<float>::from_pretrained(tmp / "extra"), doctest::Contains("transformer.h.0.attn.surprise"), FormatError);
  }
}

TEST_CASE("GPT-2: the bare names of the original gpt2 file load, their causal-mask buffers are skipped") {
  Checkpoint bare(model_dir("gpt2-bare-f16"));
  CHECK(bare.contains("h.0.attn.c_attn.weight"));
  CHECK(bare.contains("wte.weight"));
  CHECK(bare.contains("h.1.attn.bias"));
  CHECK_FALSE(bare.contains("transformer.wte.weight"));
  GPT2<float> model = GPT2<float>::from_pretrained(model_dir("gpt2-bare-f16"));
  const std::vector<float> stored = bare.read<float>("wte.weight");
  CHECK(std::equal(stored.begin(), stored.end(), model.wte.weight.data()));
}

TEST_CASE_TEMPLATE("GPT-2 through the CausalLM interface: token by token with the KV cache equals the full pass", T, float, double) {
  Reference ref("gpt2-style");
  GPT2<T> gpt2 = GPT2<T>::from_pretrained(model_dir("gpt2-style"));
  CausalLM<T>& model = gpt2;
  const TokenIds ids = ref.ids("input_ids");
  const std::vector<double> expected = ref.values("logits");
  const Index V = model.vocab_size();
  DecoderCache<T> cache;
  Matrix<T> step;
  double worst = 0;
  for (Index t = 0; t < ids.cols(); ++t) {
    model.forward(ids.block(0, t, 1, 1), cache, step, /*last_only=*/true);
    const std::vector<double> row(expected.begin() + t * V, expected.begin() + (t + 1) * V);
    worst = std::max(worst, max_abs_error(step.data(), row));
  }
  INFO("step-by-step decode vs reference: max abs error " << worst);
  CHECK(worst <= absolute_tolerance<T>());
  // Past n_positions the learned table has no row: a ValueError naming the positions, not garbage.
  TokenIds more(1, model.max_positions() - ids.cols() + 1);
  more.setConstant(3);
  CHECK_THROWS_WITH_AS(model.forward(more, cache, step, true), doctest::Contains("exceed the 16 learned positions"), ValueError);
}

TEST_CASE("GPT-2 saves the GPT2LMHeadModel layout (Conv1D, fused c_attn) and loads it back identically") {
  TempDir tmp("gpt2-save");
  for (const std::string& name : kGPT2Checkpoints) {
    CAPTURE(name);
    Reference ref(name);
    GPT2<double> model = GPT2<double>::from_pretrained(model_dir(name));
    const std::string folder = tmp / name;
    model.save_pretrained(folder);
    SafeTensorsReader file(folder + "/model.safetensors");
    const std::int64_t C = model.config().n_embd;
    CHECK(file.info("transformer.h.0.attn.c_attn.weight").shape == std::vector<std::int64_t>{C, 3 * C});
    CHECK(file.info("transformer.h.0.mlp.c_fc.weight").shape == std::vector<std::int64_t>{C, model.config().inner()});
    CHECK_FALSE(file.contains("lm_head.weight"));
    // The bare file's values, saved under GPT2LMHeadModel's names, are the same numbers in the same layout.
    Checkpoint original(model_dir(name));
    const std::string prefix = original.contains("wte.weight") ? "" : "transformer.";
    const std::vector<double> before = original.read<double>(prefix + "h.1.mlp.c_proj.weight");
    const std::vector<double> after = file.read<double>("transformer.h.1.mlp.c_proj.weight");
    CHECK(before == after);
    GPT2<double> again = GPT2<double>::from_pretrained(folder);
    const TokenIds ids = ref.ids("input_ids");
    CHECK((full_logits(again, ids) - full_logits(model, ids)).cwiseAbs().maxCoeff() == 0.0);
  }
}

TEST_CASE("StoredLayout rules that cannot describe a layout are refused") {
  GPT2<float> model = GPT2<float>::from_pretrained(model_dir("gpt2-style"));
  ParameterList<float> params = named_parameters(model);
  Checkpoint checkpoint(model_dir("gpt2-style"));
  std::vector<StoredLayout> rules = model.stored_layouts();
  rules.push_back({"x", {"decoder.layers.0.attn.q.weight"}, true});  // already held by c_attn
  CHECK_THROWS_WITH_AS(load_checkpoint(params, checkpoint, model.names(), rules), doctest::Contains("listed by two"), ValueError);
  rules = {{"x", {"decoder.layers.0.attn.q.weight", "decoder.layers.0.attn.q.bias"}, false}};
  CHECK_THROWS_WITH_AS(load_checkpoint(params, checkpoint, model.names(), rules), doctest::Contains("all be vectors"), ValueError);
  rules = {{"x", {"no.such.parameter"}, false}};
  CHECK_THROWS_WITH_AS(load_checkpoint(params, checkpoint, model.names(), rules), doctest::Contains("no parameter 'no.such.parameter'"),
                       ValueError);
}
