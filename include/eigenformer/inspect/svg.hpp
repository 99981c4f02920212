// eigenformer/inspect/svg.hpp — what every picture shares: token text made safe for XML and for a terminal,
// the colour scale, the fonts.
//
// Tokens are not always text. A byte-level BPE token may be half of a UTF-8 character ("\xE4\xB8" of 中),
// a control byte, a lone space. Written raw into XML, one invalid byte makes the whole file unreadable, so
// every label goes through display_token() (invalid bytes and controls become visible escapes such as \xE4,
// \n) and then xml_escape().
//
// Colour: the weights run from 0 to 1, drawn with viridis (van der Walt and Smith's matplotlib colour map,
// designed to be perceptually uniform, readable in grey and by colour-blind readers), sampled at nine
// points and interpolated linearly.
//
// Fonts: Chinese tokens must render. Debian's fonts-noto-cjk provides "Noto Sans CJK SC"; other systems
// call the same font "Noto Sans SC"; "Noto Sans" and "DejaVu Sans" cover Latin; "sans-serif" is the
// browser's last resort, so a machine without any of them still shows the text, in another font.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace eigenformer::inspect {

/// The CSS font-family list for every picture (see the file comment).
inline const char* font_family() {
  return "'Noto Sans CJK SC', 'Noto Sans SC', 'Noto Sans CJK JP', 'Noto Sans', 'DejaVu Sans', "
         "'Microsoft YaHei', 'PingFang SC', sans-serif";
}

struct Rgb {
  int r = 0, g = 0, b = 0;
};

/// Viridis at value v in [0, 1] (clamped). NaN is drawn as v = 0.
inline Rgb viridis(double v) {
  // #440154 #472d7b #3b528b #2c728e #21918c #28ae80 #5ec962 #addc30 #fde725: viridis at 0, 1/8, ..., 1
  static const Rgb anchors[9] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},  {44, 114, 142}, {33, 145, 140},
                                 {40, 174, 128}, {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};
  if (!(v > 0)) v = 0;
  if (v > 1) v = 1;
  const double x = v * 8;
  const int i = std::min(7, static_cast<int>(x));
  const double f = x - i;
  const auto mix = [f](int a, int b) { return static_cast<int>(std::lround(a + (b - a) * f)); };
  return {mix(anchors[i].r, anchors[i + 1].r), mix(anchors[i].g, anchors[i + 1].g), mix(anchors[i].b, anchors[i + 1].b)};
}

/// "#rrggbb".
inline std::string hex(const Rgb& c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

/// Escapes the five XML special characters, for text and attribute values.
inline std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace internal {

/// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 when the bytes there are not one
/// (overlong forms, surrogates and code points above U+10FFFF are invalid, RFC 3629). `cp` gets its value.
inline std::size_t utf8_sequence(const std::string& s, std::size_t i, std::uint32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  std::size_t n = 0;
  std::uint32_t min = 0;
  if (c < 0x80) { cp = c; return 1; }
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1Fu; min = 0x80; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0Fu; min = 0x800; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07u; min = 0x10000; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

/// Terminal columns a code point takes: 2 for East Asian wide and full-width characters (the main
/// blocks of Unicode's EastAsianWidth W and F), 0 for combining marks, 1 otherwise.
inline int code_point_columns(std::uint32_t cp) {
  if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F)) return 0;
  if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) || (cp >= 0x3041 && cp <= 0x33FF) ||
      (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
      (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
      (cp >= 0x20000 && cp <= 0x3FFFD)) {
    return 2;
  }
  return 1;
}

}  // namespace internal

/// A token as a label: valid UTF-8 is kept; newline, tab and carriage return become \n \t \r; other
/// control bytes and bytes that are not valid UTF-8 become \xHH; an empty token becomes "∅".
inline std::string display_token(const std::string& token) {
  if (token.empty()) return "\xE2\x88\x85";  // ∅
  std::string out;
  for (std::size_t i = 0; i < token.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = internal::utf8_sequence(token, i, cp);
    if (n == 0 || cp < 0x20 || cp == 0x7F) {
      const unsigned char c = static_cast<unsigned char>(token[i]);
      if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else if (c == '\r') out += "\\r";
      else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02X", c);
        out += buf;
      }
      ++i;
      continue;
    }
    out.append(token, i, n);
    i += n;
  }
  return out;
}

/// Columns `text` (valid UTF-8, e.g. from display_token) takes in a terminal, or in em/2 units on a page.
inline int display_columns(const std::string& text) {
  int columns = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = internal::utf8_sequence(text, i, cp);
    if (n == 0) { ++columns; ++i; continue; }
    columns += internal::code_point_columns(cp);
    i += n;
  }
  return columns;
}

/// The longest prefix of `text` (valid UTF-8) that fits in `columns`, with "…" when something was cut.
inline std::string fit_columns(const std::string& text, int columns) {
  if (display_columns(text) <= columns) return text;
  std::string out;
  int used = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    std::size_t n = internal::utf8_sequence(text, i, cp);
    if (n == 0) { n = 1; cp = '?'; }
    const int w = internal::code_point_columns(cp);
    if (used + w > columns - 1) break;
    out.append(text, i, n);
    used += w;
    i += n;
  }
  return out + "\xE2\x80\xA6";  // …
}

/// A weight for people: "0.4123" (4 decimals: the differences a picture can show).
inline std::string format_weight(double w) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", w);
  return buf;
}

}  // namespace eigenformer::inspect
