// eigenformer/core/parameters.hpp — named parameters: list, count, load and save them by name.
//
// Every layer keeps its learnable tensors as plain Eigen members (`Matrix<Scalar> weight; // (out, in)`), so a
// student sees them directly in a debugger. To handle them by *name*, each layer offers
//
//     void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out);
//
// which appends one ParameterRef per tensor: its full dotted name ("layers.3.attn.q.weight"), its shape as
// PyTorch reports it, and a pointer to its storage. Containers prefix the names of what they hold, so a
// stack's list names every tensor of the model. Loading, saving, counting, gradients and optimizers all
// work on this one list.
//
// Gradients mirror the parameters: a layer that learns keeps, beside each parameter, a buffer of the same
// shape for ∂loss/∂parameter (`Matrix<Scalar> weight_grad; // (out, in)`), which its backward() adds into.
// Those buffers stay empty — no memory — until a list is collected with `gradients = true`
// (parameters_with_gradients()): then each is sized to its parameter, zeroed, and ParameterRef::grad points
// at it. Inference never pays for them.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

/// A view of one named parameter: where it lives and how PyTorch would describe it.
template <class Scalar>
struct ParameterRef {
  std::string name;                 // "layers.3.attn.q.weight"
  std::vector<std::int64_t> shape;  // PyTorch shape: {out, in} for a weight, {n} for a bias
  Scalar* data = nullptr;           // row-major storage of numel() elements
  Scalar* grad = nullptr;           // ∂loss/∂data, same shape and layout; null unless collected with gradients

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
  }
};

/// The named parameters of a module, in the order the module lists them. A std::vector, plus one switch:
/// when `gradients` is true, collecting sizes every gradient buffer and fills ParameterRef::grad.
template <class Scalar>
struct ParameterList : std::vector<ParameterRef<Scalar>> {
  bool gradients = false;
};

/// Appends a 2-D parameter (rows, cols).
template <class Scalar>
void add_parameter(ParameterList<Scalar>& out, const std::string& name, Matrix<Scalar>& m) {
  out.push_back({name, {static_cast<std::int64_t>(m.rows()), static_cast<std::int64_t>(m.cols())}, m.data()});
}

/// Appends a 1-D parameter (n).
template <class Scalar>
void add_parameter(ParameterList<Scalar>& out, const std::string& name, RowVector<Scalar>& v) {
  out.push_back({name, {static_cast<std::int64_t>(v.size())}, v.data()});
}

/// Appends a parameter with its gradient buffer `grad` (same type). When the list collects gradients, the
/// buffer is sized like the parameter (zeroed if it was not that size already) and the entry points at it.
template <class Dense>
void add_parameter(ParameterList<typename Dense::Scalar>& out, const std::string& name, Dense& value, Dense& grad) {
  add_parameter(out, name, value);
  if (out.gradients) {
    if (grad.rows() != value.rows() || grad.cols() != value.cols()) grad.setZero(value.rows(), value.cols());
    out.back().grad = grad.data();
  }
}

/// All parameters of a module (anything with collect_parameters), names prefixed by `prefix`.
template <class Module>
auto named_parameters(Module& module, const std::string& prefix = "") {
  using Scalar = typename Module::scalar_type;
  ParameterList<Scalar> out;
  module.collect_parameters(prefix, out);
  return out;
}

/// All parameters of a module with their gradient buffers allocated: every entry's grad is set.
template <class Module>
auto parameters_with_gradients(Module& module, const std::string& prefix = "") {
  using Scalar = typename Module::scalar_type;
  ParameterList<Scalar> out;
  out.gradients = true;
  module.collect_parameters(prefix, out);
  return out;
}

/// Sets every gradient of the list to zero (before accumulating the next batch's).
template <class Scalar>
void zero_gradients(ParameterList<Scalar>& params) {
  for (ParameterRef<Scalar>& p : params) {
    if (p.grad != nullptr) std::fill(p.grad, p.grad + p.numel(), Scalar(0));
  }
}

