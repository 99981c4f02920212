// Runtime misuse: each wrong call a student can make is refused before anything is computed, with the exact
// error kind (core/error.hpp) and a message that names the culprit — the id and where it is, the two lengths
// that disagree, the setting and its value. On the fixture checkpoints (tests/fixtures/models): llama-gqa-sharded
// (V = 71, 64 positions), bert-base-style (V = 67, 16 positions), t5-small-style (V = 57).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "bert/bert.hpp"
#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"
#include "llama/llama_options.hpp"
#include "models/model_fixture.hpp"
#include "support/fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

Llama<float>& llama() {
  static Llama<float> model = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  return model;
}

Bert<float>& bert() {
  static Bert<float> model = Bert<float>::from_pretrained(testing::fixture_path("models/bert-base-style"));
  return model;
}

T5<float>& t5() {
  static T5<float> model = T5<float>::from_pretrained(testing::fixture_path("models/t5-small-style"));
  return model;
}

TokenIds ids_of(std::initializer_list<std::initializer_list<TokenId>> rows) {
  TokenIds ids(static_cast<Index>(rows.size()), static_cast<Index>(rows.begin()->size()));
  Index b = 0;
  for (const auto& row : rows) {
    Index t = 0;
    for (TokenId id : row) ids(b, t++) = id;
    ++b;
  }
  return ids;
}

// A model whose scores are fixed, except one step that returns a NaN or an infinity.
class BrokenLM : public CausalLM<double> {
 public:
  BrokenLM(std::int64_t bad_step, double bad_value) : bad_step_(bad_step), bad_value_(bad_value) {}
  Index vocab_size() const override { return 10; }
  Index max_positions() const override { return 100; }
  const SpecialTokenIds& special_tokens() const override { return special_; }
  void forward(const TokenIds& ids, DecoderCache<double>& cache, Matrix<double>& logits, bool, const KeyPadding*) override {
    cache.self.resize(1);
    cache.self[0].append(Matrix<double>::Zero(ids.size(), 1), Matrix<double>::Zero(ids.size(), 1), ids.rows());
    logits = Matrix<double>::Zero(ids.rows(), 10);
    logits(0, 3) = 1.0;
    if (calls_++ == bad_step_) logits(0, 7) = bad_value_;
  }

 private:
  std::int64_t bad_step_;
  double bad_value_;
  std::int64_t calls_ = 0;
  SpecialTokenIds special_;
};

/// The generation settings the llama program makes of a command line (examples/common/generate_cli.hpp).
GenerationConfig settings_of(std::vector<std::string> flags) {
  flags.insert(flags.begin(), "llama");
  std::vector<char*> argv;
  for (std::string& f : flags) argv.push_back(f.data());
  const cli::Table table = cli::llama_options();
  const cli::Arguments args(static_cast<int>(argv.size()), argv.data(), table);
  return cli::generation_settings(args, testing::fixture_path("models/llama-gqa-sharded"), 1);
}

}  // namespace

TEST_CASE("misuse: token ids outside the vocabulary, negative or too large, name the id and its place") {
  Matrix<float> logits;
  CHECK_THROWS_WITH_AS(llama().forward(ids_of({{1, 2, -1}}), logits),
                       "[Embedding] token id -1 at batch 0, position 2 is outside the table of 71 entries", ValueError);
  CHECK_THROWS_WITH_AS(llama().forward(ids_of({{1, 2}, {71, 3}}), logits),
                       "[Embedding] token id 71 at batch 1, position 0 is outside the table of 71 entries", ValueError);
  Tensor3<float> hidden;
  CHECK_THROWS_WITH_AS(bert().forward(ids_of({{101 % 67, 67}}), hidden),
                       "[Embedding] token id 67 at batch 0, position 1 is outside the table of 67 entries", ValueError);
  CHECK_THROWS_WITH_AS(t5().forward(ids_of({{1, -5}}), ids_of({{0}}), logits),
                       "[Embedding] token id -5 at batch 0, position 1 is outside the table of 57 entries", ValueError);
  CHECK_THROWS_WITH_AS(t5().forward(ids_of({{1, 2}}), ids_of({{0, 57}}), logits),
                       "[Embedding] token id 57 at batch 0, position 1 is outside the table of 57 entries", ValueError);
  GenerationConfig config;
  config.max_new_tokens = 2;
  CHECK_THROWS_WITH_AS(generate(llama(), {1, 71}, config),
                       "[generation] prompt token 1 has id 71, outside the vocabulary of 71 tokens", ValueError);
  CHECK_THROWS_WITH_AS(generate(llama(), {-3}, config),
                       "[generation] prompt token 0 has id -3, outside the vocabulary of 71 tokens", ValueError);
  CHECK_THROWS_WITH_AS(generate(t5(), {1, 99}, config),
                       "[generation] prompt token 1 has id 99, outside the vocabulary of 57 tokens", ValueError);
  config.eos_token_ids = {71};
  CHECK_THROWS_WITH_AS(generate(llama(), {1}, config), "[generation] EOS id 71 is outside the vocabulary of 71 tokens",
                       ValueError);
}

