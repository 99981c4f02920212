// eigenformer/tokenizers/pipeline.hpp — the stages around the model: normalizers, pre-tokenizers,
// decoders and the post-processing template, as Hugging Face's tokenizer.json describes them.
//
//     normalize:      text -> text         (NFC, lowercase, BERT cleaning, SentencePiece rules, ...)
//     pre-tokenize:   text -> pieces       (split patterns, whitespace, "▁" for SentencePiece, ...)
//     post-process:   ids  -> ids          ([CLS] ids [SEP], <|begin_of_text|> ids, ids </s>)
//     decode:         tokens -> bytes      (join, strip "##", "▁" -> " ", <0x41> -> "A", ...)
//
// Each stage is a list of small steps; a tokenizer.json "Sequence" becomes several steps of one list.
// Steps are plain structs in a std::variant, applied by std::visit — easy to print in a debugger.
// Only the steps real checkpoints use are here; load.hpp refuses the others by name (ConfigError).
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "eigenformer/core/types.hpp"
#include "eigenformer/tokenizers/precompiled.hpp"
#include "eigenformer/tokenizers/pretokenize.hpp"
#include "eigenformer/tokenizers/regex.hpp"
#include "eigenformer/tokenizers/unicode.hpp"
#include "eigenformer/tokenizers/utf8.hpp"
#include "eigenformer/tokenizers/wordpiece.hpp"

namespace eigenformer::tokenizers {

// ------------------------------------------------------------------------------------------------
// Normalizers
// ------------------------------------------------------------------------------------------------
namespace normalizers {
struct Bert {  // BertNormalizer (wordpiece.hpp)
  BertNormalizerOptions options;
};
struct Unicode {  // NFC / NFD / NFKC / NFKD
  unicode::NormalForm form;
};
struct Lowercase {};
struct StripAccents {};  // drops combining marks \p{M} (use after NFD/NFKD)
struct Strip {           // removes leading / trailing whitespace
  bool left = true, right = true;
};
struct Replace {  // every occurrence of a literal string, or every match of a regex (when `regex` is set)
  std::string pattern, content;
  std::shared_ptr<const regex::Regex> regex;
};
struct Prepend {  // a prefix in front of non-empty text (SentencePiece "▁" for Llama 2 style models)
  std::string prefix;
};
struct Precompiled {  // SentencePiece rules (precompiled.hpp)
  std::shared_ptr<const PrecompiledCharsmap> charsmap;
};
}  // namespace normalizers

using NormalizerStep = std::variant<normalizers::Bert, normalizers::Unicode, normalizers::Lowercase,
                                    normalizers::StripAccents, normalizers::Strip, normalizers::Replace,
                                    normalizers::Prepend, normalizers::Precompiled>;

/// The most bytes a Replace normalizer may make of a text of n bytes: 16 n + 64 KiB. Each Replace multiplies the
/// text's length by up to its content's length, so a few of them in a Sequence make a short text astronomically
/// long: a hostile tokenizer.json hung the tokenizer_json fuzzer that way (three Replaces of " " and "  " by ~4,000
/// characters; the regression test is in tests/hardening/test_fuzz_regressions.cpp). Real normalizers replace a
/// character by a few bytes (Llama's " " → "▁": 3).
inline std::size_t max_replaced_bytes(std::size_t input_bytes) {
  constexpr std::size_t kCap = std::size_t{1} << 26;  // 64 MiB whatever the input
  return input_bytes > (kCap - 65536) / 16 ? kCap : 16 * input_bytes + 65536;
}

namespace detail {
/// Appends `piece` to `out`, or ValueError once `out` would pass max_replaced_bytes(input_bytes).
inline void append_replaced(std::string& out, std::string_view piece, std::size_t input_bytes) {
  const std::size_t limit = max_replaced_bytes(input_bytes);
  if (piece.size() > limit - out.size()) {
    throw ValueError(eigenformer::detail::cat("[normalizer] a Replace step makes more than ", limit,
                                              " bytes (16 times the text plus 64 KiB) of a text of ", input_bytes,
                                              " bytes: its content repeats too often (a broken or hostile tokenizer.json?)"));
  }
  out.append(piece);
}
}  // namespace detail

/// Replaces every occurrence of `pattern` (non-empty) in `text` by `content`. ValueError past max_replaced_bytes.
inline std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content) {
  std::string out;
  std::size_t i = 0;
  while (true) {
    const std::size_t at = text.find(pattern, i);
    if (at == std::string_view::npos || pattern.empty()) break;
    detail::append_replaced(out, text.substr(i, at - i), text.size());
    detail::append_replaced(out, content, text.size());
    i = at + pattern.size();
  }
  detail::append_replaced(out, text.substr(i), text.size());
  return out;
}

