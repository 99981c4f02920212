// eigenformer/tokenizers/unigram.hpp — the Unigram language-model tokenizer (SentencePiece, T5).
//
// Kudo, "Subword Regularization" (ACL 2018), section 3.1: every vocabulary piece x has a log-probability
// score s(x); a segmentation of the text into pieces x1..xn scores Σ s(xi), and the tokenizer returns the
// best one. The best segmentation is found by dynamic programming over end positions (Viterbi):
//
//     best[0] = 0
//     best[e] = max over pieces x that end at e (starting at b):  best[b] + s(x)
//
// Walking b from left to right, for each b we enumerate every piece that starts there (a trie lookup of
// all vocabulary prefixes of text[b..]) and relax best[b + |x|]. A character that no single piece covers
// gets the unknown token with score min(s) - 10 so that a path always exists.
//
// Details that decide the exact ids, as in Hugging Face's implementation (our reference):
//   - ties keep the first candidate found (earlier start, then shorter piece): an update needs a strictly
//     better score;
//   - consecutive unknown characters are fused into one unknown token;
//   - with byte_fallback, an unknown stretch becomes the byte tokens <0x..> of its UTF-8 bytes (when all
//     256 exist), so nothing is lost.
// T5's "▁" convention (spaces become U+2581 and each word starts with one) is the Metaspace pre-tokenizer's
// job (tokenizer.hpp); this model just segments the pieces it is given.
#pragma once

#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/tokenizers/model.hpp"
#include "eigenformer/tokenizers/utf8.hpp"
#include "eigenformer/tokenizers/vocabulary.hpp"

namespace eigenformer::tokenizers {

class Unigram : public SpelledVocabularyModel {
 public:
  /// `pieces[id]` = (piece, score). unk_id must index a piece when given. Throws FormatError naming
  /// `source` for a repeated piece or a bad unk_id.
  Unigram(const std::vector<std::pair<std::string, double>>& pieces, std::optional<TokenId> unk_id, bool byte_fallback,
          std::string_view source = "<unigram>")
      : unk_id_(unk_id), byte_fallback_(byte_fallback) {
    if (pieces.empty()) throw FormatError(eigenformer::detail::cat("[unigram] ", source, ": the vocabulary is empty"));
    if (unk_id && (*unk_id < 0 || static_cast<std::size_t>(*unk_id) >= pieces.size())) {
      throw FormatError(eigenformer::detail::cat("[unigram] ", source, ": unk_id ", *unk_id, " is outside the vocabulary of ",
                                    pieces.size(), " pieces"));
    }
    scores_.reserve(pieces.size());
    min_score_ = std::numeric_limits<double>::infinity();
    for (std::size_t id = 0; id < pieces.size(); ++id) {
      const auto& [piece, score] = pieces[id];
      if (!vocab_.insert(piece, static_cast<TokenId>(id))) {
        throw FormatError(eigenformer::detail::cat("[unigram] ", source, ": the piece '", piece, "' appears twice (id ", id, ")"));
      }
      scores_.push_back(score);
      if (score < min_score_) min_score_ = score;
      trie_insert(piece, static_cast<TokenId>(id));
    }
  }

  std::string_view kind() const override { return "Unigram"; }
  double score(TokenId id) const { return scores_.at(static_cast<std::size_t>(id)); }
  std::optional<TokenId> unk_id() const { return unk_id_; }
  bool byte_fallback() const { return byte_fallback_; }

