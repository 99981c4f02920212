// examples/tokenize/template_command.hpp — `tokenize --template`: render a checkpoint's chat template
// without a model, to see exactly the prompt a chat model is given.
//
//   tokenize --template tokenizer_config.json --messages chat.json [--tools tools.json]
//            [--add-generation-prompt] [--template-name NAME] [--var NAME=JSON ...] [--tokenizer FILE]
//
// chat.json holds the messages: [{"role": "user", "content": "Hello"}, ...] (or {"messages": [...]}).
// Without --tokenizer the rendered text is printed exactly as the template writes it: nothing added, not
// even a final newline, so `tokenize --template ... | xxd` shows every byte. With --tokenizer the output is
// one JSON object {"text": ..., "ids": [...], "typed_special_tokens_as_text": bool}: the template's special
// tokens become their ids, and special-token text typed inside a message is encoded as plain text
// (eigenformer/chat/chat_template.hpp explains how).
#pragma once

#include <iostream>
#include <string>
#include <vector>

#include "eigenformer/chat.hpp"
#include "eigenformer/tokenizers.hpp"

namespace tokenize_example {

/// Runs the template command when argv contains --template with a value; returns false (and leaves
/// `exit_code` alone) otherwise, so the tokenizer command runs — and its table-driven parser reports a
/// --template without a value like any other option.
inline bool run_template_command(int argc, char** argv, int& exit_code) {
  namespace ef = eigenformer;
  bool wanted = false;
  for (int i = 1; i + 1 < argc; ++i) wanted = wanted || std::string(argv[i]) == "--template";
  if (!wanted) return false;

  const auto usage = [&](const std::string& why) {
    std::cerr << "tokenize: " << why << "\n"
              << "usage: tokenize --template tokenizer_config.json --messages FILE.json [--tools FILE.json]\n"
                 "                [--add-generation-prompt] [--template-name NAME] [--var NAME=JSON ...] [--tokenizer FILE]\n";
    exit_code = 2;
    return true;
  };
  std::string config, messages_file, tools_file, template_name, tokenizer_file;
  ef::chat::ChatRequest request;
  ef::json::Object extra;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--template" && has_value) {
      config = argv[++i];
    } else if (arg == "--messages" && has_value) {
      messages_file = argv[++i];
    } else if (arg == "--tools" && has_value) {
      tools_file = argv[++i];
    } else if (arg == "--template-name" && has_value) {
      template_name = argv[++i];
    } else if (arg == "--tokenizer" && has_value) {
      tokenizer_file = argv[++i];
    } else if (arg == "--add-generation-prompt") {
      request.add_generation_prompt = true;
    } else if (arg == "--var" && has_value) {
      const std::string kv = argv[++i];
      const std::size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return usage("--var takes NAME=JSON, e.g. --var enable_thinking=false");
      try {
        extra.emplace_back(kv.substr(0, eq), ef::json::parse(kv.substr(eq + 1), "--var " + kv.substr(0, eq)));
      } catch (const ef::Error& e) {
        return usage(e.what());
      }
    } else {
      return usage("unknown argument '" + arg + "' (with --template)");
    }
  }
  if (config.empty()) return usage("--template needs a tokenizer_config.json (or a checkpoint folder)");
  if (messages_file.empty()) return usage("--messages FILE.json is required with --template");

  try {
    ef::json::Value messages = ef::json::parse_file(messages_file);
    if (messages.is_object() && messages.find("messages") != nullptr) {
      const ef::json::Value inner = messages.at("messages");  // a copy: assigning a part of itself frees it first
      messages = inner;
    }
    request.messages = messages;
    if (!tools_file.empty()) {
      ef::json::Value tools = ef::json::parse_file(tools_file);
      if (tools.is_object() && tools.find("tools") != nullptr) {
        const ef::json::Value inner = tools.at("tools");
        tools = inner;
      }
      request.tools = tools;
    }
    if (!extra.empty()) request.extra = ef::json::Value(std::move(extra));
    const ef::chat::ChatTemplate tpl =
        ef::chat::ChatTemplate::from_file(config, template_name, !request.tools.is_null());
    if (tokenizer_file.empty()) {
      std::cout << tpl.render(request);
      std::cout.flush();
    } else {
      const ef::tokenizers::Tokenizer tokenizer = ef::tokenizers::load_tokenizer(tokenizer_file);
      const ef::chat::EncodedChat encoded = ef::chat::encode_chat(tpl, tokenizer, request);
      ef::json::Array ids;
      for (ef::TokenId id : encoded.ids) ids.push_back(ef::json::Value(static_cast<std::int64_t>(id)));
      ef::json::Value out;
      out.set("text", encoded.text);
      out.set("ids", ef::json::Value(std::move(ids)));
      out.set("typed_special_tokens_as_text", encoded.guarded);
      std::cout << ef::json::dump(out) << "\n";
    }
    exit_code = 0;
  } catch (const ef::Error& e) {
    std::cerr << "tokenize: " << e.what() << "\n";
    exit_code = 1;
  }
  return true;
}

}  // namespace tokenize_example
