// eigenformer/tokenizers/bpe.hpp — byte-pair encoding (BPE), the model of GPT-2, GPT-4, Llama 3, DeepSeek.
//
// Sennrich, Haddow & Birch, "Neural Machine Translation of Rare Words with Subword Units" (ACL 2016),
// section 3.2: start from single symbols and repeatedly merge the adjacent pair that the training ranked
// highest, until no learned merge applies. GPT-2 (Radford et al. 2019, section 2.2) made it *byte-level*:
// the symbols are the 256 byte values, so every string has an encoding and there is no unknown token.
//
// Encoding one piece, e.g. " lower" with learned merges (' ','l') (e,r) (' l',o) (' lo',w) (' low',er):
//
//     ' ' 'l' 'o' 'w' 'e' 'r'          start: one symbol per byte
//     ' l' 'o' 'w' 'e' 'r'             merge the adjacent pair of lowest rank...
//     ' l' 'o' 'w' 'er'                ...again (ties: the leftmost pair first)
//     ' lo' 'w' 'er'  ->  ' low' 'er'  ->  ' lower'
//
// Two ways of saying which pair ranks lowest exist in the wild, and we implement both because each is the
// definition its files were made for:
//   - MergeRule::token_rank (tiktoken: cl100k_base, o200k_base, Llama 3's tokenizer.model): the file lists
//     tokens with ranks; merging two adjacent parts is allowed when their concatenation is a token, and its
//     rank is that token's rank (which is also its id). A piece that is itself a token is emitted directly.
//   - MergeRule::merge_list (GPT-2's merges.txt, Hugging Face tokenizer.json): an ordered list of pairs;
//     the rank of a pair is its line number, the result is the vocabulary entry of the concatenation.
//     tokenizer.json's "ignore_merges": true (Llama 3) adds the "whole piece first" shortcut of tiktoken.
//
// Byte-level vocabularies written as text (vocab.json, tokenizer.json) spell each byte as a printable
// character: GPT-2's bytes_to_unicode() keeps the 188 printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') and
// maps the others, in order, to U+0100, U+0101, ... — so a space is "Ġ" (U+0120) and "\n" is "Ċ". We
// convert such spellings to raw bytes when loading, and the model works on bytes.
//
// Speed: the textbook loop (find the lowest-ranked pair, merge, repeat) is O(n²) in the piece length,
// which is fine for words but not for a megabyte without spaces. merge_parts() below uses it for short
// pieces and a heap of candidate pairs (O(n log n)) for long ones; both give identical results, and the
// tests compare them.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/tokenizers/base64.hpp"
#include "eigenformer/tokenizers/files.hpp"
#include "eigenformer/tokenizers/model.hpp"
#include "eigenformer/tokenizers/utf8.hpp"
#include "eigenformer/tokenizers/vocabulary.hpp"

namespace eigenformer::tokenizers {

// ------------------------------------------------------------------------------------------------
// GPT-2's byte <-> printable character alphabet
// ------------------------------------------------------------------------------------------------

/// The code point that spells byte b in byte-level vocabularies (GPT-2's bytes_to_unicode).
inline char32_t byte_to_char(unsigned char b) {
  const auto printable = [](unsigned v) { return (v >= 0x21 && v <= 0x7E) || (v >= 0xA1 && v <= 0xAC) || v >= 0xAE; };
  if (printable(b)) return b;
  // The non-printable bytes, in increasing order, take U+0100, U+0101, ...
  char32_t n = 0;
  for (unsigned v = 0; v < b; ++v) {
    if (!printable(v)) ++n;
  }
  return 0x100 + n;
}

namespace detail {
struct ByteAlphabet {
  std::array<std::string, 256> spell;  // byte -> UTF-8 of its character
  std::array<int, 0x144> byte_of;      // code point (< 0x144) -> byte, or -1
  ByteAlphabet() {
    byte_of.fill(-1);
    for (unsigned b = 0; b < 256; ++b) {
      const char32_t c = byte_to_char(static_cast<unsigned char>(b));
      spell[b] = utf8_encode(c);
      byte_of[c] = static_cast<int>(b);
    }
  }
};
inline const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}
}  // namespace detail

/// Spells raw bytes in the byte-level alphabet ("\x20hi" -> "Ġhi").
inline std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  for (char b : bytes) out += detail::byte_alphabet().spell[static_cast<unsigned char>(b)];
  return out;
}

