// eigenformer/inspect/report.hpp — one self-contained HTML page for a run.
//
// The page needs nothing but itself: no network, no external script, style or font (the fonts are the
// browser's own, chosen by the list in svg.hpp). It shows
//   - facts about the run (model, prompt, ...), as the caller gives them;
//   - for every kind of attention (AttentionMaps): the query tokens, and the layer × head grid, one small
//     heatmap per head (rows queries, columns keys, viridis from 0 to 1, hatched grey where a causal mask
//     hides a key), drawn by the page's inline script on <canvas> from the weights embedded as JSON;
//       hover a cell     → "layer 1 · head 2 · query “cat” (2) → key “the” (0): 0.4123" next to the pointer
//                          (and in the status line under the grid)
//       click a token    → its row is outlined in every head of that kind, the other rows fade: where this
//                          token looks, across layers and heads; the line under the tokens lists, per head,
//                          the key it reads most
//       click a head     → the head drawn large, with the tokens on its axes
//   - generation traces (generation/trace.hpp): per step the candidates after every filter with their
//     probabilities and the token chosen; for beam search, per step every ranked candidate, what became of
//     it (kept as beam i, finished, dropped) and the text of every beam so far, then the tree of beams drawn
//     as nested lists (each node a token, its children the candidates that extended it at the next step).
//     The elements carry their values as data attributes (data-step, data-chosen, data-id, data-p,
//     data-parent, data-token, data-fate, data-path), so a test reads the page back exactly.
//
//     inspect::Report report("llama: Once upon a time");
//     report.add_fact("model", "models/TinyLlama-1.1B-Chat-v1.0");
//     for (const inspect::AttentionMaps& m : maps) report.add_attention(m);
//     report.add_trace(trace, [&](TokenId id) { return tokenizer.id_to_token(id).value_or("?"); },
//                      [&](const TokenSequence& ids) { return tokenizer.decode(ids); });
//     report.write("run.html");                       // atomically (core/atomic_file.hpp)
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/generation/trace.hpp"
#include "eigenformer/inspect/attention_maps.hpp"
#include "eigenformer/inspect/heatmap.hpp"
#include "eigenformer/inspect/svg.hpp"

namespace eigenformer::inspect {

namespace internal {

/// A JSON string literal that is also safe inside an HTML <script> element: JSON's own escapes (the one
/// writer in core/json.hpp), then '<', '>' and '&' as \u003c \u003e \u0026, so no token can close the
/// script ("</script>"). JSON never escapes those three, so each one in the literal is the text's own.
inline std::string script_string(const std::string& s) {
  std::string json_literal;
  json::detail::write_string(json_literal, s);
  std::string out;
  out.reserve(json_literal.size());
  for (char c : json_literal) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

inline std::string html_text(const std::string& token) { return xml_escape(display_token(token)); }

}  // namespace internal

class Report {
 public:
  using TokenText = std::function<std::string(TokenId)>;
  using SequenceText = std::function<std::string(const TokenSequence&)>;

  explicit Report(std::string title = "eigenformer run") : title_(std::move(title)) {}

  /// A line "key: value" at the top of the page.
  void add_fact(std::string key, std::string value) { facts_.emplace_back(std::move(key), std::move(value)); }

  /// One kind of attention of the run (checked: ShapeError when inconsistent).
  void add_attention(AttentionMaps maps) {
    maps.validate();
    attention_.push_back(std::move(maps));
  }

  /// A generation trace; `token_text` spells a token id (ids are shown when it is empty); `sequence_text`
  /// decodes a beam's tokens to its text (when empty, the beam's tokens spelled one after the other).
  void add_trace(const generation::Trace& trace, const TokenText& token_text = {}, const SequenceText& sequence_text = {}) {
    traces_.push_back(trace_html(trace, token_text, sequence_text));
  }

  /// A section of preformatted text, e.g. a compare() report.
  void add_text(const std::string& heading, const std::string& text) {
    texts_.push_back(detail::cat("<section class=\"ef-text\"><h2>", xml_escape(heading), "</h2><pre>",
                                 xml_escape(display_text(text)), "</pre></section>\n"));
  }

