// eigenformer/tokenizers/tokenizer.hpp — the tokenizer: special tokens + normalizer + pre-tokenizer + model
// + post-processor, and the way back (decoder). What generation and the model programs use.
//
//     Tokenizer tok = load_tokenizer("checkpoints/llama3");                 // load.hpp
//     TokenSequence ids = tok.encode("Hello!", EncodeOptions{}.with_special_tokens());
//     std::string text = tok.decode(ids);
//
// encode(text), step by step (numbered as in the code):
//   1) the text must be valid UTF-8 (InvalidUtf8Error names the byte offset otherwise);
//   2) special / added tokens are found in the raw text and cut out as single ids — refused with a
//      SpecialTokenError unless allowed (special_tokens.hpp explains why);
//   3) each stretch of text between them is normalized, pre-tokenized into pieces, and each piece goes
//      through the model (BPE, WordPiece or Unigram);
//   4) with add_special_tokens, the post-processing template wraps the result ([CLS] ... [SEP]).
// decode(ids) maps each id to its token, lets the decoder join them, and turns the bytes into text; bytes
// that end mid-character become U+FFFD (decode_bytes() returns them raw; stream_decoder.hpp holds them
// back until the character is complete).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/tokenizers/model.hpp"
#include "eigenformer/tokenizers/pipeline.hpp"
#include "eigenformer/tokenizers/special_tokens.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

namespace eigenformer::tokenizers {

/// How encode() treats special-token text in its input, and whether it adds the template's tokens.
struct EncodeOptions {
  /// Wrap the ids with the post-processing template ([CLS] ... [SEP], <|begin_of_text|> ..., ... </s>).
  bool add_special_tokens = false;
  /// Special tokens whose text is accepted in the input and becomes the special id (e.g. "[MASK]").
  std::vector<std::string> allowed_special;
  /// Accept every special token's text.
  bool allow_all_special = false;
  /// Special-token text that is not allowed: encode it as ordinary text (true) instead of refusing (false).
  bool special_as_text = false;

  EncodeOptions& with_special_tokens(bool on = true) {
    add_special_tokens = on;
    return *this;
  }
  EncodeOptions& allow(std::string token) {
    allowed_special.push_back(std::move(token));
    return *this;
  }
  EncodeOptions& allow_all(bool on = true) {
    allow_all_special = on;
    return *this;
  }
  EncodeOptions& as_text(bool on = true) {
    special_as_text = on;
    return *this;
  }
};

struct DecodeOptions {
  bool skip_special_tokens = false;  // leave out special tokens ([CLS], <|eot_id|>, </s>, ...)
};

/// The stages around the model (pipeline.hpp).
struct Pipeline {
  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;
  std::vector<DecoderStep> decoder;
  std::optional<Template> post_processor;
};

class Tokenizer {
 public:
  /// A tokenizer from its parts. `name` describes it in messages ("cl100k_base", "tokenizer.json").
  Tokenizer(std::shared_ptr<const Model> model, Pipeline pipeline, SpecialTokens special, std::string name)
      : model_(std::move(model)), pipeline_(std::move(pipeline)), special_(std::move(special)), name_(std::move(name)) {
    index_added_tokens();
  }

  const std::string& name() const { return name_; }
  const Model& model() const { return *model_; }
  const Pipeline& pipeline() const { return pipeline_; }
  const SpecialTokens& special_tokens() const { return special_; }
  /// Changing the registry (roles, new added tokens) is allowed; matching is rebuilt.
  void set_special_tokens(SpecialTokens special) {
    special_ = std::move(special);
    index_added_tokens();
  }
  void set_post_processor(std::optional<Template> t) { pipeline_.post_processor = std::move(t); }

  /// Number of ids: the model's, or more when added tokens lie beyond it.
  std::size_t vocab_size() const {
    std::size_t n = model_->vocab_size();
    for (const AddedToken& t : special_.all()) n = std::max(n, static_cast<std::size_t>(t.id) + 1);
    return n;
  }

