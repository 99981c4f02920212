// eigenformer/models/config.hpp — reading a checkpoint's config.json with errors that name the file and field.
//
// A Hugging Face checkpoint describes its architecture in config.json with the family's own field names
// ("hidden_size" for BERT and Llama, "d_model" for T5). Each family turns that JSON into its config struct
// through a ModelConfig, which gives typed access and one kind of error for everything that can be wrong:
//
//     ModelConfig c = ModelConfig::from_file("tinyllama/config.json");
//     Index layers = c.positive("num_hidden_layers");            // required, an integer > 0
//     Index kv     = c.positive("num_key_value_heads", heads);   // optional, with Hugging Face's default
//     double theta = c.number("rope_theta", 10000.0);
//
//     [config] tinyllama/config.json: field 'num_hidden_layers' is missing
//     [config] tinyllama/config.json: field 'num_hidden_layers' must be an integer, got a string
//     [config] tinyllama/config.json: field 'num_hidden_layers' must be at least 1, got 0
//     [config] tinyllama/config.json: hidden_size 30 is not divisible by num_attention_heads 4
//
// All of these are ConfigError. A field written as null counts as absent (HF writes "rope_scaling": null).
// Every size is also capped (kMaxDimension) so that a corrupt or hostile file is rejected here, before the
// model it describes is allocated.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/memory.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/activation.hpp"

namespace eigenformer {

class ModelConfig {
 public:
  /// The largest size any single field may ask for (2^24 = 16.7M: more than any vocabulary or width in use).
  static constexpr std::int64_t kMaxDimension = std::int64_t{1} << 24;

  /// Reads and parses `path`. FileError when it cannot be read, ParseError when it is not JSON, ConfigError
  /// when it is not a JSON object.
  static ModelConfig from_file(const std::string& path) {
    json::Value root = json::parse_file(path);
    return ModelConfig(std::move(root), path);
  }

  /// A config from parsed JSON; `source` names it in messages (a file path, or "config.json: rope_scaling").
  ModelConfig(json::Value root, std::string source) : root_(std::move(root)), source_(std::move(source)) {
    if (!root_.is_object()) fail(detail::cat("expected a JSON object, got ", json::type_name(root_.type())));
  }

  const json::Value& json() const { return root_; }
  const std::string& source() const { return source_; }

  /// Present and not null.
  bool has(std::string_view field) const {
    const json::Value* v = root_.find(field);
    return v != nullptr && !v->is_null();
  }

  // ---- Typed access: required (no fallback) or optional (fallback when absent or null) ----------------------

  std::int64_t integer(std::string_view field) const { return as_integer(field, require(field)); }
  std::int64_t integer(std::string_view field, std::int64_t fallback) const {
    return has(field) ? integer(field) : fallback;
  }

  /// Any JSON number (1 and 1.0 both); HF writes some floats as integers ("rope_theta": 10000).
  double number(std::string_view field) const {
    const json::Value& v = require(field);
    if (!v.is_number()) mistyped(field, "a number", v);
    return v.as_number();
  }
  double number(std::string_view field, double fallback) const { return has(field) ? number(field) : fallback; }

  bool boolean(std::string_view field, bool fallback) const {
    if (!has(field)) return fallback;
    const json::Value& v = require(field);
    if (!v.is_bool()) mistyped(field, "true or false", v);
    return v.as_bool();
  }

  const std::string& string(std::string_view field) const {
    const json::Value& v = require(field);
    if (!v.is_string()) mistyped(field, "a string", v);
    return v.as_string();
  }
  std::string string(std::string_view field, const std::string& fallback) const {
    return has(field) ? string(field) : fallback;
  }

  /// An integer or a list of integers ("eos_token_id": 2 or [128001, 128009]); empty when absent.
  std::vector<std::int64_t> integers(std::string_view field) const {
    if (!has(field)) return {};
    const json::Value& v = require(field);
    if (v.is_number()) return {as_integer(field, v)};
    if (!v.is_array()) mistyped(field, "an integer or a list of integers", v);
    std::vector<std::int64_t> out;
    for (const json::Value& item : v.as_array()) out.push_back(as_integer(field, item));
    return out;
  }

