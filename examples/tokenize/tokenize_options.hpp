// examples/tokenize/tokenize_options.hpp — the command line of the tokenize program, written once: its --help, its
// parser and tests/models/test_programs.cpp (which checks that --help lists every option) all read this table.
#pragma once

#include "common/cli.hpp"

namespace eigenformer::cli {

inline const char* const kChatTemplateHeading = "Chat templates (with --template; --tokenizer FILE also prints the ids):";

inline Table tokenize_options() {
  Table t;
  t.program = "tokenize";
  t.usage = "tokenize --tokenizer FILE [--encoding NAME] [--allow-special] [--add-special-tokens] [--decode] < input\n"
            "       tokenize --template tokenizer_config.json --messages FILE.json [--tools FILE.json] [--add-generation-prompt]";
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
  // Read by template_command.hpp, which takes the whole command line when --template is given; listed here so
  // that --help shows them (and main refuses them without --template).
  Section chat;
  chat.heading = kChatTemplateHeading;
  chat.options = {
      {"--template", "FILE", "render a chat template: a tokenizer_config.json (or a checkpoint folder) with a\n"
                             "chat_template; prints the rendered text exactly"},
      {"--messages", "FILE", "the conversation, a JSON list of {\"role\", \"content\"} messages (required)"},
      {"--tools", "FILE", "a JSON list of tool definitions, for templates that take them"},
      {"--add-generation-prompt", "", "end with the opening of the assistant's turn"},
      {"--template-name", "NAME", "which template of a list of named templates (default: \"default\")"},
      {"--var", "NAME=JSON", "an extra template variable, e.g. --var enable_thinking=false (repeatable)"}};
  t.sections.push_back(chat);
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

}  // namespace eigenformer::cli