  std::string html() const {
    std::string page = detail::cat(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", xml_escape(title_), "</title>\n",
        "<meta name=\"generator\" content=\"eigenformer inspect/report.hpp\">\n<style>\n", css(), "</style></head>\n<body>\n",
        "<h1>", xml_escape(title_), "</h1>\n");
    if (!facts_.empty()) {
      page += "<dl class=\"ef-facts\">";
      for (const auto& f : facts_) page += detail::cat("<dt>", xml_escape(f.first), "</dt><dd>", xml_escape(display_text(f.second)), "</dd>");
      page += "</dl>\n";
    }
    if (!attention_.empty()) {
      page += "<p class=\"ef-help\">Each square is one head: row <i>t</i> is query token <i>t</i> (who reads), column <i>s</i> "
              "is key token <i>s</i> (what is read), the colour is the softmax weight (each row sums to 1). Hatched grey: "
              "a key the causal mask hides. Hover a cell for its tokens and weight; click a token to see where it looks in "
              "every head; click a head to draw it large.</p>\n";
    }
    for (std::size_t i = 0; i < attention_.size(); ++i) page += attention_section(attention_[i], i);
    for (const std::string& t : traces_) page += t;
    for (const std::string& t : texts_) page += t;
    page += "<div id=\"ef-tooltip\" role=\"tooltip\" hidden></div>\n";
    page += "<script type=\"application/json\" id=\"ef-data\">" + data_json() + "</script>\n";
    page += "<script>\n" + script() + "</script>\n</body></html>\n";
    return page;
  }

  /// Writes html() to `path`, atomically.
  void write(const std::string& path) const { write_file_atomically(path, html(), "[report]"); }

 private:
  /// Free text from the caller, made valid UTF-8 line by line (newlines kept).
  static std::string display_text(const std::string& text) {
    std::string out, line;
    for (char c : text) {
      if (c == '\n') {
        if (!line.empty()) out += display_token(line);  // display_token("") would be "∅"
        out += "\n";
        line.clear();
      } else {
        line += c;
      }
    }
    if (!line.empty()) out += display_token(line);
    return out;
  }

  static const char* css() {
    return "body{font-family:'Noto Sans CJK SC','Noto Sans SC','Noto Sans CJK JP','Noto Sans','DejaVu Sans','Microsoft YaHei',"
           "'PingFang SC',sans-serif;margin:24px;color:#111;background:#fff;max-width:none}\n"
           "h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\n"
           ".ef-facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}.ef-facts dt{color:#555}"
           ".ef-facts dd{margin:0;font-family:'DejaVu Sans Mono','Noto Sans Mono CJK SC',monospace}\n"
           ".ef-help{font-size:13px;color:#444;max-width:900px}\n"
           ".ef-tokens{display:flex;flex-wrap:wrap;gap:4px;margin:6px 0 10px;font-size:14px}\n"
           ".ef-token{border:1px solid #bbb;border-radius:4px;padding:1px 6px;cursor:pointer;background:#f7f7f7;white-space:pre}\n"
           ".ef-token .ef-pos{color:#888;font-size:10px;margin-right:3px}\n"
           ".ef-token.ef-selected{background:#e4002b;color:#fff;border-color:#e4002b}.ef-token.ef-selected .ef-pos{color:#fdd}\n"
           ".ef-grid{border-collapse:collapse}.ef-grid th{font-weight:normal;font-size:12px;color:#444;padding:2px 6px}\n"
           ".ef-grid td{padding:4px 6px;vertical-align:top}\n"
           ".ef-head canvas{display:block;border:1px solid #888;cursor:crosshair;image-rendering:pixelated}\n"
           ".ef-head figcaption{font-size:11px;color:#555;text-align:center}.ef-head{margin:0}\n"
           ".ef-focus,.ef-readout{font-size:12px;color:#333;min-height:1.4em;margin:6px 0}\n"
           ".ef-detail canvas{border:1px solid #888;margin-top:8px}\n"
           "#ef-tooltip{position:fixed;pointer-events:none;background:#222;color:#fff;font-size:12px;padding:3px 7px;"
           "border-radius:4px;z-index:10;white-space:pre}\n"
           ".ef-legend{display:inline-block;width:160px;height:10px;vertical-align:middle;margin:0 6px;"
           "background:linear-gradient(to right,#440154,#472d7b,#3b528b,#2c728e,#21918c,#28ae80,#5ec962,#addc30,#fde725)}\n"
           ".ef-step{margin:10px 0}.ef-step table{border-collapse:collapse;font-size:12px}"
           ".ef-step td,.ef-step th{border:1px solid #ddd;padding:2px 6px;text-align:left;white-space:pre}\n"
           ".ef-bar{display:inline-block;height:8px;background:#21918c;vertical-align:middle;margin-left:4px}\n"
           ".ef-kept{color:#0a7c2f}.ef-finished{color:#1f4fbf;font-weight:bold}.ef-dropped{color:#999}\n"
           ".ef-tree,.ef-tree ul{list-style:none;margin:0;padding-left:18px;border-left:1px dotted #bbb;font-size:12px}"
           ".ef-tree li{margin:1px 0}.ef-tree li b{white-space:pre}.ef-tree{padding-left:4px;border-left:none}\n"
           "pre{font-size:12px;background:#f7f7f7;padding:8px;overflow-x:auto}\n";
  }

