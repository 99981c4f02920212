// eigenformer/tokenizers/utf8.hpp — reading and writing UTF-8, strictly.
//
// Text reaches a tokenizer as bytes. UTF-8 (RFC 3629) writes a code point in 1 to 4 bytes:
//
//     U+0000 ..U+007F     0xxxxxxx
//     U+0080 ..U+07FF     110xxxxx 10xxxxxx
//     U+0800 ..U+FFFF     1110xxxx 10xxxxxx 10xxxxxx            (not U+D800..U+DFFF, the UTF-16 surrogates)
//     U+10000..U+10FFFF   11110xxx 10xxxxxx 10xxxxxx 10xxxxxx
//
// and every code point has exactly one encoding: the shortest ("overlong" forms like C0 80 for U+0000 are
// invalid). Table 3-7 of the Unicode Standard (chapter 3.9) lists the well-formed byte sequences; the
// second byte's allowed range depends on the first byte, which is how overlongs, surrogates and values
// above U+10FFFF are excluded:
//
//     first byte   second byte   then
//     00..7F       -
//     C2..DF       80..BF
//     E0           A0..BF        80..BF
//     E1..EC       80..BF        80..BF
//     ED           80..9F        80..BF
//     EE..EF       80..BF        80..BF
//     F0           90..BF        80..BF 80..BF
//     F1..F3       80..BF        80..BF 80..BF
//     F4           80..8F        80..BF 80..BF
//
// Two places need more than "valid or not":
//   - decode() of token ids may end in the middle of a character (a byte-level BPE token can hold half of
//     an emoji). Such bytes become U+FFFD REPLACEMENT CHARACTER, one per "maximal subpart" — the longest
//     prefix of a well-formed sequence — which is the practice the Unicode Standard recommends (chapter 3.9,
//     "U+FFFD Substitution of Maximal Subparts") and what Rust's from_utf8_lossy, Python's errors="replace"
//     and the WHATWG TextDecoder all do. So our decode() prints what the reference tokenizers print.
//   - a streaming decoder must tell "invalid" from "not finished yet": E2 82 is invalid in the middle of a
//     text but may become € (E2 82 AC) when the next token arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/utf8.hpp"

namespace eigenformer::tokenizers {

/// Input text that is not valid UTF-8. byte_offset() is the offset of the first byte that cannot start or
/// continue a well-formed sequence — the same number the message prints.
class InvalidUtf8Error : public ValueError {
 public:
  InvalidUtf8Error(const std::string& message, std::size_t byte_offset)
      : ValueError(message), byte_offset_(byte_offset) {}
  std::size_t byte_offset() const noexcept { return byte_offset_; }

 private:
  std::size_t byte_offset_;
};

/// The code point U+FFFD REPLACEMENT CHARACTER, encoded: what decode() writes for broken bytes.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

/// What utf8_scan() found at one position.
struct Utf8Scan {
  std::size_t length;  // bytes of the well-formed character, or of the maximal subpart when !valid (>= 1)
  bool valid;          // a complete, well-formed character
  bool truncated;      // !valid only because the text ended: more bytes could still complete it
};

/// Examines the UTF-8 sequence that starts at bytes[at] (at < bytes.size()).
/// Returns its length and whether it is a complete character; for a broken one, the length of its maximal
/// subpart (how many bytes one U+FFFD replaces) and whether the end of the text cut it short.
inline Utf8Scan utf8_scan(std::string_view bytes, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const unsigned char b0 = byte(at);
  if (b0 < 0x80) return {1, true, false};
  // 1) From the first byte: total length and the allowed range of the second byte (Table 3-7).
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // below: overlong
    if (b0 == 0xED) hi = 0x9F;  // above: UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // below: overlong
    if (b0 == 0xF4) hi = 0x8F;  // above: beyond U+10FFFF
  } else {
    return {1, false, false};  // 80..C1 or F5..FF can never start a character
  }
  // 2) Accept continuation bytes while they fit; stop at the first that does not.
  std::size_t len = 1;
  while (len < need) {
    if (at + len >= bytes.size()) return {len, false, true};
    const unsigned char b = byte(at + len);
    const unsigned char min = len == 1 ? lo : 0x80, max = len == 1 ? hi : 0xBF;
    if (b < min || b > max) return {len, false, false};
    ++len;
  }
  return {len, true, false};
}

