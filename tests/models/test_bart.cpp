// BART (examples/bart/bart.hpp) against tools/fixtures/reference_bart.py: logits and every encoder/decoder hidden
// state, self-attention and cross-attention map of a bart-large-cnn style checkpoint (tied, shared embedding stored
// four times, random final_logits_bias, encoder and decoder of different shapes) and of a scaled-embedding, untied,
// BF16 one; the Seq2SeqLM interface step by step; the position offset of 2; saving; special and forced tokens.
#include <doctest/doctest.h>

#include "bart/bart.hpp"
#include "model_fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::vector<std::string> kBartCheckpoints = {"bart-large-style", "bart-scaled-bf16"};

template <class T>
Matrix<T> full_logits(Bart<T>& model, const TokenIds& source, const TokenIds& target, Capture<T>* encoder = nullptr,
                      Capture<T>* decoder = nullptr) {
  Matrix<T> logits;
  BartOptions<T> options;
  options.encoder_capture = encoder;
  options.decoder_capture = decoder;
  model.forward(source, target, logits, options);
  return logits;
}

}  // namespace

TEST_CASE_TEMPLATE("BART checkpoints match the PyTorch reference: logits, hidden states, attentions, cross-attentions", T,
                   float, double) {
  for (const std::string& name : kBartCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Bart<T> model = Bart<T>::from_pretrained(model_dir(name));
    Capture<T> encoder, decoder;
    const Matrix<T> logits = full_logits(model, ref.ids("input_ids"), ref.ids("decoder_input_ids"), &encoder, &decoder);
    REQUIRE(encoder.cross_attentions.empty());
    REQUIRE(decoder.cross_attentions.size() == static_cast<std::size_t>(model.config().decoder_layers));
    double worst = ref.check(logits, "logits");
    worst = std::max(worst, ref.check_capture(encoder, "encoder_"));
    worst = std::max(worst, ref.check_capture(decoder, "decoder_"));
    const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
    MESSAGE(name << " (" << scalar << "): max abs error " << worst);
  }
}

TEST_CASE("BART configs: defaults, encoder and decoder shapes, special and forced tokens") {
  const BartConfig large = BartConfig::from(Checkpoint(model_dir("bart-large-style")).config());
  CHECK(large.encoder_layers == 2);
  CHECK(large.decoder_layers == 3);
  CHECK(large.encoder_attention_heads == 4);
  CHECK(large.decoder_attention_heads == 2);
  CHECK(large.activation_function == Activation::GeluErf);
  CHECK_FALSE(large.scale_embedding);
  CHECK(large.special_tokens.decoder_start == TokenId{2});
  CHECK(large.special_tokens.forced_bos == TokenId{0});
  CHECK(large.special_tokens.forced_eos == std::vector<TokenId>{2});
  const BartConfig scaled = BartConfig::from(Checkpoint(model_dir("bart-scaled-bf16")).config());
  CHECK(scaled.scale_embedding);
  CHECK(scaled.activation_function == Activation::GeluTanh);
  CHECK_FALSE(scaled.tie_word_embeddings);
  CHECK_FALSE(scaled.special_tokens.forced_bos);

  TempDir tmp("bart-config");
  const std::string folder = tmp.copy_checkpoint("bart-large-style");
  edit_config(folder, [](json::Value& c) {
    erase_key(c, "forced_eos_token_id");
    erase_key(c, "decoder_start_token_id");
  });
  const BartConfig defaults = BartConfig::from(Checkpoint(folder).config());
  CHECK(defaults.special_tokens.forced_eos == std::vector<TokenId>{2});  // BartConfig's defaults
  CHECK(defaults.special_tokens.decoder_start == TokenId{2});
  edit_config(folder, [](json::Value& c) { c.set("decoder_attention_heads", 5); });
  CHECK_THROWS_WITH_AS(Bart<float>::from_pretrained(folder), doctest::Contains("d_model 24 is not divisible by decoder_attention_heads 5"),
                       ConfigError);
  edit_config(folder, [](json::Value& c) {
    c.set("decoder_attention_heads", 2);
    c.set("forced_bos_token_id", 500);
  });
  CHECK_THROWS_WITH_AS(Bart<float>::from_pretrained(folder), doctest::Contains("forced_bos_token_id"), ConfigError);
  edit_config(folder, [](json::Value& c) {
    c.set("forced_bos_token_id", 0);
    c.set("model_type", "mbart");
  });
  CHECK_THROWS_WITH_AS(Bart<float>::from_pretrained(folder), doctest::Contains("expected 'bart'"), ConfigError);
}

