// What the fuzzers of fuzz/ found, each kept as a named test so that it stays fixed. Each case says which target
// found it, what went wrong, and what the library does now (a typed error naming the culprit).
#include <doctest/doctest.h>

#include <string>

#include "bert/bert.hpp"
#include "eigenformer/chat.hpp"
#include "eigenformer/tokenizers.hpp"
#include "llama/llama.hpp"
#include "models/model_fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

// fuzz_config_llama (UBSan: "signed integer overflow: 16777216 * 281474976710656 cannot be represented in type
// 'long'" in LlamaConfig::parameter_count). Every size of config.json may reach 2^24; their products passed
// 2^63, and the wrapped count slipped under Checkpoint::check_parameter_count, so the model would have tried to
// allocate. The counts now saturate (models/config.hpp: Count) and the guard refuses the file.
TEST_CASE("fuzz regression: config sizes whose parameter count passes 2^63 are refused before allocating") {
  CHECK((Count(std::int64_t{1} << 40) * (std::int64_t{1} << 40)).value() == Count::kMax);
  CHECK((Count(Count::kMax) + 1).value() == Count::kMax);
  CHECK((Count(3) * 4 + 5).value() == 17);
  const std::int64_t big = ModelConfig::kMaxDimension;  // 2^24, the largest size a field may ask for

  TempDir tmp("fuzz-regression");
  const std::string llama = tmp.copy_checkpoint("llama-gqa-sharded");
  edit_config(llama, [&](json::Value& c) {
    for (const char* field : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"}) c.set(field, big);
    c.set("num_key_value_heads", big);
    c.set("head_dim", big);
  });
  const LlamaConfig lc = LlamaConfig::from(ModelConfig::from_file(llama + "/config.json"));
  CHECK(lc.parameter_count() == Count::kMax);
  CHECK_THROWS_WITH_AS(Llama<float>::from_pretrained(llama), doctest::Contains("describes a model of 4611686018427387904 parameters"),
                       ConfigError);

  const std::string t5 = tmp.copy_checkpoint("t5-small-style");
  edit_config(t5, [&](json::Value& c) {
    for (const char* field : {"vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads"}) c.set(field, big);
  });
  CHECK(T5Config::from(ModelConfig::from_file(t5 + "/config.json")).parameter_count() == Count::kMax);
  CHECK_THROWS_WITH_AS(T5<float>::from_pretrained(t5), doctest::Contains("describes a model of 4611686018427387904 parameters"),
                       ConfigError);

  const std::string bert = tmp.copy_checkpoint("bert-classifier");
  edit_config(bert, [&](json::Value& c) {
    for (const char* field : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers"}) c.set(field, big);
    c.set("num_attention_heads", 1);
  });
  CHECK_THROWS_WITH_AS(Bert<float>::from_pretrained(bert), doctest::Contains("describes a model of 4611686018427387904 parameters"),
                       ConfigError);
}

// Seen while writing fuzz_regex (whose contract includes libFuzzer's 10 s timeout): the backtracking engine
// had no limit, so a pattern with nested choices over the same characters tried every path: `(a|a)*c`
// over forty a's is 2^40 of them — a hostile tokenizer.json Split pattern could hang a program. A match attempt
// now gives up after kMaxBacktracks (10^7, Oniguruma's default retry limit) failed paths, with a RegexError
// naming the pattern and the place; the split patterns of real tokenizers stay far below it.
TEST_CASE("fuzz regression: an exponentially backtracking pattern is refused, not run for ever") {
  using tokenizers::regex::Regex;
  using tokenizers::regex::RegexError;
  const Regex nested("(a|a)*c");
  const std::string text(40, 'a');
  std::size_t matches = 0;
  CHECK_THROWS_WITH_AS(nested.for_each_match(text, [&](std::size_t, std::size_t) { ++matches; }),
                       doctest::Contains("[regex] pattern '(a|a)*c' backed out of more than 10000000 paths in one match attempt"),
                       RegexError);
  CHECK_THROWS_AS((void)nested.match_at(text, 0), RegexError);
  // The same pattern on a text it can match, and on a short one, answers as before.
  nested.for_each_match(std::string(20, 'a') + "c", [&](std::size_t begin, std::size_t end) {
    CHECK(begin == 0);
    CHECK(end == 21);
    ++matches;
  });
  CHECK(matches == 1);
  CHECK_FALSE(nested.match_at("aaaaaaaaaa", 0).has_value());  // 2^10 paths: well inside the limit
}

// fuzz_regex in CI's bounded run (2026-12-02, libFuzzer timeout after 32 s): a 57-byte pattern ending in `'r?` and
// 26 plus signs. Each `+` repeats the group before it, the program doubles with each (14,332 instructions here, and
// 100,000 are allowed), and the compile-time analysis asked, for every split, what its branches can begin with —
// walking most of the program each time, after clearing a visited flag per instruction each time: minutes. The
// analysis now shares one scratch (no clearing) and stops after kMaxAnalysisSteps (4·10^6) visits with a
// RegexError naming the pattern; real split patterns take a few hundred.
TEST_CASE("fuzz regression: a pattern whose analysis would take minutes is refused at once, naming the pattern") {
  using tokenizers::regex::Regex;
  using tokenizers::regex::RegexError;
  const std::string found = "'s|'t|'re|'ve|'m|''s|'lt|'r?" + std::string(26, '+') + "He";
  CHECK_THROWS_WITH_AS(Regex{found}, doctest::Contains("[regex] pattern ''s|'t|'re|'ve|'m|''s|'lt|'r?+++"), RegexError);
  CHECK_THROWS_WITH_AS(Regex{found}, doctest::Contains("is too complex to compile: its analysis visited more than 4000000"),
                       RegexError);
  CHECK_THROWS_AS(Regex{"(?:(?:a?)+){9000}"}, RegexError);  // nested nullable repetitions, without the plus signs
  // Shorter nestings of the same kind, and the split patterns of real tokenizers, compile and match as before.
  const Regex shallow("'r?" + std::string(10, '+') + "He");
  CHECK(shallow.match_at("'rrHe", 0).has_value());
  const Regex o200k(tokenizers::split_pattern_regex(tokenizers::SplitPattern::o200k));
  CHECK(o200k.match_at("Hello", 0).has_value());
}

// Seen while writing fuzz_jinja, reading the arithmetic that target drives (UBSan would abort on each).
// Template integers are 64-bit, and several operations overflowed them — undefined behaviour, which UBSan reports and which in practice printed wrapped
// numbers: + - * of two integers, unary minus and |abs of -2^63, (-2^63) % -1 (a hardware trap), ** and // and
// |int casting a double past 2^63 (or NaN) to an integer, range() stepping past 2^63, a slice step of 2^63 - 1.
// @huggingface/jinja computes with JavaScript numbers, which never overflow: a result that does not fit in 64
// bits is now that double. Two more: `x.<digits>` threw std::out_of_range (not an eigenformer::Error) for an
// index past 2^63, and '' * 10**15 looped 10^15 times building nothing.
TEST_CASE("fuzz regression: template arithmetic past 64 bits gives JavaScript's double, never wraps or hangs") {
  using chat::jinja::Template;
  const auto render = [](const std::string& text) { return Template(text, "regression").render(chat::jinja::Object()); };
  // A double prints as a float does (JavaScript's digits, ".0" when integral).
  CHECK(render("{{ 9223372036854775807 + 1 }}") == "9223372036854776000.0");
  CHECK(render("{{ -9223372036854775807 - 2 }}") == "-9223372036854776000.0");
  CHECK(render("{{ 4611686018427387904 * 4 }}") == "18446744073709552000.0");
  CHECK(render("{{ 3037000499 * 3037000499 }}") == "9223372030926249001");  // fits: stays exact
  CHECK(render("{{ 2 ** 64 }}|{{ 2 ** 62 }}") == "18446744073709552000.0|4611686018427387904");
  CHECK(render("{% set m = -9223372036854775807 - 1 %}{{ m }}|{{ -m }}|{{ m | abs }}|{{ m % -1 }}") ==
        "-9223372036854775808|9223372036854776000.0|9223372036854776000.0|0");
  const std::string big = render("{{ 10.0 ** 300 }}");  // 1e300, a float
  CHECK(render("{{ (10 ** 300) // 1 }}") == big);
  CHECK(render("{{ (10.0 ** 300) | int }}") == big);
  CHECK(render("{% for i in range(9223372036854775806, 9223372036854775807, 5) %}{{ i }};{% endfor %}") == "9223372036854775806;");
  CHECK(render("{% for i in range(-9223372036854775807, -9223372036854775808, -7) %}{{ i }};{% endfor %}") ==
        "-9223372036854775807;");
  CHECK(render("{{ [1, 2, 3][1::9223372036854775807] }}|{{ [1, 2, 3][1::-9223372036854775807] }}") == "[2]|[2]");
  CHECK(render("{{ ('' * 1000000000000000) | length }}") == "0");
  CHECK_THROWS_WITH_AS(render("{{ x.99999999999999999999 }}"), doctest::Contains("does not fit in 64 bits"),
                       chat::jinja::TemplateSyntaxError);
}

// fuzz_tiktoken (out of memory: malloc(7733333328) in Vocabulary::insert). The id table is indexed by id, and a
// rank file of a few hundred bytes with one rank near 2^31 made it allocate 7.7 GB (a tokenizer.json or
// vocab.json id likewise). Ids are now bounded by kMaxTokenId = 2^24 - 1 (as a config.json's vocab_size is), and
// each loader names the file and the line or field.
TEST_CASE("fuzz regression: a token id near 2^31 is refused before the id table is sized for it") {
  using namespace eigenformer::tokenizers;
  CHECK(kMaxTokenId == 16777215);
  CHECK_THROWS_WITH_AS(parse_tiktoken("IQ== 0\nIg== 322222221\n", "big.tiktoken"),
                       "[tiktoken] big.tiktoken: line 2: the rank is not a number below 2^24", ParseError);
  CHECK_THROWS_WITH_AS(parse_tokenizer_json(R"({"model": {"type": "WordLevel", "vocab": {"a": 0, "b": 2000000000}, "unk_token": "a"}})",
                                            "big.json"),
                       doctest::Contains("must be in [0, 16777215], got 2000000000"), FormatError);
  Vocabulary v;
  CHECK_THROWS_WITH_AS(v.insert("x", 16777216), doctest::Contains("token id 16777216 is above the largest id accepted"),
                       FormatError);
  CHECK(v.id_bound() == 0);  // nothing was allocated for it
}

// Found by the 10-million-execution campaign of fuzz_tokenizer_json (2026-12-02): a 12 KB tokenizer.json whose
// normalizer Sequence held three Replaces of " " and "  " by ~4,000 characters made " the cat  sat" ~10^10 bytes
// long — the fuzzer timed out after 85 s with 906 MB in use. A Replace may now make at most 16 n + 64 KiB bytes of a
// text of n bytes (max_replaced_bytes); past that it is a ValueError, raised while the text grows.
TEST_CASE("fuzz regression: Replace normalizers that multiply the text are refused, not run out of memory") {
  using namespace eigenformer::tokenizers;
  CHECK(max_replaced_bytes(5) == 65616);
  CHECK(max_replaced_bytes(std::size_t{1} << 40) == std::size_t{1} << 26);
  const std::string spaces(1000, ' ');
  const std::string replace = R"({"type": "Replace", "pattern": {"String": " "}, "content": ")" + spaces + R"("})";
  const std::string json = R"({"normalizer": {"type": "Sequence", "normalizers": [)" + replace + ", " + replace + ", " +
                           replace + R"(]}, "model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"}})";
  const Tokenizer tok = parse_tokenizer_json(json, "replace.json");
  // 2 spaces → 2,000 → 2,000,000 bytes: the second step is refused (its limit: 16 × 2,003 + 65,536).
  CHECK_THROWS_WITH_AS(tok.encode("a a a"),
                       "[normalizer] a Replace step makes more than 97584 bytes (16 times the text plus 64 KiB) of a text "
                       "of 2003 bytes: its content repeats too often (a broken or hostile tokenizer.json?)",
                       ValueError);
  // One step of the same is fine: a text grows by what its file asks, up to the limit.
  const std::string one = R"({"normalizer": )" + replace + R"(, "model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"}})";
  CHECK_NOTHROW(parse_tokenizer_json(one, "one.json").encode("a a a"));
}

// Found by the same campaign's continuation (2026-12-02, after 891,534 more executions): five Replaces, each of which
// stayed under its own limit by growing the text ~16×, chained to a 64 MiB text that the Unigram model then took
// minutes to cut (the fuzzer timed out after 60 s with 1.2 GB in use). The normalizer as a whole, and the decoders as
// a whole, may now make at most max_replaced_bytes of their input.
TEST_CASE("fuzz regression: a chain of Replaces may not multiply the text past one limit, in normalizers and decoders") {
  using namespace eigenformer::tokenizers;
  const std::string fifteen(15, ' ');
  const std::string replace = R"({"type": "Replace", "pattern": {"String": " "}, "content": ")" + fifteen + R"("})";
  const std::string chain = "[" + replace + ", " + replace + ", " + replace + ", " + replace + "]";
  const std::string model = R"("model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1, " ": 2}, "unk_token": "[UNK]"})";
  // 1,000 spaces → 15,000 (within each step's limit and the whole's: 16 × 1,000 + 65,536 = 81,536) → 225,000: each
  // step alone would be allowed (16 × 15,000 + 65,536), the whole is not.
  const Tokenizer normalizing = parse_tokenizer_json(R"({"normalizer": {"type": "Sequence", "normalizers": )" + chain + "}, " + model + "}",
                                                     "chain.json");
  CHECK_THROWS_WITH_AS(normalizing.encode(std::string(1000, ' ')),
                       doctest::Contains("normalizer] the steps make 225000 bytes, more than 81536"), ValueError);
  // A text the whole may make stays as the file asks: 4 spaces → 60 → 900 → 13,500 → 202,500 is past 16 × 4 + 65,536
  // and refused, while two of the same Replaces (4 → 60 → 900) are fine.
  CHECK_THROWS_AS(normalizing.normalize(std::string(4, ' ')), ValueError);
  const Tokenizer two = parse_tokenizer_json(R"({"normalizer": {"type": "Sequence", "normalizers": [)" + replace + ", " + replace +
                                             "]}, " + model + "}", "two.json");
  CHECK(two.normalize(std::string(4, ' ')) == std::string(900, ' '));
  // The decoders: 1,000 tokens " " → 15,000 bytes → 225,000, refused the same way.
  const Tokenizer decoding = parse_tokenizer_json(R"({"decoder": {"type": "Sequence", "decoders": )" + chain + "}, " + model + "}",
                                                  "chain.json");
  CHECK_THROWS_WITH_AS(decoding.decode(TokenSequence(1000, 2)),
                       doctest::Contains("decoders] the steps make 225000 bytes, more than 81536"), ValueError);
  CHECK(decoding.decode(TokenSequence(1, 2)) == std::string(15 * 15 * 15 * 15, ' '));  // 50,625 ≤ 16 + 65,536
}

