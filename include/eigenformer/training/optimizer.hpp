// eigenformer/training/optimizer.hpp — how the gradients move the weights: SGD with momentum, AdamW, the
// learning-rate schedule, clipping by global norm and gradient accumulation.
//
// Everything here works on the one named list of a model (core/parameters.hpp): each ParameterRef has
// `data` and `grad` (same shape, row-major). The optimizers keep their state — moments and step count —
// per parameter *name*, so it can be saved beside the model and loaded again (training/checkpoint.hpp).
//
// Semantics are PyTorch's exactly (torch.optim.SGD, torch.optim.AdamW, torch.nn.utils.clip_grad_norm_,
// transformers' get_cosine_schedule_with_warmup); tests/training/test_optimizer.cpp checks ten steps of
// each against fixtures written by tools/training/make_training_fixtures.py.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/safetensors.hpp"

namespace eigenformer::training {

// ---------------------------------------------------------------------------------------------------------
// Parameter groups: which tensors get weight decay.
// ---------------------------------------------------------------------------------------------------------

/// The default rule for weight decay. Decay pulls weights towards zero, which is a prior for the matrices
/// that mix features (attention projections, FFN, the LM head when untied) but wrong for
///   - 1-D tensors: biases and the gain/shift of LayerNorm/RMSNorm (a norm's gain is meant to sit near 1),
///   - any tensor whose name contains "norm" or "bias" (the same tensors, named as HF names them),
///   - embeddings: any name containing "embed" (embed_tokens, word_embeddings, position_embeddings, ...):
///     a rare token's row gets few gradients, and decay would shrink it every step regardless.
/// Names that hide an embedding ("wte", "shared", "lm_head" tied to it) are NOT caught: pass your own rule.
/// This is the common practice of GPT-2/nanoGPT and of transformers' Trainer (no decay on biases and norms).
template <class Scalar>
bool default_weight_decay(const ParameterRef<Scalar>& p) {
  if (p.shape.size() <= 1) return false;
  for (const char* word : {"norm", "embed", "bias"}) {
    if (p.name.find(word) != std::string::npos) return false;
  }
  return true;
}

/// Decides per parameter whether weight decay applies (true) or not.
template <class Scalar>
using DecayRule = std::function<bool(const ParameterRef<Scalar>&)>;

namespace optimizer_detail {

template <class Scalar>
void require_gradients(const ParameterList<Scalar>& params, const char* who) {
  for (const ParameterRef<Scalar>& p : params) {
    if (p.grad == nullptr) {
      throw ValueError(eigenformer::detail::cat("[", who, "] parameter '", p.name,
                                                "' has no gradient buffer (collect the list with parameters_with_gradients)"));
    }
  }
}

/// The moment buffer `name` of a state map, created (zeroed) with n entries or checked to have n.
template <class Scalar>
std::vector<Scalar>& buffer(std::map<std::string, std::vector<Scalar>>& state, const std::string& name, std::int64_t n,
                            const char* who) {
  std::vector<Scalar>& b = state[name];
  if (b.empty()) b.assign(static_cast<std::size_t>(n), Scalar(0));
  if (static_cast<std::int64_t>(b.size()) != n) {
    throw ShapeError(eigenformer::detail::cat("[", who, "] state for '", name, "' has ", b.size(),
                                              " entries but the parameter has ", n));
  }
  return b;
}

/// Writes one state map into a safetensors writer under "<prefix><name>", shaped like its parameter.
template <class Scalar>
void save_buffers(SafeTensorsWriter& out, const std::string& prefix, const std::map<std::string, std::vector<Scalar>>& state) {
  const DType dtype = sizeof(Scalar) == 4 ? DType::F32 : DType::F64;  // the exact bits: resuming is exact
  for (const auto& kv : state) {
    out.add(prefix + kv.first, {static_cast<std::int64_t>(kv.second.size())}, kv.second.data(), dtype);
  }
}

template <class Scalar>
void load_buffers(SafeTensorsReader& in, const std::string& prefix, std::map<std::string, std::vector<Scalar>>& state) {
  state.clear();
  for (const TensorInfo& t : in.tensors()) {
    if (t.name.compare(0, prefix.size(), prefix) != 0) continue;
    std::vector<Scalar>& b = state[t.name.substr(prefix.size())];
    b.resize(static_cast<std::size_t>(t.numel()));
    in.read_into(t, b.data());
  }
}

}  // namespace optimizer_detail

// ---------------------------------------------------------------------------------------------------------
// SGD with momentum (torch.optim.SGD).
// ---------------------------------------------------------------------------------------------------------

struct SgdConfig {
  double lr = 1e-2;
  double momentum = 0;      // μ; 0 is plain gradient descent
  double dampening = 0;     // τ: the share of the new gradient is (1 − τ)
  double weight_decay = 0;  // λ, added to the gradient (L2, "coupled", as torch.optim.SGD does)
  bool nesterov = false;    // look ahead: step along g + μ·buf instead of buf
};

/// torch.optim.SGD, per element of every parameter whose decay rule says so (λ = 0 for the others):
///
///     g ← g + λ·θ
///     buf ← g                               on the first step (no dampening then, as PyTorch)
///     buf ← μ·buf + (1 − τ)·g               afterwards
///     d ← g + μ·buf  (nesterov)   or  d ← buf
///     θ ← θ − lr·d
template <class Scalar>
class Sgd {
 public:
  explicit Sgd(const SgdConfig& config, DecayRule<Scalar> decay = default_weight_decay<Scalar>)
      : config(config), decay_(std::move(decay)) {
    if (config.nesterov && (config.momentum <= 0 || config.dampening != 0)) {
      throw ValueError("[Sgd] Nesterov momentum requires a momentum > 0 and zero dampening (as torch.optim.SGD)");
    }
  }

