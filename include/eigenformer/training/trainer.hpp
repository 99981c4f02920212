// eigenformer/training/trainer.hpp — the training loop: the same for every family.
//
// A family (llama, bert, t5, a test's little model) hands the trainer a TrainingTask: its named parameters
// with their gradient buffers, one function that runs forward + loss + backward on the next micro-batch, one
// that scores the held-out data, and how to save the model in the Hugging Face layout. The trainer does the
// rest, in this order every step (Trainer::run reads top to bottom like this list):
//
//     1) lr ← schedule(step)                       linear warmup, then cosine decay to min_lr (or constant)
//     2) zero the gradients; for k = 1..K micro-batches: forward, loss, backward (the task), gradients summed
//        with weights n_k / n (n_k the tokens micro-batch k counts): the gradient of the whole batch's mean loss
//     3) stop on a NaN or an Inf (NonFiniteError names the step and the first tensor: loss, a gradient, a weight)
//     4) clip all gradients together to a global 2-norm ≤ clip (the norm before clipping is logged)
//     5) the optimizer's update (AdamW or SGD, optimizer.hpp)
//     6) log: progress bar (step, loss, tokens/s, ETA), one CSV row (step, lr, loss, grad norm, tokens/s)
//     7) every eval_every steps: the held-out loss (logged in the CSV's last column)
//     8) every save_every steps: a checkpoint (checkpoint.hpp: atomic, a killed save leaves the previous one)
// and at the end: a last evaluation and checkpoint, the model in <out>/ (config.json + model.safetensors,
// loadable by the family program), <out>/log.csv and <out>/loss_curve.svg (training and validation loss).
//
// Exact resume. A run resumed from the checkpoint of step k computes the very losses and weights of the
// uninterrupted run, bit for bit (tests/training/test_trainer.cpp checks it), because everything a step reads
// is either saved exactly or recomputed from the step number:
//   - the weights: parameters.safetensors holds every tensor of the named list in the training dtype (the
//     family's model.safetensors may be rounded to F16 or stored under other names; this copy never is);
//   - the optimizer: moments and step counts in the parameter's dtype (optimizer.safetensors);
//   - the data: the order of epoch e is drawn from (seed, e) alone (data.hpp), so the loader's position
//     {epoch, cursor} puts a new loader where the old one stood;
//   - other randomness (masking, span corruption, dropout): the one generation::Rng the trainer hands to every
//     micro-batch; its whole state (std::mt19937_64's, as text) is saved in trainer_state.json;
//   - the learning rate: a function of the step number;
//   - the log up to step k: log.csv in the checkpoint, numbers written with 17 digits (a double read back is
//     the same double).
// What is NOT saved, and so must not change between the two runs: the build (compiler, flags), the task's
// code and configuration, and the number of threads (a product split over two threads may add in another
// order than on one).
//
// Shape legend: B sequences per micro-batch, T positions; a step sees K·B sequences (K = accumulate).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/generation/sampling.hpp"
#include "eigenformer/training/checkpoint.hpp"
#include "eigenformer/training/data.hpp"
#include "eigenformer/training/finite_check.hpp"
#include "eigenformer/training/loss.hpp"
#include "eigenformer/training/loss_curve.hpp"
#include "eigenformer/training/optimizer.hpp"
#include "eigenformer/training/progress.hpp"

namespace eigenformer::training {

// ---------------------------------------------------------------------------------------------------------
// What the trainer is told: the run's settings, and the task.
// ---------------------------------------------------------------------------------------------------------

enum class OptimizerKind { AdamW, Sgd };

/// How the learning rate moves after the warmup: cosine decay to min_lr at the last step, or constant.
enum class ScheduleKind { Cosine, Constant };

/// The settings of a run. Read at the call site: `TrainerConfig c; c.steps = 2000; c.lr = 3e-4;`.
struct TrainerConfig {
  std::int64_t steps = 1000;       // optimizer steps of the whole run (the schedule's N)
  std::int64_t accumulate = 1;     // K micro-batches per step (gradient accumulation)

  OptimizerKind optimizer = OptimizerKind::AdamW;
  double lr = 1e-3;                // peak learning rate (reached at the end of the warmup)
  double min_lr = 0;               // where the cosine ends (0: transformers' get_cosine_schedule_with_warmup)
  std::int64_t warmup = 0;         // W steps of linear warmup from 0
  ScheduleKind schedule = ScheduleKind::Cosine;
  double weight_decay = 0.01;      // λ: AdamW's decoupled decay, SGD's L2 term (on the tensors TrainingTask::decay picks)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW
  double momentum = 0.9;           // SGD
  double clip = 1.0;               // global gradient norm cap; 0 = no clipping (the norm is still logged)

