// fuzz/fuzz_tiktoken.cpp — a tiktoken rank file (tokenizers/bpe.hpp: parse_tiktoken) on arbitrary bytes.
//
// Accepted ranks become a cl100k_base tokenizer (its split pattern and special tokens); encoding arbitrary
// bytes with it must succeed or throw a typed error (ranks that do not cover every byte cannot encode
// everything), and whatever it encodes must decode back to the same bytes.
#include "fuzz_common.hpp"

#include <eigenformer/tokenizers.hpp>

using namespace eigenformer;
using namespace eigenformer::tokenizers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_typed([&] {
    const Tokenizer tok = tokenizer_from_ranks(parse_tiktoken(text, "fuzz.tiktoken"), "cl100k_base");
    for (std::string_view sample : {std::string_view("Hello world!"), std::string_view(" the  cat\n"), std::string_view("\xFF\x00z", 3)}) {
      fuzz::expect_typed([&] {
        const TokenSequence ids = tok.encode_bytes(sample);
        EIGENFORMER_FUZZ_CHECK(tok.decode_bytes(ids) == sample);
      });
    }
  });
  return 0;
}
