// eigenformer/tokenizers/wordpiece.hpp — WordPiece, BERT's tokenizer, with BERT's text cleaning.
//
// Devlin et al., "BERT" (2019), section 3 and appendix A.2, use WordPiece (Wu et al. 2016, "Google's
// Neural Machine Translation System", section 4.1). Tokenizing one sentence takes three steps:
//
//   1) normalize (BertNormalizer): drop control characters and U+FFFD, turn every whitespace into ' ',
//      put spaces around CJK ideographs (so each becomes its own word), and for "uncased" models
//      strip accents (decompose to NFD, drop nonspacing marks: é -> e) and lowercase.
//   2) pre-tokenize (BertPreTokenizer): split on whitespace, and cut every punctuation character out as
//      its own word: "don't!" -> "don" "'" "t" "!".
//   3) WordPiece each word, greedily, longest match first: take the longest prefix that is in the
//      vocabulary, then the longest vocabulary entry "##<rest...>" for the rest, and so on:
//          "unaffable" -> "un" "##aff" "##able"
//      If some position has no match at all, the *whole word* becomes [UNK] (not just that part), and a
//      word longer than max_input_chars_per_word (100) characters is [UNK] without trying.
//
// Hugging Face's BertNormalizer and BertPreTokenizer (the reference we test against) decide "control",
// "punctuation" and "nonspacing mark" with Unicode 8.0 tables, so characters assigned later are none of
// these; unicode::assigned_by_unicode8() reproduces that.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/tokenizers/files.hpp"
#include "eigenformer/tokenizers/model.hpp"
#include "eigenformer/tokenizers/unicode.hpp"
#include "eigenformer/tokenizers/utf8.hpp"
#include "eigenformer/tokenizers/vocabulary.hpp"

namespace eigenformer::tokenizers {

// ------------------------------------------------------------------------------------------------
// BERT's character classes
// ------------------------------------------------------------------------------------------------
namespace bert {

/// Whitespace for BERT: \t \n \r and every White_Space character.
inline bool is_whitespace(char32_t c) { return c == '\t' || c == '\n' || c == '\r' || unicode::is_white_space(c); }

/// "Control" for BERT's cleaning: categories Cc, Cf, Co, Cs as of Unicode 8.0, except \t \n \r (which
/// are whitespace). Unassigned code points are kept, as in the reference.
inline bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  using unicode::Category;
  const Category cat = unicode::category(c);
  const bool other = cat == Category::Cc || cat == Category::Cf || cat == Category::Co || cat == Category::Cs;
  return other && unicode::assigned_by_unicode8(c);
}

/// Punctuation for BERT: ASCII punctuation (which includes $ + < = > ^ ` | ~, symbols in Unicode) or a
/// Unicode 8.0 punctuation character.
inline bool is_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return unicode::is_punctuation(c) && unicode::assigned_by_unicode8(c);
}

/// The CJK ideograph blocks BERT puts spaces around (not Hangul, not kana).
inline bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

}  // namespace bert

/// BertNormalizer options (tokenizer.json "normalizer": {"type": "BertNormalizer", ...}).
struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;  // tokenizer.json null means "same as lowercase"
  bool lowercase = true;
};

/// Step 1: BERT's normalization of valid UTF-8 text, in the reference's order (clean, CJK, accents, case).
inline std::string bert_normalize(std::string_view text, const BertNormalizerOptions& o) {
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t i = 0;
  while (i < text.size()) {
    const char32_t c = next_code_point(text, i);
    if (o.clean_text) {
      if (c == 0 || c == 0xFFFD || bert::is_control(c)) continue;
      if (bert::is_whitespace(c)) {
        out += ' ';
        continue;
      }
    }
    if (o.handle_chinese_chars && bert::is_chinese_char(c)) {
      out += ' ';
      append_utf8(out, c);
      out += ' ';
      continue;
    }
    append_utf8(out, c);
  }
  if (o.strip_accents) {
    const std::string decomposed = unicode::normalize(out, unicode::NormalForm::NFD);
    out.clear();
    std::size_t k = 0;
    while (k < decomposed.size()) {
      const char32_t c = next_code_point(decomposed, k);
      if (unicode::category(c) == unicode::Category::Mn && unicode::assigned_by_unicode8(c)) continue;
      append_utf8(out, c);
    }
  }
  if (o.lowercase) out = unicode::to_lowercase(out);
  return out;
}

