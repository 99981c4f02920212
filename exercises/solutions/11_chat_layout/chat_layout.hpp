// Exercise 11 — the Llama 3 chat layout: a solution. (The text: exercises/11_chat_layout/chat_layout.hpp.)
#pragma once

#include <string>
#include <vector>

namespace exercise {

struct Message {
  std::string role;
  std::string content;
};

/// Jinja's trim (Python's str.strip()) for the ASCII whitespace these messages hold: " \t\n\r\f\v".
inline std::string trim(const std::string& s) {
  const char* space = " \t\n\r\f\v";
  const std::size_t first = s.find_first_not_of(space);
  if (first == std::string::npos) return "";
  const std::size_t last = s.find_last_not_of(space);
  return s.substr(first, last - first + 1);
}

inline std::string llama3_chat_layout(const std::vector<Message>& messages, bool add_generation_prompt) {
  // 1) The text starts with <|begin_of_text|> (the template writes bos_token itself).
  std::string out = "<|begin_of_text|>";
  // 2) Each message: a header naming its role, a blank line, the trimmed text, and <|eot_id|> to close it.
  for (const Message& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
  }
  // 3) An open assistant header: the model's turn to write.
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

}  // namespace exercise