/// Offset of the first byte of the first ill-formed sequence in `bytes` (a stray continuation byte, a
/// bad lead byte, an overlong or surrogate form, or a character cut short), or npos when all is valid.
inline std::size_t find_invalid_utf8(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    // ASCII fast path: most text is ASCII, 8 bytes at a time would be faster still but this is clearer.
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Scan s = utf8_scan(bytes, i);
    if (!s.valid) return i;
    i += s.length;
  }
  return std::string_view::npos;
}

/// Throws InvalidUtf8Error naming `who` and the offset of the first bad byte when `text` is not UTF-8.
inline void require_utf8(std::string_view text, std::string_view who) {
  const std::size_t bad = find_invalid_utf8(text);
  if (bad == std::string_view::npos) return;
  const Utf8Scan s = utf8_scan(text, bad);
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad]));
  throw InvalidUtf8Error(eigenformer::detail::cat("[", who, "] input is not valid UTF-8: the sequence at byte offset ", bad,
                                     " (first byte ", hex, ") ",
                                     s.truncated ? "is cut short by the end of the text"
                                                 : "is not a well-formed character"),
                         bad);
}

/// Decodes the character at text[i] (which must be valid UTF-8) and advances i past it.
inline char32_t next_code_point(std::string_view text, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(text[k])); };
  const char32_t b0 = byte(i);
  if (b0 < 0x80) {
    i += 1;
    return b0;
  }
  if (b0 < 0xE0) {
    const char32_t cp = ((b0 & 0x1F) << 6) | (byte(i + 1) & 0x3F);
    i += 2;
    return cp;
  }
  if (b0 < 0xF0) {
    const char32_t cp = ((b0 & 0x0F) << 12) | ((byte(i + 1) & 0x3F) << 6) | (byte(i + 2) & 0x3F);
    i += 3;
    return cp;
  }
  const char32_t cp = ((b0 & 0x07) << 18) | ((byte(i + 1) & 0x3F) << 12) | ((byte(i + 2) & 0x3F) << 6) |
                      (byte(i + 3) & 0x3F);
  i += 4;
  return cp;
}

/// Number of bytes of the character whose first byte is `lead` (valid UTF-8 assumed).
inline std::size_t utf8_length_from_lead(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/// Appends the UTF-8 encoding of code point `cp` to `out` (core/utf8.hpp: the JSON parser needs it too).
using eigenformer::append_utf8;

/// The UTF-8 encoding of one code point, as a string.
inline std::string utf8_encode(char32_t cp) {
  std::string out;
  append_utf8(out, cp);
  return out;
}

/// Turns arbitrary bytes into valid UTF-8: well-formed characters are copied, and each maximal subpart of
/// a broken sequence becomes one U+FFFD (see the top of this file for why that rule).
inline std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const Utf8Scan s = utf8_scan(bytes, i);
    if (s.valid) {
      out.append(bytes.data() + i, s.length);
    } else {
      out += kReplacementCharacter;
    }
    i += s.length;
  }
  return out;
}

/// Length of the longest prefix of `bytes` that does not end inside a character that later bytes could
/// still complete. A streaming decoder may print bytes[0, n) now and must hold back the rest.
inline std::size_t utf8_complete_prefix(std::string_view bytes) {
  // A character is at most 4 bytes, so only the last 3 positions can start an unfinished one.
  const std::size_t from = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (std::size_t i = from; i < bytes.size(); ++i) {
    const unsigned char b = static_cast<unsigned char>(bytes[i]);
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte never starts a character
    const Utf8Scan s = utf8_scan(bytes, i);
    if (s.truncated) return i;
  }
  return bytes.size();
}

}  // namespace eigenformer::tokenizers
