// wordpiece.hpp, unigram.hpp, precompiled.hpp on small models whose answers can be worked out by hand.
#include <doctest/doctest.h>

#include "eigenformer/tokenizers.hpp"

using namespace eigenformer;
using namespace eigenformer::tokenizers;

namespace {
WordPiece small_wordpiece(std::size_t max_chars = 100) {
  Vocabulary v;
  TokenId id = 0;
  for (const char* t : {"[UNK]", "un", "##aff", "##able", "aff", "a", "##a", "##b", "b"}) v.insert(t, id++);
  WordPieceOptions o;
  o.max_input_chars_per_word = max_chars;
  return WordPiece(std::move(v), o);
}
}  // namespace

TEST_CASE("wordpiece: greedy longest match first, ## continuations, whole-word [UNK]") {
  const WordPiece wp = small_wordpiece();
  TokenSequence ids;
  wp.encode_piece("unaffable", ids);
  CHECK(ids == TokenSequence{1, 2, 3});
  ids.clear();
  wp.encode_piece("unaffablex", ids);  // 'x' has no piece: the whole word is unknown
  CHECK(ids == TokenSequence{0});
  ids.clear();
  wp.encode_piece("abab", ids);
  CHECK(ids == TokenSequence{5, 7, 6, 7});
  ids.clear();
  small_wordpiece(3).encode_piece("abab", ids);  // longer than max_input_chars_per_word
  CHECK(ids == TokenSequence{0});
}

TEST_CASE("wordpiece: BERT normalization and pre-tokenization") {
  BertNormalizerOptions uncased;
  CHECK(bert_normalize("Héllo\tWORLD\xE4\xB8\xAD\xE6\x96\x87!", uncased) == "hello world \xE4\xB8\xAD  \xE6\x96\x87 !");
  BertNormalizerOptions cased;
  cased.lowercase = cased.strip_accents = false;
  CHECK(bert_normalize("Héllo\x01", cased) == "Héllo");
  CHECK(bert_pre_tokenize("don't stop!") == std::vector<std::string_view>{"don", "'", "t", "stop", "!"});
  CHECK(bert_pre_tokenize("a$b") == std::vector<std::string_view>{"a", "$", "b"});  // ASCII symbols count
}

TEST_CASE("unigram: Viterbi picks the best-scoring segmentation") {
  // Hugging Face's documented example: "abcdacdxx" -> abcd, a, cd, xx (xx: fused unknowns).
  const Unigram model({{"<unk>", 0.0}, {"a", 0.0}, {"b", 0.0}, {"c", 0.0}, {"d", 0.0}, {"cd", 1.0}, {"ab", 2.0},
                       {"abc", 5.0}, {"abcd", 10.0}},
                      0, false);
  TokenSequence ids;
  model.encode_piece("abcdacdxx", ids);
  CHECK(ids == TokenSequence{8, 1, 5, 0});
}

TEST_CASE("unigram: byte fallback spells unknown characters as <0xXX>") {
  std::vector<std::pair<std::string, double>> pieces = {{"<unk>", 0.0}, {"a", -1.0}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    pieces.emplace_back(name, 0.0);
  }
  const Unigram model(pieces, 0, true);
  TokenSequence ids;
  model.encode_piece("a\xC3\xA9", ids);  // é = C3 A9
  CHECK(ids == TokenSequence{1, 2 + 0xC3, 2 + 0xA9});
}

TEST_CASE("precompiled: shortest-prefix rule on grapheme clusters, as the reference does") {
  // A charsmap with rules a -> X and ab -> Y, built by hand: trie units then "X\0Y\0".
  // Layout (darts-clone): root at 0 with base 256; 'a' at 256^97=353 with base 512 (leaf at 512 holding
  // value 0, child 'b' at 512^98=610 with base 768, leaf at 768 holding value 2).
  std::vector<std::uint32_t> units(1024, 0);
  units[0] = (0u ^ 256u) << 10;
  units[353] = ((353u ^ 512u) << 10) | (1u << 8) | 'a';
  units[512] = 0u | (1u << 31);
  units[610] = ((610u ^ 768u) << 10) | (1u << 8) | 'b';
  units[768] = 2u | (1u << 31);
  std::string blob(4, '\0');
  const std::uint32_t size = static_cast<std::uint32_t>(units.size() * 4);
  for (int k = 0; k < 4; ++k) blob[static_cast<std::size_t>(k)] = static_cast<char>((size >> (8 * k)) & 0xFF);
  for (std::uint32_t u : units) {
    for (int k = 0; k < 4; ++k) blob += static_cast<char>((u >> (8 * k)) & 0xFF);
  }
  blob += std::string("X\0Y\0", 4);
  const PrecompiledCharsmap map(blob, "test");
  CHECK(map.transform("ab") == std::optional<std::string_view>("X"));  // the shortest prefix wins
  CHECK(map.normalize("ab") == "Xb");            // "a" and "b" are separate clusters
  CHECK(map.normalize("a\xCC\x81") == "X");      // a + U+0301 is one cluster: the accent goes with it
  CHECK(map.normalize("zz") == "zz");
}
