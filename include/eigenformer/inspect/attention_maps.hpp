// eigenformer/inspect/attention_maps.hpp — the attention weights of one run, ready to be drawn.
//
// Shape legend (core/tensor.hpp): B batch, H heads, T query positions, S key positions.
//
// The library already produces the weights: the attention core fills a (B, H, T, S) tensor when asked
// (`Capture::attentions`, `Capture::cross_attentions`, blocks/stack.hpp), and the family programs' --dump
// writes one sequence of it as (H, T, S) tensors named attentions.<l>, encoder_attentions.<l>,
// decoder_attentions.<l> and cross_attentions.<l> (models/dump.hpp). The pictures (heatmap.hpp, report.hpp,
// terminal.hpp) all read one structure, `AttentionMaps`: every layer of one kind of attention for one
// sequence, with the token strings that label its axes —
//
//     weights(l, h, t, s)   how much query t (a row, the y axis) reads key s (a column, the x axis) in
//                           head h of layer l; each row sums to 1 (softmax), or to 0 when every key is hidden
//
//     kind                  queries        keys            hidden cells
//     EncoderSelf           the tokens     the tokens      none (padding keys have weight 0)
//     CausalSelf            the tokens     the tokens      s > t + (S − T): keys after the query
//     Cross                 target tokens  source tokens   none
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "eigenformer/blocks/stack.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer::inspect {

/// Which attention a map shows; decides its title and which cells are hidden.
enum class AttentionKind { EncoderSelf, CausalSelf, Cross };

inline const char* to_string(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::EncoderSelf: return "encoder self-attention";
    case AttentionKind::CausalSelf: return "causal self-attention";
    case AttentionKind::Cross: return "cross-attention";
  }
  return "attention";
}

/// One layer's weights for one sequence.
struct LayerAttention {
  Index layer = 0;    // 0-based block index
  Index heads = 0;    // H
  Index queries = 0;  // T
  Index keys = 0;     // S
  std::vector<double> weights;  // (H, T, S), row-major

  double at(Index h, Index t, Index s) const {
    return weights[static_cast<std::size_t>((h * queries + t) * keys + s)];
  }
};

/// Every layer of one kind of attention in one run, and the tokens on its axes.
struct AttentionMaps {
  std::string name;                       // where it came from: "attentions", "cross_attentions", ...
  AttentionKind kind = AttentionKind::EncoderSelf;
  std::vector<std::string> query_tokens;  // T labels, the y axis
  std::vector<std::string> key_tokens;    // S labels, the x axis
  std::vector<LayerAttention> layers;     // in layer order

  Index queries() const { return layers.empty() ? 0 : layers.front().queries; }
  Index keys() const { return layers.empty() ? 0 : layers.front().keys; }
  Index heads() const { return layers.empty() ? 0 : layers.front().heads; }

  /// Causal attention hides key s from query t when s > t + (S − T): the T queries are the last T of the
  /// S positions (with a KV cache, S − T keys came before the first query).
  bool masked(Index t, Index s) const {
    return kind == AttentionKind::CausalSelf && s > t + (keys() - queries());
  }

  /// Title words: "causal self-attention", or the source name when it says more (a decoder's cross maps).
  std::string title() const { return to_string(kind); }

  /// Throws ShapeError when the layers disagree in shape or the token lists do not match T and S.
  void validate() const {
    const std::string where = detail::cat("[inspect] ", name.empty() ? std::string(to_string(kind)) : name, ": ");
    if (layers.empty()) throw ShapeError(where + "no layers");
    for (const LayerAttention& l : layers) {
      if (l.heads != heads() || l.queries != queries() || l.keys != keys()) {
        throw ShapeError(detail::cat(where, "layer ", l.layer, " has (H, T, S) = ",
                                     detail::shape_str({l.heads, l.queries, l.keys}), " but layer ",
                                     layers.front().layer, " has ",
                                     detail::shape_str({heads(), queries(), keys()})));
      }
      if (static_cast<Index>(l.weights.size()) != l.heads * l.queries * l.keys) {
        throw ShapeError(detail::cat(where, "layer ", l.layer, " holds ", l.weights.size(), " weights, not H·T·S = ",
                                     l.heads * l.queries * l.keys));
      }
    }
    if (static_cast<Index>(query_tokens.size()) != queries()) {
      throw ShapeError(detail::cat(where, query_tokens.size(), " query tokens for T = ", queries(), " queries"));
    }
    if (static_cast<Index>(key_tokens.size()) != keys()) {
      throw ShapeError(detail::cat(where, key_tokens.size(), " key tokens for S = ", keys(), " keys"));
    }
  }
};

