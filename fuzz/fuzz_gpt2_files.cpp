// fuzz/fuzz_gpt2_files.cpp — GPT-2's vocab.json + merges.txt (tokenizers/load.hpp: load_gpt2_tokenizer).
//
// The input is cut at its first NUL byte: before it is vocab.json, after it merges.txt (both written to a
// scratch folder). The pair must load or be refused with a typed error; a loaded tokenizer encodes fixed texts
// to ids inside its vocabulary, or says why it cannot.
#include "fuzz_common.hpp"

#include <eigenformer/tokenizers.hpp>

using namespace eigenformer;
using namespace eigenformer::tokenizers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [vocab, merges] = fuzz::split_input(std::string_view(reinterpret_cast<const char*>(data), size), std::string_view("\0", 1));
  const std::string vocab_path = fuzz::write_scratch("vocab.json", vocab);
  const std::string merges_path = fuzz::write_scratch("merges.txt", merges);
  fuzz::expect_typed([&] {
    const Tokenizer tok = load_gpt2_tokenizer(vocab_path, merges_path);
    for (const char* sample : {"Hello world!", " the cat sat", "<|endoftext|>"}) {
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
