// Exercise 4 — top-k filtering before sampling (course chapter 7, greedy, beam search and sampling).
//
// Sampling draws the next token from softmax(scores). Over a vocabulary of 100 000 entries the long tail of
// unlikely tokens adds up, and one bad draw derails a sentence. Top-k keeps only the k highest scores and
// sets every other score to −∞ (probability 0 after the softmax), then sampling renormalises over the rest.
//
// Ties: a score equal to the k-th highest is kept too (so more than k may survive) — this is what Hugging
// Face's TopKLogitsWarper does, and the tests expect it. k ≤ 0 or k ≥ the number of scores changes nothing.
//
// The library's version: apply_top_k() in include/eigenformer/generation/logits_processing.hpp.
// Check: ctest --preset ci -R "exercise.04_top_k"   (see exercises/README.md)
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace exercise {

/// scores (V) → the same scores, all but the k highest (and their ties) replaced by −∞.
inline std::vector<double> top_k(std::vector<double> scores, std::int64_t k) {
  // TODO: filter. As written, every token stays a candidate.
  (void)k;
  return scores;
}

}  // namespace exercise