  std::string attention_section(const AttentionMaps& m, std::size_t index) const {
    const Index L = static_cast<Index>(m.layers.size()), H = m.heads(), T = m.queries(), S = m.keys();
    // Each small heatmap fits in about 180 px; squares between 3 and 16 px.
    const Index cell = std::max<Index>(3, std::min<Index>(16, 180 / std::max<Index>(1, std::max(T, S))));
    std::string s = detail::cat("<section class=\"ef-attention\" id=\"ef-set-", index, "\" data-set=\"", index, "\">\n<h2>",
                                xml_escape(to_string(m.kind)), " <small>(", xml_escape(m.name), ": ", L, " layers \xC3\x97 ", H,
                                " heads, ", T, " queries \xC3\x97 ", S, " keys)</small></h2>\n");
    s += "<div class=\"ef-tokens\" aria-label=\"query tokens\">query tokens:";
    for (Index t = 0; t < T; ++t) {
      s += detail::cat(" <span class=\"ef-token\" data-set=\"", index, "\" data-t=\"", t, "\"><span class=\"ef-pos\">", t,
                       "</span>", internal::html_text(m.query_tokens[static_cast<std::size_t>(t)]), "</span>");
    }
    s += "</div>\n";
    if (m.kind == AttentionKind::Cross) {
      s += "<div class=\"ef-tokens\" aria-label=\"key tokens\">key tokens (the source):";
      for (Index k = 0; k < S; ++k) {
        s += detail::cat(" <span class=\"ef-token ef-key\"><span class=\"ef-pos\">", k, "</span>",
                         internal::html_text(m.key_tokens[static_cast<std::size_t>(k)]), "</span>");
      }
      s += "</div>\n";
    }
    s += detail::cat("<div class=\"ef-focus\" id=\"ef-focus-", index, "\">Click a query token to see where it looks.</div>\n");
    s += "<div>weight 0<span class=\"ef-legend\"></span>1</div>\n";
    s += "<table class=\"ef-grid\"><tr><th></th>";
    for (Index h = 0; h < H; ++h) s += detail::cat("<th>head ", h, "</th>");
    s += "</tr>\n";
    for (Index li = 0; li < L; ++li) {
      s += detail::cat("<tr><th>layer ", m.layers[static_cast<std::size_t>(li)].layer, "</th>");
      for (Index h = 0; h < H; ++h) {
        s += detail::cat("<td><figure class=\"ef-head\"><canvas class=\"ef-map\" width=\"", S * cell, "\" height=\"", T * cell,
                         "\" data-set=\"", index, "\" data-layer=\"", li, "\" data-head=\"", h, "\" data-cell=\"", cell,
                         "\" data-ox=\"0\" data-oy=\"0\" title=\"", xml_escape(head_title(m, li, h)), "\"></canvas>",
                         "<figcaption>L", m.layers[static_cast<std::size_t>(li)].layer, " H", h, "</figcaption></figure></td>");
      }
      s += "</tr>\n";
    }
    s += "</table>\n";
    s += detail::cat("<div class=\"ef-readout\" id=\"ef-readout-", index, "\"></div>\n");
    s += detail::cat("<div class=\"ef-detail\" id=\"ef-detail-", index, "\"></div>\n</section>\n");
    return s;
  }

