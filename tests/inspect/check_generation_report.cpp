// tests/inspect/check_generation_report.cpp — reads back the --report a family program wrote for a generation
// run and checks it against what the program itself printed and wrote (the ctest tests inspect_*_report_* in
// tests/inspect/CMakeLists.txt run the program, then this).
//
// Usage: check_generation_report REPORT.html TRACE.json STDOUT.txt (decoder | seq2seq)
//
//   TRACE.json  the same run's --trace (generation/trace.hpp's to_json, written by the generation loop): every
//               greedy/sampling step — sequence, chosen id and text, each filter stage with its top candidates'
//               ids, texts and probabilities — must be in the page, in order, with exactly those values (to the
//               four decimals the page shows); every beam candidate likewise (parent, token id and text, beam
//               log p, fate).
//   STDOUT.txt  the program's output: "prompt  N tokens: ...", then per output "  ids   a,b,c" (and "  text  ..."
//               with a tokenizer). The page's facts list the same ids; greedy: the chosen ids of the steps are
//               output 1's ids; beam search: the tree has a node whose path is output 1's ids (its text that of
//               the program, when a tokenizer decoded it); the causal self-attention has prompt + output
//               positions (decoder) or decoder_start + output (seq2seq).
// Prints what it checked and exits with 0, or names the first thing missing and exits with 1.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "eigenformer/inspect.hpp"

using namespace eigenformer;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("cannot open '" + path + "'");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string four(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", x);
  return buf;
}

/// A beam's log p as the page prints it; the trace's JSON writes −∞ as null.
std::string four_or_minus_infinity(const json::Value& x) { return x.is_null() ? "-inf" : four(x.as_number()); }

/// The page spells a token as <b>text</b> <small>(id)</small>, the text made displayable and escaped.
std::string spelled(const json::Value& token) {
  const std::int64_t id = token.at("id").as_int("id");
  const json::Value* text = token.find("text");
  return "<b>" + inspect::internal::html_text(text ? text->as_string() : std::to_string(id)) + "</b> <small>(" +
         std::to_string(id) + ")</small>";
}

/// Finds `what` in `html` at or after `from`; throws naming it when it is missing. Returns the position after it.
std::size_t expect(const std::string& html, const std::string& what, std::size_t from, const std::string& context) {
  const std::size_t at = html.find(what, from);
  if (at == std::string::npos) throw ValueError(context + ": the page lacks (in order) " + what);
  return at + what.size();
}

