// eigenformer/inspect/compare.hpp — where two runs part ways.
//
// A student ports a model and the logits disagree with the reference. Which layer went wrong first?
// compare(a, b, tolerance) walks two dumps (the family programs' --dump files, a reference written by
// PyTorch under the same names, or two Captures) in the order the forward pass computes them —
//
//     hidden_states.0 (the embeddings), attentions.0, hidden_states.1 (the output of layer 0), attentions.1, ...
//     encoder_* before decoder_*; a decoder layer's cross_attentions.<l> right after its decoder_attentions.<l>;
//     logits; then any other tensor (input_ids, pooler_output, ...) by name
//
// — and reports the first value where |a − b| > absolute + relative·|b| (b is the reference), saying which
// layer, which tensor, which head and which position in words, with the values on both sides, and for every
// tensor the largest |a − b| and where it is. A NaN on one side only is a divergence; NaN on both is not.
//
//     inspect::Comparison c = inspect::compare("mine.safetensors", "reference.safetensors", {1e-4});
//     std::printf("%s", c.to_text().c_str());      // "first divergence: attentions.1 — layer 1
//                                                   //  self-attention, head 2, query 4, key 3: a = ..., b = ..."
//     return c.agree() ? 0 : 1;
//
// A program compares its run in memory, without writing a dump first (the family programs' --compare REF):
//
//     inspect::NamedTensors run = inspect::named_tensors(capture);   // hidden_states.<i>, attentions.<l>
//     run.add_matrix("logits", logits);                              // (T, V)
//     inspect::Comparison c = inspect::compare(run, inspect::read_named_tensors(ref), {1e-4});
//
// Positions inside a tensor use the dump layout (models/dump.hpp, one sequence):
//     *attentions.<l>     (H, T, S)  head h, query t, key s
//     *hidden_states.<i>  (T, C)     position t, channel c
//     logits              (T, V)     position t, vocabulary entry v
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "eigenformer/blocks/stack.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer::inspect {

/// One tensor of a dump, in double.
struct NamedTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<double> values;  // product(shape) values, row-major
  // Known for a named intermediate of a Capture (attention/forward_context.hpp), else empty / −2:
  std::vector<std::string> axes;  // what each dimension counts ("head", "query", "key", "position", ...)
  Index layer = -2;               // the block it was computed in (−1: outside the blocks; −2: unknown)
  int stage = 0;                  // 0 encoder or decoder-only, 1 an encoder-decoder's decoder
  std::size_t sequence = 0;       // order of computation within its capture
};

/// The tensors of one run, by name.
struct NamedTensors {
  std::string source;  // a file name, or "capture": used in reports
  std::vector<NamedTensor> tensors;

  const NamedTensor* find(const std::string& name) const {
    for (const NamedTensor& t : tensors) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

  void add(std::string name, std::vector<std::int64_t> shape, std::vector<double> values) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    if (n != static_cast<std::int64_t>(values.size())) {
      throw ShapeError(detail::cat("[compare] tensor '", name, "' of shape ", detail::shape_str(shape), " needs ", n,
                                   " values, got ", values.size()));
    }
    if (find(name) != nullptr) throw ValueError(detail::cat("[compare] duplicate tensor name '", name, "'"));
    NamedTensor t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.values = std::move(values);
    tensors.push_back(std::move(t));
  }

  /// Adds a (rows, cols) matrix, e.g. the logits (T, V) of a run.
  template <class Scalar>
  void add_matrix(std::string name, const Matrix<Scalar>& m) {
    add(std::move(name), {static_cast<std::int64_t>(m.rows()), static_cast<std::int64_t>(m.cols())},
        std::vector<double>(m.data(), m.data() + m.size()));
  }

  /// Adds every tensor of `other` (an encoder's and a decoder's named_tensors into one run).
  void append(const NamedTensors& other) {
    for (const NamedTensor& t : other.tensors) {
      if (find(t.name) != nullptr) throw ValueError(detail::cat("[compare] duplicate tensor name '", t.name, "'"));
      tensors.push_back(t);
    }
  }
};

