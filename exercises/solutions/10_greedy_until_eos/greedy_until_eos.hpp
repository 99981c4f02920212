// Exercise 10 — greedy decoding until EOS: a solution. (The text: exercises/10_greedy_until_eos/.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

namespace exercise {

using NextTokenScores = std::function<std::vector<double>(const std::vector<std::int64_t>& tokens)>;

inline std::int64_t argmax(const std::vector<double>& scores) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return static_cast<std::int64_t>(best);
}

inline std::vector<std::int64_t> greedy_until_eos(const NextTokenScores& model, const std::vector<std::int64_t>& prompt,
                                                  const std::vector<std::int64_t>& eos_ids, std::int64_t max_new_tokens) {
  std::vector<std::int64_t> tokens = prompt, generated;
  for (std::int64_t step = 0; step < max_new_tokens; ++step) {
    // 1) Score the next token from everything so far, and take the best.
    const std::int64_t next = argmax(model(tokens));
    tokens.push_back(next);
    generated.push_back(next);
    // 2) An EOS ends the sequence: it is kept (it says why we stopped), and nothing follows it.
    if (std::find(eos_ids.begin(), eos_ids.end(), next) != eos_ids.end()) break;
  }
  return generated;
}

}  // namespace exercise
