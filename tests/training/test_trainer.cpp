// The training loop (training/trainer.hpp) on a small causal LM built from library blocks (tiny_lm.hpp):
//   - ten steps (AdamW, clipping, warmup + cosine, two accumulated micro-batches) match PyTorch's loss trace,
//     learning rates, gradient norms and final weights (tools/training/make_trainer_fixtures.py);
//   - a run stopped after step k and resumed from its checkpoint reproduces the uninterrupted run bit for bit
//     (every loss, every weight), also when the stop is a SIGKILL in the middle of writing a checkpoint;
//   - a NaN stops the run naming the step and the tensor; log.csv, loss_curve.svg and the model are written.
#include "training_fixture.hpp"
#include "tiny_lm.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#if defined(__unix__)
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#endif

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace trainer_test {

using namespace eigenformer;
using namespace eigenformer::training;
using eigenformer::testing::TinyLm;
using eigenformer::testing::TinyLmConfig;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) {
  const fs::path p = fs::path(eigenformer::testing::training_scratch_dir()) / name;
  fs::remove_all(p);
  return p.string();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------------------------------------------------
// A run on text: the tiny LM, windows of a little corpus, labels thinned at random by the run's Rng (so the
// Rng's state matters for resuming), a held-out stream.
// ---------------------------------------------------------------------------------------------------------

constexpr std::uint64_t kSeed = 77;

TinyLmConfig text_config(Index vocab) {
  TinyLmConfig c;
  c.vocab = vocab;
  c.width = 16;
  c.heads = 4;
  c.kv_heads = 2;
  c.ffn = 24;
  c.layers = 2;
  return c;
}

const CharVocabulary& vocabulary() {
  static const CharVocabulary v = CharVocabulary::build({"the cat sat on a mat and dog ran far away."});
  return v;
}

TokenSequence text_ids(int sentences) {
  std::string text;
  const char* words[] = {"the cat ", "sat on ", "a mat ", "and the dog ", "ran far ", "away. "};
  for (int i = 0; i < sentences; ++i) text += words[(i * 7 + i / 3) % 6];
  return vocabulary().encode(text);
}

/// Everything one "process" holds: the model, its loaders, the task hooks the tests use.
struct TextRun {
  std::unique_ptr<TinyLm<float>> model;
  std::unique_ptr<WindowLoader> train, held;
  std::function<void(const MicroBatchContext&)> before_micro_batch;  // a crash or a NaN, injected
  std::function<void(const std::string&)> before_save_model;         // a kill inside a save, injected

  explicit TextRun(unsigned init_seed) {
    model = std::make_unique<TinyLm<float>>(text_config(static_cast<Index>(vocabulary().size())));
    testing::randomize_parameters(*model, init_seed, 0.3);
    train = std::make_unique<WindowLoader>(text_ids(300), 12, 2, kSeed);
    held = std::make_unique<WindowLoader>(text_ids(40), 12, 1, kSeed);
  }

  TrainingTask<float> task() {
    TrainingTask<float> t;
    t.parameters = parameters_with_gradients(*model);
    t.train_micro_batch = [this](const MicroBatchContext& c) {
      if (before_micro_batch) before_micro_batch(c);
      const Batch batch = train->next();
      TokenIds labels = batch.ids;
      for (Index i = 0; i < labels.size(); ++i) {
        if (c.rng->uniform() < 0.1) labels.data()[i] = kIgnoreIndex;  // a draw per position from the run's Rng
      }
      Matrix<float> dlogits;
      const LossValue loss = causal_lm_loss<float>(model->forward(batch.ids), labels, &dlogits);
      model->backward(batch.ids, dlogits);
      MicroBatchResult r;
      r.loss = loss.loss;
      r.counted = loss.counted;
      r.tokens = batch.ids.size();
      return r;
    };
    t.evaluate = [this] {
      double total = 0;
      Index counted = 0;
      for (std::int64_t w = 0; w < held->windows(); ++w) {
        const Batch b = held->in_order(w, 1);
        const LossValue l = causal_lm_loss<float>(model->forward(b.ids), b.ids);
        total += l.loss * static_cast<double>(l.counted);
        counted += l.counted;
      }
      return LossValue{total / static_cast<double>(counted), counted};
    };
    t.save_model = [this](const std::string& folder) {
      if (before_save_model) before_save_model(folder);
      json::Value config;
      config.set("model_type", json::Value("tiny_lm"));
      config.set("vocab_size", json::Value(static_cast<std::int64_t>(model->embed.count())));
      write_file_atomically(folder + "/config.json", json::dump(config, 2), "[tiny_lm]");
      save_safetensors(*model, folder + "/model.safetensors");
    };
    t.data_position = [this] { return train->position(); };
    t.seek_data = [this](const DataPosition& p) { train->seek(p); };
    return t;
  }
};

TrainerConfig text_trainer(const std::string& out) {
  TrainerConfig c;
  c.steps = 12;
  c.accumulate = 2;
  c.lr = 3e-2;
  c.warmup = 3;
  c.clip = 1.0;
  c.weight_decay = 0.1;
  c.seed = kSeed;
  c.out = out;
  c.eval_every = 4;
  c.save_every = 3;
  c.keep_checkpoints = 0;
  c.progress_out = nullptr;
  return c;
}

/// An exception that stands for a crash: the run stops between two steps, the object is thrown away.
struct Crash {};

std::vector<double> losses_of(const TrainingLog& log) {
  std::vector<double> out;
  for (const StepRecord& r : log.steps) out.push_back(r.loss);
  return out;
}

void check_same_weights(TinyLm<float>& a, TinyLm<float>& b) {
  ParameterList<float> pa = named_parameters(a), pb = named_parameters(b);
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].name);
    CHECK(std::equal(pa[i].data, pa[i].data + pa[i].numel(), pb[i].data));  // bit for bit
  }
}

