// train_bpe — watch a byte-pair-encoding vocabulary grow, merge by merge.
//
// What it teaches: a BPE tokenizer is *learned*. Start from the 256 bytes; count every adjacent pair of tokens
// in the corpus; merge the most frequent pair into a new token; repeat (Sennrich et al. 2016, on bytes as
// GPT-2 does). Frequent words become single tokens, rare ones stay in pieces — which is why "the" is one
// token and "Eigenformer" is several. The split pattern cuts the corpus into pieces first, so that no merge
// ever crosses a word boundary. include/eigenformer/tokenizers/bpe_trainer.hpp is the algorithm.
//
// Run:
//     ./build/release/examples/train_bpe/train_bpe                       # a built-in corpus, 40 merges
//     ./build/release/examples/train_bpe/train_bpe --corpus book.txt --vocab-size 1000 --pattern cl100k
//         --special "<|endoftext|>" --save my.tiktoken --show 20       (one command line)
// The saved rank file loads with: tokenize --tokenizer my.tiktoken --encoding cl100k_base
#include <eigenformer/core/atomic_file.hpp>
#include <eigenformer/tokenizers.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace tk = eigenformer::tokenizers;

namespace {

const char* const kCorpus =
    "The cat sat on the mat. The cat saw the dog. The dog sat on the log. "
    "Then the cat and the dog sat together on the mat, and the other cats watched them. "
    "There is nothing the cat likes better than the sun on the mat; the dog thinks otherwise. "
    "Attention is all you need, they say: the model attends to the tokens that matter.";

const char* const kUsage =
    "usage: train_bpe [--corpus FILE] [--vocab-size N] [--pattern gpt2|cl100k|o200k|llama3] [--special TEXT]\n"
    "                 [--show N] [--text TEXT] [--save FILE]\n"
    "  --corpus FILE     UTF-8 text to learn from (default: a few built-in sentences)\n"
    "  --vocab-size N    learned tokens, the 256 bytes included (default 296: 40 merges)\n"
    "  --pattern P       the split pattern that cuts the corpus into pieces first (default gpt2)\n"
    "  --special TEXT    a special token, added after the learned ones (e.g. \"<|endoftext|>\")\n"
    "  --show N          print only the first N merges (default: all)\n"
    "  --text TEXT       a sentence to encode with the result (default: the corpus's first sentence)\n"
    "  --save FILE       write the vocabulary as a tiktoken rank file (base64 bytes and rank per line)\n";

// A token's bytes, printable: spaces as '·', other control bytes as \xNN.
std::string show(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == ' ') {
      out += "\xC2\xB7";  // ·
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "train_bpe: error: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus = kCorpus, text, save;
  tk::BpeTrainerOptions options;
  options.vocab_size = 296;
  options.pattern = tk::SplitPattern::gpt2;
  long show_limit = -1;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      }
      if (i + 1 >= argc) return fail(arg + " needs a value (see --help)", 2);
      const std::string value = argv[++i];
      if (arg == "--corpus") {
        std::ifstream in(value, std::ios::binary);
        if (!in) return fail("cannot open '" + value + "'", 1);
        std::ostringstream s;
        s << in.rdbuf();
        corpus = s.str();
      } else if (arg == "--vocab-size") {
        options.vocab_size = static_cast<std::size_t>(std::stoul(value));
      } else if (arg == "--pattern") {
        if (value == "gpt2") options.pattern = tk::SplitPattern::gpt2;
        else if (value == "cl100k") options.pattern = tk::SplitPattern::cl100k;
        else if (value == "o200k") options.pattern = tk::SplitPattern::o200k;
        else if (value == "llama3") options.pattern = tk::SplitPattern::llama3;
        else return fail("--pattern must be gpt2, cl100k, o200k or llama3, got '" + value + "'", 2);
      } else if (arg == "--special") {
        options.special_tokens.push_back(value);
      } else if (arg == "--show") {
        show_limit = std::stol(value);
      } else if (arg == "--text") {
        text = value;
      } else if (arg == "--save") {
        save = value;
      } else {
        return fail("unknown argument '" + arg + "' (see --help)", 2);
      }
    }
    if (text.empty()) text = corpus.substr(0, corpus.find('.') + 1);

    // 1) Train, printing each merge as it happens.
    std::printf("corpus: %zu bytes; pattern %s; learning up to %zu tokens (256 bytes + merges)\n\n", corpus.size(),
                std::string(tk::split_pattern_regex(options.pattern)).c_str(), options.vocab_size);
    options.on_merge = [&](const tk::LearnedMerge& m) {
      if (show_limit >= 0 && static_cast<long>(m.index) >= show_limit) return;
      std::printf("merge %3zu: token %3d + token %3d -> token %3d  '%s'  (pair seen %zu times)\n", m.index, m.left, m.right,
                  m.result, show(m.bytes).c_str(), m.count);
    };
    const tk::TrainedBpe trained = tk::train_bpe(corpus, options);
    const tk::Tokenizer tokenizer = trained.tokenizer();

    // 2) Use it: the same sentence, before (bytes) and after (learned tokens).
    const eigenformer::TokenSequence ids = tokenizer.encode(text);
    std::printf("\n\"%s\"\n  %zu bytes -> %zu tokens:", text.c_str(), text.size(), ids.size());
    for (eigenformer::TokenId id : ids) std::printf(" [%s]", show(tokenizer.decode_bytes({id})).c_str());
    std::printf("\n  ids:");
    for (eigenformer::TokenId id : ids) std::printf(" %d", id);
    std::printf("\n  decoded back: \"%s\"\n", tokenizer.decode(ids).c_str());

    // 3) Save it as a tiktoken rank file (atomically).
    if (!save.empty()) {
      eigenformer::write_file_atomically(save, trained.model.to_tiktoken(), "[train_bpe]");
      std::printf("saved %zu tokens to %s\n", tokenizer.vocab_size(), save.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
