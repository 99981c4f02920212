// examples/common/train_cli.hpp — `--train` on the family programs: the training options (one table section,
// below), the settings they make, typed errors for bad values. The loop itself is the library's
// (eigenformer/training/trainer.hpp); a family program builds its TrainingTask and calls training::train().
//
//     llama --train --config tiny.json --data tang300 --steps 2000 --out build/poet     from scratch
//     llama --train --model build/poet --data my.txt --steps 200 --lr 1e-4 --out ft    fine-tune a checkpoint
//     llama --train --config tiny.json ... --out build/poet --resume                    continue a killed run
//
// In a program:
//     Table t = llama_options();
//     add_training_options(t, {...defaults...});           // skips names the table already has (--model, --seed)
//     ...
//     if (wants_training(args)) {
//       const TrainSettings s = training_settings(args, defaults);   // UsageError for a bad value
//       apply_threads(s);
//       TrainingTask<float> task = ...;                               // the family's model, data and loss
//       training::train(s.trainer, std::move(task));
//     }
#pragma once

#include <eigenformer/training/trainer.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "common/cli.hpp"

namespace eigenformer::cli {

/// The heading of the training options in --help.
inline const char* const kTrainingHeading = "Training (--train; the loop: eigenformer/training/trainer.hpp):";

/// Everything the training options decide. A program fills one with its own defaults (a poet trains with
/// another learning rate than a translator) and training_settings() overrides them from the command line.
struct TrainSettings {
  std::string config_file;       // --config FILE.json: a new model from this config (from scratch)
  std::string model_dir;         // --model DIR: start from this checkpoint folder (fine-tune)
  std::string data;              // --data: a corpus name the program knows (e.g. "tang300") or a text file
  Index batch = 16;              // --batch: B sequences per micro-batch
  Index seq_len = 64;            // --seq-len: T positions per sequence
  std::int64_t eval_batches = 8; // --eval-batches: held-out batches per evaluation
  int threads = 0;               // --threads: Eigen's threads (0: leave Eigen's default)
  training::TrainerConfig trainer;  // steps, lr, schedule, optimizer, clip, accumulation, seed, out, resume, ...
};

/// The training options. `--model` and `--seed` are listed here for programs that lack them; a family program
/// that already has them keeps its own entry (add_training_options skips names the table has).
inline Section training_options(const TrainSettings& defaults) {
  const training::TrainerConfig& d = defaults.trainer;
  Section s;
  s.heading = kTrainingHeading;
  s.options = {
      {"--train", "", "train a model instead of running one (from --config, or fine-tune --model)"},
      {"--config", "FILE", "with --train: a config.json of the family: a new model, weights drawn at random"},
      {"--model", "DIR", "with --train: the checkpoint folder to fine-tune"},
      {"--data", "NAME|FILE", detail::cat("the training text: a corpus the program names, or a file",
                                          defaults.data.empty() ? "" : " (default " + defaults.data + ")")},
      {"--steps", "N", detail::cat("optimizer steps (default ", d.steps, ")")},
      {"--batch", "N", detail::cat("sequences per micro-batch (default ", defaults.batch, ")")},
      {"--seq-len", "N", detail::cat("tokens per sequence (default ", defaults.seq_len, ")")},
      {"--accumulate", "N", detail::cat("micro-batches per step, gradients summed (default ", d.accumulate, ")")},
      {"--optimizer", "NAME", "adamw (default) or sgd (momentum 0.9)"},
      {"--lr", "X", detail::cat("peak learning rate (default ", d.lr, ")")},
      {"--min-lr", "X", detail::cat("where the cosine ends (default ", d.min_lr, ")")},
      {"--warmup", "N", detail::cat("steps of linear warmup from 0 (default ", d.warmup, ")")},
      {"--schedule", "NAME", "after the warmup: cosine (default) or constant"},
      {"--weight-decay", "X", detail::cat("decay of the matrices; none on norms, biases, embeddings (default ", d.weight_decay, ")")},
      {"--clip", "X", detail::cat("clip the global gradient norm to X; 0 = never (default ", d.clip, ")")},
      {"--seed", "N", detail::cat("the seed of the weights, the data order and the masks (default ", d.seed, ")")},
      {"--threads", "N", "threads for Eigen's matrix products (default: Eigen's)"},
      {"--out", "DIR", detail::cat("checkpoints, log.csv, loss_curve.svg and the trained model",
                                   d.out.empty() ? "" : " (default " + d.out + ")")},
      {"--resume", "", "continue from the latest checkpoint in --out (same flags: the run is reproduced exactly)"},
      {"--eval-every", "N", detail::cat("held-out loss every N steps; 0 = at the end only (default ", d.eval_every, ")")},
      {"--eval-batches", "N", detail::cat("held-out batches per evaluation (default ", defaults.eval_batches, ")")},
      {"--save-every", "N", detail::cat("a checkpoint every N steps; 0 = at the end only (default ", d.save_every, ")")}};
  return s;
}

/// Appends the training options to a program's table, leaving out any name the table already has.
inline void add_training_options(Table& table, const TrainSettings& defaults) {
  Section s = training_options(defaults);
  Section kept;
  kept.heading = s.heading;
  for (const Option& o : s.options) {
    if (table.find(o.name) == nullptr) kept.options.push_back(o);
  }
  table.sections.push_back(kept);
}

/// Training mode: --train on the command line.
inline bool wants_training(const Arguments& args) { return args.accepts("--train") && args.has("--train"); }

namespace train_detail {

/// A number option that must be finite and at least `min`.
inline double number_at_least(const Arguments& args, const std::string& option, double min, double fallback) {
  if (!args.has(option)) return fallback;
  const double v = args.number(option);
  if (!std::isfinite(v) || v < min) {
    throw UsageError(eigenformer::detail::cat(option, " must be a finite number >= ", min, ", got '", args.value(option), "'"));
  }
  return v;
}

}  // namespace train_detail

/// The settings of this run: `defaults`, then the flags. UsageError (exit code 2) naming the option for a
/// malformed or out-of-range value, for --config and --model together or neither, and for a missing --data.
inline TrainSettings training_settings(const Arguments& args, const TrainSettings& defaults) {
  using train_detail::number_at_least;
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  TrainSettings s = defaults;
  training::TrainerConfig& t = s.trainer;
  // 1) Where the model comes from: exactly one of --config (scratch) and --model (fine-tune).
  if (args.has("--config")) s.config_file = args.value("--config");
  if (args.accepts("--model") && args.has("--model")) s.model_dir = args.value("--model");
  if (s.config_file.empty() == s.model_dir.empty()) {
    throw UsageError("--train needs either --config FILE.json (a new model) or --model DIR (fine-tune), not both");
  }
  if (args.has("--data")) s.data = args.value("--data");
  if (s.data.empty()) throw UsageError("--train needs --data (a corpus name or a text file)");
  // 2) Sizes.
  s.batch = static_cast<Index>(args.integer_or("--batch", 1, kMax, s.batch));
  s.seq_len = static_cast<Index>(args.integer_or("--seq-len", 2, kMax, s.seq_len));
  s.eval_batches = args.integer_or("--eval-batches", 1, kMax, s.eval_batches);
  s.threads = static_cast<int>(args.integer_or("--threads", 1, 1024, s.threads));
  t.steps = args.integer_or("--steps", 1, std::numeric_limits<std::int64_t>::max(), t.steps);
  t.accumulate = args.integer_or("--accumulate", 1, kMax, t.accumulate);
  t.warmup = args.integer_or("--warmup", 0, std::numeric_limits<std::int64_t>::max(), t.warmup);
  t.eval_every = args.integer_or("--eval-every", 0, std::numeric_limits<std::int64_t>::max(), t.eval_every);
  t.save_every = args.integer_or("--save-every", 0, std::numeric_limits<std::int64_t>::max(), t.save_every);
  if (args.accepts("--seed") && args.has("--seed")) {
    t.seed = static_cast<std::uint64_t>(args.integer("--seed", 0, std::numeric_limits<std::int64_t>::max()));
  }
  // 3) The optimizer and its schedule.
  if (args.has("--optimizer")) {
    const std::string& o = args.value("--optimizer");
    if (o == "adamw") t.optimizer = training::OptimizerKind::AdamW;
    else if (o == "sgd") t.optimizer = training::OptimizerKind::Sgd;
    else throw UsageError(eigenformer::detail::cat("--optimizer must be adamw or sgd, got '", o, "'"));
  }
  if (args.has("--schedule")) {
    const std::string& k = args.value("--schedule");
    if (k == "cosine") t.schedule = training::ScheduleKind::Cosine;
    else if (k == "constant") t.schedule = training::ScheduleKind::Constant;
    else throw UsageError(eigenformer::detail::cat("--schedule must be cosine or constant, got '", k, "'"));
  }
  t.lr = number_at_least(args, "--lr", 0, t.lr);
  if (!(t.lr > 0)) throw UsageError(eigenformer::detail::cat("--lr must be > 0, got ", t.lr));
  t.min_lr = number_at_least(args, "--min-lr", 0, t.min_lr);
  if (t.min_lr > t.lr) throw UsageError(eigenformer::detail::cat("--min-lr ", t.min_lr, " is above --lr ", t.lr));
  t.weight_decay = number_at_least(args, "--weight-decay", 0, t.weight_decay);
  t.clip = number_at_least(args, "--clip", 0, t.clip);
  if (t.warmup > t.steps) throw UsageError(eigenformer::detail::cat("--warmup ", t.warmup, " is longer than --steps ", t.steps));
  // 4) Files.
  if (args.has("--out")) t.out = args.value("--out");
  if (t.out.empty()) throw UsageError("--train needs --out DIR (where checkpoints and the model go)");
  t.resume = args.has("--resume");
  try {
    t.validate();
  } catch (const ValueError& e) {
    throw UsageError(e.what());
  }
  return s;
}

/// Sets the thread count when --threads was given (without OpenMP everything stays on one thread).
inline void apply_threads(const TrainSettings& s) {
  if (s.threads > 0) set_threads(s.threads);  // eigenformer's setting and Eigen's (core/threads.hpp)
}

}  // namespace eigenformer::cli
