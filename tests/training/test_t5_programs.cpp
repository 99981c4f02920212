// The T5 training programs end to end, on a small scale: the translator trains a few steps and saves a model with
// its tokenizer.json; `t5 --model` reads it and its tokenizer (a typed task token, text out); `t5 --train`
// fine-tunes it on tab-separated pairs through the library's trainer and saves a model `t5` loads again.
// T5's span corruption (--objective span-corruption) is checked both as the library function that makes the pairs
// and through the program.
// (The translator's accuracy target needs a few minutes of training: docs/training.md reports it; here only the
// plumbing is checked.)
#include <doctest/doctest.h>

#include "t5/t5_train.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace t5_programs_test {


// ---- span_corruption_pairs: T5's pretraining pairs from plain texts -----------------------------------------------

namespace {

using eigenformer::Seq2SeqPair;
using eigenformer::TokenId;
using eigenformer::TokenSequence;

/// A vocabulary lookup with <extra_id_0> = top, <extra_id_1> = top − 1, ... (every T5 vocabulary's order).
std::function<std::optional<TokenId>(const std::string&)> sentinels_below(TokenId top, int count) {
  return [top, count](const std::string& token) -> std::optional<TokenId> {
    for (int i = 0; i < count; ++i) {
      if (token == "<extra_id_" + std::to_string(i) + ">") return top - i;
    }
    return std::nullopt;
  };
}

/// The text back from a pair: each sentinel of the source replaced by what follows the same sentinel in the
/// target (up to the next sentinel or </s>). Sentinels are the ids above `last_text_id`.
TokenSequence reassemble(const Seq2SeqPair& p, TokenId last_text_id, TokenId eos) {
  std::map<TokenId, TokenSequence> spans;
  TokenId current = -1;
  for (const TokenId id : p.target) {
    if (id == eos) break;
    if (id > last_text_id) {
      current = id;
      spans[current];
    } else {
      spans[current].push_back(id);
    }
  }
  TokenSequence text;
  for (const TokenId id : p.source) {
    if (id == eos) break;
    if (id > last_text_id) {
      text.insert(text.end(), spans[id].begin(), spans[id].end());
    } else {
      text.push_back(id);
    }
  }
  return text;
}

}  // namespace

TEST_CASE("span_corruption_pairs — sources and targets put back together give each text, with T5's counts") {
  const TokenId eos = 1, top = 99;  // text ids 2..49; sentinels 99, 98, ...
  std::vector<TokenSequence> texts;
  eigenformer::generation::Rng rng(5);
  for (int length = 1; length <= 60; ++length) {
    TokenSequence t;
    for (int i = 0; i < length; ++i) t.push_back(2 + static_cast<TokenId>(rng.uniform() * 48));
    texts.push_back(t);
  }
  const std::vector<Seq2SeqPair> pairs = eigenformer::span_corruption_pairs(texts, sentinels_below(top, 100), eos, 3);
  REQUIRE(pairs.size() == texts.size() - 1);  // the 1-token text has nothing to drop
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    const TokenSequence& text = texts[k + 1];
    const Seq2SeqPair& p = pairs[k];
    INFO("text of " << text.size() << " tokens");
    REQUIRE(p.source.back() == eos);
    REQUIRE(p.target.back() == eos);
    CHECK(reassemble(p, 49, eos) == text);
    // T5's counts: N noise tokens, S spans; the sentinels are <extra_id_0>, <extra_id_1>, ... in order, in both.
    const eigenformer::training::NoiseSpans n = eigenformer::training::noise_spans(static_cast<eigenformer::Index>(text.size()), 0.15, 3.0);
    TokenSequence source_sentinels, target_sentinels;
    for (const TokenId id : p.source) if (id > 49 && id != eos) source_sentinels.push_back(id);
    for (const TokenId id : p.target) if (id > 49 && id != eos) target_sentinels.push_back(id);
    TokenSequence expected;
    for (eigenformer::Index i = 0; i < n.spans; ++i) expected.push_back(top - static_cast<TokenId>(i));
    CHECK(source_sentinels == expected);
    CHECK(target_sentinels == expected);
    CHECK(p.target.size() == static_cast<std::size_t>(n.noise + n.spans + 1));
    CHECK(p.source.size() == text.size() - static_cast<std::size_t>(n.noise) + static_cast<std::size_t>(n.spans) + 1);
  }
  // The same seed gives the same pairs; another seed other noise.
  const std::vector<Seq2SeqPair> again = eigenformer::span_corruption_pairs(texts, sentinels_below(top, 100), eos, 3);
  const std::vector<Seq2SeqPair> other = eigenformer::span_corruption_pairs(texts, sentinels_below(top, 100), eos, 4);
  bool same = true, differs = false;
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    same = same && again[k].source == pairs[k].source && again[k].target == pairs[k].target;
    differs = differs || other[k].source != pairs[k].source;
  }
  CHECK(same);
  CHECK(differs);
}

