// eigenformer/inspect/heatmap.hpp — attention weights as standalone SVG pictures.
//
// One head (head_svg): the (T, S) weights of head h in layer l as a grid of squares —
//     row t    = query token t (y axis, labelled on the left): the position that reads
//     column s = key token s   (x axis, labelled on top):      the position that is read
//     colour   = weight(t, s) on the viridis scale from 0 (dark purple) to 1 (yellow), legend on the right
// Each row sums to 1. Cells a causal mask hides (s > t + S − T) are hatched grey, not coloured: "weight 0
// because it may not look" reads differently from "weight 0 because it chose not to". Every cell carries a
// <title> ("query 'cat' (2) → key 'the' (0): 0.4123"), which browsers show on hover. The title line names the
// layer, the head and the kind (encoder self-attention, causal self-attention, cross-attention).
//
// All heads (grid_svg): one small heatmap per (layer, head), layers down and heads across, same colours; the
// place to spot the heads that attend to the previous token, to the first token, or to themselves.
//
//     std::vector<inspect::AttentionMaps> maps = inspect::read_attention_maps("dump.safetensors", {tokens});
//     std::string svg = inspect::head_svg(maps[0], 1, 2);          // layer 1, head 2
//     inspect::write_attention_svgs("pictures/", maps);              // every head and one grid per kind
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/inspect/attention_maps.hpp"
#include "eigenformer/inspect/svg.hpp"