TEST_CASE("misuse: empty input — no positions, no sequences, an empty prompt") {
  // The attention refuses an empty input before any arithmetic (MultiHeadAttention::check_input).
  Matrix<float> logits;
  CHECK_THROWS_WITH_AS(llama().forward(TokenIds(1, 0), logits), "[MultiHeadAttention] input [1, 0, 16] is empty", ShapeError);
  CHECK_THROWS_WITH_AS(llama().forward(TokenIds(0, 3), logits), "[MultiHeadAttention] input [0, 3, 16] is empty", ShapeError);
  LlamaOptions<float> last;
  last.last_only = true;
  CHECK_THROWS_AS(llama().forward(TokenIds(1, 0), logits, last), ShapeError);
  Tensor3<float> hidden;
  CHECK_THROWS_WITH_AS(bert().forward(TokenIds(1, 0), hidden), doctest::Contains("[MultiHeadAttention] input [1, 0, "),
                       ShapeError);
  CHECK_THROWS_WITH_AS(t5().forward(TokenIds(1, 0), ids_of({{0}}), logits), doctest::Contains("[MultiHeadAttention] input [1, 0, "),
                       ShapeError);
  CHECK_THROWS_WITH_AS(t5().forward(ids_of({{1}}), TokenIds(1, 0), logits), doctest::Contains("[MultiHeadAttention] input [1, 0, "),
                       ShapeError);
  CHECK_THROWS_WITH_AS(generate(llama(), {}, GenerationConfig{}), doctest::Contains("[generation] the prompt is empty"),
                       ValueError);
  CHECK_THROWS_WITH_AS(generate(t5(), {}, GenerationConfig{}), doctest::Contains("[generation] the prompt is empty"),
                       ValueError);
}

TEST_CASE("misuse: a sequence longer than the model's positions, alone or after the cache") {
  Matrix<float> logits;
  CHECK_THROWS_WITH_AS(llama().forward(TokenIds::Ones(1, 65), logits),
                       "[Llama] positions 0..64 exceed the context of 64 positions (max_position_embeddings)", ValueError);
  DecoderCache<float> cache;
  LlamaOptions<float> options;
  options.cache = &cache;
  llama().forward(TokenIds::Ones(1, 60), logits, options);
  CHECK(cache.length() == 60);
  CHECK_THROWS_WITH_AS(llama().forward(TokenIds::Ones(1, 5), logits, options),
                       "[Llama] positions 60..64 exceed the context of 64 positions (max_position_embeddings)", ValueError);
  CHECK(cache.length() == 60);  // refused before anything was appended
  Tensor3<float> hidden;
  CHECK_THROWS_WITH_AS(bert().forward(TokenIds::Ones(1, 17), hidden),
                       "[Embedding::add_positions] positions 0..16 exceed the table of 16 positions", ValueError);
}

TEST_CASE("misuse: a prompt longer than max_position_embeddings in generation") {
  GenerationConfig config;
  config.max_new_tokens = 0;
  CHECK_THROWS_WITH_AS(generate(llama(), TokenSequence(65, 1), config),
                       "[generation] the prompt (65 tokens) plus max_new_tokens (0) exceeds the model's context of 64 positions",
                       ValueError);
  config.max_new_tokens = 10;
  CHECK_THROWS_WITH_AS(generate(llama(), TokenSequence(60, 1), config),
                       "[generation] the prompt (60 tokens) plus max_new_tokens (10) exceeds the model's context of 64 positions",
                       ValueError);
}

