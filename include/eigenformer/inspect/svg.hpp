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
//
// Three small charts for the course's pictures (docs/pictures/, made by tools/make_pictures.sh):
//   bar_chart_svg     N labelled horizontal bars — the probabilities of the top candidates, a speed figure
//   token_strip_svg   a text as its tokens, piece above id, some tokens marked — tokenization, a chat
//                     layout's special tokens, the positions a fine-tuning loss scores
//   value_grid_svg    an (R, C) table of numbers as coloured squares on a stated scale — RoPE's cos p·θ_i,
//                     the probabilities of each decoding step
// Each returns the SVG text; write it with core/atomic_file.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"

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

namespace internal {

/// "12.5": a coordinate or a value for an SVG attribute.
inline std::string svg_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// The opening of a standalone SVG document of width × height pixels, white background, the course fonts.
inline std::string svg_document_open(double width, double height) {
  return detail::cat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"",
                     svg_number(width), "\" height=\"", svg_number(height), "\" viewBox=\"0 0 ", svg_number(width), " ",
                     svg_number(height), "\" font-family=\"", xml_escape(font_family()), "\">\n",
                     "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
}

/// A line of text at (x, y); `anchor` is start, middle or end.
inline std::string svg_text(double x, double y, const std::string& text, int size, const char* anchor = "start",
                            const char* fill = "#333") {
  return detail::cat("<text x=\"", svg_number(x), "\" y=\"", svg_number(y), "\" font-size=\"", size, "\" fill=\"", fill,
                     "\" text-anchor=\"", anchor, "\">", xml_escape(text), "</text>\n");
}

/// Pixels a label of `text` (valid UTF-8) takes at font size `size`: half an em per terminal column.
inline double text_width(const std::string& text, int size) { return 0.56 * size * display_columns(text); }

/// The width a picture needs so that its title (font size 15, from x = 16) is not cut.
inline double title_width(const std::string& title) { return title.empty() ? 0 : 32 + text_width(title, 15); }

}  // namespace internal

struct BarChartOptions {
  std::string title;             // the line above the chart
  std::string value_label;       // the axis under the bars ("probability", "tokens / s")
  int decimals = 4;              // of the value printed at each bar's end
  double max_value = 0;          // the value a full-length bar stands for; 0: the largest value
};

/// labels (N) and values (N, each finite and ≥ 0) → an SVG of N horizontal bars, in the order given, each
/// labelled with its text on the left (through display_token) and its value at its end. ValueError for
/// sizes that differ, no bars, or a negative or non-finite value.
inline std::string bar_chart_svg(const std::vector<std::string>& labels, const std::vector<double>& values,
                                 const BarChartOptions& options = {}) {
  using internal::svg_number;
  if (labels.size() != values.size() || labels.empty()) {
    throw ValueError(detail::cat("[bar_chart_svg] ", labels.size(), " labels and ", values.size(),
                                 " values: need the same number, at least one"));
  }
  double largest = options.max_value;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]) || values[i] < 0) {
      throw ValueError(detail::cat("[bar_chart_svg] value ", i, " (", labels[i], ") is ", values[i], ": bars need a finite value >= 0"));
    }
    if (options.max_value <= 0) largest = std::max(largest, values[i]);
  }
  if (largest <= 0) largest = 1;
  // 1) Layout: labels on the left as wide as the widest, bars 360 px at full length, a value after each.
  std::vector<std::string> shown(labels.size());
  double label_width = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    shown[i] = fit_columns(display_token(labels[i]), 28);
    label_width = std::max(label_width, internal::text_width(shown[i], 13));
  }
  const double left = 16 + label_width + 8, bar_full = 360, bar_height = 20, gap = 6, top = options.title.empty() ? 16 : 44;
  const double width = std::max(left + bar_full + 90, internal::title_width(options.title));
  const double height = top + static_cast<double>(labels.size()) * (bar_height + gap) + 40;
  std::string svg = internal::svg_document_open(width, height);
  if (!options.title.empty()) svg += internal::svg_text(16, 26, options.title, 15, "start", "#111");
  // 2) One bar per value, coloured on viridis by its share of the full length.
  char value_text[48];
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double y = top + static_cast<double>(i) * (bar_height + gap), share = std::min(values[i] / largest, 1.0);
    std::snprintf(value_text, sizeof value_text, "%.*f", options.decimals, values[i]);
    svg += internal::svg_text(left - 8, y + 15, shown[i], 13, "end");
    svg += detail::cat("<rect x=\"", svg_number(left), "\" y=\"", svg_number(y), "\" width=\"", svg_number(bar_full * share),
                       "\" height=\"", svg_number(bar_height), "\" fill=\"", hex(viridis(0.15 + 0.7 * share)), "\"><title>",
                       xml_escape(shown[i]), ": ", value_text, "</title></rect>\n");
    svg += internal::svg_text(left + bar_full * share + 6, y + 15, value_text, 12);
  }
  // 3) The axis line and its name.
  const double axis_y = top + static_cast<double>(labels.size()) * (bar_height + gap) + 2;
  svg += detail::cat("<line x1=\"", svg_number(left), "\" y1=\"", svg_number(axis_y), "\" x2=\"", svg_number(left + bar_full),
                     "\" y2=\"", svg_number(axis_y), "\" stroke=\"#555\"/>\n");
  svg += internal::svg_text(left, axis_y + 16, "0", 11);
  std::snprintf(value_text, sizeof value_text, "%.*f", options.decimals, largest);
  svg += internal::svg_text(left + bar_full, axis_y + 16, value_text, 11, "end");
  if (!options.value_label.empty()) svg += internal::svg_text(left + bar_full / 2, axis_y + 16, options.value_label, 12, "middle");
  return svg + "</svg>\n";
}