  std::uint64_t seed = 0;          // the run's seed: the trainer's Rng derives from it (the task's loaders should too)

  std::string out;                 // output folder: checkpoints, log.csv, loss_curve.svg, the final model ("" = none)
  bool resume = false;             // continue from latest_checkpoint(out) when there is one
  std::int64_t eval_every = 0;     // evaluate every N steps (0: only at the end); needs TrainingTask::evaluate
  std::int64_t save_every = 0;     // checkpoint every N steps (0: only at the end); needs `out`
  int keep_checkpoints = 2;        // newest checkpoints kept (0 keeps all)

  std::FILE* progress_out = stderr;  // where the progress goes (nullptr: nowhere)
  int progress_terminal = -1;        // -1: a bar when progress_out is a terminal, else plain lines; 0 / 1 force
  std::int64_t progress_every = 10;  // plain lines: one every N steps

  /// ValueError naming the first setting out of range.
  void validate() const {
    auto fail = [](const std::string& what) { throw ValueError("[TrainerConfig] " + what); };
    if (steps < 1) fail(detail::cat("steps must be >= 1, got ", steps));
    if (accumulate < 1) fail(detail::cat("accumulate must be >= 1, got ", accumulate));
    if (!(lr > 0) || !std::isfinite(lr)) fail(detail::cat("lr must be a positive number, got ", lr));
    if (!(min_lr >= 0 && min_lr <= lr)) fail(detail::cat("min_lr must be in [0, lr = ", lr, "], got ", min_lr));
    if (warmup < 0 || warmup > steps) fail(detail::cat("warmup must be in [0, steps = ", steps, "], got ", warmup));
    if (!(weight_decay >= 0)) fail(detail::cat("weight_decay must be >= 0, got ", weight_decay));
    if (!(clip >= 0)) fail(detail::cat("clip must be >= 0 (0: no clipping), got ", clip));
    if (!(momentum >= 0 && momentum < 1)) fail(detail::cat("momentum must be in [0, 1), got ", momentum));
    if (eval_every < 0 || save_every < 0) fail(detail::cat("eval_every and save_every must be >= 0, got ", eval_every, " and ", save_every));
    if (keep_checkpoints < 0) fail(detail::cat("keep_checkpoints must be >= 0, got ", keep_checkpoints));
    if (save_every > 0 && out.empty()) fail("save_every needs an output folder (out)");
    if (resume && out.empty()) fail("resume needs an output folder (out) to resume from");
  }
};

/// What the task's train_micro_batch returns for one micro-batch.
struct MicroBatchResult {
  double loss = 0;        // mean loss over the counted positions (cross_entropy's LossValue::loss)
  Index counted = 0;      // positions the mean ran over (labels ≠ −100): the micro-batch's weight
  std::int64_t tokens = 0;  // tokens the model read (B·T, padding included): for tokens/s
};

/// Where a micro-batch stands, handed to the task.
struct MicroBatchContext {
  std::int64_t step = 0;         // optimizer steps done before this one (0-based index of the step)
  std::int64_t micro_batch = 0;  // k in [0, K)
  generation::Rng* rng = nullptr;  // the run's random stream (masking, spans, dropout); saved with checkpoints
};

/// A model, its data and its loss, as the trainer sees them. All callbacks are plain std::function.
template <class Scalar>
struct TrainingTask {
  /// Every trainable tensor, named, with gradient buffers (parameters_with_gradients(model)). The trainer
  /// zeroes, clips and updates them; resume reloads them by these names.
  ParameterList<Scalar> parameters;

  /// Takes the next micro-batch of the training data, runs forward, the loss and backward; the gradients of
  /// the micro-batch's mean loss are ADDED into the buffers (the trainer has zeroed them). Required.
  std::function<MicroBatchResult(const MicroBatchContext&)> train_micro_batch;

  /// The mean loss on the held-out data, in a fixed order (no shuffling, no draws from the run's Rng: an
  /// evaluation must not change what training sees next). Optional: without it nothing is evaluated.
  std::function<LossValue()> evaluate;

  /// Writes the model's Hugging Face folder (config.json, model.safetensors, tokenizer files) into an existing
  /// folder. Optional: without it checkpoints hold the trainer's files only and <out>/ gets no model.
  std::function<void(const std::string& folder)> save_model;

