// eigenformer/tokenizers/pretokenize.hpp — the split patterns of GPT-2, cl100k_base, o200k_base and Llama 3.
//
// Byte-level BPE never merges across "pieces": before BPE, the text is cut by a regular expression so that
// a word, a number, a run of punctuation or of spaces each get their own merges (GPT-2 paper, Radford et
// al. 2019, section 2.2: "we prevent BPE from merging across character categories"). The patterns, as the
// reference implementations (tiktoken, Hugging Face tokenizers) write them:
//
//   gpt2 (also r50k_base, p50k_base, and HF's ByteLevel pre-tokenizer):
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   cl100k_base (GPT-3.5/4) and Llama 3 — the same pattern:
//     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|
//     \s+(?!\S)|\s+
//   o200k_base (GPT-4o):
//     [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//     [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//     \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// The text is consumed left to right; at each position the *first* alternative that matches wins
// (leftmost-first, backtracking semantics as in Perl, Python's `regex`, Oniguruma and fancy-regex), and
// greedy quantifiers take as much as they can, giving back only when what follows needs it.
//
// We do not use a regex engine: each pattern is written out below as plain code that a student can step
// through, one `if` per alternative, with the backtracking cases spelled out. Two subtle ones:
//   - `\s+(?!\S)` takes a run of whitespace but leaves its last character when a non-space follows, so
//     that " world" keeps its space: "a   b" splits as "a", "  ", " b".
//   - `\s*[\r\n]+` ends right after the *last* \r or \n of a whitespace run (\s* gives characters back
//     until [\r\n]+ can match).
// `\s` is the Unicode White_Space property, `\p{L}` etc. general categories (unicode.hpp); `(?i:'s)` also
// matches "'S" and "'ſ" (U+017F LONG S, which case-folds to s), as Unicode-aware engines do.
//
// Note: the npm `tiktoken` package and Llama 3 use the cl100k pattern above. Newer Python tiktoken writes
// cl100k with possessive quantifiers and `\s++$|\s*[\r\n]|...`, which differs from it only for whitespace
// that mixes newlines and ends the text ("a\n  " at the very end); we follow the npm reference we test with.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/tokenizers/unicode.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

namespace eigenformer::tokenizers {

/// The split patterns eigenformer knows. cl100k and llama3 are the same pattern under two names.
enum class SplitPattern {
  gpt2,    // GPT-2, r50k_base, p50k_base, Hugging Face ByteLevel(use_regex=true)
  cl100k,  // cl100k_base (GPT-3.5, GPT-4)
  o200k,   // o200k_base (GPT-4o)
  llama3,  // Llama 3 / 3.1 / 3.2 (identical to cl100k)
};

/// The pattern as the reference implementations write it (for messages, docs and tokenizer.json).
inline std::string_view split_pattern_regex(SplitPattern p) {
  switch (p) {
    case SplitPattern::gpt2:
      return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
    case SplitPattern::cl100k:
    case SplitPattern::llama3:
      return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    case SplitPattern::o200k:
      return R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  }
  return {};
}

/// Recognizes a pattern written in a tokenizer.json "Split" pre-tokenizer. Returns nullopt for any other
/// regex (eigenformer has no general regex engine; the caller reports the unsupported pattern).
inline std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex) {
  for (SplitPattern p : {SplitPattern::gpt2, SplitPattern::cl100k, SplitPattern::o200k}) {
    if (regex == split_pattern_regex(p)) return p;
  }
  // The GPT-2 pattern as tiktoken writes it for gpt2/r50k (non-capturing group, same language).
  if (regex == R"('(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)") return SplitPattern::gpt2;
  return std::nullopt;
}