TEST_CASE("misuse: a batch that does not match the cache, the padding or the token types") {
  Matrix<float> logits;
  DecoderCache<float> cache;
  LlamaOptions<float> options;
  options.cache = &cache;
  llama().forward(ids_of({{1, 2, 3}}), logits, options);  // the cache now holds one sequence
  CHECK_THROWS_WITH_AS(llama().forward(ids_of({{4}, {5}}), logits, options),
                       doctest::Contains("the cache holds 1 sequences"), ShapeError);
  // Padding for a batch of 3 given to a batch of 2.
  const KeyPadding three = KeyPadding::from_lengths({2, 2, 2});
  LlamaOptions<float> padded;
  padded.padding = &three;
  CHECK_THROWS_WITH_AS(llama().forward(ids_of({{1, 2}, {3, 4}}), logits, padded), doctest::Contains("padding"), ShapeError);
  // A (B, S) mask over 3 keys for 2 positions.
  KeyPadding::Mask mask(1, 3);
  mask << 1, 1, 1;
  const KeyPadding wide = KeyPadding::from_mask(mask);
  padded.padding = &wide;
  CHECK_THROWS_WITH_AS(llama().forward(ids_of({{1, 2}}), logits, padded),
                       "[attention] keys have 2 positions but the key mask has 3", ShapeError);
  Tensor3<float> hidden;
  BertOptions<float> bert_options;
  bert_options.padding = &three;
  CHECK_THROWS_WITH_AS(bert().forward(ids_of({{1, 2}}), hidden, bert_options), doctest::Contains("padding"), ShapeError);
  const TokenIds types = TokenIds::Zero(1, 3);
  BertOptions<float> typed;
  typed.token_types = &types;
  CHECK_THROWS_WITH_AS(bert().forward(ids_of({{1, 2}}), hidden, typed),
                       "[Bert] token types [1, 3] do not match ids [1, 2]", ShapeError);
  T5Options<float> t5_options;
  t5_options.source_padding = &three;
  CHECK_THROWS_WITH_AS(t5().forward(ids_of({{1, 2}}), ids_of({{0}}), logits, t5_options), doctest::Contains("padding"),
                       ShapeError);
}

TEST_CASE("misuse: training labels of the wrong length or outside the vocabulary (the API and llama --labels)") {
  // A model of its own: loss_and_gradients keeps training state that the shared llama() need not see.
  Llama<float> model = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  CHECK_THROWS_WITH_AS(model.loss_and_gradients(ids_of({{1, 2, 3, 4}}), ids_of({{1, 2, 3}})),
                       "[Llama::loss_and_gradients] labels [1, 3] do not match ids [1, 4]", ShapeError);
  CHECK_THROWS_WITH_AS(model.loss_and_gradients(ids_of({{1, 2}, {3, 4}}), ids_of({{1, 2}})),
                       "[Llama::loss_and_gradients] labels [1, 2] do not match ids [2, 2]", ShapeError);
  // Position t is scored against labels(b, t + 1): the label 71 of position 2 is row 1's target.
  CHECK_THROWS_WITH_AS(model.loss_and_gradients(ids_of({{1, 2, 3}}), ids_of({{1, 2, 71}})),
                       "[cross_entropy] label 71 at row 1 is outside the 71 classes (and is not the ignore index -100)",
                       ValueError);
  Bert<float> classifier = Bert<float>::from_pretrained(testing::fixture_path("models/bert-classifier"));
  CHECK_THROWS_WITH_AS(classifier.classification_loss(ids_of({{1, 2}, {3, 4}}), {0}),
                       "[Bert::classification_loss] 2 sequences but 1 labels", ShapeError);
  // The llama program's --labels (examples/llama/llama.cpp) is checked by the ctest test
  // hardening_llama_labels_length (tests/hardening/CMakeLists.txt): it runs the program.
}

