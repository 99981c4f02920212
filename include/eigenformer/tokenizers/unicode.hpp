// eigenformer/tokenizers/unicode.hpp — the Unicode facts tokenizers ask about a character.
//
// A split pattern like GPT-2's ` ?\p{L}+` asks "is this a letter?", BERT asks "is this punctuation, a
// control, a Chinese character?", WordPiece strips accents after Unicode normalization (NFD), and
// SentencePiece's normalizer walks extended grapheme clusters. All of that is data from the Unicode
// Character Database (UCD), which tools/tokenizers/gen_unicode_tables.py compiles into unicode_tables.hpp.
//
// How a property is looked up (a "two-stage table", Unicode Standard chapter 5.1):
//
//     word = kPropBlocks[ kPropIndex[cp >> 7] * 128 + (cp & 127) ]
//
// The 0x110000 code points are cut into blocks of 128; identical blocks (whole planes are unassigned) are
// stored once, so 1.1 million entries fit in 279 blocks. One 16-bit word holds every per-code-point fact:
//
//     bits 0-4   general category (Lu, Ll, ..., Cn)          bit 5   White_Space (what regex \s means)
//     bit  6     assigned by Unicode 8.0 (see bert_* below)  bits 7-10  Grapheme_Cluster_Break
//     bit  11    Extended_Pictographic (emoji, for grapheme clusters)
//
// Normalization (UAX #15, https://www.unicode.org/reports/tr15/):
//     NFD  = canonical decomposition, then canonical ordering of combining marks (by combining class)
//     NFKD = the same with compatibility decompositions too (ﬁ -> f i, ① -> 1)
//     NFC  = NFD, then canonical composition of starter + mark pairs; NFKC likewise from NFKD.
// Hangul syllables decompose and compose by arithmetic (Unicode Standard chapter 3.12), not by table.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eigenformer/tokenizers/unicode_tables.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

namespace eigenformer::tokenizers::unicode {

/// General category (UCD UnicodeData.txt field 2), in the generator's order.
enum class Category : std::uint8_t {
  Cn, Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe,
  Pi, Pf, Po, Sm, Sc, Sk, So, Zs, Zl, Zp, Cc, Cf, Cs, Co
};

/// Grapheme_Cluster_Break property (UAX #29 table 2), in the generator's order.
enum class GraphemeBreak : std::uint8_t {
  Other, CR, LF, Control, Extend, ZWJ, RegionalIndicator, Prepend, SpacingMark, L, V, T, LV, LVT
};

/// The 16-bit property word of a code point (layout at the top of this file). cp must be <= U+10FFFF.
inline std::uint16_t properties(char32_t cp) {
  using namespace unicode_data;
  if (cp >= 0x110000) return 0;
  const std::uint32_t block = kPropIndex[cp >> kBlockBits];
  return kPropBlocks[(block << kBlockBits) | (cp & ((1u << kBlockBits) - 1))];
}

inline Category category(char32_t cp) { return static_cast<Category>(properties(cp) & 0x1F); }

inline bool is_letter(char32_t cp) {  // \p{L}: Lu Ll Lt Lm Lo
  const Category c = category(cp);
  return c >= Category::Lu && c <= Category::Lo;
}
inline bool is_mark(char32_t cp) {  // \p{M}: Mn Mc Me
  const Category c = category(cp);
  return c >= Category::Mn && c <= Category::Me;
}
inline bool is_number(char32_t cp) {  // \p{N}: Nd Nl No
  const Category c = category(cp);
  return c >= Category::Nd && c <= Category::No;
}
inline bool is_punctuation(char32_t cp) {  // \p{P}: Pc Pd Ps Pe Pi Pf Po
  const Category c = category(cp);
  return c >= Category::Pc && c <= Category::Po;
}
/// The White_Space property (PropList.txt): what `\s` matches in the regex engines of tiktoken (Rust
/// regex), Hugging Face tokenizers (Oniguruma) and Python's `regex` module alike. Note U+0085 is in, and
/// U+200B ZERO WIDTH SPACE and U+FEFF are not.
inline bool is_white_space(char32_t cp) { return (properties(cp) >> 5) & 1; }

/// True when Unicode 8.0 already assigned cp. Hugging Face's BertNormalizer / BertPreTokenizer take
/// "punctuation", "control" and "nonspacing mark" from the Rust crate unicode_categories, whose tables are
/// Unicode 8.0: a mark or punctuation sign added later is neither there. We reproduce that (tested against
/// the reference) instead of silently disagreeing on newer characters.
inline bool assigned_by_unicode8(char32_t cp) { return (properties(cp) >> 6) & 1; }

inline GraphemeBreak grapheme_break(char32_t cp) {
  return static_cast<GraphemeBreak>((properties(cp) >> 7) & 0xF);
}
inline bool is_extended_pictographic(char32_t cp) { return (properties(cp) >> 11) & 1; }

// ------------------------------------------------------------------------------------------------
// Case
// ------------------------------------------------------------------------------------------------

/// Appends the full lowercase mapping of cp (one or more code points; U+0130 İ gives i + U+0307) — the
/// unconditional mapping that Rust's char::to_lowercase and Python's str.lower() use (no Final_Sigma rule
/// per character: Σ always becomes σ).
inline void append_lowercase(std::string& out, char32_t cp) {
  using namespace unicode_data;
  if (cp < 0x80) {
    out += static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  const Lowercase* end = kLowercase + sizeof kLowercase / sizeof kLowercase[0];
  const Lowercase* it = std::lower_bound(kLowercase, end, cp,
                                         [](const Lowercase& row, char32_t c) { return row.cp < c; });
  if (it == end || it->cp != cp) {
    append_utf8(out, cp);
    return;
  }
  for (std::size_t k = 0; k < it->length; ++k) append_utf8(out, kLowercaseData[it->offset + k]);
}

/// Lowercases valid UTF-8 text character by character.
inline std::string to_lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) append_lowercase(out, next_code_point(text, i));
  return out;
}