namespace detail {

// Character classes the patterns use, computed once per code point. ASCII goes through a small table.
enum : unsigned {
  kLetter = 1,      // \p{L}
  kNumber = 2,      // \p{N}
  kSpace = 4,       // \s
  kNewline = 8,     // [\r\n]
  kUpperish = 16,   // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]   (o200k)
  kLowerish = 32,   // [\p{Ll}\p{Lm}\p{Lo}\p{M}]          (o200k)
};

inline unsigned classify(char32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z')) return kLetter | kLowerish;
    if ((cp >= 'A' && cp <= 'Z')) return kLetter | kUpperish;
    if (cp >= '0' && cp <= '9') return kNumber;
    if (cp == '\r' || cp == '\n') return kSpace | kNewline;
    if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return kSpace;
    return 0;
  }
  using unicode::Category;
  const Category c = unicode::category(cp);
  unsigned bits = unicode::is_white_space(cp) ? unsigned{kSpace} : 0u;
  switch (c) {
    case Category::Lu:
    case Category::Lt: bits |= kLetter | kUpperish; break;
    case Category::Ll: bits |= kLetter | kLowerish; break;
    case Category::Lm:
    case Category::Lo: bits |= kLetter | kUpperish | kLowerish; break;
    case Category::Mn:
    case Category::Mc:
    case Category::Me: bits |= kUpperish | kLowerish; break;
    case Category::Nd:
    case Category::Nl:
    case Category::No: bits |= kNumber; break;
    default: break;
  }
  return bits;
}

/// A cursor over valid UTF-8 that answers "which class is the character at byte i, and where does it end".
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}
  std::size_t size() const { return text_.size(); }
  bool at_end(std::size_t i) const { return i >= text_.size(); }
  /// Class bits of the character at i (0 at the end of the text).
  unsigned cls(std::size_t i) const {
    if (i >= text_.size()) return 0;
    const unsigned char b = static_cast<unsigned char>(text_[i]);
    if (b < 0x80) return classify(b);
    std::size_t k = i;
    return classify(next_code_point(text_, k));
  }
  /// Byte offset just past the character at i.
  std::size_t next(std::size_t i) const {
    return i + utf8_length_from_lead(static_cast<unsigned char>(text_[i]));
  }
  char byte(std::size_t i) const { return i < text_.size() ? text_[i] : '\0'; }
  /// Advances past every character whose class has any bit of `mask`; returns where that stops.
  std::size_t skip(std::size_t i, unsigned mask) const {
    while (i < text_.size() && (cls(i) & mask)) i = next(i);
    return i;
  }
  /// Advances past characters that have none of the bits in `mask` (and are not at the end).
  std::size_t skip_not(std::size_t i, unsigned mask) const {
    while (i < text_.size() && !(cls(i) & mask)) i = next(i);
    return i;
  }
  /// Is the character at i "s" or "S" or "ſ" — i.e. does it match `s` case-insensitively?
  bool is_ci(std::size_t i, char lower) const {
    if (i >= text_.size()) return false;
    const char c = text_[i];
    if (c == lower || c == lower - 32) return true;
    // U+017F LATIN SMALL LETTER LONG S (C5 BF) folds to 's'.
    return lower == 's' && c == '\xC5' && byte(i + 1) == '\xBF';
  }

 private:
  std::string_view text_;
};

/// End of a contraction 's 't 're 've 'm 'll 'd starting at i (text[i] == '\''), or 0 when none matches.
/// case_insensitive: the (?i:...) form of cl100k/o200k/llama3.
inline std::size_t contraction_end(const Scanner& s, std::size_t i, bool case_insensitive) {
  if (s.byte(i) != '\'') return 0;
  const std::size_t j = i + 1;
  const auto is = [&](std::size_t k, char c) {
    return case_insensitive ? s.is_ci(k, c) : s.byte(k) == c;
  };
  for (char c : {'s', 't', 'm', 'd'}) {
    if (is(j, c)) return s.next(j);
  }
  const char* pairs[] = {"re", "ve", "ll"};
  for (const char* p : pairs) {
    if (is(j, p[0]) && is(s.next(j), p[1])) return s.next(s.next(j));
  }
  return 0;
}

