// regex.hpp: the split-pattern engine. Rules named one by one, the four hand-written splitters of
// pretokenize.hpp checked to cut every corpus string exactly as the engine does, and long runs of one
// character class timed (no deep recursion, no quadratic give-back).
#include <doctest/doctest.h>

#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "eigenformer/core/json.hpp"
#include "eigenformer/tokenizers/pretokenize.hpp"
#include "eigenformer/tokenizers/regex.hpp"

using namespace eigenformer;
using namespace eigenformer::tokenizers;
using eigenformer::tokenizers::regex::Regex;
using eigenformer::tokenizers::regex::RegexError;

namespace regex_tests {
using Strings = std::vector<std::string>;

/// Every match of `re` in `text`, as strings.
Strings matches(const Regex& re, std::string_view text) {
  Strings out;
  re.for_each_match(text, [&](std::size_t b, std::size_t e) { out.emplace_back(text.substr(b, e - b)); });
  return out;
}
Strings matches(std::string_view pattern, std::string_view text) { return matches(Regex(pattern), text); }

std::vector<std::string> corpus_strings() {
  const json::Value corpus = json::parse_file(std::string(EIGENFORMER_SOURCE_DIR) + "/tests/tokenizers/corpus.json");
  std::vector<std::string> out;
  for (const json::Value& v : corpus.as_array()) out.push_back(v.as_string());
  // Edge cases of whitespace and contractions that the corpus lines may not hit.
  for (const char* s : {"", " ", "  ", "a  ", "a \n", " \n ", "\n\n\n", "\r\n\r\n  x", "'s'S'ſ'll'LL", "x'", "''",
                        "\t\t\tfoo", "a\u00a0\u00a0b", "1234567", "   \n   \n   ", "x!!\n\ny", "A/B//C\n/", "ǅungla ǈ",
                        "ÀÉÎõü\u0301\u0301", "end. ", "CamelCaseWORDSand lower"}) {
    out.emplace_back(s);
  }
  return out;
}

std::string repeat(std::string_view unit, std::size_t bytes) {
  std::string s;
  s.reserve(bytes + unit.size());
  while (s.size() < bytes) s.append(unit);
  return s;
}

}  // namespace regex_tests
using namespace regex_tests;

TEST_CASE("regex: leftmost-first alternation, greedy give-back, lazy and possessive quantifiers") {
  CHECK(matches("a|ab", "ab") == Strings{"a"});                  // the first alternative wins, not the longest
  CHECK(matches("ab|a", "ab") == Strings{"ab"});
  CHECK(matches("a+b", "aaab") == Strings{"aaab"});
  CHECK(matches("a*ab", "aaab") == Strings{"aaab"});             // a* gives one a back
  CHECK(matches("a+?", "aaa") == Strings{"a", "a", "a"});        // lazy
  CHECK(matches("a{2,3}?", "aaaaa") == Strings{"aa", "aa"});
  CHECK(matches("a*+a", "aaa").empty());                   // possessive never gives back
  CHECK(matches("(?>a*)a", "aaa").empty());                // the same, as an atomic group
  CHECK(matches("(?:ab)+", "ababa") == Strings{"abab"});
  CHECK(matches("(ab){2}", "ababab") == Strings{"abab"});
  CHECK(matches("x{2,}", "xxxxx") == Strings{"xxxxx"});
  CHECK(matches("x{,2}", "xxx") == Strings{"xx", "x"});          // Oniguruma's {,n}
  CHECK(matches("a{", "a{") == Strings{"a{"});                   // a brace that is no quantifier is a literal
}

TEST_CASE("regex: a greedy run becomes possessive only where giving back can never lead to a match") {
  namespace rx = eigenformer::tokenizers::regex;
  // What follows [^a-z]? cannot begin with any of its members: possessive, and the matches are unchanged.
  const Regex disjoint("[^a-z]?[a-z]+");
  REQUIRE(disjoint.program()[0].op == rx::Op::repeat_class);
  CHECK(disjoint.program()[0].mode == rx::Mode::possessive);
  CHECK(matches(disjoint, ", hello") == Strings{" hello"});
  // Here what follows can begin with a member (a, b), or match empty: the runs must keep their choices.
  const Regex overlapping("a?ab");
  CHECK(overlapping.program()[0].mode == rx::Mode::greedy);
  CHECK(matches(overlapping, "ab") == Strings{"ab"});  // a? gives its a back
  const Regex ending("[ab]*[bc]");
  CHECK(ending.program()[0].mode == rx::Mode::greedy);
  CHECK(matches(ending, "abab") == Strings{"abab"});
  CHECK(Regex("x*y?").program()[0].mode == rx::Mode::greedy);  // y? can match empty
}