/// Replaces every match of `re` in `text` by `content` (matches as Regex::for_each_match finds them).
/// ValueError past max_replaced_bytes.
inline std::string replace_matches(std::string_view text, const regex::Regex& re, std::string_view content) {
  std::string out;
  std::size_t last = 0;
  re.for_each_match(text, [&](std::size_t b, std::size_t e) {
    detail::append_replaced(out, text.substr(last, b - last), text.size());
    detail::append_replaced(out, content, text.size());
    last = e;
  });
  detail::append_replaced(out, text.substr(last), text.size());
  return out;
}

/// Applies one normalization step to valid UTF-8 text.
inline std::string normalize_step(const NormalizerStep& step, std::string_view text) {
  return std::visit(
      [&](const auto& s) -> std::string {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, normalizers::Bert>) {
          return bert_normalize(text, s.options);
        } else if constexpr (std::is_same_v<S, normalizers::Unicode>) {
          return unicode::normalize(text, s.form);
        } else if constexpr (std::is_same_v<S, normalizers::Lowercase>) {
          return unicode::to_lowercase(text);
        } else if constexpr (std::is_same_v<S, normalizers::StripAccents>) {
          std::string out;
          std::size_t i = 0;
          while (i < text.size()) {
            const char32_t c = next_code_point(text, i);
            // Hugging Face drops every combining mark (Mn, Mc, Me: is_combining_mark).
            if (!unicode::is_mark(c)) append_utf8(out, c);
          }
          return out;
        } else if constexpr (std::is_same_v<S, normalizers::Strip>) {
          std::size_t begin = 0, end = text.size();
          if (s.left) {
            while (begin < end) {
              std::size_t k = begin;
              if (!unicode::is_white_space(next_code_point(text, k))) break;
              begin = k;
            }
          }
          if (s.right) {
            while (end > begin) {
              std::size_t start = end - 1;
              while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
              std::size_t k = start;
              if (!unicode::is_white_space(next_code_point(text, k))) break;
              end = start;
            }
          }
          return std::string(text.substr(begin, end - begin));
        } else if constexpr (std::is_same_v<S, normalizers::Replace>) {
          return s.regex ? replace_matches(text, *s.regex, s.content) : replace_all(text, s.pattern, s.content);
        } else if constexpr (std::is_same_v<S, normalizers::Prepend>) {
          return text.empty() ? std::string() : s.prefix + std::string(text);
        } else {
          return s.charsmap->normalize(text);
        }
      },
      step);
}