  /// The id of a token as the vocabulary spells it ("<|eot_id|>", "Ġthe", "##ing"), or nullopt.
  std::optional<TokenId> token_to_id(std::string_view token) const {
    if (const AddedToken* t = special_.find(token)) return t->id;
    return model_->token_to_id(token);
  }
  /// The spelling of `id`, or nullopt when the tokenizer has no such id.
  std::optional<std::string> id_to_token(TokenId id) const {
    if (const AddedToken* t = special_.find(id)) return t->content;
    return model_->id_to_token(id);
  }

  /// Encodes valid UTF-8 text. Throws InvalidUtf8Error (with the byte offset) for anything else, and
  /// SpecialTokenError for special-token text the options do not allow.
  TokenSequence encode(std::string_view text, const EncodeOptions& options = {}) const {
    // 1) Valid UTF-8 only.
    require_utf8(text, name_ + " encode");
    TokenSequence ids;
    // 4a) Template prefix ([CLS], <|begin_of_text|>).
    if (options.add_special_tokens && pipeline_.post_processor) {
      ids = pipeline_.post_processor->prefix;
    }
    // 2) Cut added tokens out of the raw text; 3) encode the text between them.
    split_added(text, 0, /*normalized_tokens=*/false, options, [&](std::string_view segment, std::size_t at, const AddedToken* token) {
      if (token != nullptr) {
        ids.push_back(token->id);
      } else {
        encode_segment(segment, at == 0, options, ids);
      }
    });
    // 4b) Template suffix ([SEP], </s>).
    if (options.add_special_tokens && pipeline_.post_processor) {
      ids.insert(ids.end(), pipeline_.post_processor->suffix.begin(), pipeline_.post_processor->suffix.end());
    }
    return ids;
  }

  /// Encodes arbitrary bytes (byte-level BPE only: every byte string has an encoding). Well-formed UTF-8
  /// stretches are encoded as encode() would; each broken sequence is a piece of its own. Throws
  /// ValueError for models that only read text.
  TokenSequence encode_bytes(std::string_view bytes, const EncodeOptions& options = {}) const {
    if (!model_->byte_level()) {
      throw ValueError(eigenformer::detail::cat("[", name_, " encode_bytes] a ", model_->kind(),
                                   " model reads text, not bytes: use encode() with valid UTF-8"));
    }
    TokenSequence ids;
    if (options.add_special_tokens && pipeline_.post_processor) ids = pipeline_.post_processor->prefix;
    std::size_t i = 0;
    while (i < bytes.size()) {
      // The next well-formed stretch [i, j), then the broken sequence at j.
      std::size_t j = i;
      while (j < bytes.size()) {
        const Utf8Scan s = utf8_scan(bytes, j);
        if (!s.valid) break;
        j += s.length;
      }
      if (j > i) {
        EncodeOptions inner = options;
        inner.add_special_tokens = false;
        const TokenSequence part = encode(bytes.substr(i, j - i), inner);
        ids.insert(ids.end(), part.begin(), part.end());
      }
      if (j < bytes.size()) {
        const Utf8Scan s = utf8_scan(bytes, j);
        model_->encode_piece(bytes.substr(j, s.length), ids);
        j += s.length;
      }
      i = j;
    }
    if (options.add_special_tokens && pipeline_.post_processor) {
      ids.insert(ids.end(), pipeline_.post_processor->suffix.begin(), pipeline_.post_processor->suffix.end());
    }
    return ids;
  }

