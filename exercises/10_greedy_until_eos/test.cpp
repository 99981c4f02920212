// The check for exercise 10: the bigram model of examples/generation_walkthrough (its corpus counted again
// here), whose greedy continuations are worked out by hand below, plus a model that reads the whole sequence.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <greedy_until_eos.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

namespace {

const std::vector<std::string> kWords = {".", "the", "cat", "dog", "sat", "ran", "on", "to", "mat", "park", "in", "sun", "a", "and"};
const std::vector<std::string> kCorpus = {
    "the cat sat on the mat .",  "the dog ran to the park .",  "the cat sat in the sun .",
    "a dog ran in the park .",   "the cat and a dog sat on the mat .", "a cat sat in the sun .",
};

std::vector<std::int64_t> ids(const std::string& text) {
  std::vector<std::int64_t> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    for (std::size_t i = 0; i < kWords.size(); ++i) {
      if (kWords[i] == w) out.push_back(static_cast<std::int64_t>(i));
    }
  }
  return out;
}

std::string words(const std::vector<std::int64_t>& tokens) {
  std::string out;
  for (std::int64_t t : tokens) out += (out.empty() ? "" : " ") + kWords[static_cast<std::size_t>(t)];
  return out;
}

// Scores of the word after u = how often it follows u in the corpus (the argmax of log P(w | u) too).
exercise::NextTokenScores bigram_model() {
  std::vector<std::vector<double>> counts(kWords.size(), std::vector<double>(kWords.size(), 0.0));
  for (const std::string& sentence : kCorpus) {
    const std::vector<std::int64_t> s = ids(sentence);
    for (std::size_t t = 0; t + 1 < s.size(); ++t) counts[static_cast<std::size_t>(s[t])][static_cast<std::size_t>(s[t + 1])] += 1;
  }
  return [counts](const std::vector<std::int64_t>& tokens) { return counts[static_cast<std::size_t>(tokens.back())]; };
}

const std::vector<std::int64_t> kEos = {0};  // "."

}  // namespace

TEST_CASE("stops at EOS and returns it") {
  // After "sun" the corpus has only "." (twice): one step, and the loop ends.
  CHECK(words(exercise::greedy_until_eos(bigram_model(), ids("a cat sat in the sun"), kEos, 10)) == ".");
  // "mat" → "." as well.
  CHECK(words(exercise::greedy_until_eos(bigram_model(), ids("the dog sat on the mat"), kEos, 10)) == ".");
}

TEST_CASE("greedy can loop forever: max_new_tokens ends it") {
  // the → cat (3 of 10), cat → sat (3 of 4), sat → on (2, tied with in, and on has the lower id), on → the.
  CHECK(words(exercise::greedy_until_eos(bigram_model(), ids("the cat"), kEos, 7)) == "sat on the cat sat on the");
  CHECK(exercise::greedy_until_eos(bigram_model(), ids("the cat"), kEos, 0).empty());
}

TEST_CASE("any of several EOS ids stops the loop, and nothing follows it") {
  // A table model over 4 tokens: 0 → 1 → 3 → 2 → 0 ...; EOS ids {2, 3}: 3 comes first.
  const exercise::NextTokenScores cycle = [](const std::vector<std::int64_t>& tokens) {
    const std::int64_t next[] = {1, 3, 0, 2};
    std::vector<double> scores(4, -1.0);
    scores[static_cast<std::size_t>(next[tokens.back()])] = 2.0;
    return scores;
  };
  CHECK(exercise::greedy_until_eos(cycle, {0}, {2, 3}, 10) == std::vector<std::int64_t>{1, 3});
  CHECK(exercise::greedy_until_eos(cycle, {0}, {2}, 10) == std::vector<std::int64_t>{1, 3, 2});
}

TEST_CASE("the model sees the prompt and every generated token") {
  // This model counts: it proposes the current length, and EOS (id 9) once the sequence holds 6 tokens.
  const exercise::NextTokenScores counting = [](const std::vector<std::int64_t>& tokens) {
    std::vector<double> scores(10, 0.0);
    scores[tokens.size() >= 6 ? 9 : tokens.size()] = 1.0;
    return scores;
  };
  CHECK(exercise::greedy_until_eos(counting, {7, 7}, {9}, 20) == std::vector<std::int64_t>{2, 3, 4, 5, 9});
}