  /// One update of every parameter from its gradient (the gradients are read, not changed).
  void step(ParameterList<Scalar>& params) {
    optimizer_detail::require_gradients(params, "Sgd::step");
    const Scalar lr = static_cast<Scalar>(config.lr), mu = static_cast<Scalar>(config.momentum);
    const Scalar keep = static_cast<Scalar>(1 - config.dampening);
    for (ParameterRef<Scalar>& p : params) {
      const Scalar wd = (decay_ && decay_(p)) ? static_cast<Scalar>(config.weight_decay) : Scalar(0);
      const std::int64_t n = p.numel();
      const bool first = momentum_.count(p.name) == 0;
      std::vector<Scalar>* buf = nullptr;
      if (config.momentum != 0) buf = &optimizer_detail::buffer(momentum_, p.name, n, "Sgd::step");
      for (std::int64_t i = 0; i < n; ++i) {
        Scalar g = p.grad[i];
        if (wd != 0) g += wd * p.data[i];
        Scalar d = g;
        if (buf != nullptr) {
          Scalar& b = (*buf)[static_cast<std::size_t>(i)];
          b = first ? g : mu * b + keep * g;
          d = config.nesterov ? g + mu * b : b;
        }
        p.data[i] -= lr * d;
      }
    }
  }

  /// The momentum buffers as "momentum_buffer.<name>"; `load_state` reads them back.
  void save_state(SafeTensorsWriter& out) const { optimizer_detail::save_buffers(out, "momentum_buffer.", momentum_); }
  void load_state(SafeTensorsReader& in) { optimizer_detail::load_buffers(in, "momentum_buffer.", momentum_); }

  SgdConfig config;  // lr may be changed between steps (a schedule)

 private:
  DecayRule<Scalar> decay_;
  std::map<std::string, std::vector<Scalar>> momentum_;  // name → buf, shaped like the parameter
};

// ---------------------------------------------------------------------------------------------------------
// AdamW (torch.optim.AdamW). Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
// ---------------------------------------------------------------------------------------------------------

struct AdamWConfig {
  double lr = 1e-3;
  double beta1 = 0.9;          // decay of the first moment (the running mean of g)
  double beta2 = 0.999;        // decay of the second moment (the running mean of g²)
  double eps = 1e-8;           // added to √v̂, outside the square root (PyTorch's placement)
  double weight_decay = 1e-2;  // λ, decoupled: θ shrinks by lr·λ·θ, independently of the gradient
};

/// torch.optim.AdamW, per element, with t the parameter's own step count (1 on the first step):
///
///     θ ← θ·(1 − lr·λ)                       decoupled decay (λ = 0 where the decay rule says no)
///     m ← β1·m + (1 − β1)·g
///     v ← β2·v + (1 − β2)·g²
///     θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
///
/// The bias corrections 1 − βᵗ undo the zero start of m and v; ε sits outside the root and after the
/// correction of v, exactly where PyTorch puts it (it matters for tiny v).
template <class Scalar>
class AdamW {
 public:
  explicit AdamW(const AdamWConfig& config, DecayRule<Scalar> decay = default_weight_decay<Scalar>)
      : config(config), decay_(std::move(decay)) {
    if (!(config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1)) {
      throw ValueError(eigenformer::detail::cat("[AdamW] betas must be in [0, 1), got (", config.beta1, ", ",
                                                config.beta2, ")"));
    }
    if (!(config.eps >= 0)) throw ValueError(eigenformer::detail::cat("[AdamW] eps must be >= 0, got ", config.eps));
  }