  /// The bytes the ids stand for, joined by the decoder. Throws ValueError for an id outside the vocabulary.
  std::string decode_bytes(const TokenSequence& ids, const DecodeOptions& options = {}) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (TokenId id : ids) {
      if (const AddedToken* t = special_.find(id)) {
        if (options.skip_special_tokens && t->special) continue;
        tokens.push_back(t->content);
        continue;
      }
      auto surface = model_->token_surface(id);
      if (!surface) {
        throw ValueError(eigenformer::detail::cat("[", name_, " decode] token id ", id, " is outside the vocabulary (size ",
                                     vocab_size(), ")"));
      }
      tokens.push_back(std::move(*surface));
    }
    // The decoders together may make at most max_replaced_bytes of the tokens' bytes (pipeline.hpp): each Replace
    // is bounded per token, but a chain of them over many tokens would multiply the bounds.
    const std::size_t limit = max_replaced_bytes(total_bytes(tokens));
    for (const DecoderStep& step : pipeline_.decoder) {
      tokens = decode_step(step, std::move(tokens));
      check_grown(total_bytes(tokens), limit, "decoders");
    }
    std::string out;
    for (const std::string& t : tokens) out += t;
    return out;
  }

  /// The text the ids stand for; bytes that do not form whole characters become U+FFFD.
  std::string decode(const TokenSequence& ids, const DecodeOptions& options = {}) const {
    return utf8_lossy(decode_bytes(ids, options));
  }

  /// The pieces the pre-tokenizer makes of `text` (valid UTF-8), after normalization — for teaching and
  /// debugging ("how does cl100k cut this?"). Special tokens are not looked for.
  std::vector<std::string> pre_tokenize(std::string_view text) const {
    require_utf8(text, name_ + " pre_tokenize");
    std::vector<std::string> out;
    for (Piece& p : pieces_of(normalize(text), true)) {
      if (!p.text.empty()) out.push_back(std::move(p.text));
    }
    return out;
  }

  /// The normalizer's output for valid UTF-8 text.
  /// ValueError when the steps together make more than max_replaced_bytes(text) bytes (pipeline.hpp): each
  /// Replace is bounded on its own input, but a chain of them would multiply the bounds (a fuzz finding: five
  /// Replaces of " " by thousands of characters made a 64 MiB text for the model to tokenize).
  std::string normalize(std::string_view text) const {
    const std::size_t limit = max_replaced_bytes(text.size());
    std::string s(text);
    for (const NormalizerStep& step : pipeline_.normalizer) {
      s = normalize_step(step, s);
      check_grown(s.size(), limit, "normalizer");
    }
    return s;
  }

 private:
  static std::size_t total_bytes(const std::vector<std::string>& pieces) {
    std::size_t n = 0;
    for (const std::string& p : pieces) n += p.size();
    return n;
  }

  /// ValueError when a pipeline stage (normalizer or decoders) has grown its text past `limit` bytes.
  void check_grown(std::size_t bytes, std::size_t limit, const char* stage) const {
    if (bytes > limit) {
      throw ValueError(eigenformer::detail::cat("[", name_, " ", stage, "] the steps make ", bytes, " bytes, more than ",
                                                limit, " (16 times the input plus 64 KiB): its Replace steps multiply the text",
                                                " (a broken or hostile tokenizer.json?)"));
    }
  }

  std::vector<Piece> pieces_of(std::string text, bool at_start) const {
    std::vector<Piece> pieces;
    pieces.push_back(Piece{std::move(text), at_start});
    for (const PreTokenizerStep& step : pipeline_.pre_tokenizer) pieces = pre_tokenize_step(step, std::move(pieces));
    return pieces;
  }

  // 3) One stretch of text without raw-matched added tokens: normalize, cut out the added tokens that
  //    match normalized text, pre-tokenize, run the model on each piece.
  void encode_segment(std::string_view segment, bool at_start, const EncodeOptions& options, TokenSequence& ids) const {
    const std::string normalized = normalize(segment);
    split_added(normalized, 0, /*normalized_tokens=*/true, options, [&](std::string_view part, std::size_t at, const AddedToken* token) {
      if (token != nullptr) {
        ids.push_back(token->id);
        return;
      }
      for (const Piece& p : pieces_of(std::string(part), at_start && at == 0)) model_->encode_piece(p.text, ids);
    });
  }