TEST_CASE("span_corruption_pairs — a tokenizer without T5's sentinels, or with too few, is refused by name") {
  const std::vector<TokenSequence> texts = {TokenSequence(40, 7)};  // 40 tokens: N = 6, S = 2 sentinels
  const auto none = [](const std::string&) -> std::optional<TokenId> { return std::nullopt; };
  CHECK_THROWS_WITH_AS(eigenformer::span_corruption_pairs(texts, none, 1, 0),
                       doctest::Contains("has no <extra_id_0>"), eigenformer::ValueError);
  CHECK_THROWS_WITH_AS(eigenformer::span_corruption_pairs(texts, sentinels_below(99, 1), 1, 0),
                       doctest::Contains("<extra_id_1> is not id 98"), eigenformer::ValueError);
  const auto upwards = [](const std::string& token) -> std::optional<TokenId> {  // numbered the wrong way
    if (token == "<extra_id_0>") return 90;
    if (token == "<extra_id_1>") return 91;
    return std::nullopt;
  };
  CHECK_THROWS_WITH_AS(eigenformer::span_corruption_pairs(texts, upwards, 1, 0), doctest::Contains("<extra_id_1> is not id 89"),
                       eigenformer::ValueError);
  CHECK(eigenformer::span_corruption_pairs(texts, sentinels_below(99, 2), 1, 0).size() == 1);
}

#if defined(EIGENFORMER_T5_PROGRAM) && defined(EIGENFORMER_TRANSLATOR_PROGRAM)

