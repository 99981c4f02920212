// eigenformer/chat/chat_template.hpp — a checkpoint's own chat template: read it, render a conversation,
// and turn the rendered prompt into token ids without letting message text forge special tokens.
//
// tokenizer_config.json carries the template and the special tokens it refers to:
//     "chat_template": "{{ bos_token }}{% for message in messages %}...{% endfor %}",   (or a list of
//                      {"name": "default", "template": ...}, {"name": "tool_use", "template": ...})
//     "bos_token": "<|begin_of_text|>",  "eos_token": {"content": "<|eot_id|>", ...},  ...
//
// Rendering passes the variables that Hugging Face's apply_chat_template passes:
//     messages                 [{"role": "user", "content": "..."}, {"role": "assistant", "tool_calls": [...]}, ...]
//     tools                    the function descriptions (JSON schema), when given
//     add_generation_prompt    true: end with the opening of an assistant turn, so the model answers
//     bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token   (those the config sets)
//     ...                      any extra variables (enable_thinking, date_string, ...)
//
// Ids (encode_chat): the rendered prompt mixes the template's control tokens (<|im_start|>, <|eot_id|>) with
// the people's text. A user who types "<|im_end|>" must get those characters, not a forged end of turn. We
// render twice: once as is (the text), and once with every special-token text inside the messages, tools
// and extra variables replaced by a private-use placeholder. In the second rendering every special token
// that remains was written by the template; the placeholders mark text that came from a message. The
// template's special tokens become their ids, the text between them (placeholders put back) is encoded as
// plain text. If the
// template treats the placeholders differently from the original text (so the two renderings disagree once
// the placeholders are put back), we refuse instead of guessing. See docs/chat_templates.md.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/chat/jinja.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/tokenizers/tokenizer.hpp"

namespace eigenformer::chat {

/// What to render: the conversation and the switches of apply_chat_template.
struct ChatRequest {
  json::Value messages = json::Value(json::Array{});  // array of {"role", "content", ...} objects
  json::Value tools;                                  // null, or an array of tool descriptions
  bool add_generation_prompt = false;
  json::Value extra;  // null, or an object of more variables (e.g. {"enable_thinking": false})
};

/// The special-token names Hugging Face passes to a chat template (tokenizer.special_tokens_map).
inline const std::vector<std::string>& special_token_names() {
  static const std::vector<std::string> names = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                 "pad_token", "cls_token", "mask_token"};
  return names;
}

class ChatTemplate {
 public:
  /// A template given directly, with its special tokens (name → text, e.g. {"bos_token", "<s>"}).
  ChatTemplate(std::string text, std::vector<std::pair<std::string, std::string>> special_tokens,
               std::string source = "chat_template")
      : template_(std::move(text), std::move(source)), special_tokens_(std::move(special_tokens)) {}

  /// Reads tokenizer_config.json's chat_template (a string, or a list of named templates: `name` picks
  /// one; empty picks "default", or "tool_use" when `for_tools`) and its special tokens.
  /// Throws ConfigError when there is no template, or the named one is missing.
  static ChatTemplate from_tokenizer_config(const json::Value& config, const std::string& source,
                                            const std::string& name = "", bool for_tools = false) {
    const json::Value* t = config.find("chat_template");
    if (t == nullptr || t->is_null()) {
      throw ConfigError("[chat] " + source + " has no chat_template: this tokenizer ships no chat format");
    }
    std::string text, chosen = "chat_template";
    if (t->is_string()) {
      if (!name.empty() && name != "default") {
        throw ConfigError("[chat] " + source + " has a single chat template, not one named '" + name + "'");
      }
      text = t->as_string();
    } else if (t->is_array()) {
      std::string want = name;
      std::vector<std::string> names;
      for (const json::Value& entry : t->as_array()) {
        names.push_back(entry.at("name").as_string("chat_template[].name"));
      }
      if (want.empty()) {
        want = for_tools && std::find(names.begin(), names.end(), "tool_use") != names.end() ? "tool_use" : "default";
      }
      bool found = false;
      for (const json::Value& entry : t->as_array()) {
        if (entry.at("name").as_string() == want) {
          text = entry.at("template").as_string("chat_template[].template");
          found = true;
        }
      }
      if (!found) {
        std::string list;
        for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
        throw ConfigError("[chat] " + source + " has no chat template named '" + want + "' (it has: " + list + ")");
      }
      chosen = "chat_template[" + want + "]";
    } else {
      throw ConfigError("[chat] " + source + ": chat_template must be a string or a list of {name, template}");
    }
    std::vector<std::pair<std::string, std::string>> special;
    for (const std::string& key : special_token_names()) {
      const json::Value* v = config.find(key);
      if (v == nullptr || v->is_null()) continue;
      if (v->is_string()) {
        special.emplace_back(key, v->as_string());
      } else if (v->is_object() && v->find("content") != nullptr) {
        special.emplace_back(key, v->at("content").as_string(key));  // an AddedToken {"content": ...}
      } else {
        throw ConfigError("[chat] " + source + ": " + key + " must be a string or {\"content\": ...}");
      }
    }
    return ChatTemplate(std::move(text), std::move(special), source + ":" + chosen);
  }