/// Reads a byte-level spelling back into raw bytes; nullopt when a character is not in the alphabet or the
/// text is not valid UTF-8.
inline std::optional<std::string> byte_level_to_bytes(std::string_view spelled) {
  if (find_invalid_utf8(spelled) != std::string_view::npos) return std::nullopt;
  std::string out;
  std::size_t i = 0;
  while (i < spelled.size()) {
    const char32_t c = next_code_point(spelled, i);
    if (c >= 0x144 || detail::byte_alphabet().byte_of[c] < 0) return std::nullopt;
    out += static_cast<char>(detail::byte_alphabet().byte_of[c]);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// The model
// ------------------------------------------------------------------------------------------------

enum class MergeRule {
  token_rank,  // tiktoken: a pair merges when its concatenation is a token; rank = that token's id
  merge_list,  // GPT-2 merges.txt / tokenizer.json: rank = position in the merge list
};

/// Options of a byte-pair model (tokenizer.json "model" fields where they exist).
struct BpeOptions {
  bool byte_level = true;         // symbols start as bytes (GPT-2 style) rather than as UTF-8 characters
  bool whole_piece_first = true;  // emit a piece that is a vocabulary entry as one token (tiktoken; HF ignore_merges)
  bool byte_fallback = false;     // character-level only: an unknown character becomes <0xXX> byte tokens
  std::optional<TokenId> unk_id;  // character-level only: id for unknown characters (HF unk_token)
  bool fuse_unk = false;          // consecutive unknown characters become one unk token
};

class BytePairEncoding : public Model {
 public:
  /// One merge of the merge list: `left` + `right` -> `result`, applied in list order.
  struct Merge {
    TokenId left, right, result;
  };

  BytePairEncoding() = default;

  /// A tiktoken-style model: `tokens[i]` = (raw bytes, rank); the rank is the id. Throws FormatError when
  /// a rank or a token repeats.
  static BytePairEncoding from_ranks(const std::vector<std::pair<std::string, TokenId>>& tokens,
                                     std::string_view source = "<ranks>") {
    BytePairEncoding m;
    m.rule_ = MergeRule::token_rank;
    for (const auto& [bytes, rank] : tokens) {
      if (!m.vocab_.insert(bytes, rank)) {
        throw FormatError(eigenformer::detail::cat("[bpe] ", source, ": token rank ", rank, " or its bytes appear twice"));
      }
    }
    m.finish();
    return m;
  }

  /// A merge-list model: `vocab` (raw bytes when options.byte_level), merges in priority order (the index
  /// is the rank). Throws FormatError when a merge names a missing token or makes one that is missing.
  static BytePairEncoding from_merges(Vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                                      BpeOptions options, std::string_view source = "<merges>") {
    BytePairEncoding m;
    m.rule_ = MergeRule::merge_list;
    m.options_ = options;
    m.vocab_ = std::move(vocab);
    m.merge_ranks_.reserve(merges.size() * 2);
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      const auto ia = m.vocab_.find(a), ib = m.vocab_.find(b), ir = m.vocab_.find(a + b);
      if (!ia || !ib || !ir) {
        throw FormatError(eigenformer::detail::cat("[bpe] ", source, ": merge ", rank + 1, " ('", a, "' + '", b,
                                      "') uses a token that is not in the vocabulary"));
      }
      // A repeated pair keeps its first (highest-priority) rank.
      m.merge_ranks_.emplace(pair_key(*ia, *ib), MergeValue{static_cast<std::uint32_t>(rank), *ir});
    }
    m.finish();
    return m;
  }

  std::string_view kind() const override { return "BPE"; }
  MergeRule merge_rule() const { return rule_; }
  const BpeOptions& options() const { return options_; }
  const Vocabulary& vocabulary() const { return vocab_; }

  void encode_piece(std::string_view piece, TokenSequence& out) const override {
    if (piece.empty()) return;
    // 0) tiktoken's shortcut: a piece that is a token is that token.
    if (rule_ == MergeRule::token_rank || options_.whole_piece_first) {
      if (const auto id = vocab_.find(piece)) {
        out.push_back(*id);
        return;
      }
    }
    // 1) One part per byte (or per character), 2) merge, 3) emit.
    std::vector<Part> parts = initial_parts(piece);
    merge_parts(piece, parts);
    emit(piece, parts, out);
  }

  std::optional<TokenId> token_to_id(std::string_view token) const override {
    if (options_.byte_level) {
      const auto bytes = byte_level_to_bytes(token);
      return bytes ? vocab_.find(*bytes) : std::nullopt;
    }
    return vocab_.find(token);
  }

  std::optional<std::string> id_to_token(TokenId id) const override {
    if (!vocab_.contains(id)) return std::nullopt;
    return options_.byte_level ? bytes_to_byte_level(vocab_.text(id)) : std::string(vocab_.text(id));
  }

  std::optional<std::string> token_surface(TokenId id) const override {
    if (!vocab_.contains(id)) return std::nullopt;
    return std::string(vocab_.text(id));
  }

  std::size_t vocab_size() const override { return vocab_.id_bound(); }
  bool byte_level() const override { return options_.byte_level; }

  /// The model as a tiktoken rank file: one "base64(bytes) rank" line per token, by rank.
  std::string to_tiktoken() const {
    std::string out;
    for (std::size_t id = 0; id < vocab_.id_bound(); ++id) {
      if (!vocab_.contains(static_cast<TokenId>(id))) continue;
      out += base64_encode(vocab_.text(static_cast<TokenId>(id)));
      out += ' ';
      out += std::to_string(id);
      out += '\n';
    }
    return out;
  }

  // ---- the merge loop, exposed so tests can compare the two algorithms --------------------------

  /// A run of the piece's bytes [begin, end) that is currently one symbol with id `id` (-1: unknown
  /// character that can never merge).
  struct Part {
    std::size_t begin, end;
    TokenId id;
  };

  /// The symbols a piece starts from: one per byte (byte-level) or per UTF-8 character.
  std::vector<Part> initial_parts(std::string_view piece) const {
    std::vector<Part> parts;
    parts.reserve(piece.size());
    std::size_t i = 0;
    while (i < piece.size()) {
      const std::size_t len =
          options_.byte_level ? 1 : std::min(utf8_length_from_lead(static_cast<unsigned char>(piece[i])), piece.size() - i);
      const auto id = vocab_.find(piece.substr(i, len));
      parts.push_back(Part{i, i + len, id ? *id : -1});
      i += len;
    }
    return parts;
  }

  /// Applies merges until none applies: the textbook loop for short inputs, the heap for long ones.
  void merge_parts(std::string_view piece, std::vector<Part>& parts) const {
    if (parts.size() < kHeapThreshold) {
      merge_parts_naive(piece, parts);
    } else {
      merge_parts_heap(piece, parts);
    }
  }

  /// Reference algorithm (Sennrich et al.): scan all adjacent pairs, merge the lowest-ranked (leftmost on
  /// ties), repeat. The rank of each pair is cached and only the two pairs around a merge are recomputed.
  void merge_parts_naive(std::string_view piece, std::vector<Part>& parts) const {
    constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::pair<std::uint32_t, TokenId>> ranks(parts.size());  // ranks[k]: pair (k, k+1)
    const auto rank_at = [&](std::size_t k) -> std::pair<std::uint32_t, TokenId> {
      if (k + 1 >= parts.size()) return {kNone, -1};
      const auto m = pair_merge(piece, parts[k], parts[k + 1]);
      return m ? std::make_pair(m->rank, m->result) : std::make_pair(kNone, TokenId{-1});
    };
    for (std::size_t k = 0; k < parts.size(); ++k) ranks[k] = rank_at(k);
    while (parts.size() > 1) {
      std::size_t best = 0;
      for (std::size_t k = 1; k + 1 < parts.size(); ++k) {
        if (ranks[k].first < ranks[best].first) best = k;
      }
      if (ranks[best].first == kNone) break;
      parts[best] = Part{parts[best].begin, parts[best + 1].end, ranks[best].second};
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
      ranks.erase(ranks.begin() + static_cast<std::ptrdiff_t>(best) + 1);
      ranks[best] = rank_at(best);
      if (best > 0) ranks[best - 1] = rank_at(best - 1);
    }
  }

  /// Fast algorithm: the parts form a linked list and every adjacent pair that can merge waits in a
  /// min-heap ordered by (rank, position). A popped pair is applied only if both of its parts are still
  /// as they were when it was pushed; the merged part's two new neighbour pairs are pushed. Same result as
  /// the naive loop (it also always applies the lowest-ranked, leftmost pair), in O(n log n).
  void merge_parts_heap(std::string_view piece, std::vector<Part>& parts) const {
    const std::size_t n = parts.size();
    std::vector<std::size_t> prev(n), next(n);
    std::vector<bool> alive(n, true);
    for (std::size_t k = 0; k < n; ++k) {
      prev[k] = k == 0 ? kNoPart : k - 1;
      next[k] = k + 1 == n ? kNoPart : k + 1;
    }
    struct Candidate {
      std::uint32_t rank;
      std::size_t begin;          // left part's begin: the tie-break (leftmost first)
      std::size_t left, right;    // part indices
      std::size_t left_end, right_end;  // their extents when pushed, to detect stale entries
      TokenId result;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : begin > o.begin; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
    const auto push = [&](std::size_t l, std::size_t r) {
      if (l == kNoPart || r == kNoPart) return;
      if (const auto m = pair_merge(piece, parts[l], parts[r])) {
        heap.push(Candidate{m->rank, parts[l].begin, l, r, parts[l].end, parts[r].end, m->result});
      }
    };
    for (std::size_t k = 0; k + 1 < n; ++k) push(k, k + 1);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right || parts[c.left].end != c.left_end ||
          parts[c.right].end != c.right_end) {
        continue;  // stale: one of the two parts has changed since
      }
      parts[c.left].end = parts[c.right].end;
      parts[c.left].id = c.result;
      alive[c.right] = false;
      next[c.left] = next[c.right];
      if (next[c.right] != kNoPart) prev[next[c.right]] = c.left;
      push(prev[c.left], c.left);
      push(c.left, next[c.left]);
    }
    std::vector<Part> merged;
    for (std::size_t k = 0; k != kNoPart && k < n; k = next[k]) merged.push_back(parts[k]);
    parts.swap(merged);
  }

 private:
  static constexpr std::size_t kHeapThreshold = 128;
  static constexpr std::size_t kNoPart = std::numeric_limits<std::size_t>::max();

  struct MergeValue {
    std::uint32_t rank;
    TokenId result;
  };

  static std::uint64_t pair_key(TokenId a, TokenId b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }

  /// The merge of two adjacent parts, if the model has one.
  std::optional<MergeValue> pair_merge(std::string_view piece, const Part& a, const Part& b) const {
    if (a.id < 0 || b.id < 0) return std::nullopt;
    if (rule_ == MergeRule::token_rank) {
      const auto id = vocab_.find(piece.substr(a.begin, b.end - a.begin));
      if (!id) return std::nullopt;
      return MergeValue{static_cast<std::uint32_t>(*id), *id};
    }
    const auto it = merge_ranks_.find(pair_key(a.id, b.id));
    if (it == merge_ranks_.end()) return std::nullopt;
    return it->second;
  }

  /// Appends the ids of the final parts. Unknown characters (id -1) become <0xXX> byte tokens
  /// (byte_fallback) or the unk id (consecutive ones fused when fuse_unk).
  void emit(std::string_view piece, const std::vector<Part>& parts, TokenSequence& out) const {
    bool last_was_unk = false;
    for (const Part& p : parts) {
      if (p.id >= 0) {
        out.push_back(p.id);
        last_was_unk = false;
        continue;
      }
      if (!options_.byte_level && options_.byte_fallback &&
          append_byte_tokens(vocab_, piece.substr(p.begin, p.end - p.begin), out)) {
        last_was_unk = false;
        continue;
      }
      if (!options_.unk_id) {
        throw ValueError(eigenformer::detail::cat("[bpe] the piece '", utf8_lossy(piece), "' has the byte sequence '",
                                     utf8_lossy(piece.substr(p.begin, p.end - p.begin)),
                                     "' which is not in the vocabulary, and the model has no unknown token"));
      }
      if (!(options_.fuse_unk && last_was_unk)) out.push_back(*options_.unk_id);
      last_was_unk = true;
    }
  }

  void finish() {
    if (options_.byte_level) {
      for (unsigned b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        if (!vocab_.find(std::string_view(&c, 1)) && !options_.unk_id) {
          // Without every byte, some inputs cannot be encoded; that is the file's fault, say so early.
          throw FormatError(eigenformer::detail::cat("[bpe] a byte-level vocabulary must have a token for every byte; byte 0x",
                                        std::hex, b, " is missing"));
        }
      }
    }
  }

  MergeRule rule_ = MergeRule::token_rank;
  BpeOptions options_;
  Vocabulary vocab_;
  std::unordered_map<std::uint64_t, MergeValue> merge_ranks_;
};