/// `\s+(?!\S)` then `\s+` at i (the character at i is whitespace): the two last alternatives of every
/// pattern. Returns the end of the match.
inline std::size_t whitespace_end(const Scanner& s, std::size_t i) {
  const std::size_t run_end = s.skip(i, kSpace);
  if (s.at_end(run_end)) return run_end;  // (?!\S) holds at the end of the text
  // A non-space follows: give back the last whitespace character, if the run has two or more.
  std::size_t last = i;
  for (std::size_t k = i; k < run_end; k = s.next(k)) last = k;
  if (last > i) return last;  // \s+(?!\S): the next character (the one given back) is whitespace
  return run_end;             // \s+: a single whitespace character before a non-space
}

/// `\s*[\r\n]+` at i: ends just after the last \r or \n of the whitespace run; 0 when the run has none.
inline std::size_t newline_run_end(const Scanner& s, std::size_t i) {
  const std::size_t run_end = s.skip(i, kSpace);
  std::size_t end = 0;
  for (std::size_t k = i; k < run_end; k = s.next(k)) {
    if (s.cls(k) & kNewline) end = k + 1;
  }
  return end;
}

// ---- GPT-2 -------------------------------------------------------------------------------------------
inline std::size_t match_gpt2(const Scanner& s, std::size_t i) {
  // 1) 's|'t|'re|'ve|'m|'ll|'d
  if (std::size_t e = contraction_end(s, i, false)) return e;
  // 2-4) ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
  const std::size_t j = s.byte(i) == ' ' ? i + 1 : i;
  const unsigned c = s.cls(j);
  if (!s.at_end(j)) {
    if (c & kLetter) return s.skip(j, kLetter);
    if (c & kNumber) return s.skip(j, kNumber);
    if (!(c & (kSpace | kLetter | kNumber))) return s.skip_not(j, kSpace | kLetter | kNumber);
  }
  // 5-6) `\s+(?!\S)` | `\s+` (the character at i is whitespace here).
  return whitespace_end(s, i);
}

// ---- cl100k_base and Llama 3 -------------------------------------------------------------------------
inline std::size_t match_cl100k(const Scanner& s, std::size_t i) {
  // 1) (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (std::size_t e = contraction_end(s, i, true)) return e;
  const unsigned c = s.cls(i);
  // 2) [^\r\n\p{L}\p{N}]?\p{L}+ — a letter run, optionally led by one character that is not a newline,
  //    letter or digit (typically a space or a quote).
  if (c & kLetter) return s.skip(i, kLetter);
  if (!(c & (kNewline | kNumber)) && (s.cls(s.next(i)) & kLetter)) return s.skip(s.next(i), kLetter);
  // 3) \p{N}{1,3}
  if (c & kNumber) {
    std::size_t e = i;
    for (int k = 0; k < 3 && (s.cls(e) & kNumber); ++k) e = s.next(e);
    return e;
  }
  // 4) ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  const std::size_t j = s.byte(i) == ' ' ? i + 1 : i;
  const unsigned cj = s.cls(j);
  if (!s.at_end(j) && !(cj & (kSpace | kLetter | kNumber))) {
    const std::size_t e = s.skip_not(j, kSpace | kLetter | kNumber);
    return s.skip(e, kNewline);
  }
  // 5) \s*[\r\n]+
  if (std::size_t e = newline_run_end(s, i)) return e;
  // 6-7) \s+(?!\S) | \s+
  return whitespace_end(s, i);
}

// ---- o200k_base --------------------------------------------------------------------------------------
// U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], W = [\p{Ll}\p{Lm}\p{Lo}\p{M}] (they overlap on Lm, Lo, M).

