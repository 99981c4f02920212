// eigenformer/inspect/names.hpp — Hugging Face names for the named intermediates of a forward pass.
//
// A Capture names each intermediate "<module>.<quantity>" with our module path (the one collect_parameters
// uses): decoder.layers.3.attn.q.out, decoder.layers.3.attn.weights, decoder.layers.3.resid_mid
// (attention/forward_context.hpp lists every site). A family already knows how its parameters are called in
// Hugging Face files — its NameTable (models/name_table.hpp), one row per module:
//
//     {"decoder.layers.{i}.attn.q.", "model.layers.{i}.self_attn.q_proj."}
//
// activation_names(table) renames the module part with the same table, so the quantity stays and the module
// reads as in transformers' modeling code:
//
//     decoder.layers.3.attn.q.out      →  model.layers.3.self_attn.q_proj.out     (the row above)
//     decoder.layers.3.attn.weights    →  model.layers.3.self_attn.weights        (a parent row, derived)
//     decoder.layers.3.resid_mid       →  model.layers.3.resid_mid                (a parent row, derived)
//     decoder.final_norm.out           →  model.norm.out
//
// Modules that hold no parameter of their own (the attention, the block, the stack) have no row; their rows
// are derived from their children's by dropping the last path segment on both sides: q, k, v and o of
// "decoder.layers.{i}.attn." sit under "model.layers.{i}.self_attn.", so that is the attention's row. When the
// children disagree — BERT's q, k, v sit under attention.self, its o under attention.output — the majority
// wins (attention.self, where BERT computes the scores and weights). A name no row covers keeps our name.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/models/name_table.hpp"

namespace eigenformer::inspect {

namespace internal {

/// "a.b.c." → "a.b." (drops the last segment of a prefix row); "" when nothing is left.
inline std::string parent_prefix(const std::string& prefix) {
  if (prefix.size() < 2 || prefix.back() != '.') return {};
  const std::size_t dot = prefix.rfind('.', prefix.size() - 2);
  return dot == std::string::npos ? std::string() : prefix.substr(0, dot + 1);
}

/// "model.layers.{i}.self_attn.q_proj." → "model.layers.{i}." ("" without "{i}").
inline std::string layer_prefix(const std::string& prefix) {
  const std::size_t at = prefix.find("{i}.");
  return at == std::string::npos ? std::string() : prefix.substr(0, at + 4);
}

}  // namespace internal

/// The table's rows, then the derived parent rows (see the file comment), most specific first. Parents are
/// found by dropping the last segment on both sides, except that the layer ("….{i}.") always pairs with the
/// layer: BERT's q sits two levels below its layer in Hugging Face's names and one level below in ours.
inline NameTable activation_table(const NameTable& parameters) {
  std::vector<NameRule> rules = parameters.rules();
  // Children's votes: our parent prefix → (their parent prefix, count); first-seen order kept for ties.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::pair<std::string, int>>> votes;
  for (const NameRule& rule : parameters.rules()) {
    std::string ours = rule.ours, hf = rule.hf;
    const std::string our_layer = internal::layer_prefix(ours), hf_layer = internal::layer_prefix(hf);
    while (true) {
      ours = internal::parent_prefix(ours);
      hf = internal::parent_prefix(hf);
      if (!our_layer.empty() && ours == our_layer) hf = hf_layer;
      if (ours.empty() || hf.empty()) break;
      if (votes.find(ours) == votes.end()) order.push_back(ours);
      std::vector<std::pair<std::string, int>>& v = votes[ours];
      bool found = false;
      for (std::pair<std::string, int>& entry : v) {
        if (entry.first == hf) {
          ++entry.second;
          found = true;
        }
      }
      if (!found) v.emplace_back(hf, 1);
    }
  }
  // Longer (more specific) prefixes first, so a module's nearest parent wins.
  std::stable_sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& ours : order) {
    const std::vector<std::pair<std::string, int>>& v = votes[ours];
    std::pair<std::string, int> best = v.front();
    for (const std::pair<std::string, int>& entry : v) {
      if (entry.second > best.second) best = entry;
    }
    NameRule derived;
    derived.ours = ours;
    derived.hf = best.first;
    rules.push_back(derived);
  }
  return NameTable(rules);
}

/// Capture::rename for a family: our activation name → its Hugging Face name (ours when no row covers it).
///     capture.rename = inspect::activation_names(Llama<float>::hf_names());
inline std::function<std::string(const std::string&)> activation_names(const NameTable& parameters) {
  const NameTable table = activation_table(parameters);
  return [table](const std::string& ours) {
    try {
      return table.to_hf(ours);
    } catch (const ValueError&) {
      return ours;  // no row: our name is the name
    }
  };
}

}  // namespace eigenformer::inspect
