// eigenformer/training/corpus.hpp — text to train on, from Debian packages, and a character vocabulary.
//
// The corpora are the fortune cookie files that Debian installs (tools/install-deps.sh installs them):
//   fortunes-zh   /usr/share/games/fortunes/tang300  唐诗三百首, the 300 Tang poems (~89 KB)
//                 /usr/share/games/fortunes/song100  宋词, 100 Song lyrics
//                 /usr/share/games/fortunes/chinese  a larger Chinese collection (~2 MB)
//   fortunes      /usr/share/games/fortunes/{fortunes,computers,science,...}  English, several MB
// A fortune file is records separated by lines holding a single '%'. The Chinese files colour their
// titles and authors with terminal escape codes (ESC [ 32 m ... ESC [ m); the loader strips them.
//
// The simplest tokenizer is one token per character (Unicode code point): CharVocabulary builds it from
// the corpus itself, special tokens first. Any tokenizers::Tokenizer works as well (data.hpp's
// encode_records takes either).
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer::training {

/// Where Debian installs the fortune files.
inline std::string fortunes_dir() { return "/usr/share/games/fortunes"; }

/// `text` without terminal escape sequences: CSI sequences (ESC '[' parameters... final byte 0x40–0x7E,
/// which covers every colour code "ESC[32m", "ESC[m", "ESC[1;33m") and two-byte escapes (ESC + one byte).
inline std::string strip_ansi(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\x1b') {
      out += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '[') {
      std::size_t j = i + 2;
      while (j < text.size() && !(static_cast<unsigned char>(text[j]) >= 0x40 && static_cast<unsigned char>(text[j]) <= 0x7E)) ++j;
      i = j;  // skips the final byte too (or runs off the end of a truncated sequence)
    } else {
      ++i;  // ESC and the one byte after it
    }
  }
  return out;
}

/// The records of a fortune file's text: separated by lines that hold only '%'; each record loses its
/// surrounding blank lines and trailing spaces per line; empty records are dropped. Line ends stay '\n'.
inline std::vector<std::string> split_fortunes(std::string_view text) {
  std::vector<std::string> records;
  std::vector<std::string> lines;
  auto flush = [&] {
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    std::size_t first = 0;
    while (first < lines.size() && lines[first].empty()) ++first;
    std::string r;
    for (std::size_t i = first; i < lines.size(); ++i) r += (i > first ? "\n" : "") + lines[i];
    if (!r.empty()) records.push_back(r);
    lines.clear();
  };
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(at, end - at));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line == "%") flush();
    else lines.push_back(line);
    at = end + 1;
  }
  flush();
  return records;
}

/// The records of a fortune file: read, colour codes stripped, split at '%'. FileError when unreadable.
inline std::vector<std::string> load_fortunes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw FileError(detail::cat("[load_fortunes] cannot open '", path,
                                "' (Debian packages fortunes and fortunes-zh install them; see tools/install-deps.sh)"));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return split_fortunes(strip_ansi(text));
}

/// The UTF-8 characters (code points) of `text`, each as its bytes. Invalid bytes become U+FFFD "�".
inline std::vector<std::string> utf8_characters(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n != 0 && i + n <= text.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (ok) {
      out.emplace_back(text.substr(i, n));
      i += n;
    } else {
      out.emplace_back("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

/// One token per character. Ids: the special tokens first (in the order given), then every character of
/// the corpus that occurs at least `min_count` times, in byte order of their UTF-8 (= code point order),
/// so the same corpus always gives the same vocabulary. Characters not in the vocabulary encode as <unk>.
class CharVocabulary {
 public:
  /// The default special tokens: <pad> = 0, <unk> = 1, <bos> = 2, <eos> = 3 (add e.g. "[MASK]" as needed).
  static std::vector<std::string> default_specials() { return {"<pad>", "<unk>", "<bos>", "<eos>"}; }

  CharVocabulary() = default;

  /// Builds the vocabulary of `texts`. `specials` must contain "<unk>".
  static CharVocabulary build(const std::vector<std::string>& texts, std::vector<std::string> specials = default_specials(),
                              std::int64_t min_count = 1) {
    std::map<std::string, std::int64_t> counts;
    for (const std::string& t : texts) {
      for (std::string& c : utf8_characters(t)) ++counts[c];
    }
    std::vector<std::string> tokens = std::move(specials);
    const std::size_t n_special = tokens.size();
    for (const auto& kv : counts) {
      if (kv.second >= min_count && std::find(tokens.begin(), tokens.end(), kv.first) == tokens.end()) tokens.push_back(kv.first);
    }
    return from_tokens(tokens, n_special);
  }

  /// A vocabulary from its token list (ids = positions), the first `specials` of which are special tokens.
  static CharVocabulary from_tokens(const std::vector<std::string>& tokens, std::size_t specials) {
    CharVocabulary v;
    v.tokens_ = tokens;
    v.specials_ = specials;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (!v.ids_.emplace(tokens[i], static_cast<TokenId>(i)).second) {
        throw ValueError(detail::cat("[CharVocabulary] token '", tokens[i], "' appears twice"));
      }
    }
    if (v.ids_.count("<unk>") == 0) throw ValueError("[CharVocabulary] the special tokens must include <unk>");
    return v;
  }

  std::size_t size() const { return tokens_.size(); }
  std::size_t special_count() const { return specials_; }
  const std::string& token(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size()) {
      throw ValueError(detail::cat("[CharVocabulary] id ", id, " is outside the vocabulary of ", tokens_.size()));
    }
    return tokens_[static_cast<std::size_t>(id)];
  }
  std::optional<TokenId> id(std::string_view token) const {
    auto it = ids_.find(std::string(token));
    return it == ids_.end() ? std::nullopt : std::optional<TokenId>(it->second);
  }

  /// text → one id per character (special tokens are not recognised inside text: "<eos>" is 5 characters).
  TokenSequence encode(std::string_view text) const {
    const TokenId unk = ids_.at("<unk>");
    TokenSequence out;
    for (const std::string& c : utf8_characters(text)) {
      auto it = ids_.find(c);
      out.push_back(it == ids_.end() || static_cast<std::size_t>(it->second) < specials_ ? unk : it->second);
    }
    return out;
  }

  /// ids → text; special tokens are written as their names unless `skip_special`.
  std::string decode(const TokenSequence& ids, bool skip_special = false) const {
    std::string out;
    for (TokenId id : ids) {
      if (skip_special && id >= 0 && static_cast<std::size_t>(id) < specials_) continue;
      out += token(id);
    }
    return out;
  }

  /// {"specials": n, "tokens": [...]} — what a checkpoint stores beside the model, and the identity of this
  /// tokenizer in a cache key (data.hpp's cache_key).
  std::string to_json() const {
    json::Array list;
    for (const std::string& t : tokens_) list.emplace_back(t);
    json::Value v;
    v.set("specials", json::Value(static_cast<std::int64_t>(specials_)));
    v.set("tokens", json::Value(list));
    return json::dump(v);
  }

  static CharVocabulary from_json(std::string_view text, std::string_view source = "<vocabulary>") {
    const json::Value v = json::parse(text, source);
    std::vector<std::string> tokens;
    for (const json::Value& t : v.at("tokens").as_array("tokens")) tokens.push_back(t.as_string("token"));
    return from_tokens(tokens, static_cast<std::size_t>(v.at("specials").as_int("specials")));
  }

 private:
  std::vector<std::string> tokens_;
  std::size_t specials_ = 0;
  std::map<std::string, TokenId> ids_;
};

}  // namespace eigenformer::training