struct TokenStripOptions {
  std::string title;         // the line above the tokens
  std::string marked_label;  // what a marked (filled) token means, shown in a legend when any is marked
  int per_row = 10;          // tokens per line before wrapping
};

/// pieces (N) and ids (N), and `marked` (N, or empty for none) → the tokens as boxes in reading order, each
/// piece (through display_token) above its id; marked boxes are filled. ValueError when the sizes differ.
inline std::string token_strip_svg(const std::vector<std::string>& pieces, const std::vector<std::int64_t>& ids,
                                   const std::vector<bool>& marked = {}, const TokenStripOptions& options = {}) {
  using internal::svg_number;
  if (pieces.size() != ids.size() || (!marked.empty() && marked.size() != pieces.size()) || options.per_row <= 0) {
    throw ValueError(detail::cat("[token_strip_svg] ", pieces.size(), " pieces, ", ids.size(), " ids and ", marked.size(),
                                 " marks (per_row ", options.per_row, "): the three must agree (marks may be empty)"));
  }
  // 1) Each box is as wide as its piece or its id, whichever is wider; a line holds per_row boxes.
  const double box_height = 46, gap = 6, line_gap = 14, left = 16, top = options.title.empty() ? 16 : 44;
  std::vector<std::string> shown(pieces.size());
  std::vector<double> widths(pieces.size());
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    shown[i] = fit_columns(display_token(pieces[i]), 24);
    widths[i] = std::max({internal::text_width(shown[i], 14), internal::text_width(std::to_string(ids[i]), 11), 14.0}) + 14;
  }
  const std::size_t per_row = static_cast<std::size_t>(options.per_row);
  const std::size_t lines = pieces.empty() ? 1 : (pieces.size() + per_row - 1) / per_row;
  double width = std::max(320.0, internal::title_width(options.title));
  for (std::size_t line = 0; line < lines; ++line) {
    double w = left;
    for (std::size_t i = line * per_row; i < std::min(pieces.size(), (line + 1) * per_row); ++i) w += widths[i] + gap;
    width = std::max(width, w + left);
  }
  bool any_marked = false;
  for (bool m : marked) any_marked = any_marked || m;
  const double legend_height = any_marked && !options.marked_label.empty() ? 30 : 0;
  const double height = top + static_cast<double>(lines) * (box_height + line_gap) + legend_height + 8;
  std::string svg = internal::svg_document_open(width, height);
  if (!options.title.empty()) svg += internal::svg_text(16, 26, options.title, 15, "start", "#111");
  const std::string marked_fill = hex(viridis(0.85)), plain_fill = "#f2f2f2";
  // 2) The boxes, line by line.
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const std::size_t line = i / per_row;
    double x = left;
    for (std::size_t j = line * per_row; j < i; ++j) x += widths[j] + gap;
    const double y = top + static_cast<double>(line) * (box_height + line_gap);
    const bool is_marked = !marked.empty() && marked[i];
    svg += detail::cat("<rect x=\"", svg_number(x), "\" y=\"", svg_number(y), "\" width=\"", svg_number(widths[i]),
                       "\" height=\"", svg_number(box_height), "\" rx=\"4\" fill=\"", is_marked ? marked_fill : plain_fill,
                       "\" stroke=\"#777\" stroke-width=\"0.8\"><title>token ", i, ": ", xml_escape(shown[i]), " = id ", ids[i],
                       "</title></rect>\n");
    svg += internal::svg_text(x + widths[i] / 2, y + 20, shown[i], 14, "middle", "#111");
    svg += internal::svg_text(x + widths[i] / 2, y + 38, std::to_string(ids[i]), 11, "middle", "#555");
  }
  // 3) The legend for marked tokens.
  if (legend_height > 0) {
    const double y = top + static_cast<double>(lines) * (box_height + line_gap) + 4;
    svg += detail::cat("<rect x=\"16\" y=\"", svg_number(y), "\" width=\"16\" height=\"16\" rx=\"3\" fill=\"", marked_fill,
                       "\" stroke=\"#777\" stroke-width=\"0.8\"/>\n");
    svg += internal::svg_text(38, y + 13, options.marked_label, 12);
  }
  return svg + "</svg>\n";
}

