// eigenformer/tokenizers/vocabulary.hpp — the two-way table token <-> id that every tokenizer model holds.
//
// A vocabulary maps each token (a byte string: "the", "Ġthe", "##ing", "▁the", or raw bytes for byte-level
// BPE) to an integer id, and back. Ids index the model's embedding matrix, so they must be exactly the ids
// of the files the model was trained with; they need not be contiguous (a tokenizer.json may skip some).
//
// Storage: all token bytes live in one string (the "arena"); an id row says where its token is. Lookup by
// text uses open addressing (linear probing) over a power-of-two table of ids, with std::hash of the
// bytes. Lookups take a string_view, so the BPE inner loop can ask "is this span of the input a token?"
// without building a std::string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer::tokenizers {

/// The largest token id a vocabulary file may use: 2^24 - 1, the same bound as a config.json's sizes
/// (ModelConfig::kMaxDimension; the largest vocabulary in use, Gemma 3's, has 262,144 ids). The id table is
/// indexed by id, so without a bound a 500-byte rank file with one rank near 2^31 asked for 7.7 GB
/// (found by fuzz/fuzz_tiktoken.cpp). Each loader refuses a larger id naming its file and line or field;
/// Vocabulary::insert refuses it too, with a FormatError.
inline constexpr TokenId kMaxTokenId = (TokenId{1} << 24) - 1;

class Vocabulary {
 public:
  /// Adds `token` with id `id`. Returns false (and changes nothing) when the token text or the id is
  /// already present — the caller decides whether that is an error for its file format.
  bool insert(std::string_view token, TokenId id) {
    if (id < 0) return false;
    if (id > kMaxTokenId) {
      throw FormatError(eigenformer::detail::cat("[vocabulary] token id ", id, " is above the largest id accepted, ", kMaxTokenId,
                                                 " (2^24 - 1): a corrupt file?"));
    }
    if (static_cast<std::size_t>(id) < rows_.size() && rows_[static_cast<std::size_t>(id)].present) return false;
    if (find(token)) return false;
    if (static_cast<std::size_t>(id) >= rows_.size()) rows_.resize(static_cast<std::size_t>(id) + 1);
    rows_[static_cast<std::size_t>(id)] = Row{arena_.size(), token.size(), true};
    arena_.append(token.data(), token.size());
    ++count_;
    if (count_ * 2 > slots_.size()) {
      rehash(slots_.empty() ? 64 : slots_.size() * 2);  // places every present id, the new one too
    } else {
      place(id);
    }
    return true;
  }

  /// The id of `token`, or nullopt.
  std::optional<TokenId> find(std::string_view token) const {
    if (slots_.empty()) return std::nullopt;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t s = hash(token) & mask;; s = (s + 1) & mask) {
      const TokenId id = slots_[s];
      if (id < 0) return std::nullopt;
      if (text(id) == token) return id;
    }
  }

  /// The token of `id`; id must satisfy contains(id).
  std::string_view text(TokenId id) const {
    const Row& r = rows_[static_cast<std::size_t>(id)];
    return std::string_view(arena_).substr(r.offset, r.length);
  }

  bool contains(TokenId id) const {
    return id >= 0 && static_cast<std::size_t>(id) < rows_.size() && rows_[static_cast<std::size_t>(id)].present;
  }

  /// Number of tokens.
  std::size_t size() const { return count_; }
  /// One more than the largest id (the embedding rows this vocabulary needs).
  std::size_t id_bound() const { return rows_.size(); }

 private:
  struct Row {
    std::size_t offset = 0;
    std::size_t length = 0;
    bool present = false;
  };

  static std::size_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }

  void place(TokenId id) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t s = hash(text(id)) & mask;
    while (slots_[s] >= 0) s = (s + 1) & mask;
    slots_[s] = id;
  }

  void rehash(std::size_t capacity) {
    slots_.assign(capacity, -1);
    for (std::size_t id = 0; id < rows_.size(); ++id) {
      if (rows_[id].present) place(static_cast<TokenId>(id));
    }
  }

  std::string arena_;
  std::vector<Row> rows_;
  std::vector<TokenId> slots_;  // -1 = empty
  std::size_t count_ = 0;
};

/// Byte fallback (SentencePiece): appends the ids of the tokens "<0xE2>", "<0x82>", ... for each byte of
/// `bytes` and returns true — or appends nothing and returns false when one of them is missing.
inline bool append_byte_tokens(const Vocabulary& vocab, std::string_view bytes, TokenSequence& out) {
  TokenSequence ids;
  for (char c : bytes) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(c));
    const auto id = vocab.find(name);
    if (!id) return false;
    ids.push_back(*id);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  return true;
}

}  // namespace eigenformer::tokenizers