/// Every tensor of a safetensors file (any dtype, converted to double).
inline NamedTensors read_named_tensors(const std::string& path) {
  SafeTensorsReader reader(path);
  NamedTensors out;
  out.source = path;
  for (const TensorInfo& info : reader.tensors()) {
    out.add(info.name, info.shape, reader.read<double>(info.name));
  }
  return out;
}

/// A stack's Capture for sequence b, under the names --dump writes (models/dump.hpp):
/// <prefix>hidden_states.<i> (T, C), <prefix>attentions.<l> (H, T, S), cross_attentions.<l> (H, T, S).
template <class Scalar>
NamedTensors named_tensors(const Capture<Scalar>& capture, const std::string& prefix = "", Index b = 0,
                           std::string source = "capture") {
  NamedTensors out;
  out.source = std::move(source);
  const auto slice = [b](const Scalar* data, std::int64_t batch, std::int64_t per_sequence, const std::string& name) {
    if (b < 0 || b >= batch) {
      throw ValueError(detail::cat("[compare] ", name, ": sequence ", b, " is outside the batch of ", batch));
    }
    return std::vector<double>(data + b * per_sequence, data + (b + 1) * per_sequence);
  };
  for (std::size_t i = 0; i < capture.hidden_states.size(); ++i) {
    const Tensor3<Scalar>& x = capture.hidden_states[i];
    const std::string name = detail::cat(prefix, "hidden_states.", i);
    out.add(name, {x.dimension(1), x.dimension(2)}, slice(x.data(), x.dimension(0), x.dimension(1) * x.dimension(2), name));
  }
  const auto heads = [&](const std::vector<Tensor4<Scalar>>& maps, const std::string& stem) {
    for (std::size_t l = 0; l < maps.size(); ++l) {
      const Tensor4<Scalar>& w = maps[l];
      const std::string name = detail::cat(stem, l);
      out.add(name, {w.dimension(1), w.dimension(2), w.dimension(3)},
              slice(w.data(), w.dimension(0), w.dimension(1) * w.dimension(2) * w.dimension(3), name));
    }
  };
  heads(capture.attentions, prefix + "attentions.");
  heads(capture.cross_attentions, "cross_attentions.");
  // Named intermediates (Capture::keep), batch dimension dropped, in the order they were computed.
  for (std::size_t i = 0; i < capture.named.size(); ++i) {
    const Intermediate<Scalar>& a = capture.named[i];
    if (a.shape.empty()) continue;
    std::int64_t per_sequence = 1;
    for (std::size_t d = 1; d < a.shape.size(); ++d) per_sequence *= a.shape[d];
    out.add(a.name, std::vector<std::int64_t>(a.shape.begin() + 1, a.shape.end()),
            slice(a.values.data(), a.shape[0], per_sequence, a.name));
    NamedTensor& t = out.tensors.back();
    t.axes.assign(a.axes.begin() + (a.axes.empty() ? 0 : 1), a.axes.end());
    t.layer = a.layer;
    t.stage = prefix == "decoder_" ? 1 : 0;
    t.sequence = i;
  }
  return out;
}

/// |a − b| ≤ absolute + relative·|b|, b being the reference (numpy.isclose's rule).
struct Tolerance {
  double absolute = 1e-4;
  double relative = 0;

  bool close(double a, double b) const {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    if (a == b) return true;  // equal infinities
    return std::abs(a - b) <= absolute + relative * std::abs(b);
  }
};

/// What one tensor name looks like in both runs.
struct TensorComparison {
  std::string name;
  std::string meaning;                  // "layer 1 self-attention", "the output of layer 0", "logits", ...
  Index layer = -1;                     // the block it belongs to, −1 for the embeddings, logits and others
  bool in_a = false, in_b = false;
  std::vector<std::int64_t> shape_a, shape_b;
  std::size_t count = 0;                // values compared
  std::size_t diverging = 0;            // values over the tolerance
  double max_error = 0;                 // max |a − b| (infinite when NaN meets a number)
  std::vector<std::int64_t> max_at;     // where
  std::vector<std::int64_t> first_at;   // the first value over the tolerance (row-major order)
  std::vector<std::string> axes;        // dimension names, when a capture gave them
  double first_a = 0, first_b = 0;

