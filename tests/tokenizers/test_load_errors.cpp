// Bad files and bad calls give typed errors that name the culprit.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "eigenformer/tokenizers.hpp"

using namespace eigenformer;
using namespace eigenformer::tokenizers;

namespace {
std::string write_temp(const std::string& name, const std::string& content) {
  const auto dir = std::filesystem::temp_directory_path() / "eigenformer_tokenizer_tests";
  std::filesystem::create_directories(dir);
  const auto path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("load errors: tiktoken rank files") {
  CHECK_THROWS_AS(parse_tiktoken("IQ== 0\nnot-base64! 1\n", "bad.tiktoken"), ParseError);
  const std::string msg = error_of([] { parse_tiktoken("IQ== 0\nIg== x\n", "bad.tiktoken"); });
  CHECK(msg.find("bad.tiktoken: line 2") != std::string::npos);
  CHECK_THROWS_AS(parse_tiktoken("IQ== 0\nIQ== 1\n", "dup.tiktoken"), FormatError);
  CHECK_THROWS_AS(parse_tiktoken("IQ== 99999999999\n", "big.tiktoken"), ParseError);
  CHECK_THROWS_AS(parse_tiktoken("", "empty.tiktoken"), FormatError);
  // A real-looking file missing most bytes cannot be a byte-level vocabulary.
  CHECK_THROWS_AS(parse_tiktoken("IQ== 0\n", "partial.tiktoken"), FormatError);
}

TEST_CASE("load errors: vocab.txt, merges, missing files") {
  CHECK_THROWS_AS(parse_vocab_txt("[UNK]\na\na\n", "vocab.txt"), ParseError);
  CHECK(error_of([] { parse_vocab_txt("[UNK]\na\na\n", "vocab.txt"); }).find("line 3") != std::string::npos);
  CHECK_THROWS_AS(parse_vocab_txt("ok\n\xFF\n", "vocab.txt"), ParseError);
  CHECK_THROWS_AS(parse_merges_txt("#version: 0.2\na b c\n", "merges.txt"), ParseError);
  CHECK_THROWS_AS(load_tokenizer("/nonexistent/tokenizer.json"), FileError);
  CHECK_THROWS_AS(load_tokenizer(write_temp("ranks.tiktoken", "IQ== 0\n")), ValueError);  // no encoding named
  CHECK_THROWS_AS(tokenizer_from_ranks(BytePairEncoding(), "not_an_encoding"), ValueError);
}

TEST_CASE("load errors: tokenizer.json") {
  const std::string wordpiece =
      R"({"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}, )";
  CHECK_NOTHROW(parse_tokenizer_json(wordpiece + R"("normalizer": null})", "ok.json"));
  CHECK_THROWS_AS(parse_tokenizer_json(R"({"model": )", "truncated.json"), ParseError);
  CHECK_THROWS_AS(parse_tokenizer_json(wordpiece + R"("normalizer": {"type": "Nonsense"}})", "t.json"), ConfigError);
  // A regex the engine (regex.hpp) does not implement: refused with the JSON path and the place in it.
  CHECK_THROWS_AS(parse_tokenizer_json(wordpiece + R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated"}})", "t.json"),
                  ConfigError);
  const std::string regex_msg = error_of([&] {
    parse_tokenizer_json(wordpiece + R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{Han}"}, "behavior": "Isolated"}]}})", "r.json");
  });
  CHECK(regex_msg.find("pre_tokenizer.pretokenizers[0].pattern.Regex") != std::string::npos);
  CHECK(regex_msg.find("Han") != std::string::npos);
  CHECK_THROWS_AS(parse_tokenizer_json(wordpiece + R"("pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}})", "t.json"),
                  FormatError);
  CHECK_THROWS_AS(parse_tokenizer_json(wordpiece + R"("decoder": {"type": "CTC"}})", "t.json"), ConfigError);
  CHECK_THROWS_AS(parse_tokenizer_json(R"({"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"a": 0}}})", "t.json"),
                  FormatError);  // unk token missing
  CHECK_THROWS_AS(parse_tokenizer_json(R"({"model": {"type": "Unigram", "unk_id": 5, "vocab": [["a", -1.0]]}})", "t.json"),
                  FormatError);
  CHECK_THROWS_AS(parse_tokenizer_json(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}})", "t.json"),
                  FormatError);
  CHECK_THROWS_AS(parse_tokenizer_json(R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": -3}}})", "t.json"), FormatError);
  const std::string msg = error_of([] { parse_tokenizer_json(R"({"model": {"type": "Unigram", "vocab": [["a"]]}})", "named.json"); });
  CHECK(msg.find("named.json") != std::string::npos);
  CHECK(msg.find("model.vocab[0]") != std::string::npos);
}

TEST_CASE("load errors: a precompiled charsmap whose size lies") {
  CHECK_THROWS_AS(PrecompiledCharsmap(std::string("\xFF\xFF\x00\x00", 4), "charsmap"), FormatError);
  CHECK_THROWS_AS(PrecompiledCharsmap("ab", "charsmap"), FormatError);
  // A trie that points outside itself is not read out of bounds.
  std::string blob("\x04\x00\x00\x00", 4);
  blob += std::string("\x00\xFC\xFF\xFF", 4);  // root offset far away
  const PrecompiledCharsmap map(blob, "charsmap");
  CHECK(map.normalize("abc") == "abc");
}

TEST_CASE("bad calls: decode of an unknown id, encode_bytes on a text model") {
  const std::string json = R"({"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}})";
  const Tokenizer tok = parse_tokenizer_json(json, "t.json");
  CHECK_THROWS_AS(tok.decode({7}), ValueError);
  CHECK_THROWS_AS(tok.decode({-1}), ValueError);
  CHECK_THROWS_AS(tok.encode_bytes("a"), ValueError);
  CHECK_THROWS_AS(tok.encode("bad \xC3"), InvalidUtf8Error);
}
