// pretokenize.hpp: the hand-written split patterns on cases whose regex behaviour is subtle. (The parity
// tests check them on hundreds of strings against tiktoken; these name the rules.)
#include <doctest/doctest.h>

#include "eigenformer/tokenizers/pretokenize.hpp"

using namespace eigenformer::tokenizers;
using V = std::vector<std::string_view>;

TEST_CASE("pretokenize: GPT-2 keeps the space with the next word and gives back one space") {
  CHECK(split_text("Hello world", SplitPattern::gpt2) == V{"Hello", " world"});
  CHECK(split_text("a   b", SplitPattern::gpt2) == V{"a", "  ", " b"});
  CHECK(split_text("end  ", SplitPattern::gpt2) == V{"end", "  "});
  CHECK(split_text("it's", SplitPattern::gpt2) == V{"it", "'s"});
  CHECK(split_text("IT'S", SplitPattern::gpt2) == V{"IT", "'", "S"});  // case-sensitive contractions
  CHECK(split_text("x 123 !!", SplitPattern::gpt2) == V{"x", " 123", " !!"});
}

TEST_CASE("pretokenize: cl100k / Llama 3 rules") {
  CHECK(split_text("IT'S", SplitPattern::cl100k) == V{"IT", "'S"});        // (?i:'s)
  CHECK(split_text("it'\xC5\xBF", SplitPattern::cl100k) == V{"it", "'\xC5\xBF"});  // ſ folds to s
  CHECK(split_text("12345", SplitPattern::cl100k) == V{"123", "45"});      // \p{N}{1,3}
  CHECK(split_text("a\n\n  b", SplitPattern::cl100k) == V{"a", "\n\n", " ", " b"});
  CHECK(split_text("x!!\n\ny", SplitPattern::cl100k) == V{"x", "!!\n\n", "y"});
  CHECK(split_text("\"hello", SplitPattern::cl100k) == V{"\"hello"});      // a non-letter may lead a word
  CHECK(split_text(" \n ", SplitPattern::cl100k) == V{" \n", " "});
}

TEST_CASE("pretokenize: o200k splits case runs and keeps contractions") {
  CHECK(split_text("CamelCase", SplitPattern::o200k) == V{"Camel", "Case"});
  CHECK(split_text("HTTPServer", SplitPattern::o200k) == V{"HTTPServer"});
  CHECK(split_text("don't STOP", SplitPattern::o200k) == V{"don't", " STOP"});
  CHECK(split_text("a/b//\n", SplitPattern::o200k) == V{"a", "/b", "//\n"});
}

TEST_CASE("pretokenize: pieces always cover the text exactly") {
  const std::string text = "Mixed: 中文 text, 12345 nums\t\ttabs \r\n CRLF 😀👍🏽 done  ";
  for (SplitPattern p : {SplitPattern::gpt2, SplitPattern::cl100k, SplitPattern::o200k}) {
    std::string joined;
    for (std::string_view piece : split_text(text, p)) {
      CHECK_FALSE(piece.empty());
      joined += piece;
    }
    CHECK(joined == text);
  }
}

TEST_CASE("pretokenize: known regexes are recognized, others are not") {
  CHECK(split_pattern_from_regex(split_pattern_regex(SplitPattern::o200k)) == SplitPattern::o200k);
  CHECK(split_pattern_from_regex(split_pattern_regex(SplitPattern::llama3)) == SplitPattern::cl100k);
  CHECK_FALSE(split_pattern_from_regex("\\w+").has_value());
}
