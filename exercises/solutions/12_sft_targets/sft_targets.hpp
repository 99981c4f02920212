// Exercise 12 — the targets of supervised fine-tuning: a solution. (The text: exercises/12_sft_targets/.)
#pragma once

#include <cstdint>
#include <vector>

namespace exercise {

constexpr std::int64_t kIgnoreIndex = -100;

inline std::vector<std::int64_t> sft_targets(const std::vector<std::int64_t>& ids, std::int64_t prompt_length,
                                             std::int64_t length) {
  const std::int64_t T = static_cast<std::int64_t>(ids.size());
  std::vector<std::int64_t> targets(ids.size(), kIgnoreIndex);
  for (std::int64_t t = 0; t + 1 < T; ++t) {
    // Position t predicts token t + 1; it counts only when that token belongs to the answer.
    const std::int64_t next = t + 1;
    if (next >= prompt_length && next < length) targets[static_cast<std::size_t>(t)] = ids[static_cast<std::size_t>(next)];
  }
  return targets;
}

}  // namespace exercise