/// The uninterrupted reference run (computed once per process). Its folder is named by the process id: ctest
/// runs test cases as separate processes in parallel, and each computes its own reference.
std::string reference_dir() {
#if defined(__unix__)
  return detail::cat("trainer-reference-", static_cast<long>(::getpid()));
#else
  return "trainer-reference";
#endif
}

struct Reference {
  TrainingLog log;
  std::unique_ptr<TextRun> run;
  Reference() = default;
  Reference(Reference&&) = default;
  ~Reference() {  // the folder is this process's own: gone with it (not when this one was moved from)
    if (!run) return;
    std::error_code ec;
    fs::remove_all(fs::path(eigenformer::testing::training_scratch_dir()) / reference_dir(), ec);
  }
};
Reference& reference() {
  static Reference r = [] {
    Reference out;
    out.run = std::make_unique<TextRun>(5);
    const std::string dir = fresh_dir(reference_dir());
    out.log = train(text_trainer(dir), out.run->task());
    return out;
  }();
  return r;
}

}  // namespace

TEST_CASE("ten steps of the loop (AdamW, clipping, warmup + cosine, 2 micro-batches) match PyTorch") {
  testing::Fixture fx("training/trainer.safetensors");
  const json::Value s = fx.config("trainer_lm");
  auto as_index = [&](const char* k) { return static_cast<Index>(s.at(k).as_int(k)); };
  TinyLmConfig mc;
  mc.vocab = as_index("vocab");
  mc.width = as_index("width");
  mc.heads = as_index("heads");
  mc.kv_heads = as_index("kv_heads");
  mc.ffn = as_index("ffn");
  mc.layers = as_index("layers");
  mc.norm_eps = s.at("norm_eps").as_number();
  mc.rope_theta = s.at("rope_theta").as_number();
  const Index B = as_index("batch"), T = as_index("positions"), K = as_index("accumulate");
  const std::int64_t steps = s.at("steps").as_int();
  const std::vector<std::int64_t> ids = fx.values<std::int64_t>("trainer_lm.input.ids");      // (steps, K, B, T)
  const std::vector<std::int64_t> labels = fx.values<std::int64_t>("trainer_lm.input.labels");

  auto run = [&](auto tag) {
    using Scalar = decltype(tag);
    TinyLm<Scalar> model(mc);
    fx.load(model, "trainer_lm");
    std::int64_t served = 0;  // micro-batches served: the fixture's (step, k) in order
    TrainingTask<Scalar> task;
    task.parameters = parameters_with_gradients(model);
    task.train_micro_batch = [&](const MicroBatchContext& c) {
      REQUIRE(served == c.step * K + c.micro_batch);
      TokenIds x(B, T), y(B, T);
      for (Index i = 0; i < B * T; ++i) {
        x.data()[i] = static_cast<TokenId>(ids[static_cast<std::size_t>(served * B * T + i)]);
        y.data()[i] = static_cast<TokenId>(labels[static_cast<std::size_t>(served * B * T + i)]);
      }
      ++served;
      Matrix<Scalar> dlogits;
      const LossValue loss = causal_lm_loss<Scalar>(model.forward(x), y, &dlogits);
      model.backward(x, dlogits);
      return MicroBatchResult{loss.loss, loss.counted, B * T};
    };
    TrainerConfig c;
    c.steps = steps;
    c.accumulate = K;
    c.lr = s.at("lr").as_number();
    c.warmup = s.at("warmup").as_int();
    c.clip = s.at("clip").as_number();
    c.weight_decay = s.at("weight_decay").as_number();
    c.beta1 = s.at("betas").as_array()[0].as_number();
    c.beta2 = s.at("betas").as_array()[1].as_number();
    c.eps = s.at("eps").as_number();
    c.progress_out = nullptr;
    const TrainingLog log = train(c, std::move(task));
    REQUIRE(log.steps.size() == static_cast<std::size_t>(steps));
    std::vector<double> loss, lr, norm;
    for (const StepRecord& r : log.steps) {
      loss.push_back(r.loss);
      lr.push_back(r.learning_rate);
      norm.push_back(r.grad_norm);
    }
    // float against PyTorch's float64: ten Adam steps amplify float rounding (m/√v of tiny gradients).
    const double tol = std::is_same_v<Scalar, float> ? 1e-5 : 1e-12;
    const std::string tag_name = std::is_same_v<Scalar, float> ? "float" : "double";
    double worst = 0;
    worst = std::max(worst, testing::check_close<Scalar>(loss, fx.values<double>("trainer_lm.expected.loss"), tol, detail::cat(tag_name, " loss trace")));
    worst = std::max(worst, testing::check_close<Scalar>(lr, fx.values<double>("trainer_lm.expected.lr"), 1e-15, detail::cat(tag_name, " learning rates")));
    worst = std::max(worst, testing::check_close<Scalar>(norm, fx.values<double>("trainer_lm.expected.grad_norm"), tol, detail::cat(tag_name, " gradient norms")));
    for (const ParameterRef<Scalar>& p : named_parameters(model)) {
      const std::vector<double> expected = fx.values<double>("trainer_lm.expected.final." + p.name);
      const std::vector<Scalar> actual(p.data, p.data + p.numel());
      worst = std::max(worst, testing::check_close<Scalar>(actual, expected, tol, detail::cat(tag_name, " final ", p.name)));
    }
    MESSAGE(tag_name << ": 10 steps vs torch.optim.AdamW (float64): largest relative error " << worst << " (tolerance " << tol << ")");
  };
  run(double{});
  run(float{});
}

