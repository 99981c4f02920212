// Exercise 12 — train on the answer only: the targets of supervised fine-tuning (course chapter 10,
// fine-tuning; docs/training.md, "What the model is asked to predict").
//
// Pretraining a causal LM scores every position t against the next token: target[t] = ids[t + 1]. To
// fine-tune a model to *answer* (an instruction, a question), an example is prompt + answer, and only the
// answer is scored: the model should learn to write answers, not to write users' questions. Positions that
// take no part get the ignore index −100, which the loss skips (PyTorch's cross_entropy(ignore_index=-100)).
//
// One example: ids (T) = the prompt (its first prompt_length tokens), the answer (up to `length`), then
// padding (to T). The target of position t is
//     ids[t + 1]    when t + 1 is an answer token:  prompt_length ≤ t + 1 < length
//     −100          otherwise (the next token is prompt or padding, or there is none)
// So the last prompt position predicts the answer's first token — that prediction matters most.
//
// The starting point gives the pretraining targets: it trains on the prompt and the padding too.
// The library's version: training::sft_labels() then training::shift_labels() in
// include/eigenformer/training/objectives.hpp (two steps: mask, then shift, as transformers does).
// Check: ctest --preset ci -R "exercise.12_sft_targets"   (see exercises/README.md)
#pragma once

#include <cstdint>
#include <vector>

namespace exercise {

constexpr std::int64_t kIgnoreIndex = -100;

/// ids (T), 0 ≤ prompt_length ≤ length ≤ T → targets (T).
inline std::vector<std::int64_t> sft_targets(const std::vector<std::int64_t>& ids, std::int64_t prompt_length,
                                             std::int64_t length) {
  // TODO: score the answer only. As written: every next token is a target, as in pretraining.
  (void)prompt_length;
  (void)length;
  std::vector<std::int64_t> targets(ids.size(), kIgnoreIndex);
  for (std::size_t t = 0; t + 1 < ids.size(); ++t) targets[t] = ids[t + 1];
  return targets;
}

}  // namespace exercise