namespace eigenformer::inspect {

struct HeatmapStyle {
  int cell = 0;              // pixels per square; 0 chooses from the size (a head fits in about 560 px)
  int grid_cell = 0;         // pixels per square in grid_svg; 0 chooses (a head fits in about 150 px)
  bool cell_titles = true;   // head_svg: a hover <title> on every cell
};

namespace internal {

inline std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

inline std::string svg_open(double width, double height) {
  return detail::cat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"",
                     fmt(width), "\" height=\"", fmt(height), "\" viewBox=\"0 0 ", fmt(width), " ", fmt(height),
                     "\" font-family=\"", xml_escape(font_family()), "\">\n",
                     "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
}

/// The hatch that marks hidden (masked) cells.
inline std::string hatch_pattern() {
  return "<defs><pattern id=\"ef-hidden\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
         "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#eeeeee\"/>"
         "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#b5b5b5\" stroke-width=\"2.5\"/></pattern>"
         "<linearGradient id=\"ef-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">" +
         [] {
           std::string stops;
           for (int i = 0; i <= 8; ++i) {
             stops += detail::cat("<stop offset=\"", fmt(i / 8.0), "\" stop-color=\"", hex(viridis(i / 8.0)), "\"/>");
           }
           return stops;
         }() +
         "</linearGradient></defs>\n";
}

/// The colour scale: a vertical bar from 0 (bottom) to 1 (top) at (x, y), `height` tall, with ticks;
/// below it, when `hidden`, the hatch swatch. Returns the y below what it drew.
inline double legend(std::string& svg, double x, double y, double height, bool hidden) {
  svg += detail::cat("<text x=\"", fmt(x), "\" y=\"", fmt(y - 14), "\" font-size=\"12\" fill=\"#333\">weight</text>\n");
  svg += detail::cat("<rect x=\"", fmt(x), "\" y=\"", fmt(y), "\" width=\"14\" height=\"", fmt(height),
                     "\" fill=\"url(#ef-scale)\" stroke=\"#555\" stroke-width=\"0.5\"/>\n");
  for (int i = 0; i <= 4; ++i) {
    const double v = i / 4.0, ty = y + height * (1 - v);
    svg += detail::cat("<line x1=\"", fmt(x + 14), "\" y1=\"", fmt(ty), "\" x2=\"", fmt(x + 18), "\" y2=\"", fmt(ty),
                       "\" stroke=\"#555\"/><text x=\"", fmt(x + 21), "\" y=\"", fmt(ty + 4),
                       "\" font-size=\"11\" fill=\"#333\">", fmt(v), "</text>\n");
  }
  double bottom = y + height + 10;
  if (hidden) {
    svg += detail::cat("<rect x=\"", fmt(x), "\" y=\"", fmt(bottom + 4), "\" width=\"14\" height=\"14\" fill=\"url(#ef-hidden)\" "
                       "stroke=\"#555\" stroke-width=\"0.5\"/><text x=\"", fmt(x + 20), "\" y=\"", fmt(bottom + 15),
                       "\" font-size=\"11\" fill=\"#333\">hidden</text>\n");
    svg += detail::cat("<text x=\"", fmt(x), "\" y=\"", fmt(bottom + 32), "\" font-size=\"11\" fill=\"#333\">(causal mask)</text>\n");
    bottom += 40;
  }
  return bottom;
}

inline void check_head(const AttentionMaps& maps, Index layer, Index head, const char* who) {
  maps.validate();
  if (layer < 0 || layer >= static_cast<Index>(maps.layers.size())) {
    throw ValueError(detail::cat("[", who, "] layer ", layer, " is outside 0..", maps.layers.size() - 1, " of ", maps.name));
  }
  if (head < 0 || head >= maps.heads()) {
    throw ValueError(detail::cat("[", who, "] head ", head, " is outside 0..", maps.heads() - 1, " of ", maps.name));
  }
}

}  // namespace internal

/// "Layer 1 · head 2 · causal self-attention": the title of a head's picture. `layer` indexes maps.layers;
/// the number shown is that entry's own layer number (the block index in the model).
inline std::string head_title(const AttentionMaps& maps, Index layer, Index head) {
  return detail::cat("Layer ", maps.layers[static_cast<std::size_t>(layer)].layer, " \xC2\xB7 head ", head, " \xC2\xB7 ",
                     to_string(maps.kind));
}

/// One head as a standalone SVG document: the (T, S) weights of maps.layers[layer], head `head`.
/// Throws ValueError for a layer or head out of range, ShapeError for inconsistent maps.
inline std::string head_svg(const AttentionMaps& maps, Index layer, Index head, const HeatmapStyle& style = {}) {
  internal::check_head(maps, layer, head, "head_svg");
  using internal::fmt;
  const LayerAttention& l = maps.layers[static_cast<std::size_t>(layer)];
  const Index T = l.queries, S = l.keys;
  const double cell = style.cell > 0 ? style.cell : std::clamp(std::floor(560.0 / static_cast<double>(std::max(T, S))), 6.0, 36.0);

  // 1) Labels and the room they need (7 px per column of text at 12 px; a CJK character takes 2 columns).
  std::vector<std::string> qlabels, klabels;
  int qcols = 1, kcols = 1;
  for (const std::string& t : maps.query_tokens) {
    qlabels.push_back(fit_columns(display_token(t), 24));
    qcols = std::max(qcols, display_columns(qlabels.back()));
  }
  for (const std::string& t : maps.key_tokens) {
    klabels.push_back(fit_columns(display_token(t), 24));
    kcols = std::max(kcols, display_columns(klabels.back()));
  }
  const double label_font = std::min(12.0, std::max(7.0, cell * 0.8));
  const double gx = 40 + qcols * label_font * 0.6 + 10;
  const double gy = 64 + kcols * label_font * 0.6 * 0.82 + 12;  // labels rotated by −55°: sin 55° ≈ 0.82
  const double gw = S * cell, gh = T * cell;
  const double lx = gx + gw + 28, lh = std::clamp(gh, 120.0, 260.0);
  const bool causal = maps.kind == AttentionKind::CausalSelf;

  std::string svg;
  const double width = std::max(lx + 90, 480.0);  // at least the subtitle's width
  const double height = std::max(gy + gh + 20, gy + lh + (causal ? 60 : 24));
  svg += internal::svg_open(width, height);
  svg += internal::hatch_pattern();

  // 2) Title and what the axes mean.
  svg += detail::cat("<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\" fill=\"#111\">",
                     xml_escape(head_title(maps, layer, head)), "</text>\n");
  svg += detail::cat("<text x=\"16\" y=\"42\" font-size=\"12\" fill=\"#444\">rows: queries (T = ", T,
                     ", who reads) \xC2\xB7 columns: keys (S = ", S, ", what is read)</text>\n");

  // 3) Key labels on top (rotated), query labels on the left.
  for (Index s = 0; s < S; ++s) {
    const double x = gx + (s + 0.5) * cell + label_font * 0.35, y = gy - 6;
    svg += detail::cat("<text x=\"", fmt(x), "\" y=\"", fmt(y), "\" font-size=\"", fmt(label_font),
                       "\" transform=\"rotate(-55 ", fmt(x), " ", fmt(y), ")\" fill=\"#222\">",
                       xml_escape(klabels[static_cast<std::size_t>(s)]), "</text>\n");
  }
  for (Index t = 0; t < T; ++t) {
    svg += detail::cat("<text x=\"", fmt(gx - 6), "\" y=\"", fmt(gy + (t + 0.5) * cell + label_font * 0.35),
                       "\" font-size=\"", fmt(label_font), "\" text-anchor=\"end\" fill=\"#222\">",
                       xml_escape(qlabels[static_cast<std::size_t>(t)]), "</text>\n");
  }
  svg += detail::cat("<text x=\"14\" y=\"", fmt(gy + gh / 2), "\" font-size=\"11\" fill=\"#666\" text-anchor=\"middle\" ",
                     "transform=\"rotate(-90 14 ", fmt(gy + gh / 2), ")\">query \xE2\x86\x93</text>\n");

  // 4) The cells.
  svg += "<g shape-rendering=\"crispEdges\">\n";
  for (Index t = 0; t < T; ++t) {
    for (Index s = 0; s < S; ++s) {
      const bool hidden = maps.masked(t, s);
      const double w = l.at(head, t, s);
      svg += detail::cat("<rect x=\"", fmt(gx + s * cell), "\" y=\"", fmt(gy + t * cell), "\" width=\"", fmt(cell),
                         "\" height=\"", fmt(cell), "\" fill=\"", hidden ? std::string("url(#ef-hidden)") : hex(viridis(w)), "\"");
      if (style.cell_titles) {
        svg += detail::cat("><title>query ", xml_escape(display_token(maps.query_tokens[static_cast<std::size_t>(t)])), " (", t,
                           ") \xE2\x86\x92 key ", xml_escape(display_token(maps.key_tokens[static_cast<std::size_t>(s)])), " (", s,
                           "): ", hidden ? std::string("hidden") : format_weight(w), "</title></rect>\n");
      } else {
        svg += "/>\n";
      }
    }
  }
  svg += "</g>\n";
  svg += detail::cat("<rect x=\"", fmt(gx), "\" y=\"", fmt(gy), "\" width=\"", fmt(gw), "\" height=\"", fmt(gh),
                     "\" fill=\"none\" stroke=\"#555\" stroke-width=\"0.75\"/>\n");

  // 5) The colour scale.
  internal::legend(svg, lx, gy, lh, causal);
  svg += "</svg>\n";
  return svg;
}

/// Every (layer, head) of `maps` as one SVG document: layers down, heads across, one small heatmap each
/// (rows queries, columns keys, as in head_svg), one shared colour scale.
inline std::string grid_svg(const AttentionMaps& maps, const HeatmapStyle& style = {}) {
  maps.validate();
  using internal::fmt;
  const Index L = static_cast<Index>(maps.layers.size()), H = maps.heads(), T = maps.queries(), S = maps.keys();
  const double cell = style.grid_cell > 0 ? style.grid_cell : std::clamp(std::floor(150.0 / static_cast<double>(std::max(T, S))), 2.0, 14.0);
  const double mw = S * cell, mh = T * cell, gap = 18;
  const double gx = 72, gy = 78;
  const double lx = gx + H * (mw + gap) + 12, lh = std::clamp(L * (mh + gap) - gap, 120.0, 260.0);
  const bool causal = maps.kind == AttentionKind::CausalSelf;
  const double width = std::max(lx + 90, 460.0);
  const double height = std::max(gy + L * (mh + gap) + 10, gy + lh + (causal ? 60 : 24));

  std::string svg = internal::svg_open(width, height);
  svg += internal::hatch_pattern();
  svg += detail::cat("<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\" fill=\"#111\">",
                     xml_escape(detail::cat(to_string(maps.kind), ": ", L, " layers \xC3\x97 ", H, " heads")), "</text>\n");
  svg += detail::cat("<text x=\"16\" y=\"42\" font-size=\"12\" fill=\"#444\">each square: rows are the T = ", T,
                     " queries, columns the S = ", S, " keys (", xml_escape(maps.name), ")</text>\n");
  for (Index h = 0; h < H; ++h) {
    svg += detail::cat("<text x=\"", fmt(gx + h * (mw + gap) + mw / 2), "\" y=\"", fmt(gy - 8),
                       "\" font-size=\"12\" text-anchor=\"middle\" fill=\"#222\">head ", h, "</text>\n");
  }
  svg += "<g shape-rendering=\"crispEdges\">\n";
  for (Index li = 0; li < L; ++li) {
    const LayerAttention& l = maps.layers[static_cast<std::size_t>(li)];
    const double y0 = gy + li * (mh + gap);
    svg += detail::cat("<text x=\"", fmt(gx - 8), "\" y=\"", fmt(y0 + mh / 2 + 4),
                       "\" font-size=\"12\" text-anchor=\"end\" fill=\"#222\">layer ", l.layer, "</text>\n");
    for (Index h = 0; h < H; ++h) {
      const double x0 = gx + h * (mw + gap);
      svg += detail::cat("<g><title>", xml_escape(head_title(maps, li, h)), "</title>\n");
      for (Index t = 0; t < T; ++t) {
        for (Index s = 0; s < S; ++s) {
          svg += detail::cat("<rect x=\"", fmt(x0 + s * cell), "\" y=\"", fmt(y0 + t * cell), "\" width=\"", fmt(cell),
                             "\" height=\"", fmt(cell), "\" fill=\"",
                             maps.masked(t, s) ? std::string("#e4e4e4") : hex(viridis(l.at(h, t, s))), "\"/>\n");
        }
      }
      svg += detail::cat("<rect x=\"", fmt(x0), "\" y=\"", fmt(y0), "\" width=\"", fmt(mw), "\" height=\"", fmt(mh),
                         "\" fill=\"none\" stroke=\"#777\" stroke-width=\"0.5\"/></g>\n");
    }
  }
  svg += "</g>\n";
  internal::legend(svg, lx, gy, lh, causal);
  svg += "</svg>\n";
  return svg;
}

/// The file names write_attention_svgs uses: "<name>.grid.svg" and "<name>.layer<l>.head<h>.svg".
inline std::string head_svg_name(const AttentionMaps& maps, Index layer, Index head) {
  return detail::cat(maps.name, ".layer", maps.layers[static_cast<std::size_t>(layer)].layer, ".head", head, ".svg");
}
inline std::string grid_svg_name(const AttentionMaps& maps) { return maps.name + ".grid.svg"; }

/// The --attention-svg DIR of the family programs: for every AttentionMaps, one grid and one picture per
/// head, written atomically into `dir` (created when missing). Returns the paths written, grids first.
inline std::vector<std::string> write_attention_svgs(const std::string& dir, const std::vector<AttentionMaps>& all,
                                                     const HeatmapStyle& style = {}) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError(detail::cat("[attention svg] cannot create folder '", dir, "': ", ec.message()));
  std::vector<std::string> written;
  for (const AttentionMaps& maps : all) {
    const std::string path = (std::filesystem::path(dir) / grid_svg_name(maps)).string();
    write_file_atomically(path, grid_svg(maps, style), "[attention svg]");
    written.push_back(path);
  }
  for (const AttentionMaps& maps : all) {
    for (Index l = 0; l < static_cast<Index>(maps.layers.size()); ++l) {
      for (Index h = 0; h < maps.heads(); ++h) {
        const std::string path = (std::filesystem::path(dir) / head_svg_name(maps, l, h)).string();
        write_file_atomically(path, head_svg(maps, l, h, style), "[attention svg]");
        written.push_back(path);
      }
    }
  }
  return written;
}

}  // namespace eigenformer::inspect