// ------------------------------------------------------------------------------------------------
// Pre-tokenizers
// ------------------------------------------------------------------------------------------------
namespace pre_tokenizers {
struct ByteLevel {  // HF ByteLevel: optional leading space, then (use_regex) the GPT-2 pattern
  bool add_prefix_space = false;
  bool use_regex = true;
};
struct Pattern {  // HF Split with a known regex and behavior "Isolated" (pretokenize.hpp)
  SplitPattern pattern;
};
struct WhitespaceSplit {};  // split on whitespace, which disappears
struct Bert {};             // BertPreTokenizer (wordpiece.hpp)
struct Metaspace {          // SentencePiece's "▁": spaces become ▁, a ▁ is prepended, split before each ▁
  std::string replacement = "\xE2\x96\x81";  // U+2581
  enum class Prepend { always, first, never } prepend = Prepend::always;
  bool split = true;
};
struct Digits {  // digits \p{N} apart from the rest; individual_digits: each digit alone
  bool individual_digits = false;
};

/// What a split does with the delimiters it finds (Hugging Face's SplitDelimiterBehavior). On "a-b-" with
/// the delimiter "-":  Removed: a b | Isolated: a - b - | MergedWithPrevious: a- b- | MergedWithNext: a -b -
/// | Contiguous: like Isolated, but runs of neighbouring delimiters stay together ("a--b": a -- b).
enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

struct Split {  // HF Split: a regex (or a literal string, compiled as an escaped regex), a behavior, invert
  std::shared_ptr<const regex::Regex> pattern;
  Behavior behavior = Behavior::isolated;
  bool invert = false;  // the matches become the text between delimiters, and the rest the delimiters
};
struct Punctuation {  // each punctuation character is a delimiter (ASCII punctuation or \p{P})
  Behavior behavior = Behavior::isolated;
};
struct Whitespace {  // the matches of \w+|[^\w\s]+ are the pieces; whitespace disappears
  std::shared_ptr<const regex::Regex> words = std::make_shared<const regex::Regex>(R"(\w+|[^\w\s]+)");
};
struct CharDelimiterSplit {  // split on one character, which disappears
  char32_t delimiter = ' ';
};
}  // namespace pre_tokenizers

using PreTokenizerStep =
    std::variant<pre_tokenizers::ByteLevel, pre_tokenizers::Pattern, pre_tokenizers::WhitespaceSplit, pre_tokenizers::Bert,
                 pre_tokenizers::Metaspace, pre_tokenizers::Digits, pre_tokenizers::Split, pre_tokenizers::Punctuation,
                 pre_tokenizers::Whitespace, pre_tokenizers::CharDelimiterSplit>;

/// A stretch [begin, end) of a piece, and whether the pattern matched it (a delimiter).
struct Segment {
  std::size_t begin, end;
  bool is_match;
};

/// The segments of `text` for a regex: each match, and each gap between matches (Hugging Face's
/// find_matches for a regex pattern).
inline std::vector<Segment> regex_segments(std::string_view text, const regex::Regex& re) {
  std::vector<Segment> out;
  std::size_t previous = 0;
  re.for_each_match(text, [&](std::size_t b, std::size_t e) {
    if (b > previous) out.push_back(Segment{previous, b, false});
    out.push_back(Segment{b, e, true});
    previous = e;
  });
  if (previous < text.size()) out.push_back(Segment{previous, text.size(), false});
  return out;
}

/// The segments of `text` for a character predicate: each matching character alone, and the runs of the
/// others between them.
template <class IsDelimiter>
std::vector<Segment> char_segments(std::string_view text, IsDelimiter&& is_delimiter) {
  std::vector<Segment> out;
  std::size_t previous = 0, i = 0;
  while (i < text.size()) {
    const std::size_t at = i;
    const char32_t c = next_code_point(text, i);
    if (!is_delimiter(c)) continue;
    if (at > previous) out.push_back(Segment{previous, at, false});
    out.push_back(Segment{at, i, true});
    previous = i;
  }
  if (previous < text.size()) out.push_back(Segment{previous, text.size(), false});
  return out;
}

