// fuzz/fuzz_json.cpp — the JSON parser (core/json.hpp) on arbitrary bytes.
//
// Malformed text must be a ParseError; what parses must print (json::dump never refuses a value the parser
// made: every number is finite) to text that parses to the same value: dump(parse(dump(v))) == dump(v),
// compact and indented.
#include "fuzz_common.hpp"

#include <eigenformer/core/json.hpp>

using namespace eigenformer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  json::Value value;
  if (!fuzz::expect_typed([&] { value = json::parse(text, "fuzz.json"); })) return 0;
  bool printed = false;
  std::string compact, indented;
  fuzz::expect_typed([&] {
    compact = json::dump(value);
    indented = json::dump(value, 2);
    printed = true;
  });
  EIGENFORMER_FUZZ_CHECK(printed);  // what we read, we must be able to write
  bool reparsed = false;
  fuzz::expect_typed([&] {
    EIGENFORMER_FUZZ_CHECK(json::dump(json::parse(compact, "compact")) == compact);
    EIGENFORMER_FUZZ_CHECK(json::dump(json::parse(indented, "indented")) == compact);
    reparsed = true;
  });
  EIGENFORMER_FUZZ_CHECK(reparsed);  // what we print, we must be able to read back
  return 0;
}