  bool shapes_differ() const { return in_a && in_b && shape_a != shape_b; }
  bool diverges() const { return shapes_differ() || diverging > 0; }
};

namespace internal {

/// "encoder_attentions.3" → ("encoder_", "attentions", 3); returns false when the name is not
/// <prefix><stem>.<number> with a known stem.
inline bool parse_dump_name(const std::string& name, std::string& prefix, std::string& stem, Index& number) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot + 1 == name.size()) return false;
  for (std::size_t i = dot + 1; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  const std::string head = name.substr(0, dot);
  for (const char* s : {"cross_attentions", "attentions", "hidden_states"}) {
    const std::string st = s;
    if (head.size() >= st.size() && head.compare(head.size() - st.size(), st.size(), st) == 0) {
      prefix = head.substr(0, head.size() - st.size());
      if (prefix != "" && prefix != "encoder_" && prefix != "decoder_") return false;
      if (st == "cross_attentions" && !prefix.empty()) return false;
      stem = st;
      number = static_cast<Index>(std::stoll(name.substr(dot + 1)));
      return true;
    }
  }
  return false;
}

/// The forward-pass order of a dump name (see the file comment), as a sortable key: (stage, slot, kind, rank).
/// hidden_states.<n> is slot 2n, everything computed inside block n is slot 2n + 1.
using OrderKey = std::tuple<int, Index, int, std::size_t>;
inline OrderKey forward_order(const std::string& name) {
  std::string prefix, stem;
  Index n = 0;
  if (parse_dump_name(name, prefix, stem, n)) {
    const int stage = (prefix == "decoder_" || stem == "cross_attentions") ? 1 : 0;
    if (stem == "hidden_states") return {stage, 2 * n, 0, 0};
    return {stage, 2 * n + 1, stem == "cross_attentions" ? 2 : 1, 0};
  }
  if (name == "logits") return {2, 0, 0, 0};
  return {3, 0, 0, 0};
}

/// The order of a named intermediate of a Capture: inside its block (slot 2l + 1, before that block's
/// attention maps, kind 0, in the order computed), or before the blocks (the embeddings) or after them.
inline OrderKey forward_order(const NamedTensor& t) {
  if (t.layer == -2) return forward_order(t.name);
  if (t.layer >= 0) return {t.stage, 2 * t.layer + 1, 0, t.sequence};
  const bool before = t.sequence == 0;  // the stack's input comes first
  return {t.stage, before ? -1 : std::numeric_limits<Index>::max(), 0, t.sequence};
}

/// Words for a tensor: "layer 1 self-attention", "decoder layer 0 cross-attention", "the embeddings".
inline std::string meaning_of(const std::string& name, Index& layer) {
  std::string prefix, stem;
  Index n = 0;
  layer = -1;
  if (!parse_dump_name(name, prefix, stem, n)) return name == "logits" ? "the scores over the vocabulary" : "";
  const std::string side = prefix == "encoder_" ? "encoder " : prefix == "decoder_" ? "decoder " : "";
  if (stem == "hidden_states") {
    if (n == 0) return side.empty() ? "the embeddings (input of layer 0)" : detail::cat("the ", side, "embeddings (input of layer 0)");
    layer = n - 1;
    return detail::cat("the output of ", side, "layer ", n - 1);
  }
  layer = n;
  if (stem == "cross_attentions") return detail::cat("decoder layer ", n, " cross-attention weights");
  return detail::cat(side, "layer ", n, " self-attention weights");
}

/// A position inside a tensor in words: "head 2, query 4, key 3". `axes` (a capture's) names the dimensions.
inline std::string position_words(const std::string& name, const std::vector<std::int64_t>& at,
                                  const std::vector<std::string>& axes = {}) {
  if (!axes.empty() && axes.size() == at.size()) {
    std::string out;
    for (std::size_t d = 0; d < at.size(); ++d) out += detail::cat(d ? ", " : "", axes[d], " ", at[d]);
    return out;
  }
  std::string prefix, stem;
  Index n = 0;
  const bool dump = parse_dump_name(name, prefix, stem, n);
  if (dump && stem != "hidden_states" && at.size() == 3) {
    return detail::cat("head ", at[0], ", query ", at[1], ", key ", at[2]);
  }
  if (dump && stem == "hidden_states" && at.size() == 2) return detail::cat("position ", at[0], ", channel ", at[1]);
  if (name == "logits" && at.size() == 2) return detail::cat("position ", at[0], ", vocabulary entry ", at[1]);
  return "index " + detail::shape_str(at);
}

