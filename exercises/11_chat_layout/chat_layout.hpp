// Exercise 11 — lay out a conversation the way Llama 3 was trained to read it (course chapter 8, prompts and
// chat formats; docs/chat_templates.md and docs/generation.md, "Prompts").
//
// A chat model reads one string of tokens. Its checkpoint ships the layout as a Jinja template
// (tokenizer_config.json, "chat_template"); for Llama 3 and 3.1 without tools it comes down to
//
//     <|begin_of_text|>                                              once, at the start
//     <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>   for every message, in order
//     <|start_header_id|>assistant<|end_header_id|>\n\n              only with add_generation_prompt
//
// where {content} is the message's text with leading and trailing whitespace removed (the template's
// `| trim`). The open assistant header at the end is what makes the model answer: the likeliest continuation
// is the assistant's turn, which it closes with <|eot_id|> — one of its EOS tokens. Leave
// add_generation_prompt off to lay out a finished conversation (for fine-tuning on it).
//
// The starting point writes a plain transcript ("user: ..."), which the model never saw in training.
// The library runs the real template: chat::ChatTemplate in include/eigenformer/chat/chat_template.hpp;
// the hand-written Llama 3 layout is generation::llama3_chat_prompt in include/eigenformer/generation/prompt.hpp.
// Check: ctest --preset ci -R "exercise.11_chat_layout"   (see exercises/README.md)
#pragma once

#include <string>
#include <vector>

namespace exercise {

struct Message {
  std::string role;     // "system", "user", "assistant" (or "tool")
  std::string content;  // UTF-8 text
};

/// messages → the text the Llama 3 chat template renders for them.
inline std::string llama3_chat_layout(const std::vector<Message>& messages, bool add_generation_prompt) {
  // TODO: the special tokens and the layout above. As written: a transcript a person would write.
  std::string out;
  for (const Message& m : messages) out += m.role + ": " + m.content + "\n";
  if (add_generation_prompt) out += "assistant: ";
  return out;
}

}  // namespace exercise