TEST_CASE("a run resumed from the checkpoint of step k reproduces the uninterrupted run bit for bit") {
  Reference& ref = reference();
  const std::vector<double> expected = losses_of(ref.log);
  REQUIRE(expected.size() == 12);
  MESSAGE("tiny LM on text: loss " << expected.front() << " at step 1, " << expected.back() << " at step 12; validation "
                                   << ref.log.validations.front().loss << " → " << ref.log.validations.back().loss);
  CHECK(ref.log.validations.back().loss < ref.log.validations.front().loss - 0.2);  // it learns
  REQUIRE(ref.log.validations.size() == 3);

  for (std::int64_t k : {3, 6, 9}) {
    CAPTURE(k);
    const std::string dir = fresh_dir(detail::cat("trainer-resume-", k));
    {
      TextRun first(5);
      first.before_micro_batch = [k](const MicroBatchContext& c) {
        if (c.step == k + 1) throw Crash{};  // dies during step k+2, after checkpoint k (and step k+1) were done
      };
      CHECK_THROWS_AS(train(text_trainer(dir), first.task()), Crash);
    }
    CHECK(latest_checkpoint(dir) == (fs::path(dir) / detail::cat("checkpoint-", k)).string());
    TextRun second(999);  // other initial weights: everything must come from the checkpoint
    TrainerConfig resume = text_trainer(dir);
    resume.resume = true;
    Trainer<float> resumed(resume, second.task());
    const TrainingLog& log = resumed.run();
    CHECK(resumed.resumed_from() == (fs::path(dir) / detail::cat("checkpoint-", k)).string());
    CHECK(losses_of(log) == expected);  // bit for bit, steps 1..k read back from the checkpoint's log.csv
    REQUIRE(log.validations.size() == ref.log.validations.size());
    for (std::size_t i = 0; i < log.validations.size(); ++i) CHECK(log.validations[i].loss == ref.log.validations[i].loss);
    check_same_weights(*second.model, *ref.run->model);
  }
}