TEST_CASE("regex: classes, Unicode categories and escapes") {
  CHECK(matches(R"(\p{L}+)", "héllo wörld 中文") == Strings{"héllo", "wörld", "中文"});
  CHECK(matches(R"(\p{N}{1,3})", "12345٣٤Ⅻ½") == Strings{"123", "45٣", "٤Ⅻ½"});
  CHECK(matches(R"(\P{L}+)", "ab12cd") == Strings{"12"});
  CHECK(matches(R"(\p{^L}+)", "ab12cd") == Strings{"12"});
  CHECK(matches(R"([^\s\p{L}\p{N}]+)", "a!? b—c") == Strings{"!?", "—"});
  CHECK(matches(R"([\p{Lu}\p{Lt}]+)", "abCDǅe") == Strings{"CDǅ"});
  CHECK(matches(R"(\p{Lowercase_Letter}+)", "ABcdE") == Strings{"cd"});
  CHECK(matches(R"([\p{P}\p{S}]+)", "a+b=(c)$") == Strings{"+", "=(", ")$"});
  CHECK(matches(R"(\s+)", "a \t\u00a0\u3000\u0085b") == Strings{" \t\u00a0\u3000\u0085"});  // Unicode White_Space
  CHECK(matches(R"(\s)", "\u200b\ufeff").empty());          // not White_Space
  CHECK(matches(R"(\d+)", "x12٣y") == Strings{"12٣"});
  CHECK(matches(R"(\w+)", "snake_case, é!") == Strings{"snake_case", "é"});
  CHECK(matches("[一-龥぀-ゟ゠-ヿ]+", "深度学习とカタカナ한국") == Strings{"深度学习とカタカナ"});  // DeepSeek-V3's ranges
  CHECK(matches(R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+)", "x.foo [bar \\baz") ==
        Strings{".foo", "[bar", "\\baz"});
  CHECK(matches(R"([a[^b-z]]+)", "abz1a") == Strings{"a", "1a"});    // a nested, negated class
  CHECK(matches(R"([\x41-\x{43}\u0044]+)", "ABCDE") == Strings{"ABCD"});
  CHECK(matches(R"(\h+)", "0x1fG") == Strings{"0", "1f"});
  CHECK(matches(".+", "ab\ncd") == Strings{"ab", "cd"});             // . stops at \n
  CHECK(matches("[]a]+", "]a]") == Strings{"]a]"});                  // ']' first in a class is a literal
}

TEST_CASE("regex: case-insensitive groups fold characters") {
  CHECK(matches("(?i:'s|'ll)", "'S 'ſ 'Ll 's") == Strings{"'S", "'ſ", "'Ll", "'s"});
  CHECK(matches("(?i)k", "kK\u212A") == Strings{"k", "K", "\u212A"});  // KELVIN SIGN folds to k
  CHECK(matches("(?i:σ)+", "Σσς") == Strings{"Σσς"});
  CHECK(matches("(?i:[a-c])+", "AbC") == Strings{"AbC"});
  CHECK(matches("a(?i)b|c", "aB C") == Strings{"aB", "C"});            // a bare (?i) lasts to the end of the group
  CHECK(matches("(?i:a)b", "AB").empty());
}

TEST_CASE("regex: lookahead and anchors") {
  CHECK(matches(R"(\s+(?!\S)|\s+)", "a   b") == Strings{"  ", " "});
  CHECK(matches(R"(a(?=b))", "ab ac") == Strings{"a"});
  CHECK(matches("^a", "aa") == Strings{"a"});        // ^ is the start of the text (Perl_NT syntax)
  CHECK(matches("a$", "aa\n") == Strings{"a"});      // $ is the end, or before a final \n
  CHECK(matches(R"(a\z)", "aa\n").empty());
  CHECK(matches(R"(\bx)", "xx x") == Strings{"x", "x"});
  CHECK(matches(R"(\Bx)", "xx x") == Strings{"x"});
}

TEST_CASE("regex: empty matches advance one character and are skipped right after a match") {
  CHECK(matches("x*", "axb") == Strings{"", "x", ""});   // at 0, at 1 ("x"), at 3 (the end); not at 2
  CHECK(matches("(?:)", "ab").size() == 3);
  CHECK(matches("(?:a?)*", "aa") == Strings{"aa"});        // an empty loop body stops the loop
}

TEST_CASE("regex: what is refused, with the place") {
  CHECK_THROWS_AS(Regex(R"(\p{Han}+)"), RegexError);
  CHECK_THROWS_AS(Regex(R"((a)\1)"), RegexError);
  CHECK_THROWS_AS(Regex(R"((?<=a)b)"), RegexError);
  CHECK_THROWS_AS(Regex("(ab"), RegexError);
  CHECK_THROWS_AS(Regex("ab)"), RegexError);
  CHECK_THROWS_AS(Regex("*a"), RegexError);
  CHECK_THROWS_AS(Regex("[a-"), RegexError);
  CHECK_THROWS_AS(Regex("[z-a]"), RegexError);
  CHECK_THROWS_AS(Regex("a{3,2}"), RegexError);
  CHECK_THROWS_AS(Regex("(?x)a"), RegexError);
  CHECK_THROWS_AS(Regex(std::string(500, '(') + std::string(500, ')')), RegexError);  // nesting bound
  CHECK_THROWS_AS(Regex("(?:abcdefghij){60000}"), RegexError);                       // program size bound
  try {
    Regex bad(R"(ab\p{Greek})");
    FAIL("expected a RegexError");
  } catch (const RegexError& e) {
    CHECK(std::string(e.what()).find("at byte 2") != std::string::npos);
    CHECK(std::string(e.what()).find("Greek") != std::string::npos);
  }
}

TEST_CASE("regex: the four hand-written splitters cut every corpus string as the engine does") {
  const std::vector<std::string> texts = corpus_strings();
  REQUIRE(texts.size() > 40);
  for (SplitPattern p : {SplitPattern::gpt2, SplitPattern::cl100k, SplitPattern::o200k, SplitPattern::llama3}) {
    const Regex re(split_pattern_regex(p));
    std::size_t differ = 0;
    for (const std::string& t : texts) {
      Strings hand;
      for (std::string_view piece : split_text(t, p)) hand.emplace_back(piece);
      const Strings engine = matches(re, t);
      if (hand != engine && ++differ <= 3) {
        MESSAGE("pattern " << static_cast<int>(p) << " differs on " << json::dump(json::Value(t)));
      }
    }
    CHECK(differ == 0);
  }
}

TEST_CASE("regex: a megabyte of one character class is split in linear time") {
  // Each input goes through the three patterns whose give-back could go quadratic; one second is ~5-50x
  // the time a -O1 build needs. Processor time (std::clock), so that other processes on a shared machine
  // do not count.
  const Regex cl100k(split_pattern_regex(SplitPattern::cl100k));
  const Regex o200k(split_pattern_regex(SplitPattern::o200k));
  const Regex deepseek(
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
      "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+");
  const std::size_t mb = 1 << 20;
  struct Case {
    const char* name;
    std::string text;
  };
  const Case cases[] = {{"spaces", repeat(" ", mb)},           {"spaces then a letter", repeat(" ", mb) + "x"},
                        {"letters", repeat("a", mb)},          {"capitals", repeat("A", mb)},
                        {"digits", repeat("7", mb)},           {"Chinese", repeat("字", mb)},
                        {"punctuation", repeat("!", mb)},      {"newlines", repeat("\n", mb)},
                        {"no-break spaces", repeat("\u00a0", mb) + "x"}};
  for (const Case& c : cases) {
    for (const Regex* re : {&cl100k, &o200k, &deepseek}) {
      const std::clock_t t0 = std::clock();
      std::size_t covered = 0, pieces = 0;
      re->for_each_match(c.text, [&](std::size_t b, std::size_t e) {
        covered += e - b;
        ++pieces;
      });
      const double seconds = static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC;
      INFO(std::string(c.name) << " with " << re->pattern().substr(0, 30) << ": " << seconds << " s, " << pieces << " pieces");
      // These patterns match every character (DeepSeek's leaves digits to its first Split, \p{N}{1,3}).
      if (re != &deepseek || std::string(c.name) != "digits") CHECK(covered == c.text.size());
      CHECK(seconds < 1.0);
    }
  }
  // The same through the hand-written splitter, for comparison of the pieces.
  const std::string spaces = repeat(" ", mb) + "x";
  CHECK(regex_tests::matches(cl100k, spaces).size() == split_text(spaces, SplitPattern::cl100k).size());
}
