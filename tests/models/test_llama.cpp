// Llama (examples/llama/llama.hpp) against tools/fixtures/reference_llama.py: logits, every hidden state and every
// attention map of three checkpoints (GQA + sharded, tied + BF16 + Llama 3 RoPE + head_dim, MQA + F16 + linear
// RoPE); the generation interface (cache, last_only, left padding); saving; the RoPE layout and GQA pitfalls.
#include <doctest/doctest.h>

#include "llama/llama.hpp"
#include "model_fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::vector<std::string> kLlamaCheckpoints = {"llama-gqa-sharded", "llama-tied-bf16", "llama-mqa-f16"};

template <class T>
Matrix<T> full_logits(Llama<T>& model, const TokenIds& ids, Capture<T>* capture = nullptr) {
  Matrix<T> logits;
  LlamaOptions<T> options;
  options.capture = capture;
  model.forward(ids, logits, options);
  return logits;
}

}  // namespace

TEST_CASE_TEMPLATE("Llama checkpoints match the PyTorch reference: logits, hidden states, attentions", T, float, double) {
  for (const std::string& name : kLlamaCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Llama<T> model = Llama<T>::from_pretrained(model_dir(name));
    Capture<T> capture;
    const Matrix<T> logits = full_logits(model, ref.ids("input_ids"), &capture);
    const double worst = std::max(ref.check(logits, "logits"), ref.check_capture(capture, ""));
    const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
    MESSAGE(name << " (" << scalar << "): max abs error " << worst);
  }
}

TEST_CASE("Llama configs are read with Hugging Face's defaults and meanings") {
  const LlamaConfig gqa = LlamaConfig::from(Checkpoint(model_dir("llama-gqa-sharded")).config());
  CHECK(gqa.num_key_value_heads == 2);
  CHECK(gqa.head_dim == 4);
  CHECK(gqa.special_tokens.eos == std::vector<TokenId>{2});
  const LlamaConfig tied = LlamaConfig::from(Checkpoint(model_dir("llama-tied-bf16")).config());
  CHECK(tied.num_key_value_heads == 2);  // absent from config.json: defaults to the heads
  CHECK(tied.head_dim == 12);            // explicit, and 2 × 12 ≠ 20
  CHECK(tied.tie_word_embeddings);
  CHECK(tied.rope_scaling.kind == RopeScaling::Kind::Llama3);
  CHECK(tied.rope_scaling.original_max_positions == 64);
  CHECK(tied.special_tokens.eos == std::vector<TokenId>{2, 5});
  CHECK(tied.special_tokens.is_eos(5));
  const LlamaConfig mqa = LlamaConfig::from(Checkpoint(model_dir("llama-mqa-f16")).config());
  CHECK(mqa.rope_scaling.kind == RopeScaling::Kind::Linear);  // the older {"type": "linear"} spelling
  CHECK(mqa.rope_scaling.factor == 2.0);
  CHECK(mqa.special_tokens.pad == TokenId{0});
}

TEST_CASE_TEMPLATE("Llama through the CausalLM interface: a cached decode equals the full forward", T, float, double) {
  Reference ref("llama-gqa-sharded");
  Llama<T> llama = Llama<T>::from_pretrained(model_dir("llama-gqa-sharded"));
  CausalLM<T>& model = llama;
  const TokenIds ids = ref.ids("input_ids");
  const Index n = ids.cols();
  CHECK(model.vocab_size() == 71);
  CHECK(model.max_positions() == 64);
  CHECK(model.special_tokens().bos == TokenId{1});

  // The prompt minus its last token, with last_only: one row of logits, that of position n-2.
  DecoderCache<T> cache;
  Matrix<T> prompt_logits, step_logits;
  model.forward(ids.leftCols(n - 1), cache, prompt_logits, /*last_only=*/true);
  CHECK(cache.length() == n - 1);
  REQUIRE(prompt_logits.rows() == 1);
  std::vector<double> expected = ref.values("logits");
  const Index V = model.vocab_size();
  const std::vector<double> row_before_last(expected.begin() + (n - 2) * V, expected.begin() + (n - 1) * V);
  CHECK(max_abs_error(prompt_logits.data(), row_before_last) <= absolute_tolerance<T>());
  // One more token through the cache: the logits of the last position.
  model.forward(ids.rightCols(1), cache, step_logits);
  CHECK(cache.length() == n);
  const std::vector<double> last_row(expected.end() - V, expected.end());
  const double err = max_abs_error(step_logits.data(), last_row);
  INFO("cached step vs reference: " << err);
  CHECK(err <= absolute_tolerance<T>());
}