TEST_CASE("SGD with momentum resumes exactly too (its momentum buffers are in the checkpoint)") {
  auto sgd = [](const std::string& dir) {
    TrainerConfig c = text_trainer(dir);
    c.optimizer = OptimizerKind::Sgd;
    c.lr = 0.1;
    return c;
  };
  TextRun straight(5);
  const TrainingLog reference_log = train(sgd(fresh_dir("trainer-sgd-reference")), straight.task());
  CHECK(reference_log.steps.back().loss < reference_log.steps.front().loss);
  const std::string dir = fresh_dir("trainer-sgd-resume");
  {
    TextRun first(5);
    first.before_micro_batch = [](const MicroBatchContext& c) {
      if (c.step == 7) throw Crash{};
    };
    CHECK_THROWS_AS(train(sgd(dir), first.task()), Crash);
  }
  CHECK(fs::exists(fs::path(dir) / "checkpoint-6" / "optimizer.safetensors"));
  TextRun second(999);
  TrainerConfig resume = sgd(dir);
  resume.resume = true;
  CHECK(losses_of(train(resume, second.task())) == losses_of(reference_log));
  check_same_weights(*second.model, *straight.model);
}

TEST_CASE("the Rng's state is what makes the resumed draws the same") {
  generation::Rng a(123);
  for (int i = 0; i < 1000; ++i) a.uniform();
  generation::Rng b(0);
  b.set_state(a.state());
  for (int i = 0; i < 100; ++i) CHECK(a.uniform() == b.uniform());
  CHECK_THROWS_AS(b.set_state("not a state"), FormatError);
}

#if defined(__unix__)
TEST_CASE("a run killed (SIGKILL) in the middle of writing a checkpoint resumes from the previous one, exactly") {
  Reference& ref = reference();
  const std::string dir = fresh_dir("trainer-killed");
  // The child trains and kills itself inside the save of checkpoint 6: after the trainer wrote
  // parameters.safetensors and log.csv into the temporary folder, halfway through the family's
  // model.safetensors. Deterministic: the kill happens at that exact point, not at a random instant.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    TextRun run(5);
    run.before_save_model = [](const std::string& folder) {
      if (folder.find(".checkpoint-6.tmp") == std::string::npos) return;
      std::ofstream half(folder + "/model.safetensors", std::ios::binary);
      half << "\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":";  // the first bytes of a safetensors file, then death
      half.flush();
      ::raise(SIGKILL);
    };
    try {
      train(text_trainer(dir), run.task());
    } catch (...) {
    }
    ::_exit(3);  // never reached when the kill worked
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  // The half-written folder is there, and ignored: the latest checkpoint is step 3's, complete and loadable.
  bool torn = false;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) torn |= e.path().filename().string().rfind(".checkpoint-6.tmp", 0) == 0;
  CHECK(torn);
  const std::string three = (fs::path(dir) / "checkpoint-3").string();
  REQUIRE(latest_checkpoint(dir) == three);
  CHECK(load_trainer_state(three).step == 3);
  TinyLm<float> loaded(text_config(static_cast<Index>(vocabulary().size())));
  load_safetensors(loaded, three + "/model.safetensors");  // the family's file of the checkpoint loads

  // Resumed in this process, the run ends exactly where the uninterrupted one did.
  TextRun second(999);
  TrainerConfig resume = text_trainer(dir);
  resume.resume = true;
  Trainer<float> trainer(resume, second.task());
  CHECK(losses_of(trainer.run()) == losses_of(ref.log));
  CHECK(trainer.resumed_from() == three);
  check_same_weights(*second.model, *ref.run->model);
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string()[0] != '.');  // cleaned up
}
#endif