namespace {

namespace fs = std::filesystem;

fs::path scratch() {
  const fs::path dir = fs::path(EIGENFORMER_SOURCE_DIR) / "build" / "test_t5_programs";
  fs::create_directories(dir);
  return dir;
}

/// Runs a command; returns its exit code and leaves its output in `log`.
int run(const std::string& command, const fs::path& log, std::string& output) {
  const int status = std::system((command + " > " + log.string() + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  output = text.str();
  return status;
}

}  // namespace

TEST_CASE("translator saves a model t5 loads, and t5 --train fine-tunes it on pairs") {
  const fs::path dir = scratch();
  const fs::path model = dir / "translator", tuned = dir / "tuned";
  fs::remove_all(model);
  fs::remove_all(tuned);
  std::string out;

  // 1) A few steps of the translator on 0..199: it saves config.json, model.safetensors, tokenizer.json and checks
  //    that the saved tokenizer cuts a prompt as it does.
  const int translator = run(std::string(EIGENFORMER_TRANSLATOR_PROGRAM) + " --range 200 --steps 4 --batch 8 --warmup 1 " +
                                 "--eval-every 0 --d-model 16 --layers 1 --out " + model.string() + " --translate 12",
                             dir / "translator.log", out);
  INFO(out);
  REQUIRE(translator == 0);
  CHECK(fs::is_regular_file(model / "config.json"));
  CHECK(fs::is_regular_file(model / "model.safetensors"));
  CHECK(fs::is_regular_file(model / "tokenizer.json"));
  CHECK(fs::is_regular_file(model / "log.csv"));
  CHECK(out.find("held-out exact match, English") != std::string::npos);
  CHECK(out.find("held-out exact match, Chinese") != std::string::npos);

  // 2) A second run reuses the saved model instead of training.
  REQUIRE(run(std::string(EIGENFORMER_TRANSLATOR_PROGRAM) + " --range 200 --out " + model.string(), dir / "reuse.log", out) == 0);
  CHECK(out.find("reuse") != std::string::npos);

  // 3) t5 reads the model and its tokenizer: "<zh>12" is the task token, the digits, </s>.
  REQUIRE(run(std::string(EIGENFORMER_T5_PROGRAM) + " --model " + model.string() + " --prompt \"<zh>12\" --max-new-tokens 5",
              dir / "t5.log", out) == 0);
  CHECK(out.find("4,6,7,1") != std::string::npos);  // the prompt's ids, printed by t5

  // 4) t5 --train: pairs from a file, through the folder's tokenizer, 3 steps, a model in --out that t5 loads.
  const fs::path pairs = dir / "pairs.tsv";
  {
    std::ofstream f(pairs);
    for (int n = 0; n < 40; ++n) f << "<en>" << n << "\t" << (n % 2 ? "odd" : "even") << "\n";
  }
  const int train = run(std::string(EIGENFORMER_T5_PROGRAM) + " --train --model " + model.string() + " --data " + pairs.string() +
                            " --steps 3 --batch 4 --warmup 1 --eval-every 0 --out " + tuned.string(),
                        dir / "train.log", out);
  INFO(out);
  REQUIRE(train == 0);
  CHECK(fs::is_regular_file(tuned / "config.json"));
  CHECK(fs::is_regular_file(tuned / "model.safetensors"));
  CHECK(fs::is_regular_file(tuned / "tokenizer.json"));
  CHECK(fs::is_regular_file(tuned / "log.csv"));
  REQUIRE(run(std::string(EIGENFORMER_T5_PROGRAM) + " --model " + tuned.string() + " --prompt \"<en>7\" --max-new-tokens 5",
              dir / "t5-tuned.log", out) == 0);

  // 5) Bad data is refused with a message naming the line.
  {
    std::ofstream f(dir / "bad.tsv");
    f << "<en>1\tone\nno tab here\n";
  }
  CHECK(run(std::string(EIGENFORMER_T5_PROGRAM) + " --train --model " + model.string() + " --data " + (dir / "bad.tsv").string() +
                " --steps 1 --warmup 0 --out " + (dir / "bad").string(),
            dir / "bad.log", out) != 0);
  CHECK(out.find("line 2") != std::string::npos);

  // 6) --objective span-corruption: the translator's tokenizer has no sentinels and is refused by name; a copy
  //    with ten <extra_id_i> at the top of the vocabulary (as T5's) trains a new model from the translator's config.
  const fs::path texts = dir / "texts.txt";
  {
    std::ofstream f(texts);
    for (int n = 0; n < 60; ++n) f << "one two three four five six seven eight nine ten " << n << " eleven twelve\n";
  }
  CHECK(run(std::string(EIGENFORMER_T5_PROGRAM) + " --train --model " + model.string() + " --objective span-corruption --data " +
                texts.string() + " --steps 1 --warmup 0 --out " + (dir / "no-sentinels").string(),
            dir / "no-sentinels.log", out) != 0);
  CHECK(out.find("<extra_id_0>") != std::string::npos);
  CHECK(run(std::string(EIGENFORMER_T5_PROGRAM) + " --train --model " + model.string() + " --objective spans --data " +
                texts.string() + " --out " + (dir / "bad-objective").string(),
            dir / "bad-objective.log", out) == 2 * 256);  // a usage error: exit code 2
  const fs::path span = dir / "span";
  fs::remove_all(span);
  fs::create_directories(span);
  {
    namespace json = eigenformer::json;
    json::Value tokenizer = json::parse_file((model / "tokenizer.json").string());
    json::Value config = json::parse_file((model / "config.json").string());
    const std::int64_t V = config.at("vocab_size").as_int();
    json::Value tokenizer_model = tokenizer.at("model");
    json::Value vocab = tokenizer_model.at("vocab");
    json::Array added = tokenizer.at("added_tokens").as_array();
    for (std::int64_t i = 0; i < 10; ++i) {
      const std::string name = "<extra_id_" + std::to_string(i) + ">";
      vocab.set(name, json::Value(V + 9 - i));
      json::Value t(json::Object{});
      t.set("id", json::Value(V + 9 - i));
      t.set("content", json::Value(name));
      t.set("special", json::Value(true));
      added.push_back(t);
    }
    tokenizer_model.set("vocab", vocab);
    tokenizer.set("model", tokenizer_model);
    tokenizer.set("added_tokens", json::Value(added));
    config.set("vocab_size", json::Value(V + 10));
    std::ofstream(span / "tokenizer.json") << json::dump(tokenizer, 2);
    std::ofstream(span / "config.json") << json::dump(config, 2);
  }
  const int pretrain = run(std::string(EIGENFORMER_T5_PROGRAM) + " --train --config " + (span / "config.json").string() +
                               " --objective span-corruption --data " + texts.string() +
                               " --steps 30 --batch 8 --lr 3e-3 --warmup 2 --eval-every 10 --out " + (span / "out").string(),
                           dir / "span.log", out);
  INFO(out);
  REQUIRE(pretrain == 0);
  CHECK(out.find("span corruption: 60 texts") != std::string::npos);
  CHECK(fs::is_regular_file(span / "out" / "model.safetensors"));
  // It learns: the held-out loss at step 30 is below the one at step 10 (log.csv's last column, empty on the
  // steps without an evaluation).
  std::ifstream log(span / "out" / "log.csv");
  std::string row;
  std::getline(log, row);
  REQUIRE(row.substr(row.rfind(',') + 1) == "validation_loss");
  std::vector<double> validation;
  while (std::getline(log, row)) {
    const std::string cell = row.substr(row.rfind(',') + 1);
    if (!cell.empty()) validation.push_back(std::stod(cell));
  }
  REQUIRE(validation.size() >= 2);
  CHECK(validation.back() < validation.front());
}

#endif

}  // namespace t5_programs_test