/// Number of scalars in all parameters of a module.
template <class Module>
std::int64_t count_parameters(Module& module) {
  std::int64_t n = 0;
  for (const auto& p : named_parameters(module)) n += p.numel();
  return n;
}

/// The finite check on load (opt-in for the library, on in the family programs): throws ValueError at the first
/// NaN or ±Inf among a module's weights, naming the tensor, its shape, the value and its flat index, so that a
/// corrupt or badly converted checkpoint is refused when it is loaded instead of giving NaN logits many steps later.
/// `where` says what was loaded (a folder). One pass over every weight: O(parameters), no allocation.
///   "[check_weights_finite] models/x: weight 'layers.3.attn.q.weight' [64, 64] holds nan at flat index 17"
template <class Module>
void check_weights_finite(Module& module, const std::string& where) {
  for (const auto& p : named_parameters(module)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      if (std::isfinite(p.data[i])) continue;
      throw ValueError(detail::cat("[check_weights_finite] ", where, ": weight '", p.name, "' ", detail::shape_str(p.shape),
                                   " holds ", p.data[i], " at flat index ", i));
    }
  }
}

/// How to match file tensors to module parameters.
struct LoadOptions {
  /// Strict: every parameter must be in the file, and every file tensor must be a parameter (except
  /// those `ignore` accepts). A shape mismatch is always an error.
  bool strict = true;
  /// Maps a parameter name to the name in the file (identity when empty), e.g. to Hugging Face names.
  std::function<std::string(const std::string&)> rename;
  /// File tensors that are not parameters and may be skipped (buffers such as position_ids).
  std::function<bool(const std::string&)> ignore;
};

/// Loads every parameter of `params` from an open safetensors file, converting dtypes.
/// Throws FormatError naming the tensor: missing, unexpected (strict) or with a mismatched shape.
/// `file` is a SafeTensorsReader, or any source with the same path(), find(name), tensors() and
/// read_into(info, T*) members (a sharded checkpoint folder: models/checkpoint.hpp).
template <class Scalar, class Source = SafeTensorsReader>
void load_parameters(ParameterList<Scalar>& params, Source& file, const LoadOptions& options = {}) {
  std::set<std::string> used;
  for (ParameterRef<Scalar>& p : params) {
    const std::string file_name = options.rename ? options.rename(p.name) : p.name;
    const TensorInfo* t = file.find(file_name);
    if (t == nullptr) {
      if (!options.strict) continue;
      throw FormatError(detail::cat("[load] ", file.path(), ": missing tensor '", file_name, "' (expected shape ",
                                    detail::shape_str(p.shape), ")"));
    }
    if (t->shape != p.shape) {
      throw FormatError(detail::cat("[load] ", file.path(), ": tensor '", file_name, "' has shape ",
                                    detail::shape_str(t->shape), " but the model expects ",
                                    detail::shape_str(p.shape)));
    }
    file.read_into(*t, p.data);
    used.insert(file_name);
  }
  if (options.strict) {
    for (const TensorInfo& t : file.tensors()) {
      if (used.count(t.name) == 0 && !(options.ignore && options.ignore(t.name))) {
        throw FormatError(detail::cat("[load] ", file.path(), ": unexpected tensor '", t.name, "' with shape ",
                                      detail::shape_str(t.shape), " (the model has no parameter by that name)"));
      }
    }
  }
}

/// Loads a module's parameters from a .safetensors file.
template <class Module>
void load_safetensors(Module& module, const std::string& path, const LoadOptions& options = {}) {
  SafeTensorsReader file(path);
  auto params = named_parameters(module);
  load_parameters(params, file, options);
}

/// Saves a module's parameters to a .safetensors file (atomically), as `dtype`.
template <class Module>
void save_safetensors(Module& module, const std::string& path, DType dtype = DType::F32,
                      const std::function<std::string(const std::string&)>& rename = {}) {
  SafeTensorsWriter writer;
  for (const auto& p : named_parameters(module)) {
    writer.add(rename ? rename(p.name) : p.name, p.shape, p.data, dtype);
  }
  writer.write(path);
}

}  // namespace eigenformer
