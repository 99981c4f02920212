// fuzz/fuzz_tokenizer_json.cpp — tokenizer.json (tokenizers/load.hpp: parse_tokenizer_json) on arbitrary bytes.
//
// A file the loader accepts must then work: encoding a few fixed texts gives ids the tokenizer can decode
// (or a typed error for ids a broken vocabulary cannot spell), and every id is inside vocab_size().
#include "fuzz_common.hpp"

#include <eigenformer/tokenizers.hpp>

using namespace eigenformer;
using namespace eigenformer::tokenizers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_typed([&] {
    const Tokenizer tok = parse_tokenizer_json(text, "tokenizer.json");
    for (const char* sample : {"Hello world!", " the cat  sat\n\t", "caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD 123", "[CLS] <s> </s>", ""}) {
      fuzz::expect_typed([&] {
        EncodeOptions options;
        options.allow_all_special = true;
        const TokenSequence ids = tok.encode(sample, options);
        for (TokenId id : ids) EIGENFORMER_FUZZ_CHECK(id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size());
        (void)tok.decode(ids);
      });
    }
  });
  return 0;
}
