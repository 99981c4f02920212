// The check for exercise 2. The expected parts were worked out by hand from the rule (each case's comment
// shows the steps), and a random test compares with the library's BPE model built from the same merges.
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <eigenformer/tokenizers/bpe.hpp>

#include <bpe_merge.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

namespace {

using Merges = std::vector<std::pair<std::string, std::string>>;
using Parts = std::vector<std::string>;

Parts characters(const std::string& ascii) {
  Parts out;
  for (char c : ascii) out.emplace_back(1, c);
  return out;
}

}  // namespace

TEST_CASE("the lecture's example: l o w e r -> lower") {
  const Merges merges = {{"l", "o"}, {"lo", "w"}, {"e", "r"}, {"low", "er"}};
  CHECK(exercise::bpe_merge(characters("lower"), merges) == Parts{"lower"});
  // l o w e s t: (l,o) → lo w e s t; (lo,w) → low e s t; no more pairs in the list.
  CHECK(exercise::bpe_merge(characters("lowest"), merges) == Parts{"low", "e", "s", "t"});
}

TEST_CASE("rank decides, not position") {
  // a b c with merges [(b,c), (a,b)]: (b,c) ranks lower, so a bc — and (a, bc) is not a merge.
  const Merges merges = {{"b", "c"}, {"a", "b"}};
  CHECK(exercise::bpe_merge(characters("abc"), merges) == Parts{"a", "bc"});
}

TEST_CASE("on a tie the leftmost occurrence merges first, and pairs are recomputed after each merge") {
  // a a a with merges [(a,a)]: the leftmost pair → aa a; (aa, a) is not in the list → done.
  CHECK(exercise::bpe_merge(characters("aaa"), {{"a", "a"}}) == Parts{"aa", "a"});
  // a a a a with [(a,a), (aa,aa)]: aa a a → aa aa (the next (a,a)) → aaaa.
  CHECK(exercise::bpe_merge(characters("aaaa"), {{"a", "a"}, {"aa", "aa"}}) == Parts{"aaaa"});
}

TEST_CASE("nothing to merge") {
  CHECK(exercise::bpe_merge(characters("xyz"), {{"a", "b"}}) == Parts{"x", "y", "z"});
  CHECK(exercise::bpe_merge(Parts{}, {{"a", "b"}}).empty());
  CHECK(exercise::bpe_merge(characters("q"), {{"a", "b"}}) == Parts{"q"});
}

TEST_CASE("agrees with the library's BPE on random words") {
  using namespace eigenformer::tokenizers;
  using eigenformer::TokenId;
  using eigenformer::TokenSequence;
  // A small alphabet and merges over it, the kind train_bpe would learn.
  const Merges merges = {{"a", "b"}, {"b", "a"}, {"ab", "a"}, {"c", "c"}, {"ab", "ab"}, {"a", "c"},
                         {"ba", "c"}, {"cc", "a"}, {"aba", "b"}, {"b", "c"}};
  // The library wants a vocabulary holding every symbol and every merge result.
  Vocabulary vocab;
  TokenId next = 0;
  const auto add = [&](const std::string& token) {
    if (!vocab.find(token)) vocab.insert(token, next++);
  };
  for (const char* s : {"a", "b", "c"}) add(s);
  for (const auto& [left, right] : merges) add(left + right);
  BpeOptions options;
  options.byte_level = false;         // symbols are characters, as in the exercise
  options.whole_piece_first = false;  // merges only: no shortcut for a word that is itself a token
  const BytePairEncoding bpe = BytePairEncoding::from_merges(vocab, merges, options);

  std::mt19937 rng(7);
  std::uniform_int_distribution<int> letter(0, 2), length(1, 12);
  for (int trial = 0; trial < 300; ++trial) {
    std::string word;
    for (int i = length(rng); i > 0; --i) word += static_cast<char>('a' + letter(rng));
    TokenSequence ids;
    bpe.encode_piece(word, ids);
    Parts library;
    for (TokenId id : ids) library.emplace_back(vocab.text(id));
    INFO("word '", word, "'");
    CHECK(exercise::bpe_merge(characters(word), merges) == library);
  }
}