// ------------------------------------------------------------------------------------------------
// Normalization forms (UAX #15)
// ------------------------------------------------------------------------------------------------

/// Canonical combining class (0 for starters).
inline std::uint8_t combining_class(char32_t cp) {
  using namespace unicode_data;
  if (cp < 0x300) return 0;
  const CccRange* end = kCcc + sizeof kCcc / sizeof kCcc[0];
  const CccRange* it =
      std::upper_bound(kCcc, end, cp, [](char32_t c, const CccRange& r) { return c < r.first; });
  if (it == kCcc) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

namespace detail {
// Hangul syllable arithmetic (Unicode Standard 3.12): S = SBase + (L * VCount + V) * TCount + T.
inline constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
inline constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                          kSCount = kLCount * kNCount;

inline void decompose_into(std::vector<char32_t>& out, char32_t cp, bool compat) {
  using namespace unicode_data;
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xA0) {
    const Decomposition* end = kDecompositions + sizeof kDecompositions / sizeof kDecompositions[0];
    const Decomposition* it = std::lower_bound(kDecompositions, end, cp,
                                               [](const Decomposition& d, char32_t c) { return d.cp < c; });
    if (it != end && it->cp == cp && (compat || !it->compat)) {
      // The mapping may itself decompose further (full decomposition is recursive).
      for (std::size_t k = 0; k < it->length; ++k) decompose_into(out, kDecompositionData[it->offset + k], compat);
      return;
    }
  }
  out.push_back(cp);
}

/// Canonical ordering: a stable sort of each run of non-starters by combining class.
inline void canonical_order(std::vector<char32_t>& cps) {
  std::size_t i = 0;
  while (i < cps.size()) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + static_cast<std::ptrdiff_t>(i), cps.begin() + static_cast<std::ptrdiff_t>(j),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

/// The primary composite of (first, second), or 0 when there is none.
inline char32_t compose_pair(char32_t first, char32_t second) {
  using namespace unicode_data;
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const std::uint64_t key = (static_cast<std::uint64_t>(first) << 21) | second;
  const Composition* end = kCompositions + sizeof kCompositions / sizeof kCompositions[0];
  const Composition* it =
      std::lower_bound(kCompositions, end, key, [](const Composition& c, std::uint64_t k) { return c.key < k; });
  return it != end && it->key == key ? static_cast<char32_t>(it->composed) : 0;
}

/// Canonical composition (UAX #15 section 1.3): a character combines with the last starter unless a
/// character between them is "blocking" (a starter, or a mark of equal or higher combining class).
inline void compose(std::vector<char32_t>& cps) {
  std::vector<char32_t> out;
  out.reserve(cps.size());
  std::ptrdiff_t starter = -1;
  std::uint8_t last_class = 0;
  for (char32_t c : cps) {
    const std::uint8_t cc = combining_class(c);
    if (starter >= 0) {
      const bool adjacent = static_cast<std::size_t>(starter) + 1 == out.size();
      const bool blocked = !adjacent && (last_class == 0 || last_class >= cc);
      if (!blocked) {
        const char32_t composite = compose_pair(out[static_cast<std::size_t>(starter)], c);
        if (composite != 0) {
          out[static_cast<std::size_t>(starter)] = composite;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<std::ptrdiff_t>(out.size());
    last_class = cc;
    out.push_back(c);
  }
  cps.swap(out);
}

inline std::vector<char32_t> code_points(std::string_view text) {
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) cps.push_back(next_code_point(text, i));
  return cps;
}

inline std::string to_utf8(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t c : cps) append_utf8(out, c);
  return out;
}
}  // namespace detail

enum class NormalForm { NFD, NFKD, NFC, NFKC };

/// Returns `text` (valid UTF-8) in the given normalization form.
inline std::string normalize(std::string_view text, NormalForm form) {
  // ASCII is unchanged by every form: skip the work for the common case.
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(text);
  }
  const bool compat = form == NormalForm::NFKD || form == NormalForm::NFKC;
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) detail::decompose_into(cps, next_code_point(text, i), compat);  // 1) decompose
  detail::canonical_order(cps);                                                           // 2) order marks
  if (form == NormalForm::NFC || form == NormalForm::NFKC) detail::compose(cps);          // 3) compose
  return detail::to_utf8(cps);
}

