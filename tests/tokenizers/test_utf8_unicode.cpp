// utf8.hpp and unicode.hpp: well-formedness (Unicode Table 3-7), U+FFFD by maximal subparts, properties.
#include <doctest/doctest.h>

#include "eigenformer/tokenizers/unicode.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

using namespace eigenformer::tokenizers;

TEST_CASE("utf8: find_invalid_utf8 names the first ill-formed sequence") {
  CHECK(find_invalid_utf8("plain ascii") == std::string_view::npos);
  CHECK(find_invalid_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80") == std::string_view::npos);
  CHECK(find_invalid_utf8("ab\x80") == 2);                  // stray continuation byte
  CHECK(find_invalid_utf8("a\xC0\x80") == 1);               // overlong NUL
  CHECK(find_invalid_utf8("x\xED\xA0\x80") == 1);           // surrogate U+D800
  CHECK(find_invalid_utf8("\xF4\x90\x80\x80") == 0);        // above U+10FFFF
  CHECK(find_invalid_utf8("ok\xE2\x82") == 2);              // cut short at the end
  CHECK(find_invalid_utf8("\xFF") == 0);
}

TEST_CASE("utf8: require_utf8 throws InvalidUtf8Error with the byte offset") {
  try {
    require_utf8("hello \xC3(", "test");
    FAIL("no exception");
  } catch (const InvalidUtf8Error& e) {
    CHECK(e.byte_offset() == 6);
    CHECK(std::string(e.what()).find("byte offset 6") != std::string::npos);
  }
  CHECK_THROWS_AS(require_utf8("\xE2\x82", "test"), eigenformer::ValueError);
}

TEST_CASE("utf8: lossy decoding replaces each maximal subpart by one U+FFFD") {
  // The examples of the Unicode Standard, chapter 3.9 (Table 3-8): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  const std::string bytes = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  CHECK(utf8_lossy(bytes) == "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d");
  CHECK(utf8_lossy("\xF0\x9F\x98") == "\xEF\xBF\xBD");  // a cut emoji is one replacement
}

TEST_CASE("utf8: complete prefix holds back an unfinished character only") {
  CHECK(utf8_complete_prefix("ab") == 2);
  CHECK(utf8_complete_prefix("a\xE2\x82") == 1);       // € unfinished
  CHECK(utf8_complete_prefix("a\xE2\x82\xAC") == 4);   // € complete
  CHECK(utf8_complete_prefix("a\xF0\x9F") == 1);
  CHECK(utf8_complete_prefix("a\xFF") == 2);           // invalid forever: nothing to wait for
  CHECK(utf8_complete_prefix("a\xC3(") == 3);          // broken, not unfinished
}

TEST_CASE("unicode: general categories and White_Space") {
  using unicode::Category;
  CHECK(unicode::category('A') == Category::Lu);
  CHECK(unicode::category(U'é') == Category::Ll);
  CHECK(unicode::category(U'ǅ') == Category::Lt);
  CHECK(unicode::category(U'ʰ') == Category::Lm);
  CHECK(unicode::category(U'中') == Category::Lo);
  CHECK(unicode::category(0x0301) == Category::Mn);
  CHECK(unicode::category(U'٣') == Category::Nd);
  CHECK(unicode::category(U'Ⅻ') == Category::Nl);
  CHECK(unicode::category(U'½') == Category::No);
  CHECK(unicode::category(U'😀') == Category::So);
  CHECK(unicode::category(0xE000) == Category::Co);
  CHECK(unicode::category(0x0378) == Category::Cn);
  CHECK(unicode::category(0x20000) == Category::Lo);  // CJK extension B (a range in UnicodeData.txt)
  CHECK(unicode::is_white_space(0x85));
  CHECK(unicode::is_white_space(0x3000));
  CHECK_FALSE(unicode::is_white_space(0x200B));
  CHECK_FALSE(unicode::is_white_space(0xFEFF));
}

TEST_CASE("unicode: normalization forms and lowercase") {
  using unicode::NormalForm;
  CHECK(unicode::normalize("e\xCC\x81", NormalForm::NFC) == "\xC3\xA9");
  CHECK(unicode::normalize("\xC3\xA9", NormalForm::NFD) == "e\xCC\x81");
  CHECK(unicode::normalize("\xEF\xAC\x81", NormalForm::NFKC) == "fi");                  // ﬁ
  CHECK(unicode::normalize("\xEA\xB0\x81", NormalForm::NFD) == "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");  // 각
  CHECK(unicode::normalize("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", NormalForm::NFC) == "\xEA\xB0\x81");
  // Canonical ordering: dot below (220) before circumflex (230).
  CHECK(unicode::normalize("o\xCC\x82\xCC\xA3", NormalForm::NFD) == "o\xCC\xA3\xCC\x82");
  CHECK(unicode::normalize("o\xCC\x82\xCC\xA3", NormalForm::NFC) == "\xE1\xBB\x99");     // ộ
  CHECK(unicode::to_lowercase("\xC4\xB0STANBUL \xCE\xA3\xCE\x91\xCE\xA3") == "i\xCC\x87stanbul \xCF\x83\xCE\xB1\xCF\x83");
}

TEST_CASE("unicode: extended grapheme clusters") {
  const auto clusters = [](std::string_view s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
      const std::size_t e = unicode::grapheme_end(s, i);
      out.emplace_back(s.substr(i, e - i));
      i = e;
    }
    return out;
  };
  CHECK(clusters("ab").size() == 2);
  CHECK(clusters("e\xCC\x81x").size() == 2);
  CHECK(clusters("\r\n").size() == 1);
  CHECK(clusters("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7").size() == 1);  // family ZWJ
  CHECK(clusters("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5").size() == 2);  // two flags
  CHECK(clusters("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8").size() == 1);  // Hangul L V T
}