/// Labels "0", "1", ... for when no token strings are at hand.
inline std::vector<std::string> position_labels(Index n) {
  std::vector<std::string> out;
  for (Index i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

/// Sequence b of a (B, H, T, S) weights tensor as layer `layer`.
template <class Scalar>
LayerAttention layer_attention(const Tensor4<Scalar>& w, Index b, Index layer) {
  if (b < 0 || b >= w.dimension(0)) {
    throw ValueError(detail::cat("[inspect] sequence ", b, " is outside the batch of ", w.dimension(0),
                                 " (weights ", detail::shape_str(shape_of(w)), ")"));
  }
  LayerAttention out;
  out.layer = layer;
  out.heads = w.dimension(1);
  out.queries = w.dimension(2);
  out.keys = w.dimension(3);
  const Index n = out.heads * out.queries * out.keys;
  const Scalar* first = w.data() + b * n;
  out.weights.assign(first, first + n);
  return out;
}

/// Every layer of one kind, from a list of (B, H, T, S) tensors (`Capture::attentions` or
/// `Capture::cross_attentions`), for sequence b. Empty token lists become position numbers.
template <class Scalar>
AttentionMaps attention_maps(const std::vector<Tensor4<Scalar>>& per_layer, AttentionKind kind,
                             std::vector<std::string> query_tokens, std::vector<std::string> key_tokens,
                             Index b = 0, std::string name = "") {
  AttentionMaps maps;
  maps.name = name.empty() ? std::string(to_string(kind)) : std::move(name);
  maps.kind = kind;
  for (std::size_t l = 0; l < per_layer.size(); ++l) {
    maps.layers.push_back(layer_attention(per_layer[l], b, static_cast<Index>(l)));
  }
  maps.query_tokens = query_tokens.empty() ? position_labels(maps.queries()) : std::move(query_tokens);
  maps.key_tokens = key_tokens.empty() ? position_labels(maps.keys()) : std::move(key_tokens);
  maps.validate();
  return maps;
}

/// The maps a stack's Capture holds for sequence b: its self-attention (of `self_kind`: EncoderSelf for an
/// Encoder, CausalSelf for a Decoder or CrossDecoder) and, when present, its cross-attention over
/// `source_tokens`. `tokens` labels every key position of the self-attention (S of them, cached ones
/// included); the T queries are the last T of them. Empty lists become position numbers. The maps are
/// named as --dump names them: <prefix>attentions and cross_attentions (prefix "encoder_" or "decoder_"
/// for the two stacks of an encoder-decoder, so their pictures get distinct file names).
template <class Scalar>
std::vector<AttentionMaps> attention_maps(const Capture<Scalar>& capture, AttentionKind self_kind,
                                          const std::vector<std::string>& tokens,
                                          const std::vector<std::string>& source_tokens = {}, Index b = 0,
                                          const std::string& prefix = "") {
  std::vector<AttentionMaps> out;
  const std::vector<Tensor4<Scalar>>& self = capture.attentions;
  const std::vector<Tensor4<Scalar>>& cross = capture.cross_attentions;
  if (self.empty() && cross.empty()) return out;
  const Tensor4<Scalar>& first = self.empty() ? cross.front() : self.front();
  const Index T = first.dimension(2);
  const Index S = self.empty() ? T : first.dimension(3);
  const std::vector<std::string> keys = tokens.empty() ? position_labels(S) : tokens;
  if (static_cast<Index>(keys.size()) < T) {
    throw ShapeError(detail::cat("[inspect] ", keys.size(), " tokens for T = ", T, " queries"));
  }
  const std::vector<std::string> queries(keys.end() - static_cast<std::ptrdiff_t>(T), keys.end());
  if (!self.empty()) out.push_back(attention_maps(self, self_kind, queries, keys, b, prefix + "attentions"));
  if (!cross.empty()) out.push_back(attention_maps(cross, AttentionKind::Cross, queries, source_tokens, b, "cross_attentions"));
  return out;
}

namespace internal {

/// "encoder_attentions.3" → prefix "encoder_attentions", layer 3. False for other names.
inline bool split_attention_name(const std::string& name, std::string& prefix, Index& layer) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot + 1 == name.size()) return false;
  for (std::size_t i = dot + 1; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  prefix = name.substr(0, dot);
  if (prefix != "attentions" && prefix != "encoder_attentions" && prefix != "decoder_attentions" &&
      prefix != "cross_attentions") {
    return false;
  }
  layer = static_cast<Index>(std::stoll(name.substr(dot + 1)));
  return true;
}

/// True when every weight above the (offset) diagonal is 0 in every layer and head: what the causal mask
/// produces. "0" is |w| < 1e-30: Eigen's vectorised exp clamps its argument (at about −88 in float, −708
/// in double), so a hidden key gets a denormal such as 2e-39 rather than an exact 0. A visible key would
/// need a score 69 below its row's best to fall that low, in every head of every layer.
inline bool looks_causal(const AttentionMaps& maps) {
  const Index T = maps.queries(), S = maps.keys();
  if (S < 2) return false;
  for (const LayerAttention& l : maps.layers) {
    for (Index h = 0; h < l.heads; ++h) {
      for (Index t = 0; t < T; ++t) {
        for (Index s = t + (S - T) + 1; s < S; ++s) {
          if (!(std::abs(l.at(h, t, s)) < 1e-30)) return false;
        }
      }
    }
  }
  return true;
}

}  // namespace internal

/// Token labels for the maps of a dump file.
struct DumpTokens {
  std::vector<std::string> tokens;         // the input (decoder-only, encoder-only) or the decoder's tokens
  std::vector<std::string> source_tokens;  // an encoder-decoder's encoder input (keys of cross-attention)
};

/// Reads every attention map of a --dump file (models/dump.hpp), one AttentionMaps per name prefix, in the
/// order attentions, encoder_attentions, decoder_attentions, cross_attentions:
///     attentions.<l>          (H, T, S)  CausalSelf when every weight above the diagonal is exactly 0,
///                                        else EncoderSelf; labelled by tokens.tokens
///     encoder_attentions.<l>  (H, S, S)  EncoderSelf, labelled by source_tokens
///     decoder_attentions.<l>  (H, T, T)  CausalSelf, labelled by tokens
///     cross_attentions.<l>    (H, T, S)  Cross: queries tokens, keys source_tokens
/// Missing token lists become position numbers; a list of the wrong length throws ShapeError.
inline std::vector<AttentionMaps> read_attention_maps(const std::string& path, const DumpTokens& labels = {}) {
  SafeTensorsReader reader(path);
  const std::vector<std::string> order = {"attentions", "encoder_attentions", "decoder_attentions", "cross_attentions"};
  std::vector<AttentionMaps> out;
  for (const std::string& wanted : order) {
    AttentionMaps maps;
    maps.name = wanted;
    for (const TensorInfo& info : reader.tensors()) {
      std::string prefix;
      Index layer = 0;
      if (!internal::split_attention_name(info.name, prefix, layer) || prefix != wanted) continue;
      if (info.shape.size() != 3) {
        throw ShapeError(detail::cat("[inspect] ", path, ": '", info.name, "' has shape ",
                                                  detail::shape_str(info.shape),
                                                  ", expected (H, T, S)"));
      }
      LayerAttention l;
      l.layer = layer;
      l.heads = info.shape[0];
      l.queries = info.shape[1];
      l.keys = info.shape[2];
      l.weights = reader.read<double>(info.name);
      maps.layers.push_back(std::move(l));
    }
    if (maps.layers.empty()) continue;
    std::sort(maps.layers.begin(), maps.layers.end(),
              [](const LayerAttention& a, const LayerAttention& b) { return a.layer < b.layer; });
    const bool cross = wanted == "cross_attentions";
    const bool encoder = wanted == "encoder_attentions";
    if (wanted == "attentions") maps.kind = internal::looks_causal(maps) ? AttentionKind::CausalSelf : AttentionKind::EncoderSelf;
    else if (encoder) maps.kind = AttentionKind::EncoderSelf;
    else if (cross) maps.kind = AttentionKind::Cross;
    else maps.kind = AttentionKind::CausalSelf;
    const std::vector<std::string>& q = encoder ? labels.source_tokens : labels.tokens;
    const std::vector<std::string>& k = (encoder || cross) ? labels.source_tokens : labels.tokens;
    maps.query_tokens = q.empty() ? position_labels(maps.queries()) : q;
    maps.key_tokens = k.empty() ? position_labels(maps.keys()) : k;
    maps.validate();
    out.push_back(std::move(maps));
  }
  if (out.empty()) {
    throw FormatError(detail::cat("[inspect] ", path, ": no attention maps (attentions.<l>, ",
                                               "encoder_attentions.<l>, decoder_attentions.<l>, cross_attentions.<l>)"));
  }
  return out;
}

}  // namespace eigenformer::inspect