/// `U*W+` at p, with backtracking: U* takes its longest run [p, q), then gives characters back until W+
/// can start. Returns the end of W+, or 0 when no split works.
inline std::size_t upper_then_lower_end(const Scanner& s, std::size_t p) {
  const std::size_t q = s.skip(p, kUpperish);
  if (s.cls(q) & kLowerish) return s.skip(q, kLowerish);  // no give-back needed
  // Give back: the last position m in [p, q) whose character is also W; then W+ is that one character
  // (the characters after it up to q are not W, and neither is the one at q).
  std::size_t m = 0;
  bool found = false;
  for (std::size_t k = p; k < q; k = s.next(k)) {
    if (s.cls(k) & kLowerish) {
      m = k;
      found = true;
    }
  }
  return found ? s.next(m) : 0;
}

inline std::size_t match_o200k(const Scanner& s, std::size_t i) {
  const unsigned c = s.cls(i);
  const bool can_lead = !s.at_end(i) && !(c & (kNewline | kLetter | kNumber));  // [^\r\n\p{L}\p{N}]
  const auto with_contraction = [&](std::size_t e) {
    const std::size_t k = contraction_end(s, e, true);
    return k ? k : e;
  };
  // 1) [^\r\n\p{L}\p{N}]?U*W+(?i:'s|...)?  — try with the leading character first, then without.
  if (can_lead) {
    if (std::size_t e = upper_then_lower_end(s, s.next(i))) return with_contraction(e);
  }
  if (std::size_t e = upper_then_lower_end(s, i)) return with_contraction(e);
  // 2) [^\r\n\p{L}\p{N}]?U+W*(?i:'s|...)?
  if (can_lead && (s.cls(s.next(i)) & kUpperish)) {
    return with_contraction(s.skip(s.skip(s.next(i), kUpperish), kLowerish));
  }
  if (c & kUpperish) return with_contraction(s.skip(s.skip(i, kUpperish), kLowerish));
  // 3) \p{N}{1,3}
  if (c & kNumber) {
    std::size_t e = i;
    for (int k = 0; k < 3 && (s.cls(e) & kNumber); ++k) e = s.next(e);
    return e;
  }
  // 4) ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
  const std::size_t j = s.byte(i) == ' ' ? i + 1 : i;
  const unsigned cj = s.cls(j);
  if (!s.at_end(j) && !(cj & (kSpace | kLetter | kNumber))) {
    std::size_t e = s.skip_not(j, kSpace | kLetter | kNumber);
    while (!s.at_end(e) && ((s.cls(e) & kNewline) || s.byte(e) == '/')) e = s.next(e);
    return e;
  }
  // 5) \s*[\r\n]+
  if (std::size_t e = newline_run_end(s, i)) return e;
  // 6-7) \s+(?!\S) | \s+
  return whitespace_end(s, i);
}

}  // namespace detail

/// Cuts `text` (valid UTF-8) into pieces by pattern `p`, calling emit(piece) for each, in order. The pieces
/// are views into `text` and together cover all of it.
template <class Emit>
void split_pieces(std::string_view text, SplitPattern p, Emit&& emit) {
  const detail::Scanner s(text);
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = 0;
    switch (p) {
      case SplitPattern::gpt2: end = detail::match_gpt2(s, i); break;
      case SplitPattern::cl100k:
      case SplitPattern::llama3: end = detail::match_cl100k(s, i); break;
      case SplitPattern::o200k: end = detail::match_o200k(s, i); break;
    }
    // Every character is a letter, a number, whitespace or "other", and each pattern has an alternative
    // for each, so a match always consumes at least one character.
    if (end <= i) end = s.next(i);
    emit(text.substr(i, end - i));
    i = end;
  }
}

/// The pieces of `text` under pattern `p`, as views into `text`.
inline std::vector<std::string_view> split_text(std::string_view text, SplitPattern p) {
  std::vector<std::string_view> pieces;
  split_pieces(text, p, [&](std::string_view piece) { pieces.push_back(piece); });
  return pieces;
}

}  // namespace eigenformer::tokenizers
