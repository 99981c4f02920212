// eigenformer/inspect/terminal.hpp — one head's attention in a terminal, for a quick look.
//
//     layer 1 · head 2 · causal self-attention   (rows: queries, columns: keys)
//                 0 1 2 3 4
//      0 <s>      ██· · · ·
//      1 The      ▓▓░░· · ·
//      2 cat      ░░██  · ·
//     keys: 0 <s>  1 The  2 cat ...
//     weight: "  " < 0.1 ≤ ░ < 0.3 ≤ ▒ < 0.5 ≤ ▓ < 0.7 ≤ █      · hidden by the causal mask
//
// Each cell is two columns wide (so squares look square). The shade alone carries the weight, so the view
// works in a pipe, a log file or a black-and-white terminal. When the terminal supports it (a tty, TERM
// mentions 256color or is a known colour terminal, and NO_COLOR is not set — https://no-color.org), the
// shade is also drawn in the viridis colour of the SVG pictures, with 256-colour escapes.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // isatty
#endif

#include "eigenformer/inspect/attention_maps.hpp"
#include "eigenformer/inspect/heatmap.hpp"
#include "eigenformer/inspect/svg.hpp"

namespace eigenformer::inspect {

struct TerminalStyle {
  bool colour = false;  // 256-colour escapes
  int label_columns = 10;  // width of the query labels

  /// Colour when `stream` is a terminal, NO_COLOR is unset or empty, and TERM says 256 colours (or names
  /// a terminal that has them: xterm, screen, tmux, kitty, alacritty, wezterm); plain shades otherwise.
  static TerminalStyle detect(std::FILE* stream = stdout) {
    TerminalStyle style;
    const char* no_colour = std::getenv("NO_COLOR");
    if (no_colour != nullptr && no_colour[0] != '\0') return style;
#if defined(__unix__) || defined(__APPLE__)
    if (stream == nullptr || !::isatty(::fileno(stream))) return style;
#else
    (void)stream;
    return style;
#endif
    const char* term = std::getenv("TERM");
    if (term == nullptr) return style;
    const std::string t = term;
    style.colour = t.find("256color") != std::string::npos || t.find("truecolor") != std::string::npos ||
                   t == "xterm-kitty" || t == "alacritty" || t == "wezterm" || t == "tmux" || t == "screen" ||
                   t == "xterm";
    return style;
  }
};

namespace internal {

/// The shade for a weight: 5 levels, cut at 0.1, 0.3, 0.5, 0.7.
inline const char* shade(double w) {
  if (!(w >= 0.1)) return "  ";
  if (w < 0.3) return "\xE2\x96\x91\xE2\x96\x91";  // ░░
  if (w < 0.5) return "\xE2\x96\x92\xE2\x96\x92";  // ▒▒
  if (w < 0.7) return "\xE2\x96\x93\xE2\x96\x93";  // ▓▓
  return "\xE2\x96\x88\xE2\x96\x88";               // ██
}

/// The xterm 256-colour index closest to an RGB colour in the 6×6×6 cube (indices 16..231).
inline int xterm256(const Rgb& c) {
  const auto level = [](int v) {  // cube levels 0, 95, 135, 175, 215, 255
    if (v < 48) return 0;
    if (v < 115) return 1;
    return (v - 35) / 40;
  };
  return 16 + 36 * level(c.r) + 6 * level(c.g) + level(c.b);
}

inline std::string pad_to(const std::string& s, int columns) {
  const int used = display_columns(s);
  return used >= columns ? s : s + std::string(static_cast<std::size_t>(columns - used), ' ');
}

}  // namespace internal

/// One head of maps.layers[layer] as text with block characters (and colour when style.colour).
inline std::string terminal_view(const AttentionMaps& maps, Index layer, Index head, const TerminalStyle& style = {}) {
  internal::check_head(maps, layer, head, "terminal_view");
  const LayerAttention& l = maps.layers[static_cast<std::size_t>(layer)];
  const Index T = l.queries, S = l.keys;
  const int index_cols = static_cast<int>(std::to_string(std::max<Index>(T, S) - 1).size());
  const int label_cols = std::max(3, style.label_columns);
  std::string out = detail::cat(head_title(maps, layer, head), "   (rows: queries, columns: keys)\n");

  // 1) Key indices, one digit row per decimal place, so each column stays two characters wide.
  for (int place = index_cols - 1; place >= 0; --place) {
    out += std::string(static_cast<std::size_t>(index_cols + 2 + label_cols), ' ');
    for (Index s = 0; s < S; ++s) {
      Index div = 1;
      for (int p = 0; p < place; ++p) div *= 10;
      const bool show = s >= div || place == 0;
      out += show ? std::to_string((s / div) % 10) + " " : "  ";
    }
    out += "\n";
  }
  // 2) One row per query: index, label, cells.
  for (Index t = 0; t < T; ++t) {
    std::string index = std::to_string(t);
    out += std::string(static_cast<std::size_t>(index_cols + 1) - index.size(), ' ') + index + " ";
    out += internal::pad_to(fit_columns(display_token(maps.query_tokens[static_cast<std::size_t>(t)]), label_cols), label_cols);
    for (Index s = 0; s < S; ++s) {
      if (maps.masked(t, s)) {
        out += "\xC2\xB7 ";  // "· "
        continue;
      }
      const double w = l.at(head, t, s);
      if (style.colour) {
        out += detail::cat("\x1b[38;5;", internal::xterm256(viridis(w)), "m", internal::shade(w), "\x1b[0m");
      } else {
        out += internal::shade(w);
      }
    }
    out += "\n";
  }
  // 3) What the columns are and what the shades mean.
  std::string keys = "keys:";
  for (Index s = 0; s < S; ++s) {
    keys += detail::cat(" ", s, " ", fit_columns(display_token(maps.key_tokens[static_cast<std::size_t>(s)]), 16), " ");
  }
  out += keys + "\n";
  out += "weight: \"  \" < 0.1 \xE2\x89\xA4 \xE2\x96\x91 < 0.3 \xE2\x89\xA4 \xE2\x96\x92 < 0.5 \xE2\x89\xA4 \xE2\x96\x93 < 0.7 \xE2\x89\xA4 \xE2\x96\x88";
  if (maps.kind == AttentionKind::CausalSelf) out += "      \xC2\xB7 hidden by the causal mask";
  out += "\n";
  return out;
}

}  // namespace eigenformer::inspect
