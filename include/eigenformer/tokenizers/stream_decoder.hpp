// eigenformer/tokenizers/stream_decoder.hpp — printing generated text token by token.
//
// Generation produces one id at a time and wants to show text as it comes. Decoding each id on its own
// is wrong in two ways:
//   - a byte-level token can hold part of a character: "é" may arrive as 0xC3 then 0xA9, and printing
//     the first half alone shows U+FFFD;
//   - some decoders depend on context: WordPiece puts a space before "dog" but not before "##s", and
//     SentencePiece's "▁" becomes a space except at the very start.
// So the decoder keeps a short window of recent ids, decodes the window, and prints only what is new
// since the last call *and* ends on a complete character; incomplete trailing bytes wait for the next
// token. (Hugging Face's DecodeStream uses the same window idea.)
//
//     StreamDecoder stream(tokenizer);
//     for (TokenId id : generated) std::cout << stream.push(id) << std::flush;
//     std::cout << stream.flush();
#pragma once

#include <algorithm>
#include <string>

#include "eigenformer/core/types.hpp"
#include "eigenformer/tokenizers/tokenizer.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

namespace eigenformer::tokenizers {

class StreamDecoder {
 public:
  /// Decodes with `tokenizer`, which must outlive this object.
  explicit StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options = {})
      : tokenizer_(tokenizer), options_(options) {}

  /// Adds one id; returns the text that is now complete (often empty, sometimes several characters).
  /// Throws ValueError for an id outside the vocabulary.
  std::string push(TokenId id) {
    window_.push_back(id);
    // 1) The bytes of the whole window, and the part of them already printed.
    const std::string bytes = tokenizer_.decode_bytes(window_, options_);
    std::string fresh;
    if (bytes.compare(0, printed_.size(), printed_) == 0) {
      fresh = bytes.substr(printed_.size());
    } else {
      // The decoder rewrote earlier text (rare: a clean-up rule that spans tokens). What the user has
      // seen cannot be taken back: print what lies beyond it.
      fresh = bytes.substr(std::min(bytes.size(), printed_.size()));
    }
    // 2) Print the complete characters; hold back a character that later bytes may still complete.
    const std::size_t ready = utf8_complete_prefix(fresh);
    const std::string out = utf8_lossy(std::string_view(fresh).substr(0, ready));
    printed_ += fresh.substr(0, ready);
    // 3) Slide the window when nothing is held back: keep the last id as context for the next one.
    if (ready == fresh.size() && window_.size() > 1) {
      const TokenId last = window_.back();
      window_.assign(1, last);
      printed_ = tokenizer_.decode_bytes(window_, options_);
    }
    return out;
  }

  /// Ends the stream: returns whatever is held back (an incomplete character becomes U+FFFD) and resets.
  std::string flush() {
    std::string out;
    if (!window_.empty()) {
      const std::string bytes = tokenizer_.decode_bytes(window_, options_);
      if (bytes.size() > printed_.size() && bytes.compare(0, printed_.size(), printed_) == 0) {
        out = utf8_lossy(std::string_view(bytes).substr(printed_.size()));
      }
    }
    window_.clear();
    printed_.clear();
    return out;
  }

 private:
  const Tokenizer& tokenizer_;
  DecodeOptions options_;
  TokenSequence window_;  // recent ids, decoded together for context
  std::string printed_;   // bytes of the window's decode that were already returned
};

}  // namespace eigenformer::tokenizers
