// Corpora from the Debian fortune packages: colour codes and '%' separators stripped, records split; the
// character vocabulary. The tests on the installed files skip (with a message) when the packages are missing.
#include "training_fixture.hpp"

#include <filesystem>

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace corpus_test {

using namespace eigenformer;
using namespace eigenformer::training;

TEST_CASE("strip_ansi removes colour codes and other escapes, nothing else") {
  CHECK(strip_ansi("\x1b[32m《静夜思》\x1b[m\n\x1b[1;33m李白\x1b[0m") == "《静夜思》\n李白");
  CHECK(strip_ansi("a\x1b" "cb") == "ab");
  CHECK(strip_ansi("plain % text") == "plain % text");
  CHECK(strip_ansi("cut\x1b[3") == "cut");
}

TEST_CASE("split_fortunes: records between '%' lines, blank edges and trailing spaces trimmed, empties dropped") {
  const std::string text = "first line\nsecond line  \n%\n\n  indented stays\n\n%\n%\nlast\n";
  const std::vector<std::string> r = split_fortunes(text);
  REQUIRE(r.size() == 3);
  CHECK(r[0] == "first line\nsecond line");
  CHECK(r[1] == "  indented stays");
  CHECK(r[2] == "last");
  CHECK(split_fortunes("50% off\n%").front() == "50% off");
  CHECK_THROWS_AS(load_fortunes("/nonexistent/fortune-file"), FileError);
}

TEST_CASE("CharVocabulary: specials first, characters in code point order, encode/decode round trip, JSON") {
  const CharVocabulary v = CharVocabulary::build({"床前明月光", "ab 月"}, {"<pad>", "<unk>", "<eos>", "[MASK]"});
  CHECK(v.size() == 4 + 8);
  CHECK(v.special_count() == 4);
  CHECK(*v.id("<pad>") == 0);
  CHECK(v.token(4) == " ");
  CHECK(v.token(5) == "a");
  const TokenSequence ids = v.encode("明月a?");
  CHECK(ids.size() == 4);
  CHECK(ids[3] == *v.id("<unk>"));
  CHECK(v.decode(v.encode("床前明月光")) == "床前明月光");
  CHECK(v.encode("[MASK]").size() == 6);  // special names are not recognised inside text
  CHECK(v.decode({0, 5, 2}, true) == "a");
  const CharVocabulary back = CharVocabulary::from_json(v.to_json());
  CHECK(back.to_json() == v.to_json());
  CHECK(back.encode("光a") == v.encode("光a"));
  CHECK_THROWS_AS(v.token(99), ValueError);
  CHECK_THROWS_AS(CharVocabulary::from_tokens({"a", "a", "<unk>"}, 0), ValueError);
  CHECK(utf8_characters("a\xff" "b").at(1) == "\xEF\xBF\xBD");
}

TEST_CASE("the Debian fortune corpora load clean: no escapes, no separators — characters round-trip") {
  for (const char* name : {"tang300", "song100", "chinese", "fortunes", "computers"}) {
    const std::string path = fortunes_dir() + "/" + name;
    if (!std::filesystem::exists(path)) {
      MESSAGE("SKIPPED: " << path << " is missing (install the Debian packages fortunes and fortunes-zh: tools/install-deps.sh)");
      continue;
    }
    const std::vector<std::string> records = load_fortunes(path);
    std::size_t bytes = 0;
    for (const std::string& r : records) {
      bytes += r.size();
      CHECK(r.find('\x1b') == std::string::npos);
      CHECK(r.find("\n%\n") == std::string::npos);
      CHECK(!r.empty());
      CHECK(r != "%");
    }
    const CharVocabulary vocab = CharVocabulary::build(records);
    std::size_t round_trips = 0;
    for (const std::string& r : records) round_trips += vocab.decode(vocab.encode(r)) == r;
    CHECK(round_trips == records.size());
    MESSAGE(std::string(name) << ": " << records.size() << " records, " << bytes << " bytes of text, " << vocab.size()
                 << " characters in the vocabulary (with 4 specials)");
    if (std::string(name) == "tang300") {
      CHECK(records.size() >= 300);
      CHECK(records.front() == "《感遇・其一》\n作者：张九龄\n兰叶春葳蕤，桂华秋皎洁。\n欣欣此生意，自尔为佳节。\n"
                               "谁知林栖者，闻风坐相悦。\n草木有本心，何求美人折？");  // title, author, poem: colour codes gone
    }
  }
}

}  // namespace corpus_test