TEST_CASE("the loop writes log.csv, loss_curve.svg, checkpoints and the final model into --out") {
  Reference& ref = reference();
  const fs::path dir = fs::path(eigenformer::testing::training_scratch_dir()) / reference_dir();
  const TrainingLog csv = TrainingLog::read_csv((dir / "log.csv").string());
  REQUIRE(csv.steps.size() == 12);
  CHECK(losses_of(csv) == losses_of(ref.log));  // 17 digits: the doubles come back exactly
  REQUIRE(csv.validations.size() == 3);
  CHECK(csv.validations[0].step == 4);
  CHECK(csv.validations[2].step == 12);
  for (const StepRecord& r : csv.steps) {
    CHECK(r.learning_rate == doctest::Approx(learning_rate_at(text_trainer(""), r.step - 1)).epsilon(1e-15));
    CHECK(r.tokens_per_second > 0);
    CHECK(r.grad_norm > 0);
  }
  const std::string svg = read_text((dir / "loss_curve.svg").string());
  CHECK(svg.find("class=\"train\"") != std::string::npos);
  CHECK(svg.find("class=\"validation\"") != std::string::npos);
  for (int step : {3, 6, 9, 12}) CHECK(fs::exists(dir / detail::cat("checkpoint-", step) / "trainer_state.json"));
  // The final model, in <out> itself, loads into a fresh model and gives the trained model's logits.
  TinyLm<float> loaded(text_config(static_cast<Index>(vocabulary().size())));
  load_safetensors(loaded, (dir / "model.safetensors").string());
  CHECK(fs::exists(dir / "config.json"));
  TokenIds ids(1, 5);
  ids << 1, 2, 3, 4, 5;
  CHECK(loaded.forward(ids) == ref.run->model->forward(ids));
}

TEST_CASE("the progress shows plain lines when the output is not a terminal") {
  const std::string dir = fresh_dir("trainer-progress");
  fs::create_directories(dir);
  const std::string path = dir + "/progress.txt";
  std::FILE* lines = std::fopen(path.c_str(), "w");
  REQUIRE(lines != nullptr);
  TextRun run(5);
  TrainerConfig c = text_trainer("");
  c.save_every = 0;
  c.steps = 4;
  c.eval_every = 2;
  c.progress_out = lines;
  c.progress_every = 2;
  train(c, run.task());
  std::fclose(lines);
  const std::string text = read_text(path);
  CHECK(text.find("step 2/4  loss ") != std::string::npos);
  CHECK(text.find("step 4/4  loss ") != std::string::npos);
  CHECK(text.find("tok/s  ETA ") != std::string::npos);
  CHECK(text.find("step 2: validation loss ") != std::string::npos);
  CHECK(text.find('\r') == std::string::npos);  // no bar redrawn in place
}

