// eigenformer/generation/diagnosis.hpp — where NaN or ±∞ logits came from.
//
// Generation checks every score row it reads (generate.hpp): a NaN or an infinity stops the run. "Step 3: the
// score of token 17 is nan" says that the model broke, not where. The first non-finite value says where: a NaN
// spreads forward through every later layer (NaN · x = NaN, and the attention mixes positions), so the first
// intermediate that holds one is in the layer whose weights or arithmetic made it:
//
//     [generation] step 3: the model's score for token id 17 is nan (NaN or infinite logits); first non-finite
//     value: decoder layer 2, the FFN's output ('decoder.layers.2.ffn.down.out' [1, 4, 16] holds nan at [0, 0, 5])
//
// Only then — the check already reads every score, so a run whose logits are finite pays nothing more — the
// session runs that sequence again from scratch with a NonFiniteProbe attached to each stack: a Capture whose
// hook looks at every writable named site (attention/forward_context.hpp lists them) in the order the forward
// pass computes them, and keeps the first non-finite value it sees; the stack's input (its embeddings, a
// read-only site) is kept and looked at too. Nothing is copied but the embeddings. The read-only sites inside a
// block (the norms' outputs, the FFN's inner activations, the raw scores) are not watched: a NaN there shows at
// the block's next writable site — the same layer, one step later (a poisoned norm weight reads as its
// attention's query projection).
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "eigenformer/attention/forward_context.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer::generation {

/// The first non-finite value of a forward pass, at a site a NonFiniteProbe watched.
struct NonFiniteValue {
  std::string site;          // our name: "decoder.layers.2.attn.o.out"
  Index layer = -1;          // the block, −1 outside the blocks (embeddings, final norm)
  std::vector<Index> shape;  // the site's shape, batch first
  std::vector<Index> at;     // the value's index along each axis
  double value = 0;          // NaN, +inf or −inf
};

/// Watches one stack's forward pass for the first non-finite value. Attach capture() to the stack (a model's
/// forward_captured does), run, then read first(). Not copyable: its hook points at it.
template <class Scalar>
class NonFiniteProbe {
 public:
  /// The writable sites of every block and stack (forward_context.hpp), as glob patterns: hooks may only watch
  /// writable sites (a read-only one refuses a hook). Blocks are "layers.<l>.out" for up to 999 layers.
  static constexpr const char* kWatched =
      "*.q.out,*.k.out,*.v.out,*.q_rope,*.k_rope,*.context,*.o.out,*.resid_mid,*.resid_cross,*.ffn.down.out,"
      "*.layers.?.out,*.layers.??.out,*.layers.???.out,*.final_norm.out";

  NonFiniteProbe() {
    hooks_.add(kWatched, [this](IntermediateView<Scalar>& view) { look_at(view); });
    capture_.keep_hidden_states = false;
    capture_.keep_attentions = false;
    capture_.hooks = &hooks_;
    capture_.keep = [](const std::string& name) {
      const std::string suffix = "embeddings";
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
  }
  NonFiniteProbe(const NonFiniteProbe&) = delete;
  NonFiniteProbe& operator=(const NonFiniteProbe&) = delete;

  Capture<Scalar>& capture() { return capture_; }

  /// The first non-finite value of the run: in the stack's input, else at the first watched site; none when
  /// every watched value was finite.
  std::optional<NonFiniteValue> first() const {
    for (const Intermediate<Scalar>& kept : capture_.named) {
      for (std::size_t i = 0; i < kept.values.size(); ++i) {
        if (!std::isfinite(static_cast<double>(kept.values[i]))) {
          return located(kept.name, kept.layer, kept.shape, static_cast<Index>(i), static_cast<double>(kept.values[i]));
        }
      }
    }
    return first_;
  }

 private:
  void look_at(IntermediateView<Scalar>& view) {
    if (first_) return;
    const Index n = view.size();
    for (Index i = 0; i < n; ++i) {
      if (!std::isfinite(static_cast<double>(view.data[i]))) {
        first_ = located(view.name, view.layer, view.shape, i, static_cast<double>(view.data[i]));
        return;
      }
    }
  }

  static NonFiniteValue located(const std::string& site, Index layer, const std::vector<Index>& shape, Index flat, double value) {
    NonFiniteValue v;
    v.site = site;
    v.layer = layer;
    v.shape = shape;
    v.value = value;
    v.at.assign(shape.size(), 0);
    for (std::size_t d = shape.size(); d-- > 0;) {  // row-major: the last axis varies fastest
      const Index extent = shape[d] > 0 ? shape[d] : 1;
      v.at[d] = flat % extent;
      flat /= extent;
    }
    return v;
  }

  Hooks<Scalar> hooks_;
  Capture<Scalar> capture_;
  std::optional<NonFiniteValue> first_;
};

/// "decoder layer 2, the FFN's output ('decoder.layers.2.ffn.down.out' [1, 4, 16] holds nan at [0, 0, 5])".
inline std::string describe(const NonFiniteValue& v) {
  const std::size_t dot = v.site.find('.');
  const std::string stack = v.site.substr(0, dot);  // "decoder", "encoder"
  std::string where;
  const std::string layers = stack + ".layers." + std::to_string(v.layer) + ".";
  if (v.layer >= 0 && v.site.compare(0, layers.size(), layers) == 0) {
    std::string site = v.site.substr(layers.size());  // "attn.o.out", "ffn.down.out", "out", ...
    std::string attention = "the attention";
    for (const char* scope : {"attn.", "self_attn.", "cross_attn."}) {
      const std::string s = scope;
      if (site.compare(0, s.size(), s) == 0) {
        attention = s == "attn." ? "the attention" : (s == "self_attn." ? "the self-attention" : "the cross-attention");
        site = site.substr(s.size());
        break;
      }
    }
    std::string what;
    if (site == "q.out") what = attention + "'s query projection";
    else if (site == "k.out") what = attention + "'s key projection";
    else if (site == "v.out") what = attention + "'s value projection";
    else if (site == "q_rope") what = attention + "'s rotated queries";
    else if (site == "k_rope") what = attention + "'s rotated keys";
    else if (site == "context") what = attention + "'s context (weights · values)";
    else if (site == "o.out") what = attention + "'s output";
    else if (site == "resid_mid") what = "the residual stream after the (self-)attention";
    else if (site == "resid_cross") what = "the residual stream after the cross-attention";
    else if (site == "ffn.down.out") what = "the FFN's output";
    else if (site == "out") what = "the block's output";
    else what = "'" + site + "'";
    where = detail::cat(stack, " layer ", v.layer, ", ", what);
  } else if (v.site == stack + ".embeddings") {
    where = detail::cat(stack, "'s input (the embedded tokens, before layer 0)");
  } else if (v.site == stack + ".final_norm.out") {
    where = detail::cat(stack, "'s final norm, after its last layer");
  } else {
    where = v.site;
  }
  return detail::cat(where, " ('", v.site, "' ", detail::shape_str(v.shape), " holds ", v.value, " at ", detail::shape_str(v.at), ")");
}

}  // namespace eigenformer::generation