TEST_CASE("Llama: a left-padded batch gives each sequence the logits it gets alone") {
  // RoPE depends only on the distance between positions, so padding on the left (hidden by the key padding) must
  // not change what the real tokens compute.
  Reference ref("llama-mqa-f16");
  Llama<double> model = Llama<double>::from_pretrained(model_dir("llama-mqa-f16"));
  const TokenIds ids = ref.ids("input_ids");
  const Index n = ids.cols(), pad = 3;
  TokenIds batch = TokenIds::Zero(2, n);
  batch.row(0) = ids.row(0);
  batch.block(1, pad, 1, n - pad) = ids.block(0, 0, 1, n - pad);
  KeyPadding::Mask mask = KeyPadding::Mask::Ones(2, n);
  mask.block(1, 0, 1, pad).setZero();
  const KeyPadding padding = KeyPadding::from_mask(mask);

  DecoderCache<double> cache;
  Matrix<double> logits;
  model.forward(batch, cache, logits, /*last_only=*/false, &padding);
  const Matrix<double> alone = full_logits(model, ids);
  const Matrix<double> alone_short = full_logits(model, TokenIds(ids.block(0, 0, 1, n - pad)));
  CHECK((logits.topRows(n) - alone).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((logits.bottomRows(n - pad) - alone_short).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("Llama refuses positions beyond max_position_embeddings") {
  Llama<float> model = Llama<float>::from_pretrained(model_dir("llama-mqa-f16"));  // 32 positions
  Matrix<float> logits;
  CHECK_NOTHROW(model.forward(TokenIds::Ones(1, 32), logits));
  CHECK_THROWS_WITH_AS(model.forward(TokenIds::Ones(1, 33), logits),
                       "[Llama] positions 0..32 exceed the context of 32 positions (max_position_embeddings)", ValueError);
  CHECK_THROWS_AS(model.forward(TokenIds::Constant(1, 3, 50), logits), ValueError);  // id 50 of a 50-token vocabulary
}

TEST_CASE("Llama saves the Hugging Face layout and loads it back identically") {
  TempDir tmp("llama-save");
  for (const std::string& name : kLlamaCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Llama<double> model = Llama<double>::from_pretrained(model_dir(name));
    const std::string folder = tmp / name;
    model.save_pretrained(folder);  // F32: the fixtures' values are F32-exact (BF16/F16 widen exactly)

    // The file: HF names, the "pt" format tag, no buffers, no lm_head when tied, config.json readable.
    SafeTensorsReader file(folder + "/model.safetensors");
    CHECK(file.metadata().at("format") == "pt");
    CHECK(file.contains("model.embed_tokens.weight"));
    CHECK(file.contains("model.layers.1.self_attn.k_proj.weight"));
    CHECK(file.contains("model.norm.weight"));
    CHECK(file.contains("lm_head.weight") == !model.config().tie_word_embeddings);
    CHECK_FALSE(file.contains("model.layers.0.self_attn.rotary_emb.inv_freq"));
    const json::Value config = json::parse_file(folder + "/config.json");
    CHECK(config.at("model_type").as_string() == "llama");
    CHECK(config.at("torch_dtype").as_string() == "float32");

    Llama<double> again = Llama<double>::from_pretrained(folder);
    const TokenIds ids = ref.ids("input_ids");
    CHECK((full_logits(again, ids) - full_logits(model, ids)).cwiseAbs().maxCoeff() == 0.0);
    CHECK(again.config().rope_scaling.kind == model.config().rope_scaling.kind);
  }
}

TEST_CASE("Pitfall: RoPE half-split vs interleaved give the same model after the documented permutation") {
  // HF checkpoints pair feature i with i + D/2 ("rotate_half"); Meta's original weights pair 2i with 2i + 1.
  // Permuting the rows of W_q and W_k head by head turns one layout into the other: the scores, hence
  // everything, must agree. Without the permutation they must not (else this test could not fail).
  Reference ref("llama-gqa-sharded");
  const TokenIds ids = ref.ids("input_ids");
  Llama<double> hf = Llama<double>::from_pretrained(model_dir("llama-gqa-sharded"));
  Llama<double> meta = Llama<double>::from_pretrained(model_dir("llama-gqa-sharded"), RopeLayout::Interleaved);
  CHECK((full_logits(meta, ids) - full_logits(hf, ids)).cwiseAbs().maxCoeff() > 1e-3);  // layouts differ

  for (std::size_t l = 0; l < meta.decoder.layers.size(); ++l) {
    MultiHeadAttention<double>& attn = meta.decoder.layers[l].attention;
    attn.q.weight = rope_half_split_to_interleaved(attn.q.weight, attn.heads());
    attn.k.weight = rope_half_split_to_interleaved(attn.k.weight, attn.kv_heads());
  }
  Capture<double> hf_capture, meta_capture;
  const Matrix<double> hf_logits = full_logits(hf, ids, &hf_capture);
  const Matrix<double> meta_logits = full_logits(meta, ids, &meta_capture);
  CHECK((meta_logits - hf_logits).cwiseAbs().maxCoeff() < 1e-12);
  for (std::size_t l = 0; l < hf_capture.attentions.size(); ++l) {
    const Eigen::Tensor<double, 0, Eigen::RowMajor> diff = (meta_capture.attentions[l] - hf_capture.attentions[l]).abs().maximum();
    CHECK(diff() < 1e-12);
  }
  // And the permutation is a bijection: back to half-split gives the loaded weights.
  MultiHeadAttention<double>& attn = meta.decoder.layers[0].attention;
  CHECK(rope_interleaved_to_half_split(attn.q.weight, attn.heads()) == hf.decoder.layers[0].attention.q.weight);
}

TEST_CASE("Pitfall: a GQA checkpoint loads with Hkv < H, and each query head reads its own key/value group") {
  Llama<double> model = Llama<double>::from_pretrained(model_dir("llama-gqa-sharded"));
  const MultiHeadAttention<double>& attn = model.decoder.layers[0].attention;
  CHECK(attn.heads() == 4);
  CHECK(attn.kv_heads() == 2);
  CHECK(attn.k.weight.rows() == 2 * 4);  // (Hkv·D, C)
  CHECK(attn.q.weight.rows() == 4 * 4);  // (H·D, C)
  // The parity test above is the real check (gibberish would be far off); here, a classic mistake: mapping query
  // head h to key head h % Hkv instead of h / (H/Hkv). Swapping the two key/value groups must change the logits.
  Reference ref("llama-gqa-sharded");
  const TokenIds ids = ref.ids("input_ids");
  const Matrix<double> right = full_logits(model, ids);
  for (auto& layer : model.decoder.layers) {
    Matrix<double>& k = layer.attention.k.weight;
    Matrix<double>& v = layer.attention.v.weight;
    k.topRows(4).swap(k.bottomRows(4));
    v.topRows(4).swap(v.bottomRows(4));
  }
  CHECK((full_logits(model, ids) - right).cwiseAbs().maxCoeff() > 1e-3);
}

// tools/fixtures/make_padded_references.py: batches of prompts of different lengths, left-padded, through the
// PyTorch reference with the attention mask transformers builds (causal + padding keys). Every real token's
// logits are compared (padded rows mean nothing); tolerances as for the unpadded references.
TEST_CASE_TEMPLATE("Llama: left-padded batches match the PyTorch reference with transformers' attention mask", T, float, double) {
  Fixture batches("models/padded_batches.safetensors");
  for (const std::string name : {"llama-gqa-sharded", "llama-tied-bf16"}) {
    CAPTURE(name);
    Llama<T> model = Llama<T>::from_pretrained(model_dir(name));
    const TensorInfo& shape = batches.info(name + ".input_ids");
    const Index B = shape.shape[0], L = shape.shape[1], V = model.vocab_size();
    const std::vector<double> ids = batches.values<double>(name + ".input_ids");
    const std::vector<double> real = batches.values<double>(name + ".attention_mask");
    const std::vector<double> expected = batches.values<double>(name + ".logits");
    TokenIds batch(B, L);
    KeyPadding::Mask mask(B, L);
    for (Index i = 0; i < B * L; ++i) {
      batch.data()[i] = static_cast<TokenId>(ids[static_cast<std::size_t>(i)]);
      mask.data()[i] = static_cast<std::uint8_t>(real[static_cast<std::size_t>(i)]);
    }
    REQUIRE(mask.cast<Index>().sum() < B * L);  // some sequence is padded
    const KeyPadding padding = KeyPadding::from_mask(mask);
    DecoderCache<T> cache;
    Matrix<T> logits;
    model.forward(batch, cache, logits, /*last_only=*/false, &padding);
    REQUIRE(logits.rows() == B * L);
    double worst = 0;
    Index compared = 0;
    for (Index r = 0; r < B * L; ++r) {
      if (mask.data()[r] == 0) continue;
      for (Index v = 0; v < V; ++v) {
        worst = std::max(worst, std::abs(static_cast<double>(logits(r, v)) - expected[static_cast<std::size_t>(r * V + v)]));
      }
      ++compared;
    }
    INFO("max abs error over " << compared << " real positions: " << worst);
    CHECK(worst <= absolute_tolerance<T>());
    CHECK(compared == mask.cast<Index>().sum());
  }
}
