// eigenformer/models/name_table.hpp — our parameter names ↔ the names in Hugging Face files, as a table.
//
// A family header lists one row per module, "{i}" standing for a layer index. A row ending in "." maps a
// prefix and carries the rest of the name over ("weight", "bias"); any other row maps one exact name:
//
//     NameTable llama_names({
//         {"embed_tokens.",               "model.embed_tokens."},
//         {"decoder.layers.{i}.attn.q.",  "model.layers.{i}.self_attn.q_proj."},
//         ...
//     });
//     llama_names.to_hf("decoder.layers.3.attn.q.weight")  →  "model.layers.3.self_attn.q_proj.weight"
//
// so the mapping reads as data, beside the lecture's names. The first matching row wins. A name that no row
// matches is a bug in the table (a parameter the family forgot to map) and throws ValueError naming it.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"

namespace eigenformer {

struct NameRule {
  std::string ours;  // e.g. "decoder.layers.{i}.attn.q.weight"
  std::string hf;    // e.g. "model.layers.{i}.self_attn.q_proj.weight"
};

class NameTable {
 public:
  NameTable() = default;
  explicit NameTable(std::vector<NameRule> rules) : rules_(std::move(rules)) {}

  const std::vector<NameRule>& rules() const { return rules_; }

  /// The Hugging Face name of our parameter `ours`.
  std::string to_hf(const std::string& ours) const {
    for (const NameRule& rule : rules_) {
      std::string index, rest;
      if (match(rule.ours, ours, index, rest)) return substitute(rule.hf, index) + rest;
    }
    throw ValueError(detail::cat("[NameTable] no Hugging Face name for parameter '", ours, "'"));
  }

  /// Our name of a Hugging Face tensor name, or "" when no row matches.
  std::string from_hf(const std::string& hf) const {
    for (const NameRule& rule : rules_) {
      std::string index, rest;
      if (match(rule.hf, hf, index, rest)) return substitute(rule.ours, index) + rest;
    }
    return {};
  }

 private:
  // Does `name` fit `pattern` (at most one "{i}"; a trailing "." makes it a prefix)? The digits "{i}" stands
  // for go to `index`, what follows a prefix to `rest`.
  static bool match(const std::string& pattern, const std::string& name, std::string& index, std::string& rest) {
    const bool prefix_rule = !pattern.empty() && pattern.back() == '.';
    const std::size_t at = pattern.find("{i}");
    const std::string head = pattern.substr(0, at == std::string::npos ? pattern.size() : at);
    const std::string tail = at == std::string::npos ? std::string() : pattern.substr(at + 3);
    if (name.compare(0, head.size(), head) != 0) return false;
    std::size_t pos = head.size();
    if (at != std::string::npos) {
      const std::size_t digits_begin = pos;
      while (pos < name.size() && std::isdigit(static_cast<unsigned char>(name[pos]))) ++pos;
      if (pos == digits_begin) return false;
      index = name.substr(digits_begin, pos - digits_begin);
    }
    if (name.compare(pos, tail.size(), tail) != 0) return false;
    pos += tail.size();
    rest = name.substr(std::min(pos, name.size()));
    return prefix_rule ? !rest.empty() : rest.empty();
  }

  static std::string substitute(const std::string& pattern, const std::string& index) {
    const std::size_t at = pattern.find("{i}");
    if (at == std::string::npos) return pattern;
    return pattern.substr(0, at) + index + pattern.substr(at + 3);
  }

  std::vector<NameRule> rules_;
};

}  // namespace eigenformer
