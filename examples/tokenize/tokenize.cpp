// examples/tokenize/tokenize.cpp — text in, token ids out (and back): what a model actually sees.
//
// Teaches: a tokenizer is a file (a vocabulary and its rules) plus an algorithm; the same text becomes
// different ids under GPT-2, GPT-4 (cl100k_base), GPT-4o (o200k_base), Llama 3, BERT or T5; special
// tokens such as <|endoftext|> are refused unless you allow them.
//
// Run (after building; vocab files come from tools/tokenizers/fetch_references.js or a checkpoint):
//   echo "Hello world" | tokenize --tokenizer path/to/tokenizer.json
//   echo "Hello world" | tokenize --tokenizer cl100k_base.tiktoken --encoding cl100k_base
//   echo "9906 1917"  | tokenize --tokenizer cl100k_base.tiktoken --encoding cl100k_base --decode
//   echo "a<|endoftext|>" | tokenize --tokenizer checkpoints/gpt2 --allow-special
// FILE may be a tokenizer.json, a tiktoken rank file (needs --encoding gpt2|r50k_base|p50k_base|
// cl100k_base|o200k_base|llama3), a BERT vocab.txt, a GPT-2 vocab.json (merges.txt beside it), or a
// checkpoint folder. Options: --add-special-tokens wraps the ids as the model expects ([CLS] ... [SEP]).
// Chat templates: tokenize --template tokenizer_config.json --messages chat.json (see template_command.hpp).
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "eigenformer/tokenizers.hpp"
#include "template_command.hpp"

namespace tk = eigenformer::tokenizers;

static int usage(const char* why) {
  std::cerr << "tokenize: " << why << "\n"
            << "usage: tokenize --tokenizer FILE [--encoding NAME] [--allow-special] [--add-special-tokens] [--decode] < input\n";
  return 2;
}

int main(int argc, char** argv) {
  if (int rc = 0; tokenize_example::run_template_command(argc, argv, rc)) return rc;
  std::string file;
  tk::LoadOptions load;
  tk::EncodeOptions encode;
  bool decode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--tokenizer" && i + 1 < argc) {
      file = argv[++i];
    } else if (arg == "--encoding" && i + 1 < argc) {
      load.encoding = argv[++i];
    } else if (arg == "--allow-special") {
      encode.allow_all();
    } else if (arg == "--add-special-tokens") {
      encode.with_special_tokens();
    } else if (arg == "--decode") {
      decode = true;
    } else {
      return usage(("unknown argument '" + arg + "'").c_str());
    }
  }
  if (file.empty()) return usage("--tokenizer FILE is required");

  try {
    const tk::Tokenizer tokenizer = tk::load_tokenizer(file, load);
    const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (decode) {
      // Ids separated by whitespace -> text.
      eigenformer::TokenSequence ids;
      std::istringstream in(input);
      std::string word;
      while (in >> word) {
        std::size_t used = 0;
        long long id = -1;
        try {
          id = std::stoll(word, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != word.size() || id < 0 || id > 0x7FFFFFFF) {
          std::cerr << "tokenize: '" << word << "' is not a token id\n";
          return 1;
        }
        ids.push_back(static_cast<eigenformer::TokenId>(id));
      }
      std::cout << tokenizer.decode(ids);
      return 0;
    }
    const eigenformer::TokenSequence ids = tokenizer.encode(input, encode);
    for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  } catch (const eigenformer::Error& e) {
    std::cerr << "tokenize: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
