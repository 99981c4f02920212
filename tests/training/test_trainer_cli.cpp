// The shared --train flags (examples/common/train_cli.hpp): defaults, overrides, and a UsageError naming the
// option for every bad value.
#include "training_fixture.hpp"

#include "common/train_cli.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace trainer_cli_test {

using namespace eigenformer;
using namespace eigenformer::cli;

namespace {

cli::Table train_table() {
  cli::Table t;
  t.program = "family";
  t.usage = "family --model DIR ...";
  Section own;
  own.options = {{"--model", "DIR", "the checkpoint folder"}, {"--help", "", "this text"}};
  t.sections.push_back(own);
  TrainSettings defaults;
  defaults.data = "tang300";
  add_training_options(t, defaults);
  return t;
}

TrainSettings parse_train(std::vector<std::string> words, const TrainSettings& defaults = {}) {
  static const cli::Table table = train_table();
  std::vector<char*> argv;
  static std::string program = "family";
  argv.push_back(program.data());
  for (std::string& w : words) argv.push_back(w.data());
  const Arguments args(static_cast<int>(argv.size()), argv.data(), table);
  REQUIRE(wants_training(args));
  return training_settings(args, defaults);
}

}  // namespace

TEST_CASE("--train flags: defaults, then the command line") {
  TrainSettings defaults;
  defaults.data = "tang300";
  defaults.trainer.out = "build/poet";
  const TrainSettings d = parse_train({"--train", "--config", "tiny.json"}, defaults);
  CHECK(d.config_file == "tiny.json");
  CHECK(d.model_dir.empty());
  CHECK(d.data == "tang300");
  CHECK(d.trainer.out == "build/poet");
  CHECK(d.trainer.steps == training::TrainerConfig().steps);
  CHECK_FALSE(d.trainer.resume);

  const TrainSettings s = parse_train({"--train", "--model", "ckpt", "--data", "my.txt", "--steps", "300", "--batch", "8",
                                       "--seq-len", "128", "--lr", "3e-4", "--min-lr", "3e-5", "--warmup", "20",
                                       "--schedule", "constant", "--weight-decay", "0.05", "--clip", "0", "--accumulate",
                                       "4", "--seed", "9", "--threads", "2", "--out", "o", "--resume", "--eval-every",
                                       "50", "--eval-batches", "3", "--save-every", "100", "--optimizer", "sgd"});
  CHECK(s.model_dir == "ckpt");
  CHECK(s.data == "my.txt");
  CHECK(s.batch == 8);
  CHECK(s.seq_len == 128);
  CHECK(s.eval_batches == 3);
  CHECK(s.threads == 2);
  CHECK(s.trainer.steps == 300);
  CHECK(s.trainer.lr == 3e-4);
  CHECK(s.trainer.min_lr == 3e-5);
  CHECK(s.trainer.warmup == 20);
  CHECK(s.trainer.schedule == training::ScheduleKind::Constant);
  CHECK(s.trainer.weight_decay == 0.05);
  CHECK(s.trainer.clip == 0);
  CHECK(s.trainer.accumulate == 4);
  CHECK(s.trainer.seed == 9);
  CHECK(s.trainer.out == "o");
  CHECK(s.trainer.resume);
  CHECK(s.trainer.eval_every == 50);
  CHECK(s.trainer.save_every == 100);
  CHECK(s.trainer.optimizer == training::OptimizerKind::Sgd);
}

TEST_CASE("--train flags: the family's own --model is kept, the training section lists the rest") {
  const cli::Table t = train_table();
  int models = 0;
  for (const Section& s : t.sections) {
    for (const Option& o : s.options) models += o.name == "--model";
  }
  CHECK(models == 1);
  CHECK(t.find("--seed") != nullptr);
  CHECK(t.help().find("--eval-every N") != std::string::npos);
  CHECK(t.help().find("(default tang300)") != std::string::npos);
}

TEST_CASE("--train flags: bad values are usage errors naming the option") {
  auto fails = [](std::vector<std::string> extra, const char* words) {
    std::vector<std::string> w = {"--train", "--config", "c.json", "--out", "o"};
    w.insert(w.end(), extra.begin(), extra.end());
    TrainSettings defaults;
    defaults.data = "tang300";
    CHECK_THROWS_WITH_AS(parse_train(w, defaults), doctest::Contains(words), UsageError);
  };
  fails({"--steps", "0"}, "--steps must lie in");
  fails({"--steps", "ten"}, "--steps needs a positive integer");
  fails({"--batch", "-2"}, "--batch needs a positive integer");
  fails({"--seq-len", "1"}, "--seq-len must lie in");
  fails({"--lr", "fast"}, "--lr needs a number");
  fails({"--lr", "0"}, "--lr must be > 0");
  fails({"--lr", "inf"}, "--lr must be a finite number");
  fails({"--min-lr", "1"}, "--min-lr 1 is above --lr");
  fails({"--warmup", "5000"}, "--warmup 5000 is longer than --steps");
  fails({"--weight-decay", "-0.1"}, "--weight-decay must be a finite number >= 0");
  fails({"--clip", "-1"}, "--clip must be");
  fails({"--schedule", "linear"}, "--schedule must be cosine or constant");
  fails({"--optimizer", "adam"}, "--optimizer must be adamw or sgd");
  fails({"--accumulate", "0"}, "--accumulate must lie in");
  fails({"--model", "dir"}, "either --config FILE.json (a new model) or --model DIR");
  TrainSettings no_data;
  CHECK_THROWS_WITH_AS(parse_train({"--train", "--config", "c.json", "--out", "o"}, no_data), doctest::Contains("--data"),
                       UsageError);
  TrainSettings with_data;
  with_data.data = "x";
  CHECK_THROWS_WITH_AS(parse_train({"--train", "--config", "c.json"}, with_data), doctest::Contains("--out"), UsageError);
  CHECK_THROWS_WITH_AS(parse_train({"--train", "--out", "o"}, with_data), doctest::Contains("--config"), UsageError);
}

}  // namespace trainer_cli_test