  void encode_piece(std::string_view text, TokenSequence& out) const override {
    if (text.empty()) return;
    // 1) Viterbi over byte positions that start characters.
    struct Best {
      TokenId id = -1;
      double score = 0;
      std::size_t start = kUnreached;
    };
    const double unk_score = min_score_ - kUnkPenalty;
    std::vector<Best> best(text.size() + 1);
    best[0].start = 0;
    std::size_t b = 0;
    while (b < text.size()) {
      const std::size_t char_len = std::min(utf8_length_from_lead(static_cast<unsigned char>(text[b])), text.size() - b);
      const double here = best[b].score;
      bool single_char_piece = false;
      // Every vocabulary piece that starts at b, shortest first (walk the trie along the text).
      std::int32_t node = 0;
      for (std::size_t e = b; e < text.size(); ++e) {
        node = trie_child(node, static_cast<unsigned char>(text[e]));
        if (node < 0) break;
        const TokenId id = trie_[static_cast<std::size_t>(node)].id;
        if (id < 0) continue;
        relax(best[e + 1], here + scores_[static_cast<std::size_t>(id)], b, id);
        if (e + 1 - b == char_len) single_char_piece = true;
      }
      if (!single_char_piece) {
        if (!unk_id_) {
          throw ValueError(eigenformer::detail::cat("[unigram] the character '", utf8_lossy(text.substr(b, char_len)),
                                       "' has no piece and the model has no unknown token"));
        }
        relax(best[b + char_len], here + unk_score, b, *unk_id_);
      }
      b += char_len;
    }
    // 2) Walk back from the end, fusing runs of unknown characters.
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // [start, end) of each token, reversed
    std::vector<TokenId> ids;
    for (std::size_t e = text.size(); e > 0;) {
      const Best& node = best[e];
      const bool unk = unk_id_ && node.id == *unk_id_;
      if (unk && !ids.empty() && ids.back() == *unk_id_ && spans.back().first == e) {
        spans.back().first = node.start;  // extend the fused unknown run leftwards
      } else {
        spans.emplace_back(node.start, e);
        ids.push_back(node.id);
      }
      e = node.start;
    }
    // 3) Emit left to right. Like the reference, a (fused) unknown stretch is looked up again as text,
    //    then falls back to bytes, then to the unknown id.
    for (std::size_t k = spans.size(); k-- > 0;) {
      const std::string_view s = text.substr(spans[k].first, spans[k].second - spans[k].first);
      if (!(unk_id_ && ids[k] == *unk_id_)) {
        out.push_back(ids[k]);
        continue;
      }
      if (const auto id = vocab_.find(s)) {
        out.push_back(*id);
        continue;
      }
      if (byte_fallback_ && append_byte_tokens(vocab_, s, out)) continue;
      out.push_back(*unk_id_);
    }
  }


 private:
  static constexpr double kUnkPenalty = 10.0;
  static constexpr std::size_t kUnreached = std::numeric_limits<std::size_t>::max();

  template <class Best>
  static void relax(Best& target, double candidate, std::size_t start, TokenId id) {
    if (target.start == kUnreached || candidate > target.score) {
      target.score = candidate;
      target.start = start;
      target.id = id;
    }
  }

  // A byte trie of the pieces: node 0 is the root; children are found through one hash map keyed by
  // (node, byte). Enough for the prefix walk above, and simple to step through.
  struct TrieNode {
    TokenId id = -1;  // the piece ending here, or -1
  };
  std::int32_t trie_child(std::int32_t node, unsigned char byte) const {
    const auto it = children_.find((static_cast<std::uint64_t>(node) << 8) | byte);
    return it == children_.end() ? -1 : it->second;
  }
  void trie_insert(std::string_view piece, TokenId id) {
    if (trie_.empty()) trie_.emplace_back();
    std::int32_t node = 0;
    for (char c : piece) {
      const std::uint64_t key = (static_cast<std::uint64_t>(node) << 8) | static_cast<unsigned char>(c);
      auto it = children_.find(key);
      if (it == children_.end()) {
        it = children_.emplace(key, static_cast<std::int32_t>(trie_.size())).first;
        trie_.emplace_back();
      }
      node = it->second;
    }
    if (!piece.empty()) trie_[static_cast<std::size_t>(node)].id = id;
  }

  std::vector<double> scores_;
  double min_score_ = 0;
  std::optional<TokenId> unk_id_;
  bool byte_fallback_ = false;
  std::vector<TrieNode> trie_;
  std::unordered_map<std::uint64_t, std::int32_t> children_;
};

}  // namespace eigenformer::tokenizers