TEST_CASE("misuse: generation settings out of range, through the API and through the llama program's flags") {
  const auto refused = [](GenerationConfig c, const char* message) {
    CHECK_THROWS_WITH_AS(c.validate(), message, ValueError);
    CHECK_THROWS_WITH_AS(generate(llama(), {1}, c), message, ValueError);
  };
  GenerationConfig c;
  c.num_beams = 0;
  refused(c, "[generation] num_beams must be >= 1, got 0");
  c = GenerationConfig{};
  c.strategy = Strategy::Sample;
  c.top_p = 1.5;
  refused(c, "[generation] top_p must lie in (0, 1], got 1.5");
  c = GenerationConfig{};
  c.temperature = -0.5;
  refused(c, "[generation] temperature must be a finite number >= 0, got -0.5");
  c = GenerationConfig{};
  c.temperature = std::nan("");
  refused(c, "[generation] temperature must be a finite number >= 0, got nan");
  c = GenerationConfig{};
  c.stop_strings = {"ok", ""};
  refused(c, "[generation] stop strings must not be empty");
  c = GenerationConfig{};
  c.max_new_tokens = -1;
  refused(c, "[generation] max_new_tokens must be >= 0, got -1");
  c = GenerationConfig{};
  c.top_k = -2;
  refused(c, "[generation] top_k must be >= 0, got -2");

  // The same settings as command-line flags (what `llama --num-beams 0` does before loading anything). --num-beams 0
  // used to be reset silently to 1 (greedy) when no --strategy was given: caught by this test.
  CHECK_THROWS_WITH_AS(settings_of({"--num-beams", "0"}), "[generation] num_beams must be >= 1, got 0", ValueError);
  CHECK_THROWS_WITH_AS(settings_of({"--top-p", "1.5"}), "[generation] top_p must lie in (0, 1], got 1.5", ValueError);
  CHECK_THROWS_WITH_AS(settings_of({"--temperature", "-1"}), "[generation] temperature must be a finite number >= 0, got -1",
                       ValueError);
  CHECK_THROWS_WITH_AS(settings_of({"--stop", ""}), "[generation] stop strings must not be empty", ValueError);
}

TEST_CASE("misuse: NaN or infinite logits during generation stop the run at that step, naming the token") {
  GenerationConfig config;
  config.max_new_tokens = 5;
  // BrokenLM has no forward_captured, so the diagnosis says it cannot name the layer (the fixture models can:
  // test_nonfinite_logits.cpp).
  BrokenLM nan_at_2(2, std::numeric_limits<double>::quiet_NaN());
  CHECK_THROWS_WITH_AS(generate(nan_at_2, {1}, config),
                       "[generation] step 2: the model's score for token id 7 is nan (NaN or infinite logits); the model offers no "
                       "capture to find the layer", ValueError);
  BrokenLM inf_at_0(0, std::numeric_limits<double>::infinity());
  CHECK_THROWS_WITH_AS(generate(inf_at_0, {1}, config),
                       "[generation] step 0: the model's score for token id 7 is inf (NaN or infinite logits); the model offers no "
                       "capture to find the layer", ValueError);
  config.strategy = Strategy::Beam;
  config.num_beams = 2;
  BrokenLM beam_nan(1, -std::numeric_limits<double>::infinity());
  CHECK_THROWS_WITH_AS(generate(beam_nan, {1}, config), doctest::Contains("step 1: the model's score for token id 7 is -inf"),
                       ValueError);
}

TEST_CASE("misuse: NaN or Inf in the weights is refused on load, naming the tensor (the finite check)") {
  testing::TempDir tmp("misuse-weights");
  // The first tensor of the first shard gets a NaN at flat index 5; another copy gets -Inf at index 0.
  const std::string poisoned = tmp.copy_checkpoint("llama-gqa-sharded");
  std::string tensor;
  testing::edit_safetensors(poisoned + "/model-00001-of-00002.safetensors", [&](std::vector<testing::StoredTensor>& ts) {
    tensor = ts.front().name;
    ts.front().values[5] = std::numeric_limits<float>::quiet_NaN();
  });
  // The library loads what the file holds (the check is opt-in); check_weights_finite refuses it, as the family
  // programs (llama, gpt2, bart, t5, bert) do right after loading.
  Llama<float> model = Llama<float>::from_pretrained(poisoned);
  CHECK_THROWS_WITH_AS(check_weights_finite(model, poisoned),
                       doctest::Contains(("[check_weights_finite] " + poisoned + ": weight '").c_str()), ValueError);
  CHECK_THROWS_WITH_AS(check_weights_finite(model, poisoned), doctest::Contains("holds nan at flat index 5"), ValueError);
  MESSAGE("the poisoned file tensor: " << tensor);
  CHECK_NOTHROW(check_weights_finite(llama(), "the fixture"));

  Bert<double> bert_model = Bert<double>::from_pretrained(testing::fixture_path("models/bert-base-style"));
  auto params = named_parameters(bert_model);
  params.back().data[0] = -std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(check_weights_finite(bert_model, "bert-base-style"),
                       ("[check_weights_finite] bert-base-style: weight '" + params.back().name + "' " +
                        detail::shape_str(params.back().shape) + " holds -inf at flat index 0")
                           .c_str(),
                       ValueError);
}
