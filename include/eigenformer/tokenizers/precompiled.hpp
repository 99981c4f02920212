// eigenformer/tokenizers/precompiled.hpp — SentencePiece's compiled normalization rules ("Precompiled").
//
// SentencePiece (Kudo & Richardson 2018) normalizes text before segmenting it; T5, ALBERT, XLNet and
// mBART use its "nmt_nfkc" rules (NFKC plus: control characters removed, the many Unicode spaces turned
// into ' '). The rules travel inside the model as one binary blob, which Hugging Face's tokenizer.json
// keeps base64-encoded as normalizer {"type": "Precompiled", "precompiled_charsmap": "..."}:
//
//     [uint32 little-endian n] [n bytes: a double-array trie] [replacement strings, each ending in '\0']
//
// The trie maps a source string (its UTF-8 bytes) to the offset of its replacement. It is a darts-clone
// double array (Yata et al., "A compact static double-array keeping character codes", 2007): an array of
// 32-bit units, where the unit of a node holds
//     bits 0-7 the label (the byte that leads to this node), bit 8 "has a leaf" (a key ends here),
//     bits 10-31 an offset: the node's children live at (position ^ offset ^ byte) — shifted left by 8
//     more bits when bit 9 is set — and the leaf's value at (position ^ offset).
// Following byte c from position p means: p ^= c; the unit there must carry label c, else there is no such
// child. A leaf unit stores value | 1 << 31, so its "label" can never equal a byte.
//
// How Hugging Face applies the rules — which is what the published T5 ids were made with — is peculiar
// and we reproduce it exactly: the text is cut into extended grapheme clusters (UAX #29); a cluster
// shorter than 6 bytes is looked up whole, and if *any prefix* of it is a key, the replacement of the
// *shortest* such prefix replaces the whole cluster (so a fullwidth "Ａ" + combining accent becomes plain
// "A", the accent dropped). Otherwise each character of the cluster is looked up on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/tokenizers/unicode.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

namespace eigenformer::tokenizers {

class PrecompiledCharsmap {
 public:
  /// Parses the binary blob (already base64-decoded). Throws FormatError naming `source` when the sizes do
  /// not fit or the replacement strings are not UTF-8.
  PrecompiledCharsmap(std::string_view blob, std::string_view source) : source_(source) {
    if (blob.size() < 4) throw FormatError(eigenformer::detail::cat("[precompiled] ", source, ": the charsmap is shorter than 4 bytes"));
    const auto u32 = [&](std::size_t at) {
      return static_cast<std::uint32_t>(static_cast<unsigned char>(blob[at])) |
             static_cast<std::uint32_t>(static_cast<unsigned char>(blob[at + 1])) << 8 |
             static_cast<std::uint32_t>(static_cast<unsigned char>(blob[at + 2])) << 16 |
             static_cast<std::uint32_t>(static_cast<unsigned char>(blob[at + 3])) << 24;
    };
    const std::uint32_t trie_bytes = u32(0);
    // Never trust a size read from a file: it must fit in what is there.
    if (trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4 || trie_bytes == 0) {
      throw FormatError(eigenformer::detail::cat("[precompiled] ", source, ": the trie claims ", trie_bytes, " bytes but the charsmap has ",
                                    blob.size() - 4, " after the size field (and it must be a non-zero multiple of 4)"));
    }
    units_.resize(trie_bytes / 4);
    for (std::size_t k = 0; k < units_.size(); ++k) units_[k] = u32(4 + 4 * k);
    replacements_ = std::string(blob.substr(4 + trie_bytes));
    if (find_invalid_utf8(replacements_) != std::string_view::npos) {
      throw FormatError(eigenformer::detail::cat("[precompiled] ", source, ": the replacement strings are not valid UTF-8"));
    }
  }

  /// The replacement of the shortest key that is a prefix of `chunk`, or nullopt when no key is.
  std::optional<std::string_view> transform(std::string_view chunk) const {
    std::size_t pos = offset(units_[0]);
    for (char ch : chunk) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == 0) break;
      pos ^= c;
      if (pos >= units_.size()) return std::nullopt;  // a malformed trie must not read out of bounds
      const std::uint32_t unit = units_[pos];
      if ((unit & ((1u << 31) | 0xFFu)) != c) return std::nullopt;
      pos ^= offset(unit);
      if ((unit >> 8) & 1) {  // a key ends here: the shortest match
        if (pos >= units_.size()) return std::nullopt;
        return replacement(units_[pos] & ((1u << 31) - 1));
      }
    }
    return std::nullopt;
  }

  /// Normalizes valid UTF-8 text by the rules, cluster by cluster as described at the top of this file.
  std::string normalize(std::string_view text) const {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
      const std::size_t end = unicode::grapheme_end(text, i);
      const std::string_view cluster = text.substr(i, end - i);
      std::optional<std::string_view> whole;
      if (cluster.size() < 6) whole = transform(cluster);
      if (whole) {
        out.append(*whole);
      } else {
        std::size_t k = 0;
        while (k < cluster.size()) {
          const std::size_t len = utf8_length_from_lead(static_cast<unsigned char>(cluster[k]));
          const std::string_view ch = cluster.substr(k, len);
          const auto r = transform(ch);
          out.append(r ? *r : ch);
          k += len;
        }
      }
      i = end;
    }
    return out;
  }

 private:
  static std::size_t offset(std::uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }

  std::string_view replacement(std::size_t at) const {
    if (at > replacements_.size()) {
      throw FormatError(eigenformer::detail::cat("[precompiled] ", source_, ": a rule points at byte ", at,
                                    " of the replacement strings, which have only ", replacements_.size()));
    }
    const std::size_t nul = replacements_.find('\0', at);
    const std::string_view r =
        std::string_view(replacements_).substr(at, (nul == std::string::npos ? replacements_.size() : nul) - at);
    if (find_invalid_utf8(r) != std::string_view::npos) {
      throw FormatError(eigenformer::detail::cat("[precompiled] ", source_, ": a rule points inside a character (byte ", at, ")"));
    }
    return r;
  }

  std::vector<std::uint32_t> units_;
  std::string replacements_;
  std::string source_;
};

}  // namespace eigenformer::tokenizers
