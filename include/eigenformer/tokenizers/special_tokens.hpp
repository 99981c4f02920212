// eigenformer/tokenizers/special_tokens.hpp — special tokens: control symbols the model was trained with.
//
// Besides the learned vocabulary, every model family reserves a few tokens that mark structure:
//
//     BERT          [CLS] a sentence [SEP]      [MASK] for fill-mask, [PAD], [UNK]
//     GPT-2/GPT-4   <|endoftext|> between documents (also <|fim_prefix|>... in cl100k_base)
//     Llama 3       <|begin_of_text|> <|start_header_id|>user<|end_header_id|> ... <|eot_id|>
//     T5            </s> ends every input, <pad>, <unk>, <extra_id_0>.. mark masked spans
//     DeepSeek-R1   <｜begin▁of▁sentence｜> ... <｜end▁of▁sentence｜> (fullwidth bars and ▁, not ASCII)
//
// A special token is matched in the *text* before any normalization or splitting and becomes one id. That
// is also a risk: if a user's text contains "<|endoftext|>", a program that blindly matches it lets the
// user inject control tokens. So, as tiktoken does, encoding refuses special-token text by default;
// the caller allows the tokens it means to allow, or asks for such text to be encoded as ordinary text.
//
// Generation needs *roles* (which id ends a turn? which one pads?), and some roles have several ids:
// Llama 3 Instruct stops at <|eot_id|> or <|end_of_text|> (or <|eom_id|> in 3.1). The registry keeps a
// list of ids per role, and each token's flags as Hugging Face's tokenizer.json "added_tokens" give them.
#pragma once

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer::tokenizers {

/// What a special token is for.
enum class Role { bos, eos, pad, unk, mask, cls, sep };
inline constexpr std::array<Role, 7> kAllRoles = {Role::bos, Role::eos, Role::pad, Role::unk,
                                                  Role::mask, Role::cls, Role::sep};

/// The tokenizer_config.json key of a role without "_token": "bos", "eos", ...
inline std::string_view role_name(Role r) {
  switch (r) {
    case Role::bos: return "bos";
    case Role::eos: return "eos";
    case Role::pad: return "pad";
    case Role::unk: return "unk";
    case Role::mask: return "mask";
    case Role::cls: return "cls";
    case Role::sep: return "sep";
  }
  return "?";
}

/// A token matched in the input text before the model runs (Hugging Face "added token").
struct AddedToken {
  std::string content;      // its text, e.g. "<|endoftext|>"
  TokenId id = 0;
  bool special = true;      // special: subject to the encode policy, skippable in decode. Non-special
                            // added tokens are ordinary words that must never be split (always matched).
  bool single_word = false; // only match when not inside a word
  bool lstrip = false;      // the match also swallows whitespace on its left
  bool rstrip = false;      // ... and on its right
  bool normalized = false;  // matched in the normalized text rather than the raw input
};

/// Special-token text found in input that the caller did not allow.
class SpecialTokenError : public ValueError {
 public:
  SpecialTokenError(const std::string& message, std::size_t byte_offset)
      : ValueError(message), byte_offset_(byte_offset) {}
  std::size_t byte_offset() const noexcept { return byte_offset_; }

 private:
  std::size_t byte_offset_;
};

/// The registry: every added token, and the ids of each role.
class SpecialTokens {
 public:
  /// Adds (or replaces, by content) an added token.
  void add(AddedToken token) {
    for (AddedToken& t : tokens_) {
      if (t.content == token.content) {
        t = std::move(token);
        return;
      }
    }
    tokens_.push_back(std::move(token));
  }

  /// Gives `role` the id of the added token `content` (appended to the role's list if new). Throws
  /// ValueError when no such added token exists.
  void assign(Role role, std::string_view content) {
    const AddedToken* t = find(content);
    if (t == nullptr) {
      throw ValueError(eigenformer::detail::cat("[special tokens] cannot make '", content, "' the ", role_name(role),
                                   " token: it is not a registered token"));
    }
    assign(role, t->id);
  }
  /// Gives `role` the id `id` (appended if new; the first id of a role is its primary one).
  void assign(Role role, TokenId id) {
    auto& ids = roles_[static_cast<std::size_t>(role)];
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  /// Removes every id of `role`.
  void clear(Role role) { roles_[static_cast<std::size_t>(role)].clear(); }

  /// The primary id of a role, if the tokenizer has one.
  std::optional<TokenId> id(Role role) const {
    const auto& ids = roles_[static_cast<std::size_t>(role)];
    if (ids.empty()) return std::nullopt;
    return ids.front();
  }
  /// All ids of a role (e.g. every id that ends generation).
  const std::vector<TokenId>& ids(Role role) const { return roles_[static_cast<std::size_t>(role)]; }

  /// The added token with this text, or nullptr.
  const AddedToken* find(std::string_view content) const {
    for (const AddedToken& t : tokens_) {
      if (t.content == content) return &t;
    }
    return nullptr;
  }
  /// The added token with this id, or nullptr.
  const AddedToken* find(TokenId id) const {
    for (const AddedToken& t : tokens_) {
      if (t.id == id) return &t;
    }
    return nullptr;
  }
  /// True when `id` is a special added token (decode can skip it).
  bool is_special(TokenId id) const {
    const AddedToken* t = find(id);
    return t != nullptr && t->special;
  }
  const std::vector<AddedToken>& all() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<AddedToken> tokens_;
  std::array<std::vector<TokenId>, kAllRoles.size()> roles_;
};

// ------------------------------------------------------------------------------------------------
// Family presets
// ------------------------------------------------------------------------------------------------

enum class Family { bert, gpt2, r50k_base, p50k_base, cl100k_base, o200k_base, llama3, t5, deepseek_r1 };

/// One special token of a family preset: its text, its role (if any), and its fixed id where the family
/// fixes ids independently of any file (tiktoken encodings and Llama 3 do; BERT and T5 take the id from
/// the vocabulary, DeepSeek from tokenizer.json).
struct SpecialTokenSpec {
  std::string content;
  std::optional<Role> role;
  std::optional<TokenId> id;
};

/// The special tokens a family defines (the published tokenizers' lists).
inline std::vector<SpecialTokenSpec> family_special_tokens(Family family) {
  using S = SpecialTokenSpec;
  switch (family) {
    case Family::bert:
      return {S{"[PAD]", Role::pad, {}}, S{"[UNK]", Role::unk, {}}, S{"[CLS]", Role::cls, {}},
              S{"[SEP]", Role::sep, {}}, S{"[MASK]", Role::mask, {}}};
    case Family::gpt2:
    case Family::r50k_base:
      return {S{"<|endoftext|>", Role::eos, 50256}};
    case Family::p50k_base:
      return {S{"<|endoftext|>", Role::eos, 50256}};
    case Family::cl100k_base:
      return {S{"<|endoftext|>", Role::eos, 100257}, S{"<|fim_prefix|>", {}, 100258}, S{"<|fim_middle|>", {}, 100259},
              S{"<|fim_suffix|>", {}, 100260}, S{"<|endofprompt|>", {}, 100276}};
    case Family::o200k_base:
      return {S{"<|endoftext|>", Role::eos, 199999}, S{"<|endofprompt|>", {}, 200018}};
    case Family::llama3: {
      // Llama 3.1 / 3.2 / 3.3 (Meta's tokenizer and Hugging Face's tokenizer.json): 256 special tokens
      // from id 128000, most of them reserved. (Llama 3.0 named 128004/128008/128010 reserved_2/4/5.)
      std::vector<S> specs = {
          S{"<|begin_of_text|>", Role::bos, 128000},     S{"<|end_of_text|>", Role::eos, 128001},
          S{"<|reserved_special_token_0|>", {}, 128002}, S{"<|reserved_special_token_1|>", {}, 128003},
          S{"<|finetune_right_pad_id|>", Role::pad, 128004}, S{"<|reserved_special_token_2|>", {}, 128005},
          S{"<|start_header_id|>", {}, 128006},          S{"<|end_header_id|>", {}, 128007},
          S{"<|eom_id|>", Role::eos, 128008},            S{"<|eot_id|>", Role::eos, 128009},
          S{"<|python_tag|>", {}, 128010}};
      for (int i = 3; i <= 247; ++i) {
        specs.push_back(S{eigenformer::detail::cat("<|reserved_special_token_", i, "|>"), {}, 128008 + i});
      }
      return specs;
    }
    case Family::t5: {
      std::vector<S> specs = {S{"<pad>", Role::pad, {}}, S{"</s>", Role::eos, {}}, S{"<unk>", Role::unk, {}}};
      for (int i = 0; i < 100; ++i) specs.push_back(S{eigenformer::detail::cat("<extra_id_", i, ">"), {}, {}});
      return specs;
    }
    case Family::deepseek_r1:
      return {S{"<｜begin▁of▁sentence｜>", Role::bos, {}}, S{"<｜end▁of▁sentence｜>", Role::eos, {}},
              S{"<｜▁pad▁｜>", Role::pad, {}},             S{"<｜User｜>", {}, {}},
              S{"<｜Assistant｜>", {}, {}},                 S{"<think>", {}, {}},
              S{"</think>", {}, {}}};
  }
  return {};
}

/// Parses a family name: "bert", "gpt2", "r50k_base", "p50k_base", "cl100k_base", "o200k_base", "llama3",
/// "t5", "deepseek_r1" (also "deepseek-r1"). Returns nullopt for anything else.
inline std::optional<Family> family_from_name(std::string_view name) {
  if (name == "bert") return Family::bert;
  if (name == "gpt2") return Family::gpt2;
  if (name == "r50k_base") return Family::r50k_base;
  if (name == "p50k_base") return Family::p50k_base;
  if (name == "cl100k_base") return Family::cl100k_base;
  if (name == "o200k_base") return Family::o200k_base;
  if (name == "llama3") return Family::llama3;
  if (name == "t5") return Family::t5;
  if (name == "deepseek_r1" || name == "deepseek-r1") return Family::deepseek_r1;
  return std::nullopt;
}

}  // namespace eigenformer::tokenizers
