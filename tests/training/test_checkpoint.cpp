// Checkpoints: a run resumed from step k reproduces the uninterrupted run's losses and weights exactly; a
// saving process killed with SIGKILL at random instants always leaves a loadable latest checkpoint; a
// damaged checkpoint is passed over for the previous one.
//
// The model is the smallest that learns a language: a bigram softmax regression, logits = E[id] Wᵀ + b
// (Embedding → Linear, their forward from the library), with its three-line backward written here (the
// layers' own backward passes live elsewhere).
#include "training_fixture.hpp"
#include "bigram.hpp"

#include <chrono>
#include <filesystem>
#include <random>

#if defined(__unix__)
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#endif

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace checkpoint_test {

using namespace eigenformer;
using namespace eigenformer::training;
using eigenformer::testing::Bigram;
namespace fs = std::filesystem;

namespace {

/// A deterministic little corpus: sentences over a small alphabet with structure worth learning.
TokenSequence corpus_ids(const CharVocabulary& vocab) {
  std::string text;
  const char* words[] = {"the cat ", "sat on ", "a mat ", "and the dog ", "ran far ", "away. "};
  for (int i = 0; i < 400; ++i) text += words[(i * 7 + i / 3) % 6];
  return vocab.encode(text);
}

struct Run {
  std::unique_ptr<Bigram<float>> model;
  std::unique_ptr<AdamW<float>> optimizer;
  std::unique_ptr<WindowLoader> loader;
  TrainerState state;
};

constexpr std::int64_t kTotalSteps = 14;
constexpr std::uint64_t kSeed = 2026;

Run fresh_run(const CharVocabulary& vocab) {
  Run r;
  r.model = std::make_unique<Bigram<float>>(static_cast<Index>(vocab.size()), 8);
  testing::randomize_parameters(*r.model, 5, 0.3);
  AdamWConfig c;
  c.lr = 3e-2;
  c.weight_decay = 0.1;
  r.optimizer = std::make_unique<AdamW<float>>(c);
  r.loader = std::make_unique<WindowLoader>(corpus_ids(vocab), 16, 4, kSeed);
  r.state.seed = kSeed;
  return r;
}

/// Trains until `until` steps are done; returns each step's loss.
std::vector<double> train(Run& r, std::int64_t until) {
  std::vector<double> losses;
  ParameterList<float> params = parameters_with_gradients(*r.model);
  while (r.state.step < until) {
    zero_gradients(params);
    const Batch batch = r.loader->next();
    const Matrix<float> logits = r.model->forward(batch.ids);
    Matrix<float> dlogits;
    const LossValue loss = causal_lm_loss<float>(logits, batch.ids, &dlogits);
    r.model->backward(batch.ids, dlogits);
    check_finite(params, r.state.step, loss.loss);
    clip_grad_norm(params, 1.0);
    r.optimizer->config.lr = 3e-2 * cosine_with_warmup(r.state.step, 3, kTotalSteps);
    r.optimizer->step(params);
    losses.push_back(loss.loss);
    ++r.state.step;
    r.state.data = r.loader->position();
  }
  return losses;
}

CheckpointContents contents_of(Run& r) {
  CheckpointContents c;
  c.save_model = [&r](const std::string& folder) {
    json::Value config;
    config.set("model_type", json::Value("bigram"));
    config.set("vocab_size", json::Value(static_cast<std::int64_t>(r.model->embed.count())));
    config.set("hidden_size", json::Value(static_cast<std::int64_t>(r.model->embed.width())));
    write_file_atomically(folder + "/config.json", json::dump(config, 2), "[bigram]");
    save_safetensors(*r.model, folder + "/model.safetensors");
  };
  c.save_optimizer = [&r](SafeTensorsWriter& out) { r.optimizer->save_state(out); };
  return c;
}

Run resume(const CharVocabulary& vocab, const std::string& folder) {
  Run r = fresh_run(vocab);  // shapes and configuration; every number is then overwritten from the folder
  load_safetensors(*r.model, folder + "/model.safetensors");
  load_optimizer_state(folder, *r.optimizer);
  r.state = load_trainer_state(folder);
  r.loader->seek(r.state.data);
  return r;
}

std::string scratch(const std::string& name) {
  const fs::path p = fs::path(eigenformer::testing::training_scratch_dir()) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

}  // namespace

TEST_CASE("resuming at step k reproduces the uninterrupted run's losses and weights exactly") {
  const CharVocabulary vocab = CharVocabulary::build({"the cat sat on a mat and dog ran far away."});
  Run straight = fresh_run(vocab);
  const std::vector<double> reference = train(straight, kTotalSteps);
  REQUIRE(reference.size() == static_cast<std::size_t>(kTotalSteps));
  MESSAGE("bigram run: loss " << reference.front() << " at step 0, " << reference.back() << " at step " << kTotalSteps - 1);
  CHECK(reference.back() < reference.front() - 0.3);  // it learns

  for (std::int64_t k : {1, 5, 9}) {
    const std::string dir = scratch(detail::cat("resume-", k));
    Run first = fresh_run(vocab);
    std::vector<double> losses = train(first, k);
    first.state.extra.set("note", json::Value("resume test"));
    const std::string folder = save_checkpoint(dir, first.state, contents_of(first));
    CHECK(latest_checkpoint(dir) == folder);
    first = Run{};  // the first process is gone
    Run second = resume(vocab, folder);
    CHECK(second.state.step == k);
    CHECK(second.state.extra.at("note").as_string() == "resume test");
    const std::vector<double> rest = train(second, kTotalSteps);
    losses.insert(losses.end(), rest.begin(), rest.end());
    CHECK(losses == reference);  // exactly, bit for bit
    CHECK(second.model->head.weight == straight.model->head.weight);
    CHECK(second.model->embed.weight == straight.model->embed.weight);
  }
}

TEST_CASE("a damaged latest checkpoint is passed over for the previous one — old ones are pruned") {
  const CharVocabulary vocab = CharVocabulary::build({"the cat sat on a mat and dog ran far away."});
  const std::string dir = scratch("damaged");
  Run r = fresh_run(vocab);
  train(r, 2);
  save_checkpoint(dir, r.state, contents_of(r), 2);
  train(r, 3);
  save_checkpoint(dir, r.state, contents_of(r), 2);
  train(r, 4);
  const std::string last = save_checkpoint(dir, r.state, contents_of(r), 2);
  CHECK_FALSE(fs::exists(fs::path(dir) / "checkpoint-2"));  // keep_last = 2
  CHECK(latest_checkpoint(dir) == last);
  fs::resize_file(fs::path(last) / "model.safetensors", 10);
  CHECK_THROWS_AS(load_trainer_state(last), FormatError);
  CHECK(latest_checkpoint(dir) == (fs::path(dir) / "checkpoint-3").string());
  CHECK_FALSE(latest_checkpoint(scratch("empty")).has_value());

  // Killed between the two renames of a same-step re-save: the old folder is found under its ".old" name,
  // and the next save restores it.
  const fs::path three = fs::path(dir) / "checkpoint-3", aside = fs::path(dir) / ".checkpoint-3.old";
  fs::remove_all(last);
  fs::rename(three, aside);
  CHECK(latest_checkpoint(dir) == aside.string());
  CHECK(load_trainer_state(aside.string()).step == 3);
  train(r, 5);
  save_checkpoint(dir, r.state, contents_of(r), 0);
  CHECK(fs::exists(three));
  CHECK_FALSE(fs::exists(aside));
  // Saving the same step again replaces it (the newer wins) and leaves nothing aside.
  r.state.extra.set("again", json::Value(true));
  save_checkpoint(dir, r.state, contents_of(r), 0);
  CHECK(load_trainer_state((fs::path(dir) / "checkpoint-5").string()).extra.at("again").as_bool());
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string()[0] != '.');
}

#if defined(__unix__)
TEST_CASE("a process killed (SIGKILL) mid-save always leaves the latest checkpoint loadable") {
  const std::string dir = scratch("killed");
  // The "model": 262144 floats (1 MB) all equal to the step, so a torn write would show as a wrong value.
  auto contents = [](std::int64_t step, std::vector<float>& weights) {
    CheckpointContents c;
    c.save_model = [&weights, step](const std::string& folder) {
      std::fill(weights.begin(), weights.end(), static_cast<float>(step));
      SafeTensorsWriter w;
      w.add("weight", {512, 512}, weights.data());
      w.write(folder + "/model.safetensors");
      write_file_atomically(folder + "/config.json", "{\"model_type\": \"test\"}", "[test]");
    };
    c.save_optimizer = [&weights](SafeTensorsWriter& out) { out.add("exp_avg.weight", {512, 512}, weights.data()); };
    return c;
  };
  std::vector<float> weights(512 * 512);
  TrainerState s;
  s.seed = 7;
  save_checkpoint(dir, s, contents(0, weights));
  // Kill at random instants spread over about three saves (a save's time depends on the disk's fsync).
  const auto t0 = std::chrono::steady_clock::now();
  save_checkpoint(dir, s, contents(0, weights));
  const double save_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();

  std::mt19937 delays(12345);
  int kills = 0, torn = 0;
  std::int64_t highest = 0;
  constexpr int kRounds = 40;
  for (int round = 0; round < kRounds; ++round) {
    // The child reports each finished save with one byte on a pipe: what it reported must be on disk.
    int reported[2];
    REQUIRE(pipe(reported) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // The child saves checkpoint after checkpoint until it is killed.
      close(reported[0]);
      std::vector<float> w(512 * 512);
      TrainerState cs = load_trainer_state(*latest_checkpoint(dir));
      for (;;) {
        ++cs.step;
        cs.data.cursor = cs.step * 3;
        save_checkpoint(dir, cs, contents(cs.step, w), 2);
        if (write(reported[1], "s", 1) != 1) _exit(3);
      }
    }
    close(reported[1]);
    // The last round first waits for one finished save, so the run proves progress even on a machine so busy
    // that every random instant fell inside the child's first save.
    char byte = 0;
    if (round == kRounds - 1) REQUIRE(read(reported[0], &byte, 1) == 1);
    usleep(static_cast<useconds_t>(std::uniform_real_distribution<double>(0.2 * save_us, 3.0 * save_us)(delays)));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status));
    ++kills;
    std::int64_t finished = round == kRounds - 1 ? 1 : 0;
    while (read(reported[0], &byte, 1) == 1) ++finished;  // the write end is closed: read returns 0 at the end
    close(reported[0]);
    for (const fs::directory_entry& e : fs::directory_iterator(dir)) torn += e.path().filename().string()[0] == '.';

    // The latest checkpoint must load, and every number in it must belong to its step.
    const std::optional<std::string> latest = latest_checkpoint(dir);
    REQUIRE(latest.has_value());
    const TrainerState loaded = load_trainer_state(*latest);
    CHECK(loaded.step >= highest + finished);  // every save the child finished is there, and nothing went back
    highest = loaded.step;
    CHECK(loaded.seed == 7u);
    CHECK(loaded.data.cursor == loaded.step * 3);
    SafeTensorsReader model(*latest + "/model.safetensors");
    const std::vector<float> values = model.read<float>("weight");
    SafeTensorsReader optimizer(*latest + "/optimizer.safetensors");
    const std::vector<float> moments = optimizer.read<float>("exp_avg.weight");
    const float expected = static_cast<float>(loaded.step);
    CHECK(std::all_of(values.begin(), values.end(), [&](float v) { return v == expected; }));
    CHECK(std::all_of(moments.begin(), moments.end(), [&](float v) { return v == expected; }));
  }
  MESSAGE("one save takes " << save_us / 1000 << " ms; " << kills << " saving processes killed with SIGKILL; " << torn << " of the kills left a half-written temporary folder"
                << " behind; the latest checkpoint loaded every time (reached step " << highest << ")");
  CHECK(highest > 0);
}
#endif