  /// One update of every parameter from its gradient (the gradients are read, not changed).
  void step(ParameterList<Scalar>& params) {
    optimizer_detail::require_gradients(params, "AdamW::step");
    for (ParameterRef<Scalar>& p : params) {
      const std::int64_t n = p.numel();
      std::vector<Scalar>& m = optimizer_detail::buffer(exp_avg_, p.name, n, "AdamW::step");
      std::vector<Scalar>& v = optimizer_detail::buffer(exp_avg_sq_, p.name, n, "AdamW::step");
      const std::int64_t t = ++steps_[p.name];
      // The scalars are computed in double, as Python does, then used in Scalar like PyTorch's kernels.
      const double wd = (decay_ && decay_(p)) ? config.weight_decay : 0.0;
      const Scalar shrink = static_cast<Scalar>(1 - config.lr * wd);
      const Scalar beta1 = static_cast<Scalar>(config.beta1), one_minus_beta1 = static_cast<Scalar>(1 - config.beta1);
      const Scalar beta2 = static_cast<Scalar>(config.beta2), one_minus_beta2 = static_cast<Scalar>(1 - config.beta2);
      const double bias_correction1 = 1 - std::pow(config.beta1, static_cast<double>(t));
      const double bias_correction2 = 1 - std::pow(config.beta2, static_cast<double>(t));
      const Scalar step_size = static_cast<Scalar>(config.lr / bias_correction1);
      const Scalar bias_correction2_sqrt = static_cast<Scalar>(std::sqrt(bias_correction2));
      const Scalar eps = static_cast<Scalar>(config.eps);
      for (std::int64_t i = 0; i < n; ++i) {
        const Scalar g = p.grad[i];
        Scalar& mi = m[static_cast<std::size_t>(i)];
        Scalar& vi = v[static_cast<std::size_t>(i)];
        if (wd != 0) p.data[i] *= shrink;
        mi = mi * beta1 + one_minus_beta1 * g;
        vi = vi * beta2 + one_minus_beta2 * g * g;
        const Scalar denom = std::sqrt(vi) / bias_correction2_sqrt + eps;
        p.data[i] -= step_size * (mi / denom);
      }
    }
  }

  /// The step count of parameter `name` (0 before its first step).
  std::int64_t steps(const std::string& name) const {
    auto it = steps_.find(name);
    return it == steps_.end() ? 0 : it->second;
  }

  /// Moments as "exp_avg.<name>", "exp_avg_sq.<name>" (the parameter's dtype, so resuming is exact) and
  /// step counts as "step.<name>" (I64), PyTorch's state_dict keys.
  void save_state(SafeTensorsWriter& out) const {
    optimizer_detail::save_buffers(out, "exp_avg.", exp_avg_);
    optimizer_detail::save_buffers(out, "exp_avg_sq.", exp_avg_sq_);
    for (const auto& kv : steps_) out.add("step." + kv.first, {1}, &kv.second, DType::I64);
  }
  void load_state(SafeTensorsReader& in) {
    optimizer_detail::load_buffers(in, "exp_avg.", exp_avg_);
    optimizer_detail::load_buffers(in, "exp_avg_sq.", exp_avg_sq_);
    steps_.clear();
    for (const TensorInfo& t : in.tensors()) {
      if (t.name.compare(0, 5, "step.") != 0) continue;
      std::int64_t s = 0;
      if (t.numel() != 1) throw FormatError(eigenformer::detail::cat("[AdamW::load_state] ", in.path(), ": '", t.name, "' should hold 1 value"));
      in.read_into(t, &s);
      steps_[t.name.substr(5)] = s;
    }
  }

  AdamWConfig config;  // lr may be changed between steps (a schedule)

 private:
  DecayRule<Scalar> decay_;
  std::map<std::string, std::vector<Scalar>> exp_avg_, exp_avg_sq_;  // name → m, v (shaped like the parameter)
  std::map<std::string, std::int64_t> steps_;                          // name → t
};

// ---------------------------------------------------------------------------------------------------------
// The learning-rate schedule.
// ---------------------------------------------------------------------------------------------------------

/// transformers' get_cosine_schedule_with_warmup, as the multiplier of the base learning rate at optimizer
/// step `step` (0-based: the first update uses step 0):
///
///     step < W:   step / max(1, W)                                     linear warmup from 0
///     otherwise:  max(0, ½·(1 + cos(π · 2c · (step − W) / max(1, N − W))))   cosine decay to 0 at N
///
/// with W warmup steps, N total steps and c cycles (½: one half-cosine from the peak to zero at N; past N
/// the cosine rises again, exactly as transformers computes it — train for N steps).
inline double cosine_with_warmup(std::int64_t step, std::int64_t warmup_steps, std::int64_t total_steps,
                                 double cycles = 0.5) {
  if (warmup_steps < 0 || total_steps < 0 || step < 0) {
    throw ValueError(eigenformer::detail::cat("[cosine_with_warmup] step ", step, ", warmup ", warmup_steps,
                                              " and total ", total_steps, " must be >= 0"));
  }
  if (step < warmup_steps) return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup_steps));
  const double progress = static_cast<double>(step - warmup_steps) /
                          static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
  const double pi = 3.14159265358979323846;
  return std::max(0.0, 0.5 * (1.0 + std::cos(pi * cycles * 2.0 * progress)));
}

