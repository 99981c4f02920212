// fuzz/fuzz_encode.cpp — encoding and decoding arbitrary bytes with a fixed tokenizer of one model kind.
// Compiled three times, with EIGENFORMER_FUZZ_MODEL 1 (byte-level BPE), 2 (WordPiece) or 3 (Unigram).
//
// Each input is used twice:
//   1) as text: encode() must give ids inside the vocabulary, or InvalidUtf8Error for bytes that are not
//      UTF-8 (byte-level BPE reads any bytes through encode_bytes(), and decode_bytes() must give them back
//      exactly: the byte-level round trip);
//   2) as a list of little-endian int32 token ids: decode() must give text or a ValueError naming an id
//      outside the vocabulary (negative ids included).
#include "fuzz_common.hpp"

#include <eigenformer/tokenizers.hpp>

#include <cstring>
#include <memory>

using namespace eigenformer;
using namespace eigenformer::tokenizers;

namespace {

#if EIGENFORMER_FUZZ_MODEL == 1
// Byte-level BPE with tiktoken's rank rule: the 256 bytes, then a few merged tokens (some multi-byte UTF-8),
// with cl100k_base's split pattern and special tokens. The ranks are ours, made up for the fuzzer.
Tokenizer make_tokenizer() {
  std::vector<std::pair<std::string, TokenId>> ranks;
  for (int b = 0; b < 256; ++b) ranks.emplace_back(std::string(1, static_cast<char>(b)), static_cast<TokenId>(b));
  for (const char* token : {"th", "he", "in", "er", "an", " t", " a", "the", " the", "ing", " c", "at", " cat", "\xC3\xA9",
                            "\xE4\xBD\xA0", "\xE4\xBD", "  ", "\n\n", "12", "123"}) {
    ranks.emplace_back(token, static_cast<TokenId>(ranks.size()));
  }
  return tokenizer_from_ranks(BytePairEncoding::from_ranks(ranks, "fuzz ranks"), "cl100k_base");
}
#elif EIGENFORMER_FUZZ_MODEL == 2
// The repository's tiny WordPiece tokenizer.json (BERT's normalizer, pre-tokenizer and template).
Tokenizer make_tokenizer() { return load_tokenizer_json(EIGENFORMER_SOURCE_DIR "/tests/tokenizers/tiny_wordpiece.json"); }
#elif EIGENFORMER_FUZZ_MODEL == 3
// A Unigram tokenizer.json in the Llama 2 / T5 style: Metaspace, byte fallback (<0x00>..<0xFF>), a few pieces.
Tokenizer make_tokenizer() {
  std::string vocab = "[[\"<unk>\", 0.0], [\"<s>\", 0.0], [\"</s>\", 0.0]";
  for (int b = 0; b < 256; ++b) {
    char piece[16];
    std::snprintf(piece, sizeof piece, "<0x%02X>", b);
    vocab += std::string(", [\"") + piece + "\", 0.0]";
  }
  const char* pieces[] = {"\xE2\x96\x81", "\xE2\x96\x81" "the", "\xE2\x96\x81" "cat", "a", "b", "c", "t", "h", "e", "s",
                          "\xE2\x96\x81s", "at", "\xC3\xA9", "\xE4\xBD\xA0"};
  double score = -1.0;
  for (const char* p : pieces) {
    vocab += std::string(", [\"") + p + "\", " + std::to_string(score) + "]";
    score -= 0.5;
  }
  vocab += "]";
  const std::string json =
      "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true}, {\"id\": 1, \"content\": \"<s>\", \"special\": true},"
      " {\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
      " \"normalizer\": null,"
      " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"first\", \"split\": false},"
      " \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\xE2\x96\x81\"}, \"content\": \" \"},"
      " {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]},"
      " \"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"byte_fallback\": true, \"vocab\": " + vocab + "}}";
  return parse_tokenizer_json(json, "fuzz unigram tokenizer.json");
}
#else
#error "define EIGENFORMER_FUZZ_MODEL as 1 (BPE), 2 (WordPiece) or 3 (Unigram)"
#endif

const Tokenizer& tokenizer() {
  static const Tokenizer tok = make_tokenizer();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Tokenizer& tok = tokenizer();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // 1) The input as text.
  const bool utf8 = find_invalid_utf8(bytes) == std::string_view::npos;
  bool encoded = false;
  fuzz::expect_typed([&] {
    const TokenSequence ids = tok.encode(bytes);
    encoded = true;
    for (TokenId id : ids) EIGENFORMER_FUZZ_CHECK(id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size());
    (void)tok.decode(ids);
  });
  // Valid UTF-8 without special-token text always encodes; invalid UTF-8 never does (InvalidUtf8Error).
  if (!utf8) EIGENFORMER_FUZZ_CHECK(!encoded);
  if (tok.model().byte_level()) {
    // Any bytes encode (only special-token text is refused, with a SpecialTokenError), and come back exactly.
    fuzz::expect_typed([&] {
      const TokenSequence ids = tok.encode_bytes(bytes);
      EIGENFORMER_FUZZ_CHECK(tok.decode_bytes(ids) == bytes);
    });
  }
  // 2) The input as token ids.
  TokenSequence ids(size / 4);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::int32_t id;
    std::memcpy(&id, data + 4 * i, 4);
    ids[i] = id;
  }
  bool decoded = false;
  fuzz::expect_typed([&] {
    (void)tok.decode(ids);
    decoded = true;
  });
  bool all_known = true;
  for (TokenId id : ids) all_known = all_known && tok.id_to_token(id).has_value();
  EIGENFORMER_FUZZ_CHECK(decoded == all_known);  // a decode fails exactly when an id has no spelling
  return 0;
}
