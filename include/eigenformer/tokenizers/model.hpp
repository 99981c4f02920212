// eigenformer/tokenizers/model.hpp — what the three tokenizer algorithms have in common.
//
// A tokenizer is a pipeline (the Hugging Face tokenizers library names the same stages):
//
//     text --normalize--> text --pre-tokenize--> pieces --model--> ids --post-process--> ids
//     ids  --model (id -> token)--> tokens --decoder--> bytes --UTF-8--> text
//
// The *model* is the learned part: byte-pair encoding (bpe.hpp), WordPiece (wordpiece.hpp) or Unigram
// (unigram.hpp). It sees one pre-tokenized piece at a time ("hello", " world", "▁the") and never the
// whole text. Everything else (normalizers, split patterns, special tokens, templates) is in tokenizer.hpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "eigenformer/core/types.hpp"
#include "eigenformer/tokenizers/vocabulary.hpp"

namespace eigenformer::tokenizers {

class Model {
 public:
  virtual ~Model() = default;

  /// "BPE", "WordPiece" or "Unigram": the tokenizer.json name of the algorithm.
  virtual std::string_view kind() const = 0;

  /// Appends the ids of one piece (valid UTF-8 for WordPiece/Unigram, any bytes for byte-level BPE).
  virtual void encode_piece(std::string_view piece, TokenSequence& out) const = 0;

  /// The id of a vocabulary entry as the vocabulary file spells it ("Ġthe", "##ing", "▁the"), or nullopt.
  virtual std::optional<TokenId> token_to_id(std::string_view token) const = 0;

  /// The vocabulary spelling of `id`, or nullopt when the model has no such id.
  virtual std::optional<std::string> id_to_token(TokenId id) const = 0;

  /// The bytes that `id` stands for in decoded text, before the decoder joins tokens: raw bytes for
  /// byte-level BPE, the spelling otherwise (the decoder then strips "##" or turns "▁" into a space).
  virtual std::optional<std::string> token_surface(TokenId id) const = 0;

  /// One more than the largest id the model uses (the number of embedding rows it needs).
  virtual std::size_t vocab_size() const = 0;

  /// True when every byte string has an encoding (byte-level BPE): then encode_bytes() accepts input
  /// that is not UTF-8.
  virtual bool byte_level() const { return false; }
};

/// A model whose vocabulary entries are spelled as they are used (WordPiece, Unigram): token lookups are
/// plain vocabulary lookups, and a token's surface is its spelling.
class SpelledVocabularyModel : public Model {
 public:
  std::optional<TokenId> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  std::optional<std::string> id_to_token(TokenId id) const override {
    if (!vocab_.contains(id)) return std::nullopt;
    return std::string(vocab_.text(id));
  }
  std::optional<std::string> token_surface(TokenId id) const override { return id_to_token(id); }
  std::size_t vocab_size() const override { return vocab_.id_bound(); }
  const Vocabulary& vocabulary() const { return vocab_; }

 protected:
  explicit SpelledVocabularyModel(Vocabulary vocab = {}) : vocab_(std::move(vocab)) {}
  Vocabulary vocab_;
};

}  // namespace eigenformer::tokenizers
