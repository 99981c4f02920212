// eigenformer/generation/prompt.hpp — turning what a person writes into the ids a model continues.
//
// A model continues whatever it is given, so the prompt decides what it does. Two ways to build one:
//
// Plain prompt: the text, with the tokenizer's own special tokens around it — a base model (or T5's
// encoder) sees exactly the text:
//     Llama 3   <|begin_of_text|> The capital of France is
//     T5        translate English to German: That is good. </s>
//
// Chat (instruction-tuned Llama 3): each turn is framed by header tokens and closed with <|eot_id|>;
// the prompt ends with an open assistant header, so the most likely continuation is the assistant's reply —
// which the model ends with <|eot_id|>, one of its EOS tokens (Meta's Llama 3 prompt format):
//     <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>
//     <|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|>
//     <|start_header_id|>assistant<|end_header_id|>\n\n
// (line breaks added here for reading; the format has none between turns). Message text is trimmed, as in
// the reference template, and encoded as *plain text*: a user who types "<|eot_id|>" gets those characters,
// not a forged end of turn.
#pragma once

#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/tokenizers/tokenizer.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

namespace eigenformer::generation {

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
};

/// The text with the tokenizer's template tokens (BOS for Llama, </s> for T5).
inline TokenSequence plain_prompt(const tokenizers::Tokenizer& tokenizer, const std::string& text) {
  return tokenizer.encode(text, tokenizers::EncodeOptions{}.with_special_tokens().as_text());
}

/// Llama 3's chat format. Throws ValueError when the tokenizer lacks the header tokens.
inline TokenSequence llama3_chat_prompt(const tokenizers::Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt = true) {
  const auto special = [&](const char* name) {
    const std::optional<TokenId> id = tokenizer.token_to_id(name);
    if (!id) {
      throw ValueError(eigenformer::detail::cat("[chat] the tokenizer '", tokenizer.name(), "' has no ", name,
                                   " token: it is not a Llama 3 tokenizer"));
    }
    return *id;
  };
  const TokenId begin = special("<|begin_of_text|>"), start = special("<|start_header_id|>"),
                end = special("<|end_header_id|>"), eot = special("<|eot_id|>");
  const auto text = [&](const std::string& s, TokenSequence& out) {
    const TokenSequence ids = tokenizer.encode(s, tokenizers::EncodeOptions{}.as_text());
    out.insert(out.end(), ids.begin(), ids.end());
  };
  // Jinja's trim is Python's str.strip(): Unicode whitespace, so a leading no-break space goes too.
  const auto trim = [](const std::string& s) {
    const auto space = [](char32_t c) {
      return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0 ||
             c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
             c == 0x205F || c == 0x3000;
    };
    std::size_t first = s.size(), end = 0;  // the first non-space byte, and one past the last non-space character
    for (std::size_t i = 0; i < s.size();) {
      const std::size_t at = i;
      if (!space(tokenizers::next_code_point(s, i))) {
        if (first == s.size()) first = at;
        end = i;
      }
    }
    return first < end ? s.substr(first, end - first) : std::string();
  };
  TokenSequence ids{begin};
  for (const ChatMessage& m : messages) {
    ids.push_back(start);
    text(m.role, ids);
    ids.push_back(end);
    text("\n\n" + trim(m.content), ids);
    ids.push_back(eot);
  }
  if (add_generation_prompt) {
    ids.push_back(start);
    text("assistant", ids);
    ids.push_back(end);
    text("\n\n", ids);
  }
  return ids;
}

}  // namespace eigenformer::generation
