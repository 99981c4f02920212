// The check for exercise 12: a case worked by hand, and the library's sft_labels + shift_labels (which
// follow transformers: labels[:prompt] = -100, then the causal-LM loss shifts by one) on random examples.
#include <cstdint>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include <eigenformer/training/objectives.hpp>

#include <sft_targets.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

namespace {
constexpr std::int64_t X = -100;
}

TEST_CASE("a prompt, an answer and padding, by hand") {
  // prompt: 11 12 13   answer: 21 22 (EOS 2)   padding: 0 0
  const std::vector<std::int64_t> ids = {11, 12, 13, 21, 22, 2, 0, 0};
  // Position 2 (the last prompt token) predicts 21; position 4 predicts the EOS; the rest take no part.
  CHECK(exercise::sft_targets(ids, 3, 6) == std::vector<std::int64_t>{X, X, 21, 22, 2, X, X, X});
}

TEST_CASE("no prompt and no padding is pretraining") {
  const std::vector<std::int64_t> ids = {5, 6, 7, 8};
  CHECK(exercise::sft_targets(ids, 0, 4) == std::vector<std::int64_t>{6, 7, 8, X});
}

TEST_CASE("agrees with the library's sft_labels and shift_labels") {
  std::mt19937 rng(12);
  for (int trial = 0; trial < 100; ++trial) {
    const eigenformer::Index T = std::uniform_int_distribution<eigenformer::Index>(1, 12)(rng);
    const eigenformer::Index length = std::uniform_int_distribution<eigenformer::Index>(0, T)(rng);
    const eigenformer::Index prompt = std::uniform_int_distribution<eigenformer::Index>(0, length)(rng);
    eigenformer::TokenIds ids(1, T);
    std::vector<std::int64_t> row(static_cast<std::size_t>(T));
    for (eigenformer::Index t = 0; t < T; ++t) {
      ids(0, t) = std::uniform_int_distribution<eigenformer::TokenId>(0, 99)(rng);
      row[static_cast<std::size_t>(t)] = ids(0, t);
    }
    const eigenformer::TokenSequence expected =
        eigenformer::training::shift_labels(eigenformer::training::sft_labels(ids, {prompt}, {length}));
    INFO("trial ", trial, ": T = ", T, ", prompt ", prompt, ", length ", length);
    CHECK(exercise::sft_targets(row, prompt, length) == std::vector<std::int64_t>(expected.begin(), expected.end()));
  }
}
