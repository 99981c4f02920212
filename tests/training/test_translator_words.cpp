// The translator's data (examples/translator/number_words.hpp): numbers in English and Chinese words, against
// spelled-out tables written by hand from the rules in that header, and properties that must hold for every
// number of the translator's range.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "translator/number_words.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace translator_words_test {

using namespace eigenformer;
using namespace eigenformer::translator;

TEST_CASE("english_words: units, teens, tens with hyphens, hundreds, thousands, millions") {
  const std::vector<std::pair<std::int64_t, std::string>> table = {
      {0, "zero"},
      {7, "seven"},
      {10, "ten"},
      {13, "thirteen"},
      {19, "nineteen"},
      {20, "twenty"},
      {40, "forty"},
      {42, "forty-two"},
      {99, "ninety-nine"},
      {100, "one hundred"},
      {101, "one hundred one"},
      {110, "one hundred ten"},
      {999, "nine hundred ninety-nine"},
      {1000, "one thousand"},
      {1005, "one thousand five"},
      {1234, "one thousand two hundred thirty-four"},
      {2019, "two thousand nineteen"},
      {9999, "nine thousand nine hundred ninety-nine"},
      {10000, "ten thousand"},
      {100000, "one hundred thousand"},
      {1000001, "one million one"},
      {2000000, "two million"},
      {12345678, "twelve million three hundred forty-five thousand six hundred seventy-eight"},
      {99999999, "ninety-nine million nine hundred ninety-nine thousand nine hundred ninety-nine"},
  };
  for (const auto& entry : table) {  // (no structured binding: CAPTURE's lambda cannot capture one in C++17)
    const auto n = entry.first;
    CAPTURE(n);
    CHECK(english_words(n) == entry.second);
  }
}

TEST_CASE("chinese_words: 十 at the start, 零 for inner zero runs, 二 everywhere, 万") {
  const std::vector<std::pair<std::int64_t, std::string>> table = {
      {0, "零"},
      {1, "一"},
      {10, "十"},
      {15, "十五"},
      {20, "二十"},
      {99, "九十九"},
      {100, "一百"},
      {101, "一百零一"},
      {110, "一百一十"},
      {115, "一百一十五"},
      {200, "二百"},
      {1000, "一千"},
      {1005, "一千零五"},
      {1010, "一千零一十"},
      {1050, "一千零五十"},
      {1234, "一千二百三十四"},
      {1500, "一千五百"},
      {2000, "二千"},
      {2002, "二千零二"},
      {9999, "九千九百九十九"},
      {10000, "一万"},
      {10005, "一万零五"},
      {10500, "一万零五百"},
      {11000, "一万一千"},
      {100000, "十万"},
      {100010, "十万零一十"},
      {150000, "十五万"},
      {1000000, "一百万"},
      {10000000, "一千万"},
      {12345678, "一千二百三十四万五千六百七十八"},
      {20000005, "二千万零五"},
      {99999999, "九千九百九十九万九千九百九十九"},
  };
  for (const auto& entry : table) {  // (no structured binding: CAPTURE's lambda cannot capture one in C++17)
    const auto n = entry.first;
    CAPTURE(n);
    CHECK(chinese_words(n) == entry.second);
  }
}

TEST_CASE("number words: one spelling per number, no doubled 零, none at the end, the range is checked") {
  std::set<std::string> english, chinese;
  for (std::int64_t n = 0; n < 100000; ++n) {
    const std::string e = english_words(n), c = chinese_words(n);
    english.insert(e);
    chinese.insert(c);
    if (n > 0) {
      CHECK_MESSAGE(c.find("零零") == std::string::npos, n << ": " << c);
      CHECK_MESSAGE(c.rfind("零") != c.size() - 3, n << ": " << c);  // 零 is 3 bytes in UTF-8
      CHECK_MESSAGE(e.find("zero") == std::string::npos, n << ": " << e);
    }
    CHECK_MESSAGE(e.find("  ") == std::string::npos, n << ": '" << e << "'");
  }
  CHECK(english.size() == 100000);  // injective: every number its own words, in both languages
  CHECK(chinese.size() == 100000);
  CHECK_THROWS_AS(english_words(-1), ValueError);
  CHECK_THROWS_AS(chinese_words(kLargestNumber + 1), ValueError);
}

}  // namespace translator_words_test