  bool allowed(const AddedToken& t, const EncodeOptions& o) const {
    if (!t.special || o.allow_all_special) return true;
    for (const std::string& a : o.allowed_special) {
      if (a == t.content) return true;
    }
    return false;
  }

  static bool is_word_char(std::string_view text, std::size_t at) {
    std::size_t k = at;
    const char32_t c = next_code_point(text, k);
    return c == '_' || unicode::is_letter(c) || unicode::is_number(c) || unicode::is_mark(c);
  }

  /// Walks `text`, calling emit(segment, offset, nullptr) for plain text and emit("", offset, &token) for
  /// each accepted added token. Leftmost-longest matching, like the reference's Aho-Corasick search.
  template <class Emit>
  void split_added(std::string_view text, std::size_t base, bool normalized_tokens, const EncodeOptions& options,
                   Emit&& emit) const {
    const auto& candidates = normalized_tokens ? normalized_added_ : raw_added_;
    const auto& first_bytes = normalized_tokens ? normalized_first_ : raw_first_;
    std::size_t segment_start = 0, i = 0;
    while (i < text.size()) {
      if (!first_bytes[static_cast<unsigned char>(text[i])]) {
        ++i;
        continue;
      }
      const AddedToken* best = nullptr;
      for (std::size_t index : candidates) {
        const AddedToken* t = &special_.all()[index];
        if (text.compare(i, t->content.size(), t->content) != 0) continue;
        if (best != nullptr && best->content.size() >= t->content.size()) continue;
        if (t->single_word) {  // not glued to a word on either side
          const std::size_t end = i + t->content.size();
          std::size_t before = i;
          if (before > 0) {
            --before;
            while (before > 0 && (static_cast<unsigned char>(text[before]) & 0xC0) == 0x80) --before;
            if (is_word_char(text, before)) continue;
          }
          if (end < text.size() && is_word_char(text, end)) continue;
        }
        best = t;
      }
      if (best == nullptr) {
        ++i;
        continue;
      }
      if (!allowed(*best, options)) {
        if (options.special_as_text) {
          ++i;  // ordinary text: keep scanning inside it
          continue;
        }
        throw SpecialTokenError(
            eigenformer::detail::cat("[", name_, " encode] the input contains the special token '", best->content, "' at byte offset ",
                        base + i, "; allow it (EncodeOptions::allow / --allow-special) or encode it as plain text "
                                  "(EncodeOptions::as_text)"),
            base + i);
      }
      std::size_t start = i, end = i + best->content.size();
      const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
      if (best->lstrip) {
        while (start > segment_start && blank(text[start - 1])) --start;
      }
      if (best->rstrip) {
        while (end < text.size() && blank(text[end])) ++end;
      }
      if (start > segment_start) emit(text.substr(segment_start, start - segment_start), base + segment_start, nullptr);
      emit(std::string_view(), base + start, best);
      segment_start = i = end;
    }
    if (segment_start < text.size()) emit(text.substr(segment_start), base + segment_start, nullptr);
  }

  void index_added_tokens() {
    raw_added_.clear();
    normalized_added_.clear();
    raw_first_.fill(false);
    normalized_first_.fill(false);
    for (std::size_t k = 0; k < special_.all().size(); ++k) {
      const AddedToken& t = special_.all()[k];
      if (t.content.empty()) continue;
      (t.normalized ? normalized_added_ : raw_added_).push_back(k);
      (t.normalized ? normalized_first_ : raw_first_)[static_cast<unsigned char>(t.content[0])] = true;
    }
  }

  std::shared_ptr<const Model> model_;
  Pipeline pipeline_;
  SpecialTokens special_;
  std::string name_;
  std::vector<std::size_t> raw_added_, normalized_added_;  // indices into special_.all()
  std::array<bool, 256> raw_first_{}, normalized_first_{};
};

}  // namespace eigenformer::tokenizers