  /// The training loader's position, and how to put it back (WindowLoader/SequenceLoader::position, seek).
  /// Required for checkpoints and resume.
  std::function<DataPosition()> data_position;
  std::function<void(const DataPosition&)> seek_data;

  /// Which tensors get weight decay (optimizer.hpp's default_weight_decay: none on 1-D tensors and on names
  /// holding "norm", "embed" or "bias"). A family whose embedding hides under another name passes its own.
  DecayRule<Scalar> decay = default_weight_decay<Scalar>;
};

// ---------------------------------------------------------------------------------------------------------
// The learning-rate schedule, with a floor.
// ---------------------------------------------------------------------------------------------------------

/// The learning rate of optimizer step `step` (0-based: the first update uses step 0):
///
///     step < W:              lr · step / W                                  linear warmup from 0
///     cosine, step ≥ W:      min_lr + (lr − min_lr) · ½(1 + cos(π (step − W) / (N − W)))
///     constant, step ≥ W:    lr
///
/// With min_lr = 0 the cosine is exactly transformers' get_cosine_schedule_with_warmup (optimizer.hpp's
/// cosine_with_warmup), which the fixtures check against PyTorch's LambdaLR.
inline double learning_rate_at(const TrainerConfig& c, std::int64_t step) {
  if (step < c.warmup) return c.lr * cosine_with_warmup(step, c.warmup, c.steps);
  if (c.schedule == ScheduleKind::Constant) return c.lr;
  return c.min_lr + (c.lr - c.min_lr) * cosine_with_warmup(step, c.warmup, c.steps);
}

// ---------------------------------------------------------------------------------------------------------
// The trainer.
// ---------------------------------------------------------------------------------------------------------

/// The files of a checkpoint folder that the trainer writes itself (beside the family's model files).
inline const char* trainer_parameters_file() { return "parameters.safetensors"; }
inline const char* training_log_file() { return "log.csv"; }
inline const char* loss_curve_file() { return "loss_curve.svg"; }

namespace trainer_detail {

/// The stream of derive_seed that seeds the trainer's Rng (far from the epoch numbers the loaders use).
constexpr std::uint64_t kRngStream = 0x7472'6169'6E65'7200ULL;  // "trainer\0"

}  // namespace trainer_detail

template <class Scalar>
class Trainer {
 public:
  Trainer(TrainerConfig config, TrainingTask<Scalar> task)
      : config_(std::move(config)), task_(std::move(task)),
        rng_(derive_seed(config_.seed, trainer_detail::kRngStream)) {
    config_.validate();
    if (!task_.train_micro_batch) throw ValueError("[Trainer] the task has no train_micro_batch");
    if (task_.parameters.empty()) throw ValueError("[Trainer] the task has no parameters");
    optimizer_detail::require_gradients(task_.parameters, "Trainer");
    if (!config_.out.empty() && (!task_.data_position || !task_.seek_data)) {
      throw ValueError("[Trainer] checkpoints need the task's data_position and seek_data");
    }
    if (config_.optimizer == OptimizerKind::AdamW) {
      AdamWConfig a;
      a.lr = config_.lr;
      a.beta1 = config_.beta1;
      a.beta2 = config_.beta2;
      a.eps = config_.eps;
      a.weight_decay = config_.weight_decay;
      adamw_.emplace(a, task_.decay);
    } else {
      SgdConfig s;
      s.lr = config_.lr;
      s.momentum = config_.momentum;
      s.weight_decay = config_.weight_decay;
      sgd_.emplace(s, task_.decay);
    }
  }

