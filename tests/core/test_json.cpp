// The JSON reader and writer: what real files contain, and every way a malformed file must fail.
#include <doctest/doctest.h>

#include <string>

#include "eigenformer/core/json.hpp"

using namespace eigenformer;

TEST_CASE("JSON values parse with their types, order and exact integers") {
  const json::Value v = json::parse(R"({"b": 1, "a": [true, false, null, -0.5, 1e3, "x\u00e9\ud83d\ude00\n"],
                                        "big": 9007199254740993, "neg": -9223372036854775808, "tiny": 1e-400})");
  REQUIRE(v.is_object());
  const json::Object& o = v.as_object();
  CHECK(o[0].first == "b");  // file order kept
  CHECK(o[1].first == "a");
  CHECK(v.at("b").as_int() == 1);
  const json::Array& a = v.at("a").as_array();
  CHECK(a[0].as_bool());
  CHECK(a[2].is_null());
  CHECK(a[3].as_number() == -0.5);
  CHECK_FALSE(a[4].is_integer());
  CHECK(a[4].as_number() == 1000.0);
  CHECK(a[5].as_string() == "x\xC3\xA9\xF0\x9F\x98\x80\n");  // é and 😀 from \u escapes, surrogate pair joined
  CHECK(v.at("big").as_int() == 9007199254740993LL);        // beyond 2^53: exact, not rounded through double
  CHECK(v.at("neg").as_int() == INT64_MIN);
  CHECK(v.at("tiny").as_number() == 0.0);  // underflow reads as 0; overflow is refused (next test case)
  CHECK(v.find("missing") == nullptr);
  CHECK_THROWS_WITH_AS(v.at("missing"), "[json] missing key 'missing'", FormatError);
  CHECK_THROWS_WITH_AS(v.at("b").as_string("hidden_act"), "[json] hidden_act must be a string, got a number", FormatError);
  CHECK_THROWS_WITH_AS(a[3].as_int("num_layers"), doctest::Contains("num_layers must be an integer"), FormatError);
}

TEST_CASE("malformed JSON names the line, column and byte offset") {
  const auto error_of = [](const std::string& text) -> std::string {
    try {
      json::parse(text, "config.json");
    } catch (const ParseError& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(error_of("{\"a\": 1,\n  \"b\": }") == "[json] config.json: line 2 column 8 (byte 16): unexpected character '}', expected a value");
  CHECK(error_of("{\"a\": 1} x") == "[json] config.json: line 1 column 10 (byte 9): unexpected text after the JSON value");
  CHECK(error_of("{\"a\": 1, \"a\": 2}").find("duplicate key \"a\"") != std::string::npos);
  CHECK(error_of("[1, 2") .find("unexpected end of input inside an array") != std::string::npos);
  CHECK(error_of("\"abc") .find("unterminated string") != std::string::npos);
  CHECK(error_of("\"a\tb\"").find("control character") != std::string::npos);
  CHECK(error_of("\"\\x\"").find("invalid escape") != std::string::npos);
  CHECK(error_of("\"\\ud800\"").find("high surrogate") != std::string::npos);
  CHECK(error_of("\"\\udc00\"").find("lone low surrogate") != std::string::npos);
  CHECK(error_of("\"\xC0\xAF\"").find("invalid UTF-8") != std::string::npos);   // overlong '/'
  CHECK(error_of("\"\xED\xA0\x80\"").find("invalid UTF-8") != std::string::npos); // encoded surrogate
  CHECK(error_of("01").find("unexpected text") != std::string::npos);            // no leading zeros
  CHECK(error_of("1.").find("expected a digit after '.'") != std::string::npos);
  CHECK(error_of("-").find("truncated number") != std::string::npos);
  CHECK(error_of("tru").find("invalid literal") != std::string::npos);
  CHECK(error_of("").find("unexpected end of input") != std::string::npos);
  CHECK(error_of("NaN").find("unexpected character 'N'") != std::string::npos);
  // A number past double's range would read as an infinity that JSON cannot write back: refused where it starts.
  CHECK(error_of("{\"x\": 2e606}") ==
        "[json] config.json: line 1 column 7 (byte 6): number 2e606 is outside the range of a double (JSON numbers must be finite)");
  CHECK(error_of("[-1" + std::string(400, '0') + "]").find("number -1" + std::string(38, '0') + "... is outside") !=
        std::string::npos);
}

TEST_CASE("deep nesting is an error, not a stack overflow") {
  const std::string deep(100000, '[');
  CHECK_THROWS_WITH_AS(json::parse(deep), doctest::Contains("nesting deeper than 256 levels"), ParseError);
  std::string ok = std::string(200, '[') + std::string(200, ']');
  CHECK_NOTHROW(json::parse(ok));
}

TEST_CASE("large objects are checked for duplicate keys too") {
  std::string text = "{";
  for (int i = 0; i < 1000; ++i) text += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
  text += "\"k17\": 0}";
  CHECK_THROWS_WITH_AS(json::parse(text, "tokenizer.json"), doctest::Contains("duplicate key \"k17\""), ParseError);
  json::ParseOptions lenient;
  lenient.allow_duplicate_keys = true;
  CHECK(json::parse(text, "x", lenient).as_object().size() == 1001);
}

TEST_CASE("dump writes JSON that parses back to the same values") {
  json::Value v;
  v.set("name", "t5\n\"small\"");
  v.set("layers", 6);
  v.set("eps", 1e-6);
  v.set("scale", 1.0);
  v.set("list", json::Array{json::Value(1), json::Value(), json::Value(true), json::Value(0.1)});
  const std::string compact = json::dump(v);
  CHECK(compact == R"({"name":"t5\n\"small\"","layers":6,"eps":1e-06,"scale":1.0,"list":[1,null,true,0.1]})");
  const json::Value back = json::parse(json::dump(v, 2));
  CHECK(back.at("eps").as_number() == 1e-6);
  CHECK_FALSE(back.at("scale").is_integer());  // 1.0 stays a float
  CHECK(back.at("name").as_string() == "t5\n\"small\"");
  CHECK_THROWS_AS(json::dump(json::Value(std::nan(""))), ValueError);
}