  std::string data_json() const {
    std::string j = "{\"sets\":[";
    char buf[32];
    for (std::size_t i = 0; i < attention_.size(); ++i) {
      const AttentionMaps& m = attention_[i];
      j += detail::cat(i ? "," : "", "{\"name\":", internal::script_string(m.name), ",\"kind\":",
                       internal::script_string(to_string(m.kind)), ",\"causal\":",
                       m.kind == AttentionKind::CausalSelf ? "true" : "false", ",\"H\":", m.heads(), ",\"T\":", m.queries(),
                       ",\"S\":", m.keys(), ",\"queries\":[");
      for (std::size_t t = 0; t < m.query_tokens.size(); ++t) {
        j += (t ? "," : "") + internal::script_string(display_token(m.query_tokens[t]));
      }
      j += "],\"keys\":[";
      for (std::size_t k = 0; k < m.key_tokens.size(); ++k) {
        j += (k ? "," : "") + internal::script_string(display_token(m.key_tokens[k]));
      }
      j += "],\"layers\":[";
      for (std::size_t l = 0; l < m.layers.size(); ++l) {
        j += detail::cat(l ? "," : "", "{\"layer\":", m.layers[l].layer, ",\"weights\":[");
        const std::vector<double>& w = m.layers[l].weights;
        for (std::size_t k = 0; k < w.size(); ++k) {
          std::snprintf(buf, sizeof buf, "%s%.6g", k ? "," : "", std::isfinite(w[k]) ? w[k] : 0.0);
          j += buf;
        }
        j += "]}";
      }
      j += "]}";
    }
    return j + "]}";
  }

  static std::string ids_text(const std::vector<TokenId>& ids) {
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) out += detail::cat(i ? "," : "", ids[i]);
    return out;
  }

  static const char* fate_name(generation::BeamCandidate::Fate fate) {
    return fate == generation::BeamCandidate::Fate::Kept       ? "kept"
           : fate == generation::BeamCandidate::Fate::Finished ? "finished"
                                                                : "dropped";
  }

