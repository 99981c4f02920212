// Exercise 2 — encode one word with byte-pair merges: a solution. (The text: exercises/02_bpe_merge/bpe_merge.hpp.)
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace exercise {

/// merges[i] = the pair of rank i. Returns the parts of `symbols` after every applicable merge.
inline std::vector<std::string> bpe_merge(std::vector<std::string> symbols,
                                          const std::vector<std::pair<std::string, std::string>>& merges) {
  // rank[(a, b)] = position of (a, b) in the list: looking a pair up is then one map search.
  std::map<std::pair<std::string, std::string>, std::size_t> rank;
  for (std::size_t i = 0; i < merges.size(); ++i) rank.emplace(merges[i], i);  // a repeated pair keeps its first rank

  while (symbols.size() > 1) {
    // 1–2) The adjacent pair of lowest rank; scanning left to right and replacing only on a strictly lower
    //      rank keeps the leftmost occurrence on ties.
    std::size_t best = symbols.size();  // index of the pair's left part; size() = none found
    std::size_t best_rank = 0;
    for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
      const auto it = rank.find({symbols[k], symbols[k + 1]});
      if (it != rank.end() && (best == symbols.size() || it->second < best_rank)) {
        best = k;
        best_rank = it->second;
      }
    }
    if (best == symbols.size()) break;  // no learned merge applies: done
    // 3) Merge that one pair; the loop recomputes the pairs around it.
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  return symbols;
}

}  // namespace exercise