// fuzz_config_t5 in CI's bounded run (2026-12-02): a config.json with "2e606" in a field no family reads loaded
// (the JSON parser read the number as an infinity), and saving it then failed, because JSON cannot write an
// infinity. A file we read must save again: the parser now refuses a number past double's range where it
// starts, naming the file, line and column. Underflow ("1e-999") still reads, as 0, and saves.
TEST_CASE("fuzz regression: a number past double's range is refused on reading, not on saving") {
  TempDir tmp("fuzz-regression");
  const std::string t5 = tmp.copy_checkpoint("t5-small-style");
  const std::string original = read_text(t5 + "/config.json");
  std::string text = original;
  const std::size_t brace = text.find('{');
  REQUIRE(brace != std::string::npos);
  text.insert(brace + 1, "\n  \"unused_field\": 2e606,");
  write_text(t5 + "/config.json", text);
  CHECK_THROWS_WITH_AS(ModelConfig::from_file(t5 + "/config.json"),
                       doctest::Contains("config.json: line 2 column 19 (byte 20): number 2e606 is outside the range of a double"),
                       ParseError);
  CHECK_THROWS_AS(T5<float>::from_pretrained(t5), ParseError);

  // A tiny number is no trouble: it reads as zero and the config saves and reads back unchanged.
  write_text(t5 + "/config.json", original);
  edit_config(t5, [](json::Value& c) { c.set("unused_field", json::parse("1e-999", "literal")); });
  const T5Config config = T5Config::from(ModelConfig::from_file(t5 + "/config.json"));
  const std::string saved = json::dump(config.to_json());
  CHECK(json::dump(T5Config::from(ModelConfig(json::parse(saved, "saved"), "saved")).to_json()) == saved);
}