TEST_CASE("a NaN stops the run naming the step and the tensor — the log so far is written") {
  SUBCASE("a gradient") {
    const std::string dir = fresh_dir("trainer-nan-grad");
    TextRun run(5);
    TrainingTask<float> task = run.task();
    const std::function<MicroBatchResult(const MicroBatchContext&)> inner = task.train_micro_batch;
    TinyLm<float>* model = run.model.get();
    task.train_micro_batch = [inner, model](const MicroBatchContext& c) {
      const MicroBatchResult r = inner(c);
      if (c.step == 4) model->decoder.layers[1].ffn.up.weight_grad(2, 3) = std::nanf("");  // the 5th step's gradient
      return r;
    };
    TrainerConfig c = text_trainer(dir);
    try {
      train(c, std::move(task));
      FAIL("no exception");
    } catch (const NonFiniteError& e) {
      CHECK(e.step() == 5);
      CHECK(e.tensor() == "layers.1.ffn.up.weight");
      CHECK(e.gradient());
      CHECK(std::string(e.what()).find("step 5: the gradient of 'layers.1.ffn.up.weight'") != std::string::npos);
    }
    const TrainingLog log = TrainingLog::read_csv(dir + "/log.csv");
    CHECK(log.steps.size() == 4);  // the steps before the NaN, written on the way out
    CHECK(fs::exists(dir + "/loss_curve.svg"));
    CHECK(latest_checkpoint(dir) == (fs::path(dir) / "checkpoint-3").string());  // nothing saved after the NaN
  }
  SUBCASE("the loss") {
    TextRun run(5);
    TrainingTask<float> task = run.task();
    const std::function<MicroBatchResult(const MicroBatchContext&)> inner = task.train_micro_batch;
    task.train_micro_batch = [inner](const MicroBatchContext& c) {
      MicroBatchResult r = inner(c);
      if (c.step == 1 && c.micro_batch == 1) r.loss = INFINITY;
      return r;
    };
    TrainerConfig c = text_trainer("");
    c.save_every = 0;
    try {
      train(c, std::move(task));
      FAIL("no exception");
    } catch (const NonFiniteError& e) {
      CHECK(e.step() == 2);
      CHECK(e.tensor() == "loss");
    }
  }
}

TEST_CASE("bad trainer settings and tasks are refused with the setting named") {
  TextRun run(5);
  auto refuses = [&](const std::function<void(TrainerConfig&)>& change, const char* words) {
    TrainerConfig c = text_trainer("");
    c.save_every = 0;
    change(c);
    CHECK_THROWS_WITH_AS(Trainer<float>(c, run.task()), doctest::Contains(words), ValueError);
  };
  refuses([](TrainerConfig& c) { c.steps = 0; }, "steps must be >= 1");
  refuses([](TrainerConfig& c) { c.accumulate = 0; }, "accumulate");
  refuses([](TrainerConfig& c) { c.lr = -1; }, "lr must be");
  refuses([](TrainerConfig& c) { c.min_lr = 1; }, "min_lr");
  refuses([](TrainerConfig& c) { c.warmup = 13; }, "warmup");
  refuses([](TrainerConfig& c) { c.clip = -1; }, "clip");
  refuses([](TrainerConfig& c) { c.save_every = 2; }, "save_every needs an output folder");
  refuses([](TrainerConfig& c) { c.resume = true; }, "resume needs an output folder");
  TrainingTask<float> empty;
  TrainerConfig plain = text_trainer("");
  plain.save_every = 0;
  CHECK_THROWS_WITH_AS(Trainer<float>(plain, empty), doctest::Contains("train_micro_batch"), ValueError);
  // Resuming with another seed would not reproduce the run.
  const std::string dir = fresh_dir("trainer-seed");
  TrainerConfig c = text_trainer(dir);
  c.steps = 3;
  train(c, run.task());
  c.resume = true;
  c.seed = kSeed + 1;
  Trainer<float> other(c, run.task());
  CHECK_THROWS_WITH_AS(other.run(), doctest::Contains("seed"), ValueError);
}

TEST_CASE("learning_rate_at: warmup from 0, cosine to min_lr, or constant") {
  TrainerConfig c;
  c.steps = 10;
  c.warmup = 2;
  c.lr = 1.0;
  c.min_lr = 0.1;
  CHECK(learning_rate_at(c, 0) == 0.0);
  CHECK(learning_rate_at(c, 1) == 0.5);
  CHECK(learning_rate_at(c, 2) == 1.0);
  CHECK(learning_rate_at(c, 6) == doctest::Approx(0.1 + 0.9 * 0.5).epsilon(1e-15));  // halfway down
  CHECK(learning_rate_at(c, 10) == doctest::Approx(0.1).epsilon(1e-15));
  c.min_lr = 0;
  for (std::int64_t s = 0; s < 10; ++s) CHECK(learning_rate_at(c, s) == cosine_with_warmup(s, 2, 10));
  c.schedule = ScheduleKind::Constant;
  CHECK(learning_rate_at(c, 1) == 0.5);
  CHECK(learning_rate_at(c, 9) == 1.0);
}

}  // namespace trainer_test
