// eigenformer/attention/forward_context.hpp — the one object that travels down a forward call:
// stack → block → attention. Each level reads what it needs from it and passes it on unchanged; nothing
// is copied field by field from one level's options into the next.
//
//   given by the caller      padding, position_shift, memory, memory_padding, cache, capture, keep_scores,
//                            keep_weights
//   set by a Stack           rope, bias (its position scheme, shared by every layer) and layer (which block)
//
// Which fields a level reads:
//   Stack                    cache and capture (sized for its layers), then sets rope, bias, layer
//   block                    nothing itself: it hands the context to each of its attentions
//   MultiHeadAttention       Self/Causal: padding, bias, rope (shifted by position_shift), cache->self[layer],
//                                         capture->attentions[layer]
//                            Cross:       memory, memory_padding, cache->cross[layer],
//                                         capture->cross_attentions[layer]
//                            both:        keep_scores, keep_weights
// A MultiHeadAttention or a block used on its own takes a context too (layer 0).
//
// Named intermediates (docs/looking_inside.md, "Every intermediate, by name"). Besides Hugging Face's
// hidden states and attention maps, a Capture can keep any intermediate of the forward pass by name, and
// its Hooks may change one in flight. Every site is "<module>.<quantity>", the module being our parameter
// path (the one collect_parameters uses) and the quantity a fixed word; a family's NameTable turns the
// module part into Hugging Face's (inspect/names.hpp), so `decoder.layers.3.attn.q.out` reads
// `model.layers.3.self_attn.q_proj.out` for Llama. The sites of one stack, in the order they are computed
// (<a> = attn, or self_attn / cross_attn in a CrossDecoderBlock; shapes with the batch first):
//
//     <stack>.embeddings                 (B, T, C)     the stack's input (hidden_states.0)             read-only
//     <stack>.layers.<l>.<a>_norm.out    (B, T, C)     the normed input of the attention (pre-norm)    read-only
//       <a>.q.out  <a>.k.out  <a>.v.out  (B, T, H, D)  projections, before RoPE (k, v: Hkv heads)      writable
//       <a>.q_rope  <a>.k_rope           (B, T, H, D)  after RoPE (stacks with RoPE only)              writable
//       <a>.scores                       (B, H, T, S)  Q Kᵀ · scale, before bias and mask              read-only
//       <a>.bias_mask                    (B, H, T, S)  what was added to them: bias, −∞ where hidden   read-only
//       <a>.weights                      (B, H, T, S)  softmax: change it and the context is recomputed writable
//       <a>.context                      (B, T, H, D)  weights V, per head, before the o projection    writable
//       <a>.o.out                        (B, T, C)     the attention sublayer's output                 writable
//       resid_mid (resid_cross)          (B, T, C)     the residual stream after the (cross-)attention writable
//       ffn_norm.out                     (B, T, C)     the normed input of the FFN (pre-norm)          read-only
//       ffn.gate.out  ffn.up.out         (B, T, F)     the FFN's projections (gate: gated FFN only)    read-only
//       ffn.hidden                       (B, T, F)     act(up), or act(gate) ⊙ up                      read-only
//       ffn.down.out                     (B, T, C)     the FFN sublayer's output                       writable
//       out                              (B, T, C)     the residual stream after the block             writable
//     <stack>.final_norm.out             (B, T, C)     after the final norm                            writable
// A caller adds its own (the logits: capture.record("lm_head.out", ...)). Read-only sites are recorded
// after the fact; a hook that matches one throws ValueError. Nothing is named, copied or called unless a
// Capture with `keep` or `hooks` is attached: the cost of a site is one pointer test.
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/attention/attention.hpp"
#include "eigenformer/attention/kv_cache.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/rope.hpp"