inline std::vector<std::int64_t> unravel(std::size_t flat, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> at(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    const std::int64_t n = shape[d] == 0 ? 1 : shape[d];
    at[d] = static_cast<std::int64_t>(flat % static_cast<std::size_t>(n));
    flat /= static_cast<std::size_t>(n);
  }
  return at;
}

inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", v);
  return buf;
}

}  // namespace internal

/// The whole comparison, tensors in forward-pass order.
struct Comparison {
  std::string source_a, source_b;
  Tolerance tolerance;
  std::vector<TensorComparison> tensors;

  /// The first tensor (in forward-pass order) present in both runs that diverges, or nullptr.
  const TensorComparison* first_divergence() const {
    for (const TensorComparison& t : tensors) {
      if (t.in_a && t.in_b && t.diverges()) return &t;
    }
    return nullptr;
  }

  /// True when every tensor present in both runs is within the tolerance (names present in only one
  /// run are listed by to_text() but do not count: a reference often holds more, such as input_ids).
  bool agree() const { return first_divergence() == nullptr; }

  /// One sentence: "first divergence: attentions.1 — layer 1 self-attention weights, head 2, query 4, key 3:
  /// a = 0.3123, b = 0.3023, |a − b| = 0.01", or "no divergence: ...".
  std::string summary() const {
    const TensorComparison* t = first_divergence();
    if (t == nullptr) {
      std::size_t both = 0;
      for (const TensorComparison& c : tensors) both += (c.in_a && c.in_b) ? 1 : 0;
      return detail::cat("no divergence: ", both, " tensors agree within the tolerance");
    }
    std::string where = t->name + (t->meaning.empty() ? std::string() : " \xE2\x80\x94 " + t->meaning);
    if (t->shapes_differ()) {
      return detail::cat("first divergence: ", where, ": shapes differ, a ", detail::shape_str(t->shape_a), ", b ",
                         detail::shape_str(t->shape_b));
    }
    return detail::cat("first divergence: ", where, ", ", internal::position_words(t->name, t->first_at, t->axes),
                       ": a = ", internal::number(t->first_a), ", b = ", internal::number(t->first_b),
                       ", |a \xE2\x88\x92 b| = ", internal::number(std::abs(t->first_a - t->first_b)));
  }

  /// The summary, then a table: every tensor with its shape, its max |a − b| and where, and how many values
  /// are over the tolerance; then the names present in only one run.
  std::string to_text() const {
    std::string out = detail::cat("compare: a = ", source_a, ", b = ", source_b, "  (tolerance: |a \xE2\x88\x92 b| \xE2\x89\xA4 ",
                                  internal::number(tolerance.absolute), " + ", internal::number(tolerance.relative),
                                  "\xC2\xB7|b|)\n", summary(), "\n");
    char line[512];
    std::snprintf(line, sizeof line, "  %-26s %-14s %-13s %-34s %s\n", "tensor", "shape", "max |a-b|", "at", "over tolerance");
    out += line;
    std::string only_a, only_b;
    for (const TensorComparison& t : tensors) {
      if (!(t.in_a && t.in_b)) {
        (t.in_a ? only_a : only_b) += " " + t.name;
        continue;
      }
      if (t.shapes_differ()) {
        std::snprintf(line, sizeof line, "  %-26s a %s, b %s  <- shapes differ\n", t.name.c_str(),
                      detail::shape_str(t.shape_a).c_str(), detail::shape_str(t.shape_b).c_str());
        out += line;
        continue;
      }
      const std::string at = t.max_error == 0 ? "-" : internal::position_words(t.name, t.max_at, t.axes);
      const std::string over = detail::cat(t.diverging, " of ", t.count, t.diverging > 0 ? "  <- diverges" : "");
      std::snprintf(line, sizeof line, "  %-26s %-14s %-13s %-34s %s\n", t.name.c_str(), detail::shape_str(t.shape_a).c_str(),
                    internal::number(t.max_error).c_str(), at.c_str(), over.c_str());
      out += line;
    }
    if (!only_a.empty()) out += "only in a:" + only_a + "\n";
    if (!only_b.empty()) out += "only in b:" + only_b + "\n";
    return out;
  }
};