  /// A nested object as a ModelConfig whose messages say "<file>: <field>"; requires the field.
  ModelConfig object(std::string_view field) const {
    const json::Value& v = require(field);
    if (!v.is_object()) mistyped(field, "an object", v);
    return ModelConfig(v, detail::cat(source_, ": ", field));
  }

  /// Number of members of an object field (e.g. id2label), or `fallback` when absent.
  std::int64_t object_size(std::string_view field, std::int64_t fallback) const {
    if (!has(field)) return fallback;
    const json::Value& v = require(field);
    if (!v.is_object()) mistyped(field, "an object", v);
    return static_cast<std::int64_t>(v.as_object().size());
  }

  // ---- Sizes: integers in [minimum, kMaxDimension] --------------------------------------------------------------

  /// A required size, at least `minimum` (1 by default).
  Index positive(std::string_view field, std::int64_t minimum = 1) const {
    return in_range(field, integer(field), minimum);
  }
  /// An optional size with a fallback (HF's default), checked the same way when present.
  Index positive_or(std::string_view field, std::int64_t fallback, std::int64_t minimum = 1) const {
    return has(field) ? positive(field, minimum) : static_cast<Index>(fallback);
  }
  /// A required positive number (scaling factors).
  double positive_number(std::string_view field) const {
    const double x = number(field);
    if (!(x > 0) || !std::isfinite(x)) fail(detail::cat("field '", field, "' must be a positive number, got ", x));
    return x;
  }
  /// An optional positive number with a fallback (eps, rope_theta).
  double positive_number(std::string_view field, double fallback) const {
    return has(field) ? positive_number(field) : fallback;
  }

  // ---- Errors ------------------------------------------------------------------------------------------------

  /// Throws ConfigError "[config] <source>: <what>".
  [[noreturn]] void fail(const std::string& what) const {
    throw ConfigError(detail::cat("[config] ", source_, ": ", what));
  }

  /// Throws unless `condition`; for consistency checks between fields.
  void check(bool condition, const std::string& what) const {
    if (!condition) fail(what);
  }

  /// `field` must be divisible by `by_field` (e.g. hidden_size by num_attention_heads).
  void check_divisible(std::string_view field, Index value, std::string_view by_field, Index by) const {
    if (by <= 0 || value % by != 0) {
      fail(detail::cat(field, " ", value, " is not divisible by ", by_field, " ", by));
    }
  }

 private:
  const json::Value& require(std::string_view field) const {
    const json::Value* v = root_.find(field);
    if (v == nullptr || v->is_null()) fail(detail::cat("field '", field, "' is missing"));
    return *v;
  }

  [[noreturn]] void mistyped(std::string_view field, const char* expected, const json::Value& got) const {
    fail(detail::cat("field '", field, "' must be ", expected, ", got ", json::type_name(got.type())));
  }

  std::int64_t as_integer(std::string_view field, const json::Value& v) const {
    if (!v.is_number()) mistyped(field, "an integer", v);
    if (!v.is_integer()) fail(detail::cat("field '", field, "' must be an integer, got ", v.as_number()));
    return v.as_int();
  }

  Index in_range(std::string_view field, std::int64_t x, std::int64_t minimum) const {
    if (x < minimum) fail(detail::cat("field '", field, "' must be at least ", minimum, ", got ", x));
    if (x > kMaxDimension) {
      fail(detail::cat("field '", field, "' is ", x, ", above the limit of ", kMaxDimension,
                       " (a corrupt file? eigenformer refuses to allocate that)"));
    }
    return static_cast<Index>(x);
  }

  json::Value root_;
  std::string source_;
};

// Count, the saturating size arithmetic every parameter count here uses, is in core/memory.hpp.

/// The name Hugging Face configs use for an activation ("hidden_act"): what a saved config.json says.
inline const char* hf_activation_name(Activation a) {
  switch (a) {
    case Activation::ReLU: return "relu";
    case Activation::GeluErf: return "gelu";
    case Activation::GeluTanh: return "gelu_new";
    case Activation::SiLU: return "silu";
  }
  return "?";
}

/// An activation named by a config field, or ConfigError listing the known names.
inline Activation activation_field(const ModelConfig& config, std::string_view field, const std::string& name) {
  const std::optional<Activation> a = activation_from_name(name);
  if (!a) {
    config.fail(detail::cat("field '", field, "' is '", name,
                            "', not one of relu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, silu, swish"));
  }
  return *a;
}

}  // namespace eigenformer
