// The T5 training programs end to end, on a small scale: the translator trains a few steps and saves a model with
// its tokenizer.json; `t5 --model` reads it and its tokenizer (a typed task token, text out); `t5 --train`
// fine-tunes it on tab-separated pairs through the library's trainer and saves a model `t5` loads again.
// (The translator's accuracy target needs a few minutes of training: docs/training.md reports it; here only the
// plumbing is checked.)
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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
}

#endif
