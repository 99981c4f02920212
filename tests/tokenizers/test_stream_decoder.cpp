// stream_decoder.hpp: text appears as soon as characters are complete, never broken, and the
// concatenation of the pieces equals decode() of all ids.
#include <doctest/doctest.h>

#include "eigenformer/tokenizers.hpp"
#include "references.hpp"

using namespace eigenformer;
using namespace eigenformer::tokenizers;
using tokenizer_tests::reference_dir;

namespace {
void check_stream(const Tokenizer& tok, const std::string& text) {
  const TokenSequence ids = tok.encode(text, EncodeOptions{}.as_text());
  StreamDecoder stream(tok);
  std::string streamed;
  for (TokenId id : ids) {
    const std::string piece = stream.push(id);
    CHECK(find_invalid_utf8(piece) == std::string_view::npos);
    CHECK(piece.find("\xEF\xBF\xBD") == std::string::npos);  // never a replacement for a split character
    streamed += piece;
  }
  streamed += stream.flush();
  CHECK(streamed == tok.decode(ids));
}
}  // namespace

TEST_CASE("stream decoder: byte-level BPE holds back half characters") {
  BpeTrainerOptions o;
  o.vocab_size = 256;  // bytes only: every multi-byte character arrives in pieces
  const Tokenizer tok = train_bpe("x", o).tokenizer();
  const TokenSequence ids = tok.encode("\xC3\xA9");  // é as two byte tokens
  REQUIRE(ids.size() == 2);
  StreamDecoder stream(tok);
  CHECK(stream.push(ids[0]).empty());
  CHECK(stream.push(ids[1]) == "\xC3\xA9");
  CHECK(stream.flush().empty());
  CHECK(stream.push(ids[0]).empty());
  CHECK(stream.flush() == "\xEF\xBF\xBD");  // the stream ended inside a character
  check_stream(tok, "na\xC3\xAFve \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87 done");
}

TEST_CASE("stream decoder: WordPiece and Unigram spacing matches decode()") {
  REQUIRE_REFERENCES();
  for (const char* dir : {"bert-uncased", "t5", "t5-bytefallback", "llama3"}) {
    const Tokenizer tok = load_tokenizer(reference_dir() + "/" + dir + "/tokenizer.json");
    check_stream(tok, "The quick brown fox, naïve café — 深度学习 😀 it's done.");
  }
}