  /// The trace as HTML: greedy and sampling steps (a table of filter stages each), beam steps (a table of
  /// ranked candidates each), and the tree of beams.
  static std::string trace_html(const generation::Trace& trace, const TokenText& token_text, const SequenceText& sequence_text) {
    const auto spell = [&](TokenId id) {
      return detail::cat("<b>", internal::html_text(token_text ? token_text(id) : std::to_string(id)), "</b> <small>(",
                         id, ")</small>");
    };
    const auto bar = [](double p) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "<span class=\"ef-bar\" style=\"width:%dpx\"></span>", static_cast<int>(p * 120 + 0.5));
      return std::string(buf);
    };
    const auto text_of = [&](const std::vector<TokenId>& path) {
      if (sequence_text) return sequence_text(path);
      std::string text;
      for (TokenId id : path) text += token_text ? token_text(id) : detail::cat(id, " ");
      return text;
    };
    char num[64];
    std::string s = detail::cat("<section class=\"ef-trace\" data-steps=\"", trace.steps.size(), "\" data-beam-steps=\"",
                                trace.beam_steps.size(), "\"><h2>generation trace</h2>\n");
    for (const generation::TokenStep& step : trace.steps) {
      std::snprintf(num, sizeof num, "%.4f", step.chosen_probability);
      s += detail::cat("<div class=\"ef-step\" data-step=\"", step.step, "\" data-sequence=\"", step.sequence,
                       "\" data-chosen=\"", step.chosen, "\"><div>step ", step.step, " (sequence ", step.sequence, "): chose ",
                       spell(step.chosen), ", p = ", num,
                       "</div><table><tr><th>stage</th><th>tokens left</th><th>top candidates</th></tr>\n");
      for (const generation::FilterStage& stage : step.stages) {
        s += detail::cat("<tr data-stage=\"", xml_escape(stage.name), "\"><td>", xml_escape(stage.name), "</td><td>", stage.kept,
                         "</td><td>");
        for (const generation::Candidate& c : stage.top) {
          std::snprintf(num, sizeof num, "%.4f", c.probability);
          s += detail::cat("<span class=\"ef-cand\" data-id=\"", c.id, "\" data-p=\"", num, "\">", spell(c.id), " ", num,
                           bar(c.probability), "</span> &nbsp; ");
        }
        s += "</td></tr>\n";
      }
      s += "</table></div>\n";
    }
    // Beam search: follow the tree. beams[i] is the token path of beam i after the previous step, and
    // beam_node[i] its node in `nodes` (-1: the prompt, the root).
    struct Node {
      const generation::BeamCandidate* candidate = nullptr;
      std::vector<TokenId> path;
      std::vector<std::size_t> children;
    };
    std::vector<Node> nodes;
    std::vector<std::size_t> roots;
    std::vector<std::vector<TokenId>> beams(1);
    std::vector<long> beam_node(1, -1);
    for (const generation::BeamStep& step : trace.beam_steps) {
      std::vector<std::vector<TokenId>> next;
      std::vector<long> next_node;
      s += detail::cat("<div class=\"ef-step ef-beam-step\" data-step=\"", step.step, "\"><div>beam step ", step.step,
                       "</div><table><tr><th>extends</th><th>token</th>"
                       "<th>log p of the beam</th><th>fate</th><th>beam so far</th></tr>\n");
      for (const generation::BeamCandidate& c : step.candidates) {
        const bool known_parent = c.parent >= 0 && static_cast<std::size_t>(c.parent) < beams.size();
        std::vector<TokenId> path;
        if (known_parent) path = beams[static_cast<std::size_t>(c.parent)];
        path.push_back(c.token);
        Node node;
        node.candidate = &c;
        node.path = path;
        const std::size_t index = nodes.size();
        nodes.push_back(std::move(node));
        const long parent_node = known_parent ? beam_node[static_cast<std::size_t>(c.parent)] : -1;
        if (parent_node < 0) roots.push_back(index);
        else nodes[static_cast<std::size_t>(parent_node)].children.push_back(index);
        std::string fate;
        if (c.fate == generation::BeamCandidate::Fate::Kept) {
          fate = detail::cat("kept as beam ", c.beam);
          if (c.beam >= 0) {
            if (next.size() <= static_cast<std::size_t>(c.beam)) {
              next.resize(static_cast<std::size_t>(c.beam) + 1);
              next_node.resize(static_cast<std::size_t>(c.beam) + 1, -1);
            }
            next[static_cast<std::size_t>(c.beam)] = path;
            next_node[static_cast<std::size_t>(c.beam)] = static_cast<long>(index);
          }
        } else if (c.fate == generation::BeamCandidate::Fate::Finished) {
          std::snprintf(num, sizeof num, "%.4f", c.final_score);
          fate = detail::cat("finished, score ", num);
        } else {
          fate = "dropped";
        }
        std::snprintf(num, sizeof num, "%.4f", c.score);
        s += detail::cat("<tr class=\"ef-", fate_name(c.fate), "\" data-parent=\"", c.parent, "\" data-token=\"", c.token,
                         "\" data-score=\"", num, "\" data-fate=\"", fate_name(c.fate), "\" data-path=\"", ids_text(path),
                         "\"><td>beam ", c.parent, "</td><td>", spell(c.token), "</td><td>", num, "</td><td>", fate,
                         "</td><td>", internal::html_text(text_of(path)), "</td></tr>\n");
      }
      s += "</table></div>\n";
      if (!next.empty()) {
        beams = std::move(next);
        beam_node = std::move(next_node);
      }
    }
    if (!nodes.empty()) {
      s += "<h3>the tree of beams</h3>\n<p class=\"ef-help\">Each line is a token a beam was extended by, under the beam it "
           "extended (the prompt at the root): green kept, blue finished (with its length-penalised score), grey dropped.</p>\n";
      s += "<ul class=\"ef-tree\">\n" + tree_html(nodes, roots, spell, text_of) + "</ul>\n";
    }
    if (trace.steps.empty() && trace.beam_steps.empty()) s += "<p>(the trace is empty)</p>\n";
    return s + "</section>\n";
  }

  /// The nodes `list` of the tree of beams and, under each, its children: nested <li>/<ul>.
  template <class Node, class Spell, class TextOf>
  static std::string tree_html(const std::vector<Node>& nodes, const std::vector<std::size_t>& list, const Spell& spell,
                               const TextOf& text_of) {
    std::string s;
    char num[64];
    for (std::size_t i : list) {
      const Node& n = nodes[i];
      const generation::BeamCandidate& c = *n.candidate;
      std::snprintf(num, sizeof num, "%.4f", c.score);
      s += detail::cat("<li class=\"ef-", fate_name(c.fate), "\" data-path=\"", ids_text(n.path), "\">", spell(c.token),
                       " log p ", num);
      if (c.fate == generation::BeamCandidate::Fate::Kept) s += detail::cat(" \xE2\x86\x92 beam ", c.beam);
      if (c.fate == generation::BeamCandidate::Fate::Finished) {
        std::snprintf(num, sizeof num, "%.4f", c.final_score);
        s += detail::cat(" \xE2\x86\x92 finished, score ", num, ": \xE2\x80\x9C", internal::html_text(text_of(n.path)),
                         "\xE2\x80\x9D");
      }
      if (!n.children.empty()) s += "\n<ul>\n" + tree_html(nodes, n.children, spell, text_of) + "</ul>\n";
      s += "</li>\n";
    }
    return s;
  }

  static std::string script();

  std::string title_;
  std::vector<std::pair<std::string, std::string>> facts_;
  std::vector<AttentionMaps> attention_;
  std::vector<std::string> traces_;
  std::vector<std::string> texts_;
};