namespace eigenformer {

/// Glob matching for intermediate names: '*' is any run of characters (dots included), '?' one character;
/// several patterns may be given separated by commas ("*.weights,*.layers.0.out").
inline bool glob_match(const std::string& pattern, const std::string& name) {
  const std::size_t comma = pattern.find(',');
  if (comma != std::string::npos) {
    return glob_match(pattern.substr(0, comma), name) || glob_match(pattern.substr(comma + 1), name);
  }
  // Iterative matching with one backtrack point (the last '*'): linear in practice.
  std::size_t p = 0, n = 0, star = std::string::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

/// One named intermediate, copied out of a forward call: row-major values, the batch first.
template <class Scalar>
struct Intermediate {
  std::string name;                // e.g. "model.layers.3.self_attn.weights"
  std::vector<Index> shape;        // e.g. (B, H, T, S)
  std::vector<std::string> axes;   // what each dimension counts: "batch", "head", "query", "key", "position", ...
  std::vector<Scalar> values;      // product(shape) values
  Index layer = -1;                // the block it was computed in, −1 outside the blocks

  /// The values as a (rows, cols) matrix, rows = product of all dimensions but the last.
  Matrix<Scalar> matrix() const {
    const Index cols = shape.empty() ? 0 : shape.back();
    const Index rows = cols == 0 ? 0 : static_cast<Index>(values.size()) / cols;
    return Eigen::Map<const Matrix<Scalar>>(values.data(), rows, cols);
  }
};

/// A named intermediate in flight, as a hook sees it: the very buffer the forward pass goes on with.
template <class Scalar>
struct IntermediateView {
  const std::string& name;
  Scalar* data;
  const std::vector<Index>& shape;       // batch first, as in Intermediate
  const std::vector<std::string>& axes;
  Index layer;                           // the block it belongs to, −1 outside the blocks

  Index size() const {
    Index n = 1;
    for (Index d : shape) n *= d;
    return n;
  }
  /// Position of an axis by name ("head"), or −1.
  Index axis(const std::string& which) const {
    for (std::size_t i = 0; i < axes.size(); ++i) {
      if (axes[i] == which) return static_cast<Index>(i);
    }
    return -1;
  }
  /// Calls f(value&, index) for every value whose index along `axis_index` equals `at`.
  template <class F>
  void for_slice(Index axis_index, Index at, F f) const {
    Index inner = 1;
    for (std::size_t d = static_cast<std::size_t>(axis_index) + 1; d < shape.size(); ++d) inner *= shape[d];
    const Index extent = shape[static_cast<std::size_t>(axis_index)];
    const Index outer = size() / (inner * extent);
    for (Index o = 0; o < outer; ++o) {
      Scalar* first = data + (o * extent + at) * inner;
      for (Index i = 0; i < inner; ++i) f(first[i]);
    }
  }
};

/// Functions that may change named intermediates in flight, chosen by a glob over the (renamed) names.
/// The forward pass calls every matching hook, in the order they were added, and goes on with what they
/// leave in the buffer. inspect/hooks.hpp has the usual ones (zero or scale a head, patch, force a pattern).
template <class Scalar>
struct Hooks {
  using Function = std::function<void(IntermediateView<Scalar>&)>;
  struct Hook {
    std::string pattern;  // glob_match pattern
    Function function;
  };
  std::vector<Hook> hooks;

  void add(std::string pattern, Function function) { hooks.push_back({std::move(pattern), std::move(function)}); }
  bool empty() const { return hooks.empty(); }
  void clear() { hooks.clear(); }
  bool any(const std::string& name) const {
    for (const Hook& h : hooks) {
      if (glob_match(h.pattern, name)) return true;
    }
    return false;
  }
};

/// What a forward call records when asked, with the meaning of Hugging Face's output_hidden_states and
/// output_attentions.
template <class Scalar>
struct Capture {
  bool keep_hidden_states = true;
  bool keep_attentions = true;
  /// N + 1 entries: [0] the stack's input, [l] the output of block l for l < N, and [N] the stack's
  /// output (after the final norm, when there is one — as Hugging Face reports it).
  std::vector<Tensor3<Scalar>> hidden_states;
  std::vector<Tensor4<Scalar>> attentions;        // N entries, (B, H, T, S): self-attention weights per layer
  std::vector<Tensor4<Scalar>> cross_attentions;  // N entries (cross-attention only)

  /// Where layer `layer`'s self- (cross = false) or cross-attention (cross = true) weights go, or null
  /// when attentions are not kept. The list grows to hold it.
  Tensor4<Scalar>* attention_slot(Index layer, bool cross) {
    if (!keep_attentions) return nullptr;
    std::vector<Tensor4<Scalar>>& maps = cross ? cross_attentions : attentions;
    if (static_cast<Index>(maps.size()) <= layer) maps.resize(static_cast<std::size_t>(layer + 1));
    return &maps[static_cast<std::size_t>(layer)];
  }

  // ---- Named intermediates and hooks (the table at the top of this file) ---------------------------------
  std::string prefix;  // our path of the stack this capture is attached to: "decoder.", "encoder.", ...
  std::function<std::string(const std::string&)> rename;  // our names → the names users see (inspect/names.hpp)
  std::function<bool(const std::string&)> keep;           // which (renamed) names to keep; empty: none
  Hooks<Scalar>* hooks = nullptr;                         // may change writable intermediates in flight
  std::vector<Intermediate<Scalar>> named;                  // what was kept, in the order it was first computed

  /// Keep the intermediates whose name matches a glob (glob_match: '*', '?', comma-separated patterns).
  void keep_matching(const std::string& pattern) {
    keep = [pattern](const std::string& name) { return glob_match(pattern, name); };
  }

  /// True when some named intermediate may be kept or changed: the test every site makes first.
  bool inspecting() const { return static_cast<bool>(keep) || (hooks != nullptr && !hooks->empty()); }

  /// The name a site shows: rename(ours), or ours itself.
  std::string name_of(const std::string& ours) const { return rename ? rename(ours) : ours; }

  /// The kept intermediate `name` (renamed), or null.
  const Intermediate<Scalar>* find(const std::string& name) const {
    for (const Intermediate<Scalar>& a : named) {
      if (a.name == name) return &a;
    }
    return nullptr;
  }

  /// The kept intermediate `name`; ValueError listing what was kept when it is missing.
  const Intermediate<Scalar>& at(const std::string& name) const {
    const Intermediate<Scalar>* a = find(name);
    if (a != nullptr) return *a;
    std::string kept;
    for (const Intermediate<Scalar>& x : named) kept += (kept.empty() ? "" : ", ") + x.name;
    throw ValueError(detail::cat("[Capture] no intermediate named '", name, "' was kept; kept: ",
                                 kept.empty() ? std::string("none (set keep)") : kept));
  }

  /// The site `ours` (our name, e.g. "decoder.layers.0.attn.weights") over `data` with `shape` and `axes`:
  /// runs the matching hooks on the buffer (a read-only site throws if one matches), then keeps a copy
  /// when `keep` accepts the name. Called by the modules; a caller records its own values the same way.
  void record(const std::string& ours, Scalar* data, std::vector<Index> shape, std::vector<std::string> axes,
              Index layer = -1, bool writable = true) {
    if (!inspecting()) return;
    const std::string name = name_of(ours);
    if (hooks != nullptr && hooks->any(name)) {
      if (!writable) {
        throw ValueError(detail::cat("[Capture] '", name, "' is computed after the fact and cannot be changed in ",
                                     "flight; hook a writable site (forward_context.hpp lists them)"));
      }
      IntermediateView<Scalar> view{name, data, shape, axes, layer};
      for (const typename Hooks<Scalar>::Hook& h : hooks->hooks) {
        if (glob_match(h.pattern, name)) h.function(view);
      }
    }
    if (!keep || !keep(name)) return;
    Index n = 1;
    for (Index d : shape) n *= d;
    Intermediate<Scalar>* slot = nullptr;
    for (Intermediate<Scalar>& a : named) {
      if (a.name == name) slot = &a;
    }
    if (slot == nullptr) {
      named.emplace_back();
      slot = &named.back();
      slot->name = name;
    }
    slot->shape = std::move(shape);
    slot->axes = std::move(axes);
    slot->layer = layer;
    slot->values.assign(data, data + n);
  }

  /// record() for a (B·T, N) matrix seen as (B, T, N), or (B, T, heads, N / heads) when heads > 0.
  void record_rows(const std::string& ours, Matrix<Scalar>& m, Index B, Index heads = 0, Index layer = -1,
                   bool writable = true) {
    if (!inspecting()) return;
    const Index T = B > 0 ? m.rows() / B : 0;
    if (heads > 0) {
      record(ours, m.data(), {B, T, heads, m.cols() / heads}, {"batch", "position", "head", "dim"}, layer, writable);
    } else {
      record(ours, m.data(), {B, T, m.cols()}, {"batch", "position", "channel"}, layer, writable);
    }
  }

  /// record() for a (B, T, C) tensor.
  void record_sequence(const std::string& ours, Tensor3<Scalar>& x, Index layer = -1, bool writable = true) {
    if (!inspecting()) return;
    record(ours, x.data(), {x.dimension(0), x.dimension(1), x.dimension(2)}, {"batch", "position", "channel"}, layer,
           writable);
  }

  /// record() for a (B, H, T, S) tensor.
  void record_heads(const std::string& ours, Tensor4<Scalar>& w, Index layer = -1, bool writable = true) {
    if (!inspecting()) return;
    record(ours, w.data(), {w.dimension(0), w.dimension(1), w.dimension(2), w.dimension(3)},
           {"batch", "head", "query", "key"}, layer, writable);
  }
};

/// "<prefix>layers.<l>.<site>": the name of a site inside block l of the stack the capture is attached to.
template <class Scalar>
std::string layer_site(const Capture<Scalar>& capture, Index layer, const std::string& site) {
  return capture.prefix + "layers." + std::to_string(layer) + "." + site;
}

/// The context of one forward call. All pointers are optional.
template <class Scalar>
struct ForwardContext {
  // Given by the caller.
  const KeyPadding* padding = nullptr;          // padding keys of the input (over cached + new positions)
  const std::vector<Index>* position_shift = nullptr;  // (B) left-padded batches: sequence b's positions start
                                                // position_shift[b] slots late — slot j (cached or new) is at
                                                // position j − position_shift[b], so positions count real tokens
                                                // only (Hugging Face: position_ids = cumsum(attention_mask) − 1);
                                                // the left pads, KeyPadding::left_pads(). Null: slot j is position j
  const Tensor3<Scalar>* memory = nullptr;      // cross-attention: the encoder output (B, S, Ckv)
  const KeyPadding* memory_padding = nullptr;   // cross-attention: padding positions of the encoder input
  DecoderCache<Scalar>* cache = nullptr;        // incremental decoding: the KV caches of every layer
  Capture<Scalar>* capture = nullptr;           // record hidden states and attention weights
  bool keep_scores = false;   // every attention keeps its (B, H, T, S) scores in act.scores
  bool keep_weights = false;  // every attention keeps its (B, H, T, S) weights in act.weights; a forward
                              // that backward() will differentiate must set it (the backward reads them)

  // Set by a Stack for its blocks (a caller running one block or attention alone may set them too).
  const RotaryEmbedding<Scalar>* rope = nullptr;  // rotate queries and keys by position (self-attention)
  const Tensor4<Scalar>* bias = nullptr;          // (B|1, H|1, T, S) added to the self-attention scores
  Index layer = 0;                                // the block being run: selects its cache and capture slots
  const char* scope = "attn.";                    // set by a block: its attention's path, for capture names
                                                  // ("self_attn." and "cross_attn." in a CrossDecoderBlock)

  /// The capture when it keeps or hooks named intermediates, else null: every capture point tests this.
  Capture<Scalar>* inspecting() const {
    return capture != nullptr && capture->inspecting() ? capture : nullptr;
  }
};

}  // namespace eigenformer
