// examples/train_bpe/train_bpe_options.hpp — the command line of the train_bpe program, written once: its --help, its
// parser and tests/models/test_programs.cpp (which checks that --help lists every option) all read this table.
#pragma once

#include "common/cli.hpp"

namespace eigenformer::cli {

inline Table train_bpe_options() {
  Table t;
  t.program = "train_bpe";
  t.usage = "train_bpe [--corpus FILE] [--vocab-size N] [--pattern gpt2|cl100k|o200k|llama3] [--special TEXT]\n"
            "                 [--show N] [--text TEXT] [--save FILE]";
  t.about = "Learns a byte-level BPE vocabulary from a corpus, printing each merge, then encodes a sentence with it.";
  Section s;
  s.options = {
      {"--corpus", "FILE", "UTF-8 text to learn from (default: a few built-in sentences)"},
      {"--vocab-size", "N", "learned tokens, the 256 bytes included (default 296: 40 merges)"},
      {"--pattern", "P", "the split pattern that cuts the corpus into pieces first: gpt2 (default), cl100k,\n"
                         "o200k or llama3"},
      {"--special", "TEXT", "a special token, added after the learned ones (e.g. \"<|endoftext|>\")"},
      {"--show", "N", "print only the first N merges (default: all)"},
      {"--text", "TEXT", "a sentence to encode with the result (default: the corpus's first sentence)"},
      {"--save", "FILE", "write the vocabulary as a tiktoken rank file (base64 bytes and rank per line)"},
      {"--help", "", "this text"}};
  t.sections.push_back(s);
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

}  // namespace eigenformer::cli