// ---------------------------------------------------------------------------------------------------------
// Clipping by global norm (torch.nn.utils.clip_grad_norm_).
// ---------------------------------------------------------------------------------------------------------

/// Scales every gradient by min(1, max_norm / (‖g‖ + 1e-6)), where ‖g‖ is the 2-norm of all gradients of
/// the list taken together (√ of the sum over tensors of their squared norms). Returns ‖g‖ before
/// clipping — a number worth logging: it spikes before a loss blows up. The direction is unchanged; only
/// the length is capped. A non-finite norm is returned and the gradients are left as they are (PyTorch
/// would scale them by NaN or 0); check_finite() (training/finite_check.hpp) then names the tensor.
template <class Scalar>
double clip_grad_norm(ParameterList<Scalar>& params, double max_norm) {
  optimizer_detail::require_gradients(params, "clip_grad_norm");
  if (!(max_norm > 0)) throw ValueError(eigenformer::detail::cat("[clip_grad_norm] max_norm must be > 0, got ", max_norm));
  // 1) Each tensor's norm in Scalar (as PyTorch), then the norm of the norms.
  double total_sq = 0;
  for (const ParameterRef<Scalar>& p : params) {
    Scalar sq = 0;
    for (std::int64_t i = 0; i < p.numel(); ++i) sq += p.grad[i] * p.grad[i];
    const double norm = static_cast<double>(std::sqrt(sq));
    total_sq += norm * norm;
  }
  const double total = std::sqrt(total_sq);
  if (!std::isfinite(total)) return total;
  // 2) The clip coefficient, clamped at 1 (PyTorch multiplies even then; ×1 changes nothing).
  const double coef = std::min(1.0, max_norm / (total + 1e-6));
  if (coef < 1.0) {
    const Scalar c = static_cast<Scalar>(coef);
    for (ParameterRef<Scalar>& p : params) {
      for (std::int64_t i = 0; i < p.numel(); ++i) p.grad[i] *= c;
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------------
// Gradient accumulation.
// ---------------------------------------------------------------------------------------------------------

/// A batch too large for memory is cut into micro-batches whose gradients are *added* into the same
/// buffers (the backward passes add; zero_gradients() runs once per optimizer step, not per micro-batch).
/// For the sum to be the gradient of the whole batch's mean loss, micro-batch k's mean-loss gradient is
/// weighted by its share of the counted tokens:
///
///     L = (1/n) Σ_all ℓ = Σ_k (n_k/n) · L_k          so   ∂L = Σ_k (n_k/n) · ∂L_k
///
/// (with equal micro-batches that is the familiar 1/K). GradientAccumulation keeps the count: call
/// `weight(n_k)` for each micro-batch, multiply that micro-batch's dlogits by it before its backward, and
/// `loss()` gives the whole batch's mean loss from the micro-batches' means.
class GradientAccumulation {
 public:
  /// `total_counted` = n, the counted tokens (labels ≠ −100) of all micro-batches of this optimizer step.
  explicit GradientAccumulation(Index total_counted) : total_(total_counted) {
    if (total_counted <= 0) {
      throw ValueError(eigenformer::detail::cat("[GradientAccumulation] the batch must count at least one token, got ", total_counted));
    }
  }

  /// n_k / n for a micro-batch that counts n_k tokens and whose mean loss was `micro_loss`.
  double weight(Index micro_counted, double micro_loss) {
    if (micro_counted < 0 || seen_ + micro_counted > total_) {
      throw ValueError(eigenformer::detail::cat("[GradientAccumulation] micro-batches count ", seen_ + micro_counted,
                                                " tokens, more than the ", total_, " announced"));
    }
    seen_ += micro_counted;
    const double w = static_cast<double>(micro_counted) / static_cast<double>(total_);
    if (micro_counted > 0) loss_ += w * micro_loss;
    return w;
  }

  /// The mean loss over every counted token seen so far (the whole batch's, once all were added).
  double loss() const { return loss_; }
  bool complete() const { return seen_ == total_; }

 private:
  Index total_ = 0, seen_ = 0;
  double loss_ = 0;
};

}  // namespace eigenformer::training