// ------------------------------------------------------------------------------------------------
// File formats
// ------------------------------------------------------------------------------------------------

/// Parses a tiktoken rank file (cl100k_base.tiktoken, o200k_base.tiktoken, Llama 3's tokenizer.model):
/// one "base64-bytes rank" per line. `source` names the file in errors (ParseError with the line).
inline BytePairEncoding parse_tiktoken(std::string_view text, std::string_view source) {
  std::vector<std::pair<std::string, TokenId>> tokens;
  std::size_t offset = 0;
  for_each_line(text, [&](std::string_view line, std::size_t number) {
    const std::size_t line_offset = offset;
    offset += line.size() + 1;
    if (line.empty()) return;  // a trailing blank line is tolerated
    const auto fail = [&](std::string_view what) {
      throw ParseError(eigenformer::detail::cat("[tiktoken] ", source, ": line ", number, ": ", what), line_offset);
    };
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      fail("expected '<base64 token> <rank>'");
    }
    const auto bytes = base64_decode(line.substr(0, space));
    if (!bytes || bytes->empty()) fail("the token is not valid base64");
    const std::string_view rank_text = line.substr(space + 1);
    std::int64_t rank = 0;
    if (rank_text.empty() || rank_text.size() > 10) fail("the rank is not a number below 2^24");
    for (char c : rank_text) {
      if (c < '0' || c > '9') fail("the rank is not a non-negative integer");
      rank = rank * 10 + (c - '0');
    }
    if (rank > kMaxTokenId) fail("the rank is not a number below 2^24");  // ranks are ids: bounded (vocabulary.hpp)
    tokens.emplace_back(std::move(*bytes), static_cast<TokenId>(rank));
  });
  if (tokens.empty()) throw FormatError(eigenformer::detail::cat("[tiktoken] ", source, ": no tokens"));
  return BytePairEncoding::from_ranks(tokens, source);
}