  /// Reads a tokenizer_config.json file (or a checkpoint folder holding one).
  static ChatTemplate from_file(std::string path, const std::string& name = "", bool for_tools = false) {
    if (std::filesystem::is_directory(path)) path += "/tokenizer_config.json";
    return from_tokenizer_config(json::parse_file(path), path, name, for_tools);
  }

  /// Renders the conversation to the prompt text, exactly as the template writes it.
  /// Throws ValueError for malformed messages, jinja::TemplateError for template failures.
  std::string render(const ChatRequest& request) const { return template_.render(variables(request)); }

  /// The variables a render sees (for a student who wants to print them).
  jinja::Object variables(const ChatRequest& request) const {
    check_request(request);
    jinja::Object vars;
    vars.set("messages", jinja::Value::from_json(request.messages));
    if (!request.tools.is_null()) vars.set("tools", jinja::Value::from_json(request.tools));
    vars.set("add_generation_prompt", jinja::Value::boolean(request.add_generation_prompt));
    for (const auto& [key, text] : special_tokens_) vars.set(key, jinja::Value::string(text));
    if (request.extra.is_object()) {
      for (const json::Member& m : request.extra.as_object()) vars.set(m.first, jinja::Value::from_json(m.second));
    }
    return vars;
  }

  /// The text of a special token by name ("eos_token"), or "" when the config does not set it.
  std::string special_token(const std::string& name) const {
    for (const auto& [key, text] : special_tokens_) {
      if (key == name) return text;
    }
    return "";
  }
  const std::vector<std::pair<std::string, std::string>>& special_tokens() const { return special_tokens_; }
  const jinja::Template& compiled() const { return template_; }

 private:
  static void check_request(const ChatRequest& r) {
    if (!r.messages.is_array()) throw ValueError("[chat] messages must be a JSON array of {\"role\", \"content\"} objects");
    const json::Array& messages = r.messages.as_array();
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (!messages[i].is_object() || messages[i].find("role") == nullptr || !messages[i].at("role").is_string()) {
        throw ValueError(eigenformer::detail::cat("[chat] messages[", i, "] must be an object with a string \"role\""));
      }
    }
    if (!r.tools.is_null() && !r.tools.is_array()) throw ValueError("[chat] tools must be a JSON array");
    if (!r.extra.is_null() && !r.extra.is_object()) throw ValueError("[chat] extra variables must be a JSON object");
  }

  jinja::Template template_;
  std::vector<std::pair<std::string, std::string>> special_tokens_;
};

namespace detail {

// Placeholder k is U+E000, the decimal digits of k, U+E001 (private-use characters: no tokenizer gives
// them a meaning, no template trims or cases them).
inline const std::string& placeholder_open() {
  static const std::string s = "\xEE\x80\x80";  // U+E000
  return s;
}
inline const std::string& placeholder_close() {
  static const std::string s = "\xEE\x80\x81";  // U+E001
  return s;
}

/// Replaces each special-token text inside every string of `v` (keys included) by its placeholder.
/// Sets `changed` when something was replaced.
inline json::Value guard_strings(const json::Value& v, const std::vector<std::string>& specials, bool& changed) {
  const auto guard = [&](const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
      std::size_t best = std::string::npos, best_len = 0;
      for (std::size_t k = 0; k < specials.size(); ++k) {
        const std::string& t = specials[k];
        if (!t.empty() && s.compare(i, t.size(), t) == 0 && t.size() > best_len) {
          best = k;
          best_len = t.size();
        }
      }
      if (best == std::string::npos) {
        out += s[i++];
      } else {
        out += placeholder_open() + std::to_string(best) + placeholder_close();
        i += best_len;
        changed = true;
      }
    }
    return out;
  };
  if (v.is_string()) return json::Value(guard(v.as_string()));
  if (v.is_array()) {
    json::Array a;
    for (const json::Value& x : v.as_array()) a.push_back(guard_strings(x, specials, changed));
    return json::Value(std::move(a));
  }
  if (v.is_object()) {
    json::Object o;
    for (const json::Member& m : v.as_object()) o.emplace_back(guard(m.first), guard_strings(m.second, specials, changed));
    return json::Value(std::move(o));
  }
  return v;
}

inline bool contains_placeholder_chars(const json::Value& v) {
  if (v.is_string()) {
    return v.as_string().find(placeholder_open()) != std::string::npos ||
           v.as_string().find(placeholder_close()) != std::string::npos;
  }
  if (v.is_array()) {
    for (const json::Value& x : v.as_array()) {
      if (contains_placeholder_chars(x)) return true;
    }
  }
  if (v.is_object()) {
    for (const json::Member& m : v.as_object()) {
      if (contains_placeholder_chars(json::Value(m.first)) || contains_placeholder_chars(m.second)) return true;
    }
  }
  return false;
}

/// A rendered text cut at the placeholders: template text, or the index of a special token typed in a message.
struct Piece {
  std::string text;     // template text (when special < 0)
  long special = -1;    // index into the special-token list: that token's text, typed by a person
};

