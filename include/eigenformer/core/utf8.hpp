// eigenformer/core/utf8.hpp — writing one Unicode code point as UTF-8 (RFC 3629, §3).
//
//     U+0000  .. U+007F     0xxxxxxx
//     U+0080  .. U+07FF     110xxxxx 10xxxxxx
//     U+0800  .. U+FFFF     1110xxxx 10xxxxxx 10xxxxxx
//     U+10000 .. U+10FFFF   11110xxx 10xxxxxx 10xxxxxx 10xxxxxx
//
// It sits in core/ because the JSON parser (json.hpp, \uXXXX escapes) needs it; the tokenizers build the
// rest of their UTF-8 handling on it (tokenizers/utf8.hpp).
#pragma once

#include <string>

namespace eigenformer {

/// Appends the UTF-8 encoding of code point `cp` (<= U+10FFFF, not a surrogate) to `out`.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace eigenformer
