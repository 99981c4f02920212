// fuzz/fuzz_vocab_txt.cpp — BERT's vocab.txt (tokenizers/load.hpp: load_vocab_txt) on arbitrary bytes.
//
// A vocabulary that loads must tokenize fixed texts into ids inside it (or name what it lacks, e.g. no [UNK]).
#include "fuzz_common.hpp"

#include <eigenformer/tokenizers.hpp>

using namespace eigenformer;
using namespace eigenformer::tokenizers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("vocab.txt", std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::expect_typed([&] {
    const Tokenizer tok = load_vocab_txt(path);
    for (const char* sample : {"Hello, world!", "unaffable caf\xC3\xA9 \xE4\xBD\xA0", "[CLS] [MASK] ##ing", ""}) {
      fuzz::expect_typed([&] {
        const TokenSequence ids = tok.encode(sample);
        for (TokenId id : ids) EIGENFORMER_FUZZ_CHECK(id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size());
        (void)tok.decode(ids);
      });
    }
  });
  return 0;
}
