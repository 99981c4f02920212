// tools/tokenizers/split_driver.cpp — one split of the benchmark text, for counting instructions.
//
// Usage: split_driver {gpt2|cl100k|o200k} {handwritten|regex}
// The text is bench/bench_tokenizers.cpp's: tests/tokenizers/corpus.json joined by newlines and repeated to
// at least 1 MiB. The split runs once inside count_split() (not inlined), so callgrind can count it alone:
//   valgrind --tool=callgrind --toggle-collect='*count_split*' split_driver cl100k regex
// tools/tokenizers/count_split_instructions.sh builds this file and prints the table of docs/tokenizers.md.
// Prints the number of pieces and a checksum of their boundaries: the two splitters must agree.
#include <cstdio>
#include <cstring>
#include <string>

#include "eigenformer/core/json.hpp"
#include "eigenformer/tokenizers/pretokenize.hpp"
#include "eigenformer/tokenizers/regex.hpp"

namespace tk = eigenformer::tokenizers;

struct Count {
  std::size_t pieces = 0;
  std::size_t checksum = 0;
};

__attribute__((noinline)) Count count_split(const std::string& text, tk::SplitPattern pattern, bool handwritten,
                                            const tk::regex::Regex& re) {
  Count c;
  if (handwritten) {
    tk::split_pieces(text, pattern, [&](std::string_view piece) {
      ++c.pieces;
      c.checksum = c.checksum * 31 + static_cast<std::size_t>(piece.data() - text.data()) + piece.size();
    });
  } else {
    re.for_each_match(text, [&](std::size_t /*begin*/, std::size_t end) {
      ++c.pieces;
      c.checksum = c.checksum * 31 + end;
    });
  }
  return c;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: split_driver {gpt2|cl100k|o200k} {handwritten|regex}\n");
    return 2;
  }
  const std::string name = argv[1];
  const tk::SplitPattern pattern = name == "gpt2" ? tk::SplitPattern::gpt2 : name == "o200k" ? tk::SplitPattern::o200k
                                                                                             : tk::SplitPattern::cl100k;
  const bool handwritten = std::strcmp(argv[2], "handwritten") == 0;
  const eigenformer::json::Value corpus = eigenformer::json::parse_file(EIGENFORMER_SOURCE_DIR "/tests/tokenizers/corpus.json");
  std::string joined;
  for (const eigenformer::json::Value& s : corpus.as_array()) joined += s.as_string() + "\n";
  std::string text;
  while (text.size() < (1u << 20)) text += joined;
  const tk::regex::Regex re(tk::split_pattern_regex(pattern));
  const Count c = count_split(text, pattern, handwritten, re);
  std::printf("%s %s: %zu bytes, %zu pieces, checksum %zu\n", name.c_str(), argv[2], text.size(), c.pieces, c.checksum);
  return 0;
}