/// Loads a tiktoken rank file from disk.
inline BytePairEncoding load_tiktoken(const std::string& path) {
  return parse_tiktoken(read_file_bytes(path, "tiktoken"), path);
}

/// Parses merges.txt (GPT-2): an optional "#version" line, then one "left right" pair per line.
inline std::vector<std::pair<std::string, std::string>> parse_merges_txt(std::string_view text, std::string_view source) {
  std::vector<std::pair<std::string, std::string>> merges;
  std::size_t offset = 0;
  for_each_line(text, [&](std::string_view line, std::size_t number) {
    const std::size_t line_offset = offset;
    offset += line.size() + 1;
    if (number == 1 && line.rfind("#version", 0) == 0) return;
    if (line.empty()) return;
    const std::size_t space = line.find(' ');
    if (space == 0 || space == std::string_view::npos || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      throw ParseError(eigenformer::detail::cat("[bpe] ", source, ": line ", number, ": expected two tokens separated by one space"),
                       line_offset);
    }
    merges.emplace_back(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
  });
  return merges;
}

/// Converts a byte-level spelled vocabulary entry to bytes, or throws FormatError naming the source.
inline std::string byte_level_entry(std::string_view spelled, std::string_view source) {
  auto bytes = byte_level_to_bytes(spelled);
  if (!bytes) {
    throw FormatError(eigenformer::detail::cat("[bpe] ", source, ": the token '", utf8_lossy(spelled),
                                  "' is not spelled in the byte-level alphabet"));
  }
  return std::move(*bytes);
}

/// Loads GPT-2's vocab.json (token -> id) and merges.txt. The result uses the merge list (GPT-2's rule).
inline BytePairEncoding load_gpt2_files(const std::string& vocab_json_path, const std::string& merges_path) {
  const json::Value vocab_json = json::parse_file(vocab_json_path);
  Vocabulary vocab;
  for (const auto& [token, id] : vocab_json.as_object(vocab_json_path)) {
    const std::int64_t value = id.as_int(eigenformer::detail::cat(vocab_json_path, ": id of '", token, "'"));
    if (value < 0 || value > kMaxTokenId ||
        !vocab.insert(byte_level_entry(token, vocab_json_path), static_cast<TokenId>(value))) {
      throw FormatError(eigenformer::detail::cat("[bpe] ", vocab_json_path, ": token '", token, "' has a bad or repeated id ", value));
    }
  }
  auto merges = parse_merges_txt(read_file_bytes(merges_path, "bpe"), merges_path);
  for (auto& [a, b] : merges) {
    a = byte_level_entry(a, merges_path);
    b = byte_level_entry(b, merges_path);
  }
  BpeOptions options;
  options.byte_level = true;
  options.whole_piece_first = false;  // GPT-2's encoder.py always runs the merges
  return BytePairEncoding::from_merges(std::move(vocab), merges, options, merges_path);
}

}  // namespace eigenformer::tokenizers