inline std::vector<Piece> split_placeholders(const std::string& s, std::size_t count) {
  std::vector<Piece> pieces;
  std::size_t start = 0;
  while (true) {
    const std::size_t open = s.find(placeholder_open(), start);
    if (open == std::string::npos) break;
    const std::size_t digits = open + placeholder_open().size();
    const std::size_t close = s.find(placeholder_close(), digits);
    std::size_t k = 0;
    bool ok = close != std::string::npos && close > digits && close - digits < 10;
    for (std::size_t i = digits; ok && i < close; ++i) {
      ok = s[i] >= '0' && s[i] <= '9';
      if (ok) k = k * 10 + static_cast<std::size_t>(s[i] - '0');
    }
    if (!ok || k >= count) {
      throw ValueError("[chat] the template cut a placeholder apart (it slices or transforms message text); "
                       "cannot tell message text from template text here");
    }
    pieces.push_back(Piece{s.substr(start, open - start), -1});
    pieces.push_back(Piece{"", static_cast<long>(k)});
    start = close + placeholder_close().size();
  }
  pieces.push_back(Piece{s.substr(start), -1});
  return pieces;
}

}  // namespace detail

/// The result of encode_chat: the prompt text and its ids.
struct EncodedChat {
  std::string text;        // exactly what render() returns
  TokenSequence ids;       // template special tokens as their ids; message text as plain text
  bool guarded = false;    // true when a message contained special-token text (encoded as plain text)
};

/// Renders and encodes a conversation for `tokenizer`. Without special-token text inside the messages the
/// ids are tokenizer.encode(text) with every special token recognised (what Hugging Face's
/// apply_chat_template(tokenize=True) gives, no BOS added: templates write their own). With such text,
/// see the top of this file. Throws ValueError when the template handles the placeholders differently.
inline EncodedChat encode_chat(const ChatTemplate& tpl, const tokenizers::Tokenizer& tokenizer, const ChatRequest& request) {
  EncodedChat result;
  result.text = tpl.render(request);
  tokenizers::EncodeOptions with_specials;
  with_specials.allow_all();
  // 1. The special tokens of this tokenizer (special=true: control tokens, not ordinary added words).
  std::vector<std::string> specials;
  std::vector<TokenId> special_ids;
  for (const tokenizers::AddedToken& t : tokenizer.special_tokens().all()) {
    if (t.special && !t.content.empty()) {
      specials.push_back(t.content);
      special_ids.push_back(t.id);
    }
  }
  // 2. Does any message/tool/extra string contain one? Then render again with placeholders.
  bool changed = false;
  ChatRequest guarded = request;
  guarded.messages = detail::guard_strings(request.messages, specials, changed);
  guarded.tools = detail::guard_strings(request.tools, specials, changed);
  guarded.extra = detail::guard_strings(request.extra, specials, changed);
  if (!changed) {
    result.ids = tokenizer.encode(result.text, with_specials);
    return result;
  }
  if (detail::contains_placeholder_chars(request.messages) || detail::contains_placeholder_chars(request.tools) ||
      detail::contains_placeholder_chars(request.extra)) {
    throw ValueError("[chat] a message contains special-token text and the private-use characters U+E000/U+E001 "
                     "that mark it; cannot encode it safely");
  }
  const std::string marked = tpl.render(guarded);
  const std::vector<detail::Piece> pieces = detail::split_placeholders(marked, specials.size());
  // 3. The marked rendering, with the placeholders put back, must be the text itself.
  std::string restored;
  for (const detail::Piece& p : pieces) restored += p.special < 0 ? p.text : specials[static_cast<std::size_t>(p.special)];
  if (restored != result.text) {
    throw ValueError("[chat] the template treats special-token text inside a message differently from other "
                     "text (it inspects or rewrites it); refusing to encode rather than guess which tokens are real");
  }
  // 4. Cut the marked rendering at the special tokens the template wrote: each becomes its id. The text
  //    between two of them (placeholders put back) is encoded as plain text, whole — so a typed
  //    "<|eot_id|>" is encoded exactly as if the tokenizer had no such special token.
  tokenizers::EncodeOptions as_text;
  as_text.as_text();
  std::string span;
  const auto flush = [&] {
    std::string restored_span;
    for (const detail::Piece& p : detail::split_placeholders(span, specials.size())) {
      restored_span += p.special < 0 ? p.text : specials[static_cast<std::size_t>(p.special)];
    }
    const TokenSequence ids = tokenizer.encode(restored_span, as_text);
    result.ids.insert(result.ids.end(), ids.begin(), ids.end());
    span.clear();
  };
  for (std::size_t i = 0; i < marked.size();) {
    std::size_t best = std::string::npos, best_len = 0;
    for (std::size_t k = 0; k < specials.size(); ++k) {
      if (specials[k].size() > best_len && marked.compare(i, specials[k].size(), specials[k]) == 0) {
        best = k;
        best_len = specials[k].size();
      }
    }
    if (best == std::string::npos) {
      span += marked[i++];
      continue;
    }
    flush();
    result.ids.push_back(special_ids[best]);
    i += best_len;
  }
  flush();
  result.guarded = true;
  return result;
}

}  // namespace eigenformer::chat