/// The text after `prefix` on the first line of `out` that starts with it ("" when none).
std::string line_after(const std::string& out, const std::string& prefix) {
  std::size_t at = 0;
  while (at < out.size()) {
    const std::size_t end = std::min(out.find('\n', at), out.size());
    if (out.compare(at, prefix.size(), prefix) == 0) return out.substr(at + prefix.size(), end - at - prefix.size());
    at = end + 1;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s REPORT.html TRACE.json STDOUT.txt (decoder | seq2seq)\n", argv[0]);
    return 2;
  }
  try {
    const std::string html = read(argv[1]);
    const json::Value trace = json::parse_file(argv[2]);
    const std::string out = read(argv[3]);
    const std::string mode = argv[4];

    // 1) The program's own lines.
    const std::string output_ids = line_after(out, "  ids   ");
    const std::string output_text = line_after(out, "  text  ");
    const std::string prompt_line = line_after(out, "prompt  ");
    if (prompt_line.empty()) throw ValueError("the program printed no 'prompt  N tokens' line");
    const long prompt_tokens = std::stol(prompt_line);
    const long output_tokens = output_ids.empty() ? 0 : 1 + static_cast<long>(std::count(output_ids.begin(), output_ids.end(), ','));
    const std::string key = out.find("\nsequence 1:") != std::string::npos ? "sequence 1" : "output 1";
    expect(html, "<dt>" + key + "</dt><dd>" + output_ids + "</dd>", 0, "the facts");

    // 2) Greedy and sampling steps, in order: the chosen token, then every stage and its candidates.
    std::size_t at = expect(html, "<section class=\"ef-trace\"", 0, "the trace section");
    std::size_t candidates = 0, rows = 0;
    std::string chosen_ids;
    const json::Array& steps = trace.at("steps").as_array("steps");
    for (const json::Value& step : steps) {
      const std::string where = "step " + std::to_string(step.at("step").as_int());
      const json::Value& chosen = step.at("chosen");
      at = expect(html,
                  "<div class=\"ef-step\" data-step=\"" + std::to_string(step.at("step").as_int()) + "\" data-sequence=\"" +
                      std::to_string(step.at("sequence").as_int()) + "\" data-chosen=\"" +
                      std::to_string(chosen.at("id").as_int()) + "\">",
                  at, where);
      at = expect(html, "chose " + spelled(chosen) + ", p = " + four(chosen.at("probability").as_number()), at, where);
      if (step.at("sequence").as_int() == 0) {
        chosen_ids += (chosen_ids.empty() ? "" : ",") + std::to_string(chosen.at("id").as_int());
      }
      for (const json::Value& stage : step.at("stages").as_array()) {
        const std::string name = stage.at("name").as_string();
        at = expect(html, "<tr data-stage=\"" + name + "\"><td>" + name + "</td><td>" + std::to_string(stage.at("kept").as_int()) + "</td>",
                    at, where + " stage " + name);
        for (const json::Value& c : stage.at("top").as_array()) {
          const std::string p = four(c.at("probability").as_number());
          at = expect(html, "<span class=\"ef-cand\" data-id=\"" + std::to_string(c.at("id").as_int()) + "\" data-p=\"" + p + "\">" +
                                spelled(c) + " " + p,
                      at, where + " stage " + name);
          ++candidates;
        }
      }
    }
    if (!steps.empty() && chosen_ids != output_ids) {
      throw ValueError("the chosen tokens of the trace (" + chosen_ids + ") are not the printed output (" + output_ids + ")");
    }

    // 3) Beam steps, in order: every ranked candidate with its parent, token, log p and fate.
    const json::Array& beam_steps = trace.at("beam_steps").as_array("beam_steps");
    for (const json::Value& step : beam_steps) {
      const std::string where = "beam step " + std::to_string(step.at("step").as_int());
      at = expect(html, "<div class=\"ef-step ef-beam-step\" data-step=\"" + std::to_string(step.at("step").as_int()) + "\">", at, where);
      for (const json::Value& c : step.at("candidates").as_array()) {
        const std::string fate = c.at("fate").as_string();
        at = expect(html,
                    "<tr class=\"ef-" + fate + "\" data-parent=\"" + std::to_string(c.at("parent").as_int()) + "\" data-token=\"" +
                        std::to_string(c.at("id").as_int()) + "\" data-score=\"" + four_or_minus_infinity(c.at("score")) +
                        "\" data-fate=\"" + fate + "\"",
                    at, where);
        at = expect(html, "<td>" + spelled(c) + "</td>", at, where);
        ++rows;
      }
    }
    if (!beam_steps.empty()) {
      // The best output is a node of the tree: a finished beam (EOS) or a beam still kept at the last step.
      const std::size_t tree = expect(html, "<ul class=\"ef-tree\">", 0, "the tree of beams");
      const std::size_t node = html.find("data-path=\"" + output_ids + "\">", tree);
      if (node == std::string::npos) throw ValueError("the tree of beams has no node for output 1 (" + output_ids + ")");
      if (!output_text.empty() && html.find("<td>" + inspect::internal::html_text(output_text) + "</td>") == std::string::npos) {
        throw ValueError("no beam row shows the printed text '" + output_text + "'");
      }
    }
    if (steps.empty() && beam_steps.empty()) throw ValueError("the trace is empty");

    // 4) The attention of the whole sequence.
    const long positions = mode == "seq2seq" ? 1 + output_tokens : prompt_tokens + output_tokens;
    expect(html, "causal self-attention <small>(", 0, "the attention");
    expect(html, " heads, " + std::to_string(positions) + " queries \xC3\x97 " + std::to_string(positions) + " keys)", 0,
           "the causal self-attention over " + std::to_string(positions) + " positions");

    std::printf("report check: %zu steps (%zu candidates), %zu beam steps (%zu rows), output 1 = %s, %ld positions: ok\n",
                steps.size(), candidates, beam_steps.size(), rows, output_ids.c_str(), positions);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "report check FAILED: %s\n", e.what());
    return 1;
  }
  return 0;
}