/// Step 2: BERT's pre-tokenization: whitespace separates words and disappears; each punctuation
/// character becomes a word of its own. Returns views into `text`.
inline std::vector<std::string_view> bert_pre_tokenize(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0, word_start = 0;
  const auto flush = [&](std::size_t end) {
    if (end > word_start) words.push_back(text.substr(word_start, end - word_start));
  };
  while (i < text.size()) {
    const std::size_t at = i;
    const char32_t c = next_code_point(text, i);
    if (unicode::is_white_space(c)) {
      flush(at);
      word_start = i;
    } else if (bert::is_punctuation(c)) {
      flush(at);
      words.push_back(text.substr(at, i - at));
      word_start = i;
    }
  }
  flush(text.size());
  return words;
}

// ------------------------------------------------------------------------------------------------
// The model
// ------------------------------------------------------------------------------------------------

struct WordPieceOptions {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  std::size_t max_input_chars_per_word = 100;
};

class WordPiece : public SpelledVocabularyModel {
 public:
  /// `vocab` must contain options.unk_token; throws FormatError naming `source` otherwise.
  WordPiece(Vocabulary vocab, WordPieceOptions options, std::string_view source = "<vocab>")
      : SpelledVocabularyModel(std::move(vocab)), options_(std::move(options)) {
    const auto unk = vocab_.find(options_.unk_token);
    if (!unk) {
      throw FormatError(eigenformer::detail::cat("[wordpiece] ", source, ": the unknown token '", options_.unk_token,
                                    "' is not in the vocabulary"));
    }
    unk_id_ = *unk;
  }

  std::string_view kind() const override { return "WordPiece"; }
  const WordPieceOptions& options() const { return options_; }
  TokenId unk_id() const { return unk_id_; }

  /// Step 3: greedy longest-match-first segmentation of one word (valid UTF-8).
  void encode_piece(std::string_view word, TokenSequence& out) const override {
    // Character boundaries: a match may only end between characters.
    std::vector<std::size_t> bounds;
    for (std::size_t i = 0; i < word.size(); i += utf8_length_from_lead(static_cast<unsigned char>(word[i]))) {
      bounds.push_back(i);
    }
    bounds.push_back(word.size());
    if (bounds.size() - 1 > options_.max_input_chars_per_word) {
      out.push_back(unk_id_);
      return;
    }
    TokenSequence pieces;
    std::string candidate;
    std::size_t start = 0;  // index into bounds
    while (start + 1 < bounds.size()) {
      std::optional<TokenId> found;
      std::size_t end = bounds.size() - 1;
      for (; end > start; --end) {  // longest first
        candidate.clear();
        if (start > 0) candidate += options_.continuing_subword_prefix;
        candidate.append(word.substr(bounds[start], bounds[end] - bounds[start]));
        if ((found = vocab_.find(candidate))) break;
      }
      if (!found) {  // no piece fits here: the whole word is unknown
        out.push_back(unk_id_);
        return;
      }
      pieces.push_back(*found);
      start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
  }


 private:
  WordPieceOptions options_;
  TokenId unk_id_ = 0;
};

/// Parses BERT's vocab.txt: one token per line, the line number (from 0) is the id. Throws ParseError
/// naming the file and line for a repeated token or invalid UTF-8.
inline Vocabulary parse_vocab_txt(std::string_view text, std::string_view source) {
  Vocabulary vocab;
  std::size_t offset = 0;
  for_each_line(text, [&](std::string_view line, std::size_t number) {
    const std::size_t line_offset = offset;
    offset += line.size() + 1;
    if (find_invalid_utf8(line) != std::string_view::npos) {
      throw ParseError(eigenformer::detail::cat("[wordpiece] ", source, ": line ", number, ": not valid UTF-8"), line_offset);
    }
    if (!vocab.insert(line, static_cast<TokenId>(number - 1))) {
      throw ParseError(eigenformer::detail::cat("[wordpiece] ", source, ": line ", number, ": the token '", line,
                                   "' appears twice"),
                       line_offset);
    }
  });
  if (vocab.size() == 0) throw FormatError(eigenformer::detail::cat("[wordpiece] ", source, ": the vocabulary is empty"));
  return vocab;
}

}  // namespace eigenformer::tokenizers
