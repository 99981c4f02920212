// eigenformer/inspect/hooks.hpp — the usual interventions on a forward pass, each a Hooks function.
//
// A hook receives a named intermediate in flight (IntermediateView, attention/forward_context.hpp) and may
// change it; the forward pass goes on with the changed values. The experiments of interpretability
// lectures are a few lines each:
//
//     Hooks<float> hooks;
//     Capture<float> capture = inspect::hooks_only(hooks, Llama<float>::hf_names(), "decoder.");
//     hooks.add("model.layers.1.self_attn.context", inspect::zero_head<float>(2));        // ablate a head
//     hooks.add("model.layers.0.self_attn.context", inspect::scale_head<float>(1, 2.0f)); // amplify one
//     hooks.add("model.layers.0.self_attn.weights", inspect::force_pattern<float>(3, pattern)); // (T, S)
//     inspect::patch_from(hooks, run_b, "model.layers.*.out");   // activation patching from another run
//     LlamaOptions<float> options;
//     options.capture = &capture;
//     model.forward(ids, logits, options);
//
// Why these sites:
//   - a head's context (B, T, H, D) is what the head contributes: the o projection mixes the heads,
//     y = Σ_h context_h W_o[:, hD:(h+1)D]ᵀ, so zeroing context_h removes exactly head h's term — the same
//     as zeroing its D columns of W_o (tests/inspect/test_hooks.cpp checks that equality);
//   - the weights (B, H, T, S): a forced pattern replaces softmax's output, and the attention recomputes
//     context = weights V from it;
//   - the residual stream (layers.<l>.resid_mid, layers.<l>.out): everything after reads only it, so
//     patching it with another run's copies that run from there on (Meng et al. 2022, "causal tracing";
//     Vig et al. 2020).
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/attention/forward_context.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/inspect/names.hpp"
#include "eigenformer/models/name_table.hpp"

namespace eigenformer::inspect {

namespace internal {

template <class Scalar>
Index head_axis(const IntermediateView<Scalar>& view, Index head, const char* hook) {
  const Index axis = view.axis("head");
  if (axis < 0) {
    throw ValueError(detail::cat("[", hook, "] '", view.name, "' has no head axis (hook a context, q, k, v, ",
                                 "scores or weights)"));
  }
  const Index heads = view.shape[static_cast<std::size_t>(axis)];
  if (head < 0 || head >= heads) {
    throw ValueError(detail::cat("[", hook, "] head ", head, " is outside the ", heads, " heads of '", view.name, "'"));
  }
  return axis;
}

}  // namespace internal

/// Multiplies head `head` of the intermediate by `factor`, every batch element and position.
/// On <attn>.context: the head's contribution to the attention output, times factor.
template <class Scalar>
typename Hooks<Scalar>::Function scale_head(Index head, Scalar factor) {
  return [head, factor](IntermediateView<Scalar>& view) {
    const Index axis = internal::head_axis(view, head, "scale_head");
    view.for_slice(axis, head, [factor](Scalar& x) { x *= factor; });
  };
}

/// Sets head `head` of the intermediate to zero: on <attn>.context, head ablation (zero-ablation).
template <class Scalar>
typename Hooks<Scalar>::Function zero_head(Index head) {
  return scale_head<Scalar>(head, Scalar(0));
}

/// Replaces the intermediate with `source` (the same site of another run): activation patching. The shapes
/// must agree (ValueError naming both otherwise).
template <class Scalar>
typename Hooks<Scalar>::Function patch(Intermediate<Scalar> source) {
  return [source = std::move(source)](IntermediateView<Scalar>& view) {
    if (source.shape != view.shape) {
      throw ValueError(detail::cat("[patch] '", view.name, "' has shape ", detail::shape_str(view.shape),
                                   " but the patch '", source.name, "' has ", detail::shape_str(source.shape)));
    }
    std::copy(source.values.begin(), source.values.end(), view.data);
  };
}

/// Replaces position `position` (every batch element) of a (B, T, …) intermediate with the same position
/// of `source`: patch one token's residual stream.
template <class Scalar>
typename Hooks<Scalar>::Function patch_position(Intermediate<Scalar> source, Index position) {
  return [source = std::move(source), position](IntermediateView<Scalar>& view) {
    const Index axis = view.axis("position");
    if (source.shape != view.shape || axis != 1) {
      throw ValueError(detail::cat("[patch_position] '", view.name, "' ", detail::shape_str(view.shape),
                                   " and the patch ", detail::shape_str(source.shape),
                                   " must agree and be (B, T, ...)"));
    }
    if (position < 0 || position >= view.shape[1]) {
      throw ValueError(detail::cat("[patch_position] position ", position, " is outside the ", view.shape[1],
                                   " positions of '", view.name, "'"));
    }
    Index inner = 1;
    for (std::size_t d = 2; d < view.shape.size(); ++d) inner *= view.shape[d];
    for (Index b = 0; b < view.shape[0]; ++b) {
      const Index first = (b * view.shape[1] + position) * inner;
      std::copy(source.values.begin() + first, source.values.begin() + first + inner, view.data + first);
    }
  };
}

/// For every intermediate `source` kept whose name matches `pattern`, a hook that patches it in: run B's
/// residual streams, say, into run A (source: run B's Capture with those sites kept).
template <class Scalar>
void patch_from(Hooks<Scalar>& hooks, const Capture<Scalar>& source, const std::string& pattern) {
  std::size_t added = 0;
  for (const Intermediate<Scalar>& a : source.named) {
    if (!glob_match(pattern, a.name)) continue;
    hooks.add(a.name, patch<Scalar>(a));
    ++added;
  }
  if (added == 0) {
    throw ValueError(detail::cat("[patch_from] the source capture kept nothing matching '", pattern, "'"));
  }
}

/// Forces the attention pattern of head `head`: its weights become `pattern` (T, S) for every batch
/// element, and the context is recomputed from them. Hook it on <attn>.weights. Rows need not sum to 1
/// (a lesson may want them not to), but the shape must be the call's (T, S).
template <class Scalar>
typename Hooks<Scalar>::Function force_pattern(Index head, Matrix<Scalar> pattern) {
  return [head, pattern = std::move(pattern)](IntermediateView<Scalar>& view) {
    const Index axis = internal::head_axis(view, head, "force_pattern");
    if (view.shape.size() != 4 || axis != 1) {
      throw ValueError(detail::cat("[force_pattern] '", view.name, "' is not (B, H, T, S) weights"));
    }
    const Index B = view.shape[0], H = view.shape[1], T = view.shape[2], S = view.shape[3];
    if (pattern.rows() != T || pattern.cols() != S) {
      throw ValueError(detail::cat("[force_pattern] the pattern is ", detail::shape_str({pattern.rows(), pattern.cols()}), " but '",
                                   view.name, "' has (T, S) = ", detail::shape_str({T, S})));
    }
    for (Index b = 0; b < B; ++b) {
      Eigen::Map<Matrix<Scalar>>(view.data + (b * H + head) * T * S, T, S) = pattern;
    }
  };
}

/// A Capture that keeps no hidden state, attention map or named intermediate and only runs `hooks`, named as
/// the family's table names them (activation_names); `prefix` is the stack's path ("decoder.", "encoder.").
template <class Scalar>
Capture<Scalar> hooks_only(Hooks<Scalar>& hooks, const NameTable& names, const std::string& prefix) {
  Capture<Scalar> capture;
  capture.keep_hidden_states = false;
  capture.keep_attentions = false;
  capture.prefix = prefix;
  capture.rename = activation_names(names);
  capture.hooks = &hooks;
  return capture;
}

}  // namespace eigenformer::inspect