// ------------------------------------------------------------------------------------------------
// Extended grapheme clusters (UAX #29, https://www.unicode.org/reports/tr29/ section 3.1.1)
// ------------------------------------------------------------------------------------------------

/// Returns the end (byte offset) of the extended grapheme cluster that starts at text[begin] (valid UTF-8,
/// begin < text.size()). Rules GB3-GB13 of UAX #29 for Unicode 15.0; "×" means no break, "÷" break.
inline std::size_t grapheme_end(std::string_view text, std::size_t begin) {
  using GB = GraphemeBreak;
  std::size_t i = begin;
  char32_t prev_cp = next_code_point(text, i);
  GB prev = grapheme_break(prev_cp);
  bool emoji_zwj_pending = false;              // GB11: ExtPict Extend* ZWJ seen, waiting for ExtPict
  bool in_emoji = is_extended_pictographic(prev_cp);  // inside ExtPict Extend*
  int regional_count = prev == GB::RegionalIndicator ? 1 : 0;
  while (i < text.size()) {
    std::size_t next_i = i;
    const char32_t cp = next_code_point(text, next_i);
    const GB cur = grapheme_break(cp);
    bool join;  // true: × (same cluster)
    if (prev == GB::CR && cur == GB::LF) join = true;                                          // GB3
    else if (prev == GB::Control || prev == GB::CR || prev == GB::LF) join = false;            // GB4
    else if (cur == GB::Control || cur == GB::CR || cur == GB::LF) join = false;               // GB5
    else if (prev == GB::L && (cur == GB::L || cur == GB::V || cur == GB::LV || cur == GB::LVT)) join = true;  // GB6
    else if ((prev == GB::LV || prev == GB::V) && (cur == GB::V || cur == GB::T)) join = true;  // GB7
    else if ((prev == GB::LVT || prev == GB::T) && cur == GB::T) join = true;                  // GB8
    else if (cur == GB::Extend || cur == GB::ZWJ) join = true;                                 // GB9
    else if (cur == GB::SpacingMark) join = true;                                              // GB9a
    else if (prev == GB::Prepend) join = true;                                                 // GB9b
    else if (emoji_zwj_pending && is_extended_pictographic(cp)) join = true;                   // GB11
    else if (prev == GB::RegionalIndicator && cur == GB::RegionalIndicator) join = regional_count % 2 == 1;  // GB12/13
    else join = false;                                                                         // GB999
    if (!join) break;
    // Track the state GB11 and GB12/13 need.
    emoji_zwj_pending = in_emoji && cur == GB::ZWJ;
    in_emoji = is_extended_pictographic(cp) || (in_emoji && cur == GB::Extend);
    regional_count = cur == GB::RegionalIndicator ? regional_count + 1 : 0;
    prev = cur;
    i = next_i;
  }
  return i;
}

}  // namespace eigenformer::tokenizers::unicode
