// examples/tokenize/tokenize.cpp — text in, token ids out (and back): what a model actually sees.
//
// Teaches: a tokenizer is a file (a vocabulary and its rules) plus an algorithm; the same text becomes
// different ids under GPT-2, GPT-4 (cl100k_base), GPT-4o (o200k_base), Llama 3, BERT or T5; special
// tokens such as <|endoftext|> are refused unless you allow them.
//
// Run (after building). The tiktoken rank files come from the npm tiktoken package: node
// tools/tokenizers/fetch_references.js writes them into tests/fixtures/downloaded/tokenizers/; a checkpoint
// folder brings its own tokenizer.json; tests/tokenizers/tiny_wordpiece.json is committed.
//   echo "Hello world" | tokenize --tokenizer path/to/tokenizer.json
//   echo "Hello world" | tokenize --tokenizer cl100k_base.tiktoken --encoding cl100k_base
//   echo "9906 1917"  | tokenize --tokenizer cl100k_base.tiktoken --encoding cl100k_base --decode
//   echo "a<|endoftext|>" | tokenize --tokenizer checkpoints/gpt2 --allow-special
// The options and what they mean: tokenize --help (the table in tokenize/tokenize_options.hpp).
// Chat templates: tokenize --template tokenizer_config.json --messages chat.json (see template_command.hpp).
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>

#include "eigenformer/tokenizers.hpp"
#include "tokenize/template_command.hpp"
#include "tokenize/tokenize_options.hpp"

namespace tk = eigenformer::tokenizers;
namespace cli = eigenformer::cli;

int main(int argc, char** argv) {
  // Chat templates have their own command line (template_command.hpp): tokenize --template ... --messages ...
  if (int rc = 0; tokenize_example::run_template_command(argc, argv, rc)) return rc;
  const cli::Table table = cli::tokenize_options();
  return cli::run("tokenize", [&] {
    const cli::Arguments args(argc, argv, table);
    if (args.has("--help")) return cli::print_help(table);
    if (args.any_in(cli::kChatTemplateHeading)) throw cli::UsageError("the chat-template options go with --template");
    tk::LoadOptions load;
    if (args.has("--encoding")) load.encoding = args.value("--encoding");
    const tk::Tokenizer tokenizer = tk::load_tokenizer(args.value("--tokenizer"), load);
    const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (args.has("--decode")) {
      // Ids separated by whitespace -> text.
      eigenformer::TokenSequence ids;
      std::istringstream in(input);
      std::string word;
      while (in >> word) {
        try {
          ids.push_back(static_cast<eigenformer::TokenId>(
              cli::parse_integer(word, "--decode: a token id", 0, std::numeric_limits<eigenformer::TokenId>::max())));
        } catch (const cli::UsageError& e) {  // bad input, not a bad command line: exit code 1
          throw eigenformer::ValueError(e.what());
        }
      }
      std::cout << tokenizer.decode(ids);
      return 0;
    }
    tk::EncodeOptions encode;
    if (args.has("--allow-special")) encode.allow_all();
    if (args.has("--add-special-tokens")) encode.with_special_tokens();
    const eigenformer::TokenSequence ids = tokenizer.encode(input, encode);
    for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
    return 0;
  });
}