/// The page's script: draws every head, and answers hover and clicks (see the file comment).
inline std::string Report::script() {
  return R"JS('use strict';
(function () {
  const data = JSON.parse(document.getElementById('ef-data').textContent);
  const FONT = "'Noto Sans CJK SC','Noto Sans SC','Noto Sans CJK JP','Noto Sans','DejaVu Sans',sans-serif";
  // viridis at 0, 1/8, ..., 1 (the same anchors as svg.hpp)
  const V = [[68,1,84],[71,45,123],[59,82,139],[44,114,142],[33,145,140],[40,174,128],[94,201,98],[173,220,48],[253,231,37]];
  function viridis(v) {
    if (!(v > 0)) v = 0;
    if (v > 1) v = 1;
    const x = v * 8, i = Math.min(7, Math.floor(x)), f = x - i, a = V[i], b = V[i + 1];
    return 'rgb(' + Math.round(a[0] + (b[0] - a[0]) * f) + ',' + Math.round(a[1] + (b[1] - a[1]) * f) + ',' +
           Math.round(a[2] + (b[2] - a[2]) * f) + ')';
  }
  const selected = data.sets.map(function () { return -1; });
  const tooltip = document.getElementById('ef-tooltip');
  function weight(set, li, h, t, s) { return set.layers[li].weights[(h * set.T + t) * set.S + s]; }
  function hidden(set, t, s) { return set.causal && s > t + (set.S - set.T); }
  function describe(set, li, h, t, s) {
    const w = hidden(set, t, s) ? 'hidden (causal mask)' : weight(set, li, h, t, s).toFixed(4);
    return 'layer ' + set.layers[li].layer + ' \u00b7 head ' + h + ' \u00b7 query \u201c' + set.queries[t] + '\u201d (' + t +
           ') \u2192 key \u201c' + set.keys[s] + '\u201d (' + s + '): ' + w;
  }

  // Draws head (li, h) of set `si` into `canvas`, the grid's top-left corner at (ox, oy), `c` pixels a square.
  function drawCells(ctx, si, li, h, ox, oy, c) {
    const set = data.sets[si], sel = selected[si];
    for (let t = 0; t < set.T; ++t) {
      for (let s = 0; s < set.S; ++s) {
        const x = ox + s * c, y = oy + t * c;
        if (hidden(set, t, s)) {
          ctx.fillStyle = '#e8e8e8';
          ctx.fillRect(x, y, c, c);
          if (c >= 6) {
            ctx.strokeStyle = '#b5b5b5';
            ctx.lineWidth = 1;
            ctx.beginPath(); ctx.moveTo(x, y + c); ctx.lineTo(x + c, y); ctx.stroke();
          }
        } else {
          ctx.fillStyle = viridis(weight(set, li, h, t, s));
          ctx.fillRect(x, y, c, c);
        }
      }
    }
    if (sel >= 0) {
      ctx.fillStyle = 'rgba(255,255,255,0.7)';
      for (let t = 0; t < set.T; ++t) if (t !== sel) ctx.fillRect(ox, oy + t * c, set.S * c, c);
      ctx.strokeStyle = '#e4002b';
      ctx.lineWidth = 2;
      ctx.strokeRect(ox + 1, oy + sel * c + 1, set.S * c - 2, c - 2);
    }
  }
  function draw(canvas) {
    const d = canvas.dataset, ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawCells(ctx, +d.set, +d.layer, +d.head, +d.ox, +d.oy, +d.cell);
    if (d.labels === '1') drawLabels(canvas);
    d.rendered = '1';
  }
  function drawLabels(canvas) {
    const d = canvas.dataset, set = data.sets[+d.set], ctx = canvas.getContext('2d'), c = +d.cell;
    ctx.fillStyle = '#222';
    ctx.font = '12px ' + FONT;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let t = 0; t < set.T; ++t) ctx.fillText(set.queries[t], +d.ox - 6, +d.oy + (t + 0.5) * c);
    ctx.textAlign = 'left';
    for (let s = 0; s < set.S; ++s) {
      ctx.save();
      ctx.translate(+d.ox + (s + 0.5) * c, +d.oy - 6);
      ctx.rotate(-Math.PI / 3);
      ctx.fillText(set.keys[s], 0, 0);
      ctx.restore();
    }
    ctx.font = 'bold 14px ' + FONT;
    ctx.fillText('layer ' + set.layers[+d.layer].layer + ' \u00b7 head ' + d.head + ' \u00b7 ' + set.kind, 8, 18);
  }
  function redraw(si) {
    document.querySelectorAll('canvas[data-set="' + si + '"]').forEach(draw);
  }

  // Which square is under the pointer: null outside the grid.
  function cellAt(canvas, ev) {
    const d = canvas.dataset, r = canvas.getBoundingClientRect(), set = data.sets[+d.set], c = +d.cell;
    const x = (ev.clientX - r.left) * canvas.width / r.width - +d.ox;
    const y = (ev.clientY - r.top) * canvas.height / r.height - +d.oy;
    const t = Math.floor(y / c), s = Math.floor(x / c);
    if (x < 0 || y < 0 || t >= set.T || s >= set.S) return null;
    return { t: t, s: s };
  }
  function hover(ev) {
    const canvas = ev.currentTarget, d = canvas.dataset, at = cellAt(canvas, ev);
    if (at === null) { tooltip.hidden = true; return; }
    const text = describe(data.sets[+d.set], +d.layer, +d.head, at.t, at.s);
    tooltip.textContent = text;
    tooltip.hidden = false;
    tooltip.style.left = (ev.clientX + 14) + 'px';
    tooltip.style.top = (ev.clientY + 14) + 'px';
    document.getElementById('ef-readout-' + d.set).textContent = text;
  }
  function attach(canvas) {
    canvas.addEventListener('mousemove', hover);
    canvas.addEventListener('mouseleave', function () { tooltip.hidden = true; });
  }

  // A head drawn large, with the tokens on its axes.
  function openDetail(si, li, h) {
    const set = data.sets[si], box = document.getElementById('ef-detail-' + si);
    const measure = document.createElement('canvas').getContext('2d');
    measure.font = '12px ' + FONT;
    let qw = 0, kw = 0;
    set.queries.forEach(function (q) { qw = Math.max(qw, measure.measureText(q).width); });
    set.keys.forEach(function (k) { kw = Math.max(kw, measure.measureText(k).width); });
    const c = Math.max(10, Math.min(36, Math.floor(640 / Math.max(set.T, set.S))));
    const ox = Math.ceil(qw) + 16, oy = Math.ceil(kw * 0.87) + 40;
    const canvas = document.createElement('canvas');
    canvas.width = ox + set.S * c + 16 + Math.ceil(kw * 0.5);
    canvas.height = oy + set.T * c + 8;
    canvas.className = 'ef-map ef-large';
    Object.assign(canvas.dataset, { set: si, layer: li, head: h, cell: c, ox: ox, oy: oy, labels: '1' });
    box.replaceChildren(canvas);
    attach(canvas);
    draw(canvas);
  }

  function select(si, t) {
    selected[si] = selected[si] === t ? -1 : t;
    document.querySelectorAll('.ef-token[data-set="' + si + '"]').forEach(function (el) {
      el.classList.toggle('ef-selected', +el.dataset.t === selected[si]);
    });
    const focus = document.getElementById('ef-focus-' + si), set = data.sets[si];
    if (selected[si] < 0) {
      focus.textContent = 'Click a query token to see where it looks.';
    } else {
      const q = selected[si], parts = [];
      set.layers.forEach(function (layer, li) {
        for (let h = 0; h < set.H; ++h) {
          let best = 0;
          for (let s = 1; s < set.S; ++s) if (weight(set, li, h, q, s) > weight(set, li, h, q, best)) best = s;
          parts.push('L' + layer.layer + 'H' + h + ' \u2192 \u201c' + set.keys[best] + '\u201d ' + weight(set, li, h, q, best).toFixed(2));
        }
      });
      focus.textContent = '\u201c' + set.queries[q] + '\u201d (' + q + ') reads most: ' + parts.join(' \u00b7 ');
    }
    redraw(si);
  }

  document.querySelectorAll('canvas.ef-map').forEach(function (canvas) {
    attach(canvas);
    canvas.addEventListener('click', function () {
      openDetail(+canvas.dataset.set, +canvas.dataset.layer, +canvas.dataset.head);
    });
    draw(canvas);
  });
  document.querySelectorAll('.ef-token[data-t]').forEach(function (el) {
    el.addEventListener('click', function () { select(+el.dataset.set, +el.dataset.t); });
  });
  document.body.dataset.ready = '1';
})();
)JS";
}

/// The --report FILE.html of the family programs: every AttentionMaps, then the trace when given, in one
/// page written atomically to `path`. `facts` are shown at the top ("model", "prompt", ...); `token_text` and
/// `sequence_text` as in Report::add_trace.
inline void write_report(const std::string& path, const std::vector<AttentionMaps>& maps,
                         const generation::Trace* trace = nullptr, const Report::TokenText& token_text = {},
                         const std::string& title = "eigenformer run",
                         const std::vector<std::pair<std::string, std::string>>& facts = {},
                         const Report::SequenceText& sequence_text = {}) {
  Report report(title);
  for (const auto& f : facts) report.add_fact(f.first, f.second);
  for (const AttentionMaps& m : maps) report.add_attention(m);
  if (trace != nullptr) report.add_trace(*trace, token_text, sequence_text);
  report.write(path);
}

}  // namespace eigenformer::inspect