/// Compares every tensor name of a and b (b is the reference). See the file comment.
inline Comparison compare(const NamedTensors& a, const NamedTensors& b, const Tolerance& tolerance = {}) {
  if (!(tolerance.absolute >= 0) || !(tolerance.relative >= 0)) {
    throw ValueError(detail::cat("[compare] tolerances must be non-negative, got absolute ", tolerance.absolute,
                                 " and relative ", tolerance.relative));
  }
  Comparison out;
  out.source_a = a.source;
  out.source_b = b.source;
  out.tolerance = tolerance;
  // Every name once, with what is known of it (a capture's metadata, from a or else b), in forward order;
  // names of neither a dump nor a capture last, by name.
  std::vector<const NamedTensor*> names;
  for (const NamedTensor& t : a.tensors) {
    const NamedTensor* other = b.find(t.name);
    names.push_back(t.layer == -2 && other != nullptr && other->layer != -2 ? other : &t);
  }
  for (const NamedTensor& t : b.tensors) {
    if (a.find(t.name) == nullptr) names.push_back(&t);
  }
  std::stable_sort(names.begin(), names.end(), [](const NamedTensor* x, const NamedTensor* y) {
    const internal::OrderKey kx = internal::forward_order(*x), ky = internal::forward_order(*y);
    if (std::get<0>(kx) == 3 && std::get<0>(ky) == 3) return x->name < y->name;
    return kx < ky;
  });
  for (const NamedTensor* known : names) {
    const std::string& name = known->name;
    const NamedTensor* ta = a.find(name);
    const NamedTensor* tb = b.find(name);
    TensorComparison c;
    c.name = name;
    c.meaning = internal::meaning_of(name, c.layer);
    c.axes = known->axes;
    if (known->layer != -2) {
      c.layer = known->layer;
      if (c.meaning.empty() && known->layer >= 0) c.meaning = detail::cat("layer ", known->layer);
    }
    c.in_a = ta != nullptr;
    c.in_b = tb != nullptr;
    if (ta) c.shape_a = ta->shape;
    if (tb) c.shape_b = tb->shape;
    if (ta && tb && !c.shapes_differ()) {
      c.count = ta->values.size();
      std::size_t worst = 0;
      for (std::size_t i = 0; i < c.count; ++i) {
        const double x = ta->values[i], y = tb->values[i];
        const bool close = tolerance.close(x, y);
        double err = std::abs(x - y);
        if (std::isnan(err)) err = close ? 0 : std::numeric_limits<double>::infinity();
        if (x == y) err = 0;
        if (err > c.max_error) {
          c.max_error = err;
          worst = i;
        }
        if (!close) {
          if (c.diverging == 0) {
            c.first_at = internal::unravel(i, c.shape_a);
            c.first_a = x;
            c.first_b = y;
          }
          ++c.diverging;
        }
      }
      c.max_at = internal::unravel(worst, c.shape_a);
    }
    out.tensors.push_back(std::move(c));
  }
  return out;
}

/// Two dump files: `a` (yours) against `b` (the reference). The family programs' --compare REF.
inline Comparison compare(const std::string& path_a, const std::string& path_b, const Tolerance& tolerance = {}) {
  return compare(read_named_tensors(path_a), read_named_tensors(path_b), tolerance);
}

/// Two Captures of the same stack, sequence b of each.
template <class Scalar>
Comparison compare(const Capture<Scalar>& a, const Capture<Scalar>& b, const Tolerance& tolerance = {}, Index batch_index = 0) {
  return compare(named_tensors(a, "", batch_index, "capture a"), named_tensors(b, "", batch_index, "capture b"), tolerance);
}

}  // namespace eigenformer::inspect
