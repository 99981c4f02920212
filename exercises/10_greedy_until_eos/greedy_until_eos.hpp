// Exercise 10 — the decoding loop: greedy, until an end-of-sequence token (course chapter 6, predicting the
// next token; docs/generation.md, "The loop" and "Stopping, and saying why").
//
// A language model only scores the next token. Generation is the loop around it:
//
//     tokens = prompt
//     repeat:
//         scores = model(tokens)            V scores (logits) for the token after the last one
//         next   = argmax(scores)           greedy; ties go to the lowest id
//         append next to tokens
//     until next is an EOS id, or max_new_tokens tokens were generated
//
// The EOS that stops the loop is part of the output (the caller sees *why* it stopped); nothing is generated
// after it. A model may have several EOS ids — Llama 3 Instruct stops on <|end_of_text|> and <|eot_id|>.
// max_new_tokens = 0 generates nothing.
//
// The starting point never looks at the EOS ids: it always runs max_new_tokens steps, like a model that cannot
// stop talking. Make it stop.
// The library's version: greedy_or_sample() in include/eigenformer/generation/generate.hpp.
// Check: ctest --preset ci -R "exercise.10_greedy_until_eos"   (see exercises/README.md)
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace exercise {

/// The model: every token so far (prompt and generated) → V scores for the next token.
using NextTokenScores = std::function<std::vector<double>(const std::vector<std::int64_t>& tokens)>;

/// The index of the highest score; ties: the lowest index.
inline std::int64_t argmax(const std::vector<double>& scores) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return static_cast<std::int64_t>(best);
}

/// prompt → the generated tokens only (the stopping EOS included, when one came).
inline std::vector<std::int64_t> greedy_until_eos(const NextTokenScores& model, const std::vector<std::int64_t>& prompt,
                                                  const std::vector<std::int64_t>& eos_ids, std::int64_t max_new_tokens) {
  // TODO: stop after an EOS. As written, the loop ignores eos_ids.
  (void)eos_ids;
  std::vector<std::int64_t> tokens = prompt, generated;
  for (std::int64_t step = 0; step < max_new_tokens; ++step) {
    const std::int64_t next = argmax(model(tokens));
    tokens.push_back(next);
    generated.push_back(next);
  }
  return generated;
}

}  // namespace exercise