  /// Trains from step 0, or from the latest checkpoint of `out` when config.resume is set and one exists,
  /// until config.steps. Returns the log (every step since 0, and every evaluation). Throws NonFiniteError
  /// at the first NaN or Inf, after writing log.csv and loss_curve.svg of the steps so far.
  const TrainingLog& run() {
    namespace fs = std::filesystem;
    ParameterList<Scalar>& params = task_.parameters;
    // 0) Where to start: a checkpoint, or step 0.
    if (config_.resume) {
      if (const std::optional<std::string> folder = latest_checkpoint(config_.out)) {
        load_checkpoint(*folder);
      }
    }
    if (!config_.out.empty()) fs::create_directories(config_.out);
    std::optional<Progress> progress;
    if (config_.progress_out != nullptr) {
      progress.emplace(config_.steps, step_, config_.progress_out, config_.progress_terminal, config_.progress_every);
      if (!resumed_from_.empty()) progress->message(detail::cat("resumed from ", resumed_from_, " at step ", step_));
    }
    std::vector<Scalar> accumulated;  // Σ_k n_k · g_k when K > 1
    std::int64_t last_eval = log_.validations.empty() ? -1 : log_.validations.back().step, last_save = step_;

    try {
      while (step_ < config_.steps) {
        const auto t0 = std::chrono::steady_clock::now();
        // 1) The learning rate of this step.
        const double lr = learning_rate_at(config_, step_);
        if (adamw_) adamw_->config.lr = lr;
        if (sgd_) sgd_->config.lr = lr;

        // 2) K micro-batches. With K = 1 the buffers hold the batch's gradient as the task left it. With K > 1
        //    each micro-batch's mean-loss gradient g_k is weighted by n_k / n (its share of the counted
        //    tokens), so the sum is exactly the gradient of the mean over all n tokens (optimizer.hpp's
        //    GradientAccumulation explains the weights; n is known only after the last micro-batch, so the
        //    trainer sums n_k·g_k aside and divides at the end).
        double loss_sum = 0;
        Index counted = 0;
        std::int64_t tokens = 0;
        double loss = 0;
        for (std::int64_t k = 0; k < config_.accumulate; ++k) {
          zero_gradients(params);
          MicroBatchContext context;
          context.step = step_;
          context.micro_batch = k;
          context.rng = &rng_;
          const MicroBatchResult r = task_.train_micro_batch(context);
          if (r.counted < 0 || r.tokens < 0) {
            throw ValueError(detail::cat("[Trainer] micro-batch ", k, " of step ", step_ + 1, " reports ", r.counted,
                                         " counted positions and ", r.tokens, " tokens"));
          }
          tokens += r.tokens;
          if (config_.accumulate == 1) {
            loss = r.loss;
            counted = r.counted;
            break;
          }
          if (r.counted > 0) loss_sum += r.loss * static_cast<double>(r.counted);
          accumulate_into(accumulated, static_cast<Scalar>(r.counted), k == 0);
          counted += r.counted;
        }
        if (config_.accumulate > 1) {
          loss = counted > 0 ? loss_sum / static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
          const Scalar inv_n = counted > 0 ? Scalar(1) / static_cast<Scalar>(counted) : Scalar(0);
          std::size_t at = 0;
          for (ParameterRef<Scalar>& p : params) {
            for (std::int64_t i = 0; i < p.numel(); ++i) p.grad[i] = accumulated[at++] * inv_n;
          }
        }

        // 3) A NaN or an Inf stops the run here, before it reaches the weights. Steps are named 1-based, as
        //    the progress bar and the log count them.
        check_finite(params, step_ + 1, loss);

        // 4) Clipping by global norm (infinity = measure only).
        const double norm = clip_grad_norm(params, config_.clip > 0 ? config_.clip : std::numeric_limits<double>::infinity());

        // 5) The update.
        if (adamw_) adamw_->step(params);
        if (sgd_) sgd_->step(params);
        ++step_;

        // 6) Watching.
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        StepRecord record;
        record.step = step_;
        record.loss = loss;
        record.learning_rate = lr;
        record.grad_norm = norm;
        record.tokens_per_second = seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0;
        log_.steps.push_back(record);
        if (progress) progress->update(step_, loss, tokens);

        // 7) Evaluation on the held-out data.
        const bool last = step_ == config_.steps;
        if (task_.evaluate && ((config_.eval_every > 0 && step_ % config_.eval_every == 0) || last)) {
          evaluate(progress ? &*progress : nullptr);
          last_eval = step_;
        }
        // 8) Checkpoints.
        if (!config_.out.empty() && ((config_.save_every > 0 && step_ % config_.save_every == 0) || last)) {
          const std::string folder = save();
          last_save = step_;
          if (progress) progress->message(detail::cat("step ", step_, ": saved ", folder));
        }
      }
    } catch (const NonFiniteError&) {
      if (progress) progress->finish();
      write_log();
      throw;
    }
    if (progress) progress->finish();

    // The end: a run resumed at its last step (or one with no steps left) still evaluates and saves once.
    if (task_.evaluate && last_eval != step_) evaluate(progress ? &*progress : nullptr);
    if (!config_.out.empty()) {
      if (last_save != step_ || latest_checkpoint(config_.out) == std::nullopt) save();
      if (task_.save_model) task_.save_model(config_.out);
      write_log();
    }
    return log_;
  }