struct ValueGridOptions {
  std::string title;         // the line above the grid
  std::string row_axis;      // what the rows are ("position p")
  std::string column_axis;   // what the columns are ("pair i")
  std::string value_label;   // what the colour is ("cos p·θ_i")
  double low = 0, high = 1;  // the values drawn at the two ends of the colour scale (clamped beyond)
  int cell = 14;             // pixels per square
  int label_every = 1;       // label every n-th row and column
  bool cell_values = false;  // print each value (2 decimals) in its square: for grids of a few large cells
};

/// values (R rows of C) → R × C squares coloured viridis((v − low) / (high − low)), rows labelled on the
/// left and columns on top (labels may be empty), a colour scale from low to high on the right, and each
/// cell's value as its hover <title>. ValueError for ragged rows, label counts that differ from R or C, or
/// high ≤ low.
inline std::string value_grid_svg(const std::vector<std::vector<double>>& values, const std::vector<std::string>& row_labels,
                                  const std::vector<std::string>& column_labels, const ValueGridOptions& options = {}) {
  using internal::svg_number;
  const std::size_t R = values.size(), C = R > 0 ? values[0].size() : 0;
  if (R == 0 || C == 0 || !(options.high > options.low) || options.cell <= 0 || options.label_every <= 0) {
    throw ValueError(detail::cat("[value_grid_svg] ", R, " rows of ", C, " values, scale [", options.low, ", ", options.high,
                                 "], cell ", options.cell, ": need values, high > low and a positive cell"));
  }
  for (std::size_t r = 0; r < R; ++r) {
    if (values[r].size() != C) {
      throw ValueError(detail::cat("[value_grid_svg] row ", r, " has ", values[r].size(), " values, row 0 has ", C));
    }
  }
  if ((!row_labels.empty() && row_labels.size() != R) || (!column_labels.empty() && column_labels.size() != C)) {
    throw ValueError(detail::cat("[value_grid_svg] ", row_labels.size(), " row labels and ", column_labels.size(),
                                 " column labels for a ", R, " x ", C, " grid"));
  }
  // 1) Layout: row labels on the left, column labels (turned) on top, the scale on the right.
  const std::size_t every = static_cast<std::size_t>(options.label_every);
  double row_label_width = 0, column_label_height = 0;
  for (const std::string& l : row_labels) row_label_width = std::max(row_label_width, internal::text_width(fit_columns(display_token(l), 16), 11));
  // Column labels of one character (a Chinese character, a digit) stand upright; longer ones are turned.
  bool upright = true;
  for (const std::string& l : column_labels) upright = upright && display_columns(display_token(l)) <= 2;
  for (const std::string& l : column_labels) column_label_height = std::max(column_label_height, internal::text_width(fit_columns(display_token(l), 16), 11));
  if (upright && !column_labels.empty()) column_label_height = 14;
  const double cell = options.cell, title_height = options.title.empty() ? 10 : 40;
  const double axis_height = options.column_axis.empty() ? 0 : 18;
  const double left = 16 + (options.row_axis.empty() ? 0 : 18) + row_label_width + 6;
  const double top = title_height + axis_height + column_label_height + 6;
  const double grid_w = cell * static_cast<double>(C), grid_h = cell * static_cast<double>(R);
  const double width = std::max(left + grid_w + 110, internal::title_width(options.title));
  const double height = std::max(top + grid_h + 16, top + 220.0);
  std::string svg = internal::svg_document_open(width, height);
  if (!options.title.empty()) svg += internal::svg_text(16, 26, options.title, 15, "start", "#111");
  if (!options.column_axis.empty()) svg += internal::svg_text(left + grid_w / 2, title_height + 12, options.column_axis, 12, "middle");
  if (!options.row_axis.empty()) {
    svg += detail::cat("<text x=\"0\" y=\"0\" font-size=\"12\" fill=\"#333\" text-anchor=\"middle\" transform=\"translate(",
                       svg_number(22), " ", svg_number(top + grid_h / 2), ") rotate(-90)\">", xml_escape(options.row_axis), "</text>\n");
  }
  // 2) Labels: every label_every-th row and column.
  for (std::size_t r = 0; r < row_labels.size(); r += every) {
    svg += internal::svg_text(left - 6, top + cell * (static_cast<double>(r) + 0.5) + 4, fit_columns(display_token(row_labels[r]), 16), 11, "end");
  }
  for (std::size_t c = 0; c < column_labels.size() && upright; c += every) {
    svg += internal::svg_text(left + cell * (static_cast<double>(c) + 0.5), top - 6, display_token(column_labels[c]), 11, "middle");
  }
  for (std::size_t c = 0; c < column_labels.size() && !upright; c += every) {
    const double x = left + cell * (static_cast<double>(c) + 0.5) + 4, y = top - 6;
    svg += detail::cat("<text x=\"0\" y=\"0\" font-size=\"11\" fill=\"#333\" transform=\"translate(", svg_number(x), " ",
                       svg_number(y), ") rotate(-90)\">", xml_escape(fit_columns(display_token(column_labels[c]), 16)), "</text>\n");
  }
  // 3) The cells.
  const double span = options.high - options.low;
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t c = 0; c < C; ++c) {
      const double v = values[r][c];
      svg += detail::cat("<rect x=\"", svg_number(left + cell * static_cast<double>(c)), "\" y=\"",
                         svg_number(top + cell * static_cast<double>(r)), "\" width=\"", svg_number(cell), "\" height=\"",
                         svg_number(cell), "\" fill=\"", hex(viridis((v - options.low) / span)), "\"><title>",
                         xml_escape(row_labels.empty() ? std::to_string(r) : row_labels[r]), ", ",
                         xml_escape(column_labels.empty() ? std::to_string(c) : column_labels[c]), ": ", format_weight(v),
                         "</title></rect>\n");
      if (options.cell_values) {  // dark text on the light (high) half of viridis, light text on the dark half
        char text[32];
        std::snprintf(text, sizeof text, "%.2f", v);
        svg += internal::svg_text(left + cell * (static_cast<double>(c) + 0.5), top + cell * (static_cast<double>(r) + 0.5) + 4,
                                  text, 10, "middle", (v - options.low) / span > 0.6 ? "#111" : "#eee");
      }
    }
  }
  // 4) The colour scale, labelled with its ends and its middle.
  const double sx = left + grid_w + 24, sy = top, sh = std::max(grid_h, 160.0);
  svg += "<defs><linearGradient id=\"ef-grid-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
  for (int i = 0; i <= 8; ++i) svg += detail::cat("<stop offset=\"", svg_number(i / 8.0), "\" stop-color=\"", hex(viridis(i / 8.0)), "\"/>");
  svg += "</linearGradient></defs>\n";
  if (!options.value_label.empty()) svg += internal::svg_text(sx, sy - 8, options.value_label, 11);
  svg += detail::cat("<rect x=\"", svg_number(sx), "\" y=\"", svg_number(sy), "\" width=\"14\" height=\"", svg_number(sh),
                     "\" fill=\"url(#ef-grid-scale)\" stroke=\"#555\" stroke-width=\"0.5\"/>\n");
  for (int i = 0; i <= 2; ++i) {
    const double ty = sy + sh * (1 - i / 2.0);
    char tick[32];
    std::snprintf(tick, sizeof tick, "%.3g", options.low + span * i / 2.0);
    svg += internal::svg_text(sx + 20, ty + 4, tick, 11);
  }
  return svg + "</svg>\n";
}

}  // namespace eigenformer::inspect
