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
// The options and what they mean: train_bpe --help (the table in train_bpe/train_bpe_options.hpp).
// The saved rank file loads with: tokenize --tokenizer my.tiktoken --encoding cl100k_base
#include <eigenformer/core/atomic_file.hpp>
#include <eigenformer/tokenizers.hpp>

#include "train_bpe/train_bpe_options.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace tk = eigenformer::tokenizers;
namespace cli = eigenformer::cli;

namespace {

constexpr std::int64_t kMaxVocabulary = 10000000;  // far more merges than a corpus that fits in memory allows

const char* const kCorpus =
    "The cat sat on the mat. The cat saw the dog. The dog sat on the log. "
    "Then the cat and the dog sat together on the mat, and the other cats watched them. "
    "There is nothing the cat likes better than the sun on the mat; the dog thinks otherwise. "
    "Attention is all you need, they say: the model attends to the tokens that matter.";

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

}  // namespace

int main(int argc, char** argv) {
  const cli::Table table = cli::train_bpe_options();
  return cli::run("train_bpe", [&] {
    const cli::Arguments args(argc, argv, table);
    if (args.has("--help")) return cli::print_help(table);
    std::string corpus = kCorpus;
    if (args.has("--corpus")) {
      const std::string& file = args.value("--corpus");
      std::ifstream in(file, std::ios::binary);
      if (!in) throw eigenformer::FileError("[train_bpe] cannot open the corpus '" + file + "'");
      std::ostringstream s;
      s << in.rdbuf();
      corpus = s.str();
    }
    tk::BpeTrainerOptions options;
    options.vocab_size = static_cast<std::size_t>(args.integer_or("--vocab-size", 256, kMaxVocabulary, 296));
    options.pattern = tk::SplitPattern::gpt2;
    if (args.has("--pattern")) {
      const std::string& value = args.value("--pattern");
      if (value == "gpt2") options.pattern = tk::SplitPattern::gpt2;
      else if (value == "cl100k") options.pattern = tk::SplitPattern::cl100k;
      else if (value == "o200k") options.pattern = tk::SplitPattern::o200k;
      else if (value == "llama3") options.pattern = tk::SplitPattern::llama3;
      else throw cli::UsageError("--pattern must be gpt2, cl100k, o200k or llama3, got '" + value + "'");
    }
    if (args.has("--special")) options.special_tokens.push_back(args.value("--special"));
    const std::int64_t show_limit = args.integer_or("--show", 0, kMaxVocabulary, -1);  // -1: all
    std::string text = args.has("--text") ? args.value("--text") : "";
    const std::string save = args.has("--save") ? args.value("--save") : "";
    if (text.empty()) text = corpus.substr(0, corpus.find('.') + 1);

    // 1) Train, printing each merge as it happens.
    std::printf("corpus: %zu bytes; pattern %s; learning up to %zu tokens (256 bytes + merges)\n\n", corpus.size(),
                std::string(tk::split_pattern_regex(options.pattern)).c_str(), options.vocab_size);
    options.on_merge = [&](const tk::LearnedMerge& m) {
      if (show_limit >= 0 && static_cast<std::int64_t>(m.index) >= show_limit) return;
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
  });
}