  const TrainingLog& log() const { return log_; }
  /// Optimizer steps completed.
  std::int64_t step() const { return step_; }
  /// The checkpoint folder the run resumed from ("" when it started at step 0).
  const std::string& resumed_from() const { return resumed_from_; }
  const TrainerConfig& config() const { return config_; }

 private:
  // Adds n_k · g (the buffers' current gradient) into `sum` (resized and set on the first micro-batch).
  void accumulate_into(std::vector<Scalar>& sum, Scalar weight, bool first) {
    std::size_t total = 0;
    for (const ParameterRef<Scalar>& p : task_.parameters) total += static_cast<std::size_t>(p.numel());
    if (first) sum.assign(total, Scalar(0));
    std::size_t at = 0;
    for (const ParameterRef<Scalar>& p : task_.parameters) {
      for (std::int64_t i = 0; i < p.numel(); ++i) sum[at++] += weight * p.grad[i];
    }
  }

  void evaluate(Progress* progress) {
    const LossValue v = task_.evaluate();
    log_.validations.push_back({step_, v.loss});
    if (progress) progress->message(detail::cat("step ", step_, ": validation loss ", v.loss, " (", v.counted, " positions)"));
  }

  void write_log() const {
    if (config_.out.empty()) return;
    const std::filesystem::path out(config_.out);
    std::filesystem::create_directories(out);
    log_.write_csv((out / training_log_file()).string());
    write_loss_curve((out / loss_curve_file()).string(), log_);
  }

  // The checkpoint of the current step: the trainer's exact files first (parameters, log), then the family's
  // Hugging Face folder, then the optimizer; checkpoint.hpp writes the manifest last and renames atomically.
  std::string save() {
    TrainerState state;
    state.step = step_;
    state.seed = config_.seed;
    state.data = task_.data_position();
    json::Value extra;
    extra.set("rng", json::Value(rng_.state()));
    extra.set("steps", json::Value(config_.steps));
    extra.set("optimizer", json::Value(config_.optimizer == OptimizerKind::AdamW ? "adamw" : "sgd"));
    state.extra = extra;
    CheckpointContents contents;
    contents.save_model = [this](const std::string& folder) {
      const std::filesystem::path f(folder);
      SafeTensorsWriter exact;
      const DType dtype = sizeof(Scalar) == 4 ? DType::F32 : DType::F64;
      for (const ParameterRef<Scalar>& p : task_.parameters) exact.add(p.name, p.shape, p.data, dtype);
      exact.write((f / trainer_parameters_file()).string());
      log_.write_csv((f / training_log_file()).string());
      if (task_.save_model) task_.save_model(folder);
    };
    contents.save_optimizer = [this](SafeTensorsWriter& w) {
      if (adamw_) adamw_->save_state(w);
      if (sgd_) sgd_->save_state(w);
    };
    return save_checkpoint(config_.out, state, contents, config_.keep_checkpoints);
  }

  // Puts weights, optimizer, data position, Rng, step and log back as they were at the checkpoint.
  void load_checkpoint(const std::string& folder) {
    namespace fs = std::filesystem;
    const TrainerState state = load_trainer_state(folder);
    if (state.seed != config_.seed) {
      throw ValueError(detail::cat("[Trainer] ", folder, " was trained with seed ", state.seed, " but this run has seed ",
                                   config_.seed, ": resuming would not reproduce the run (use the same --seed)"));
    }
    SafeTensorsReader exact((fs::path(folder) / trainer_parameters_file()).string());
    load_parameters(task_.parameters, exact);
    if (adamw_) load_optimizer_state(folder, *adamw_);
    if (sgd_) load_optimizer_state(folder, *sgd_);
    task_.seek_data(state.data);
    if (const json::Value* rng = state.extra.find("rng")) rng_.set_state(rng->as_string("rng"));
    log_ = TrainingLog::read_csv((fs::path(folder) / training_log_file()).string());
    log_.truncate_after(state.step);
    step_ = state.step;
    resumed_from_ = folder;
  }

  TrainerConfig config_;
  TrainingTask<Scalar> task_;
  generation::Rng rng_;
  std::optional<AdamW<Scalar>> adamw_;
  std::optional<Sgd<Scalar>> sgd_;
  TrainingLog log_;
  std::int64_t step_ = 0;
  std::string resumed_from_;
};

/// Trains `task` as `config` says (Trainer::run); returns the log.
template <class Scalar>
TrainingLog train(const TrainerConfig& config, TrainingTask<Scalar> task) {
  Trainer<Scalar> trainer(config, std::move(task));
  return trainer.run();
}

}  // namespace eigenformer::training