/// Applies a delimiter behavior: returns the pieces [begin, end) to keep, in order (empty ones dropped).
inline std::vector<std::pair<std::size_t, std::size_t>> apply_behavior(std::vector<Segment> segs,
                                                                       pre_tokenizers::Behavior behavior, bool invert) {
  using pre_tokenizers::Behavior;
  if (invert) {
    for (Segment& s : segs) s.is_match = !s.is_match;
  }
  std::vector<Segment> kept;  // is_match here means "remove"
  switch (behavior) {
    case Behavior::removed: kept = segs; break;
    case Behavior::isolated:
      for (Segment s : segs) kept.push_back(Segment{s.begin, s.end, false});
      break;
    case Behavior::merged_with_previous: {
      // A delimiter joins the piece before it (unless that piece is itself a delimiter).
      bool previous_match = false;
      for (const Segment& s : segs) {
        if (s.is_match && !previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back(Segment{s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    }
    case Behavior::merged_with_next: {
      // The mirror image: walk from the end; a delimiter joins the piece after it.
      bool previous_match = false;
      for (std::size_t k = segs.size(); k-- > 0;) {
        const Segment& s = segs[k];
        if (s.is_match && !previous_match && !kept.empty()) kept.back().begin = s.begin;
        else kept.push_back(Segment{s.begin, s.end, false});
        previous_match = s.is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
    case Behavior::contiguous: {
      // Neighbouring segments of the same kind become one.
      bool previous_match = false;
      for (const Segment& s : segs) {
        if (s.is_match == previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back(Segment{s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    }
  }
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (const Segment& s : kept) {
    if (!s.is_match && s.end > s.begin) out.emplace_back(s.begin, s.end);
  }
  return out;
}

/// Hugging Face's punctuation test for the Punctuation pre-tokenizer: ASCII punctuation (which includes
/// symbols such as $ + < = > ^ ` | ~) or a \p{P} character.
inline bool is_punctuation_char(char32_t c) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
  return unicode::is_punctuation(c);
}

/// One piece of text during pre-tokenization; `at_start` is true for the piece that begins the input
/// (Metaspace's prepend_scheme "first" needs it).
struct Piece {
  std::string text;
  bool at_start;
};

/// Applies one pre-tokenization step to every piece.
inline std::vector<Piece> pre_tokenize_step(const PreTokenizerStep& step, std::vector<Piece> pieces) {
  std::vector<Piece> out;
  const auto emit = [&](std::string_view text, bool at_start) {
    if (!text.empty()) out.push_back(Piece{std::string(text), at_start});
  };
  for (const Piece& p : pieces) {
    const std::string_view text = p.text;
    std::visit(
        [&](const auto& s) {
          using S = std::decay_t<decltype(s)>;
          if constexpr (std::is_same_v<S, pre_tokenizers::ByteLevel>) {
            std::string spaced;
            if (s.add_prefix_space && text.rfind(' ', 0) != 0) spaced = " " + p.text;
            const std::string_view t = spaced.empty() ? text : std::string_view(spaced);
            if (!s.use_regex) {
              emit(t, p.at_start);
              return;
            }
            bool first = true;
            split_pieces(t, SplitPattern::gpt2, [&](std::string_view piece) {
              emit(piece, p.at_start && first);
              first = false;
            });
          } else if constexpr (std::is_same_v<S, pre_tokenizers::Pattern>) {
            bool first = true;
            split_pieces(text, s.pattern, [&](std::string_view piece) {
              emit(piece, p.at_start && first);
              first = false;
            });
          } else if constexpr (std::is_same_v<S, pre_tokenizers::WhitespaceSplit>) {
            std::size_t i = 0, start = 0;
            while (i < text.size()) {
              const std::size_t at = i;
              if (unicode::is_white_space(next_code_point(text, i))) {
                emit(text.substr(start, at - start), p.at_start && start == 0);
                start = i;
              }
            }
            emit(text.substr(start), p.at_start && start == 0);
          } else if constexpr (std::is_same_v<S, pre_tokenizers::Bert>) {
            for (std::string_view w : bert_pre_tokenize(text)) emit(w, p.at_start && w.data() == text.data());
          } else if constexpr (std::is_same_v<S, pre_tokenizers::Metaspace>) {
            std::string t = replace_all(text, " ", s.replacement);
            const bool prepend = s.prepend == pre_tokenizers::Metaspace::Prepend::always ||
                                 (s.prepend == pre_tokenizers::Metaspace::Prepend::first && p.at_start);
            if (prepend && t.rfind(s.replacement, 0) != 0) t = s.replacement + t;
            if (!s.split) {
              emit(t, p.at_start);
              return;
            }
            // Split so that each replacement character starts a new piece ("MergedWithNext").
            std::size_t start = 0;
            std::size_t at = t.find(s.replacement, 1);
            while (at != std::string::npos) {
              emit(std::string_view(t).substr(start, at - start), p.at_start && start == 0);
              start = at;
              at = t.find(s.replacement, at + s.replacement.size());
            }
            emit(std::string_view(t).substr(start), p.at_start && start == 0);
          } else if constexpr (std::is_same_v<S, pre_tokenizers::Digits>) {
            // individual_digits: Isolated (each digit alone); otherwise Contiguous (runs of digits).
            const auto segs = char_segments(text, [](char32_t c) { return unicode::is_number(c); });
            const auto behavior = s.individual_digits ? pre_tokenizers::Behavior::isolated : pre_tokenizers::Behavior::contiguous;
            for (const auto& [b, e] : apply_behavior(segs, behavior, false)) emit(text.substr(b, e - b), p.at_start && b == 0);
          } else if constexpr (std::is_same_v<S, pre_tokenizers::Split>) {
            for (const auto& [b, e] : apply_behavior(regex_segments(text, *s.pattern), s.behavior, s.invert)) {
              emit(text.substr(b, e - b), p.at_start && b == 0);
            }
          } else if constexpr (std::is_same_v<S, pre_tokenizers::Punctuation>) {
            for (const auto& [b, e] : apply_behavior(char_segments(text, is_punctuation_char), s.behavior, false)) {
              emit(text.substr(b, e - b), p.at_start && b == 0);
            }
          } else if constexpr (std::is_same_v<S, pre_tokenizers::Whitespace>) {
            for (const auto& [b, e] : apply_behavior(regex_segments(text, *s.words), pre_tokenizers::Behavior::removed, true)) {
              emit(text.substr(b, e - b), p.at_start && b == 0);
            }
          } else {  // CharDelimiterSplit
            const char32_t d = s.delimiter;
            const auto segs = char_segments(text, [d](char32_t c) { return c == d; });
            for (const auto& [b, e] : apply_behavior(segs, pre_tokenizers::Behavior::removed, false)) {
              emit(text.substr(b, e - b), p.at_start && b == 0);
            }
          }
        },
        step);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Decoders (token surfaces -> text bytes)
// ------------------------------------------------------------------------------------------------
namespace decoders {
struct ByteLevel {};  // byte-level surfaces are raw bytes already: nothing to do
struct WordPiece {    // "##ing" joins the previous token; other tokens get a space before them
  std::string prefix = "##";
  bool cleanup = true;
};
struct Metaspace {  // "▁" -> " "; in the first token every "▁" is dropped (as the reference does)
  std::string replacement = "\xE2\x96\x81";
  bool strip_first = true;
};
struct ByteFallback {};  // "<0x41>" -> byte 0x41
struct Fuse {};          // all tokens into one
struct Strip {           // remove `start` leading and `stop` trailing copies of `content` from each token
  std::string content;
  std::size_t start = 0, stop = 0;
};
struct Replace {  // in each token: a literal string, or the matches of `regex` when set
  std::string pattern, content;
  std::shared_ptr<const regex::Regex> regex;
};
struct JoinWithSpaces {};  // what Hugging Face does when a tokenizer.json has no decoder: "a b c"
}  // namespace decoders

using DecoderStep = std::variant<decoders::ByteLevel, decoders::WordPiece, decoders::Metaspace, decoders::ByteFallback,
                                 decoders::Fuse, decoders::Strip, decoders::Replace, decoders::JoinWithSpaces>;

/// BERT's detokenizer clean-up (Hugging Face "cleanup": " ." -> ".", " n't" -> "n't", ...).
inline std::string wordpiece_cleanup(std::string s) {
  const std::pair<const char*, const char*> rules[] = {
      {" .", "."},   {" ?", "?"},   {" !", "!"},   {" ,", ","},           {" ' ", "'"},  {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : rules) s = replace_all(s, from, to);
  return s;
}

/// Applies one decoding step to the list of token surfaces.
inline std::vector<std::string> decode_step(const DecoderStep& step, std::vector<std::string> tokens) {
  return std::visit(
      [&](const auto& s) -> std::vector<std::string> {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, decoders::ByteLevel>) {
          return tokens;
        } else if constexpr (std::is_same_v<S, decoders::WordPiece>) {
          for (std::size_t i = 0; i < tokens.size(); ++i) {
            if (i != 0) {
              if (tokens[i].rfind(s.prefix, 0) == 0) {
                tokens[i].erase(0, s.prefix.size());
              } else {
                tokens[i].insert(0, " ");
              }
            }
            if (s.cleanup) tokens[i] = wordpiece_cleanup(tokens[i]);
          }
          return tokens;
        } else if constexpr (std::is_same_v<S, decoders::Metaspace>) {
          for (std::size_t i = 0; i < tokens.size(); ++i) {
            tokens[i] = replace_all(tokens[i], s.replacement, i == 0 && s.strip_first ? "" : " ");
          }
          return tokens;
        } else if constexpr (std::is_same_v<S, decoders::ByteFallback>) {
          // Runs of <0xXX> tokens become their bytes (our decode() turns broken UTF-8 into U+FFFD later).
          std::vector<std::string> out;
          std::string bytes;
          bool in_bytes = false;
          for (const std::string& t : tokens) {
            unsigned value = 0;
            const bool is_byte = t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
                                 std::sscanf(t.c_str() + 3, "%2X", &value) == 1 && std::isxdigit(static_cast<unsigned char>(t[3])) &&
                                 std::isxdigit(static_cast<unsigned char>(t[4]));
            if (is_byte) {
              bytes += static_cast<char>(value);
              in_bytes = true;
              continue;
            }
            if (in_bytes) out.push_back(std::move(bytes)), bytes.clear(), in_bytes = false;
            out.push_back(t);
          }
          if (in_bytes) out.push_back(std::move(bytes));
          return out;
        } else if constexpr (std::is_same_v<S, decoders::Fuse>) {
          std::string all;
          for (const std::string& t : tokens) all += t;
          return {all};
        } else if constexpr (std::is_same_v<S, decoders::Strip>) {
          for (std::string& t : tokens) {
            for (std::size_t k = 0; k < s.start && !s.content.empty() && t.rfind(s.content, 0) == 0; ++k) {
              t.erase(0, s.content.size());
            }
            for (std::size_t k = 0; k < s.stop && !s.content.empty() && t.size() >= s.content.size() &&
                                    t.compare(t.size() - s.content.size(), s.content.size(), s.content) == 0;
                 ++k) {
              t.erase(t.size() - s.content.size());
            }
          }
          return tokens;
        } else if constexpr (std::is_same_v<S, decoders::JoinWithSpaces>) {
          std::string all;
          for (std::size_t i = 0; i < tokens.size(); ++i) {
            if (i != 0) all += ' ';
            all += tokens[i];
          }
          return {all};
        } else {
          for (std::string& t : tokens) {
            t = s.regex ? replace_matches(t, *s.regex, s.content) : replace_all(t, s.pattern, s.content);
          }
          return tokens;
        }
      },
      step);
}

// ------------------------------------------------------------------------------------------------
// Post-processing template
// ------------------------------------------------------------------------------------------------

/// What add_special_tokens wraps around one encoded sequence: [CLS] $A [SEP] is {prefix {101}, suffix {102}}.
struct Template {
  TokenSequence prefix;
  TokenSequence suffix;
};

}  // namespace eigenformer::tokenizers
