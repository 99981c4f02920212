// eigenformer/tokenizers/wordlevel.hpp — WordLevel, the simplest model: one piece, one id.
//
// Each pre-tokenized piece is looked up whole in the vocabulary; a piece that is not there becomes the
// unknown token ("<unk>" unless the file names another). No sub-words: a word-level vocabulary is what
// older word-based models (and small teaching vocabularies) use, and what a tokenizer.json with
// "model": {"type": "WordLevel", "vocab": {...}, "unk_token": "[UNK]"} describes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "eigenformer/core/error.hpp"
#include "eigenformer/tokenizers/model.hpp"

namespace eigenformer::tokenizers {

class WordLevel : public SpelledVocabularyModel {
 public:
  /// A model over `vocab`; `unk_token` is what unknown pieces become (when it is in the vocabulary; when
  /// it is not, an unknown piece is an error, as in Hugging Face's MissingUnkToken). `source` names the
  /// file in messages.
  WordLevel(Vocabulary vocab, std::string unk_token, std::string source)
      : SpelledVocabularyModel(std::move(vocab)), unk_token_(std::move(unk_token)), source_(std::move(source)) {
    unk_id_ = vocab_.find(unk_token_);
  }

  std::string_view kind() const override { return "WordLevel"; }

  /// Appends the id of the whole piece, or of the unknown token.
  void encode_piece(std::string_view piece, TokenSequence& out) const override {
    if (const std::optional<TokenId> id = vocab_.find(piece)) {
      out.push_back(*id);
      return;
    }
    if (!unk_id_) {
      throw ValueError(eigenformer::detail::cat("[WordLevel] ", source_, ": the piece '", piece,
                                                "' is not in the vocabulary and the unknown token '", unk_token_,
                                                "' is not either"));
    }
    out.push_back(*unk_id_);
  }

 private:
  std::string unk_token_;
  std::string source_;
  std::optional<TokenId> unk_id_;
};

}  // namespace eigenformer::tokenizers