TEST_CASE_TEMPLATE("BART through the Seq2SeqLM interface: encode once, decode step by step", T, float, double) {
  for (const std::string& name : kBartCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Bart<T> bart = Bart<T>::from_pretrained(model_dir(name));
    Seq2SeqLM<T>& model = bart;
    const TokenIds source = ref.ids("input_ids"), target = ref.ids("decoder_input_ids");
    Tensor3<T> memory;
    model.encode(source, nullptr, memory);
    DecoderCache<T> cache;
    Matrix<T> step;
    const std::vector<double> expected = ref.values("logits");
    const Index V = model.vocab_size();
    double worst = 0;
    for (Index t = 0; t < target.cols(); ++t) {
      model.decode(target.block(0, t, 1, 1), memory, nullptr, cache, step, /*last_only=*/true);
      const std::vector<double> row(expected.begin() + t * V, expected.begin() + (t + 1) * V);
      worst = std::max(worst, max_abs_error(step.data(), row));
    }
    INFO("step-by-step decode vs reference: max abs error " << worst);
    CHECK(worst <= absolute_tolerance<T>());
  }
}

TEST_CASE("Pitfall: BART's learned positions are read at p + 2, and final_logits_bias is added") {
  Reference ref("bart-large-style");
  Bart<double> model = Bart<double>::from_pretrained(model_dir("bart-large-style"));
  CHECK(model.encoder_positions.offset() == 2);
  CHECK(model.encoder_positions.table.count() == model.config().max_position_embeddings + 2);
  const TokenIds source = ref.ids("input_ids"), target = ref.ids("decoder_input_ids");
  const std::vector<double> expected = ref.values("logits");
  CHECK(max_abs_error(full_logits(model, source, target).data(), expected) < 1e-9);
  // Without the bias, every logit moves by final_logits_bias[v] — far from the reference.
  const Matrix<double> bias = model.final_logits_bias;
  model.final_logits_bias.setZero();
  CHECK(max_abs_error(full_logits(model, source, target).data(), expected) > 0.1);
  model.final_logits_bias = bias;
  // Reading positions from row p (a table without the offset) changes every number.
  Bart<double> shifted = Bart<double>::from_pretrained(model_dir("bart-large-style"));
  Matrix<double>& table = shifted.decoder_positions.table.weight;
  table.bottomRows(table.rows() - 2) = Matrix<double>(table.topRows(table.rows() - 2));
  CHECK(max_abs_error(full_logits(shifted, source, target).data(), expected) > 0.1);
  // Past max_position_embeddings there is no row to read: a ValueError naming the positions.
  TokenIds long_target(1, model.config().max_position_embeddings + 1);
  long_target.setConstant(5);
  CHECK_THROWS_WITH_AS(full_logits(model, source, long_target), doctest::Contains("exceed the 20 learned positions"), ValueError);
}

TEST_CASE("BART loads the shared embedding from model.shared or from its tied copies") {
  Checkpoint large(model_dir("bart-large-style"));
  CHECK(large.contains("model.shared.weight"));
  CHECK(large.contains("model.encoder.embed_tokens.weight"));
  CHECK(large.contains("lm_head.weight"));
  TempDir tmp("bart-shared");
  std::filesystem::rename(tmp.copy_checkpoint("bart-large-style"), tmp / "only-encoder-copy");
  const std::string folder = tmp / "only-encoder-copy";
  edit_safetensors(folder + "/model.safetensors", [](std::vector<StoredTensor>& tensors) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [](const StoredTensor& t) {
                                   return t.name == "model.shared.weight" || t.name == "lm_head.weight" ||
                                          t.name == "model.decoder.embed_tokens.weight";
                                 }),
                  tensors.end());
  });
  Bart<float> model = Bart<float>::from_pretrained(folder);
  const std::vector<float> stored = large.read<float>("model.shared.weight");
  CHECK(std::equal(stored.begin(), stored.end(), model.shared.weight.data()));
  // A file without final_logits_bias (a bare BartModel) is refused by name: the head needs it.
  edit_safetensors(folder + "/model.safetensors", [](std::vector<StoredTensor>& tensors) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [](const StoredTensor& t) { return t.name == "final_logits_bias"; }),
                  tensors.end());
  });
  CHECK_THROWS_WITH_AS(Bart<float>::from_pretrained(folder), doctest::Contains("final_logits_bias"), FormatError);
}

TEST_CASE("BART saves the Hugging Face layout and loads it back identically") {
  TempDir tmp("bart-save");
  for (const std::string& name : kBartCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Bart<double> model = Bart<double>::from_pretrained(model_dir(name));
    const std::string folder = tmp / name;
    model.save_pretrained(folder);
    SafeTensorsReader file(folder + "/model.safetensors");
    CHECK(file.contains("model.shared.weight"));
    CHECK(file.info("final_logits_bias").shape == std::vector<std::int64_t>{1, model.config().vocab_size});
    CHECK(file.contains("model.decoder.layers.1.encoder_attn.out_proj.bias"));
    CHECK(file.contains("model.encoder.layernorm_embedding.weight"));
    CHECK(file.contains("lm_head.weight") == !model.config().tie_word_embeddings);
    Bart<double> again = Bart<double>::from_pretrained(folder);
    const TokenIds source = ref.ids("input_ids"), target = ref.ids("decoder_input_ids");
    CHECK((full_logits(again, source, target) - full_logits(model, source, target)).cwiseAbs().maxCoeff() == 0.0);
  }
}
