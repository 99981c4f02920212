// examples/tokenize/tokenize_options.hpp — the command line of the tokenize program, written once: its --help, its
// parser and tests/models/test_programs.cpp (which checks that --help lists every option) all read this table.
#pragma once

#include "common/cli.hpp"

namespace eigenformer::cli {

inline Table tokenize_options() {
  Table t;
  t.program = "tokenize";
  t.usage = "tokenize --tokenizer FILE [--encoding NAME] [--allow-special] [--add-special-tokens] [--decode] < input";
  t.about = "Reads text on stdin and prints its token ids, separated by spaces (or, with --decode, reads ids and prints\n"
            "the text).";
  Section s;
  s.options = {
      {"--tokenizer", "FILE", "a tokenizer.json, a tiktoken rank file (needs --encoding), a BERT vocab.txt, a GPT-2\n"
                              "vocab.json (merges.txt beside it), or a checkpoint folder"},
      {"--encoding", "NAME", "the rules of a tiktoken rank file: gpt2, r50k_base, p50k_base, cl100k_base, o200k_base\n"
                             "or llama3"},
      {"--allow-special", "", "special tokens written in the text (<|endoftext|>, [MASK]) become their ids;\n"
                              "without it they are refused"},
      {"--add-special-tokens", "", "wrap the ids as the model expects ([CLS] ... [SEP], <|begin_of_text|> ...)"},
      {"--decode", "", "read token ids (separated by whitespace) and print their text"},
      {"--help", "", "this text"}};
  t.sections.push_back(s);
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

}  // namespace eigenformer::cli