TEST_CASE("check_finite names the step and the first tensor that went non-finite") {
  testing::OwnedParameters<float> p;
  p.add("a.weight", {2}, {1.0f, 2.0f});
  p.add("b.weight", {3}, {1.0f, 2.0f, 3.0f});
  ParameterList<float> list = p.list();
  CHECK_NOTHROW(check_finite(list, 3, 1.5));
  try {
    check_finite(list, 17, std::numeric_limits<double>::infinity());
    FAIL("no exception");
  } catch (const NonFiniteError& e) {
    CHECK(e.step() == 17);
    CHECK(e.tensor() == "loss");
  }
  p.data["a.weight"][1] = std::numeric_limits<float>::infinity();
  p.grad["b.weight"][2] = std::nanf("");
  try {
    check_finite(list, 42, 0.5);
    FAIL("no exception");
  } catch (const NonFiniteError& e) {
    CHECK(e.step() == 42);
    CHECK(e.tensor() == "b.weight");  // gradients are looked at before parameters
    CHECK(e.gradient());
    CHECK(std::string(e.what()) == "[check_finite] step 42: the gradient of 'b.weight' [3] holds nan at flat index 2");
  }
  p.grad["b.weight"][2] = 0;
  CHECK_THROWS_AS(check_finite(list, 43), NonFiniteError);
}

}  // namespace checkpoint_test
