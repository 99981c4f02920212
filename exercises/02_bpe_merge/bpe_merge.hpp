// Exercise 2 — encode one word with byte-pair merges (course chapter 2, tokens and tokenizers).
//
// BPE (Sennrich et al. 2016, section 3.2) learned an ordered list of merges: rank 0 first. To encode a word,
// start from its characters and repeat:
//
//     1. among all adjacent pairs (a, b) of the current parts, find those that are in the merge list;
//     2. take the one of lowest rank; if it occurs several times, the leftmost occurrence;
//     3. replace that a, b by the single part a+b;
//
// until no adjacent pair is in the list. With merges [(l,o), (lo,w), (e,r), (low,er)]:
//
//     l o w e r  →  lo w e r  →  low e r  →  low er  →  lower
//
// Note step 2: it is the *rank* that decides, not the position — (e,r) may be merged before (lo,w) if it
// ranks lower. And after each merge, pairs change: recompute.
//
// The library's version (bytes instead of characters, a heap for long words): merge_parts_naive() and
// merge_parts_heap() in include/eigenformer/tokenizers/bpe.hpp.
// Check: ctest --preset ci -R "exercise.02_bpe_merge"   (see exercises/README.md)
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace exercise {

/// merges[i] = the pair of rank i. Returns the parts of `symbols` after every applicable merge.
inline std::vector<std::string> bpe_merge(std::vector<std::string> symbols,
                                          const std::vector<std::pair<std::string, std::string>>& merges) {
  // TODO: apply the merges. As written, this merges nothing.
  (void)merges;
  return symbols;
}

}  // namespace exercise
