// tests/inspect/report_sample.cpp — writes the pictures of a real run for the browser test
// (browser_test.js): the PyTorch reference dump of the flan-t5-style fixture (encoder self-attention, decoder
// causal self-attention, cross-attention; 2 layers × 3 heads each), labelled with tokens that need care
// (Chinese, '<', '&', half a UTF-8 character), and a small generation trace (a greedy step, two beam steps).
//
// Usage: inspect_report_sample OUTDIR
// Writes OUTDIR/report.html, OUTDIR/svg/*.svg and OUTDIR/expected.json (what the page must show).
#include <cstdio>
#include <string>
#include <vector>

#include "eigenformer/inspect.hpp"

using namespace eigenformer;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  try {
    inspect::DumpTokens labels;
    labels.source_tokens = {"translate", "English", "to", "Chinese", ":", "我", "爱", "<b>&amp;", "</s>"};
    labels.tokens = {"<pad>", "我", "爱", "你", "\xE4\xB8"};
    const std::string dump = std::string(EIGENFORMER_FIXTURE_DIR) + "/models/flan-t5-style.reference.safetensors";
    const std::vector<inspect::AttentionMaps> maps = inspect::read_attention_maps(dump, labels);

    // A trace with both kinds of step: one greedy step (two filter stages), and two beam steps whose tree
    // has a finished beam two tokens deep.
    generation::Trace trace;
    generation::TokenStep greedy;
    greedy.step = 0;
    greedy.chosen = 1;
    greedy.chosen_probability = 0.75;
    generation::FilterStage model_stage;
    model_stage.name = "model";
    model_stage.kept = 5;
    model_stage.top = {{1, 0.6}, {2, 0.2}, {3, 0.1}};
    generation::FilterStage top_k;
    top_k.name = "top_k";
    top_k.kept = 2;
    top_k.top = {{1, 0.75}, {2, 0.25}};
    greedy.stages = {model_stage, top_k};
    trace.steps.push_back(greedy);
    generation::BeamStep step;
    step.step = 0;
    generation::BeamCandidate c;
    c.parent = 0; c.token = 1; c.score = -0.25; c.fate = generation::BeamCandidate::Fate::Kept; c.beam = 0;
    step.candidates.push_back(c);
    c.parent = 0; c.token = 2; c.score = -1.5; c.fate = generation::BeamCandidate::Fate::Kept; c.beam = 1;
    step.candidates.push_back(c);
    trace.beam_steps.push_back(step);
    generation::BeamStep step1;
    step1.step = 1;
    c.parent = 0; c.token = 4; c.score = -0.5; c.fate = generation::BeamCandidate::Fate::Finished; c.beam = -1; c.final_score = -0.25;
    step1.candidates.push_back(c);
    c.parent = 1; c.token = 3; c.score = -1.75; c.fate = generation::BeamCandidate::Fate::Kept; c.beam = 0;
    step1.candidates.push_back(c);
    c.parent = 0; c.token = 2; c.score = -2.5; c.fate = generation::BeamCandidate::Fate::Dropped; c.beam = -1;
    step1.candidates.push_back(c);
    trace.beam_steps.push_back(step1);
    const auto spell = [&](TokenId id) { return labels.tokens[static_cast<std::size_t>(id) % labels.tokens.size()]; };
    const auto decode = [&](const TokenSequence& ids) {  // a beam's text: its tokens joined, as a decoder would
      std::string text;
      for (TokenId id : ids) text += spell(id);
      return text;
    };

    inspect::write_report(out + "/report.html", maps, &trace, spell, "flan-t5-style: the PyTorch reference run",
                          {{"dump", dump}, {"source", "translate English to Chinese: 我爱<b>&amp;</s>"}}, decode);
    inspect::write_attention_svgs(out + "/svg", maps);

    // What the page must show: per kind, the tokens as displayed and every weight.
    json::Array sets;
    for (const inspect::AttentionMaps& m : maps) {
      json::Value set;
      set.set("name", m.name);
      set.set("kind", inspect::to_string(m.kind));
      set.set("layers", static_cast<std::int64_t>(m.layers.size()));
      set.set("H", m.heads());
      set.set("T", m.queries());
      set.set("S", m.keys());
      json::Array q, k, w;
      for (const std::string& t : m.query_tokens) q.emplace_back(inspect::display_token(t));
      for (const std::string& t : m.key_tokens) k.emplace_back(inspect::display_token(t));
      for (const inspect::LayerAttention& l : m.layers) {
        for (double x : l.weights) w.emplace_back(x);
      }
      set.set("queries", json::Value(q));
      set.set("keys", json::Value(k));
      set.set("weights", json::Value(w));  // (L, H, T, S)
      sets.push_back(set);
    }
    json::Value expected;
    expected.set("sets", json::Value(sets));
    // The trace as the page must show it: each step's chosen token and candidates, each beam row's token, fate
    // and text, each node of the tree with its path.
    json::Array steps;
    for (const generation::TokenStep& s : trace.steps) {
      json::Value step_json;
      step_json.set("chosen", inspect::display_token(spell(s.chosen)));
      json::Array candidates;
      for (const generation::FilterStage& stage : s.stages) {
        for (const generation::Candidate& cand : stage.top) {
          json::Value one;
          one.set("text", inspect::display_token(spell(cand.id)));
          one.set("id", static_cast<std::int64_t>(cand.id));
          one.set("probability", cand.probability);
          candidates.push_back(one);
        }
      }
      step_json.set("candidates", json::Value(candidates));
      steps.push_back(step_json);
    }
    json::Array rows;
    std::vector<TokenSequence> beams(1);
    for (const generation::BeamStep& s : trace.beam_steps) {
      std::vector<TokenSequence> next(2);
      for (const generation::BeamCandidate& cand : s.candidates) {
        TokenSequence path = beams[static_cast<std::size_t>(cand.parent)];
        path.push_back(cand.token);
        if (cand.fate == generation::BeamCandidate::Fate::Kept) next[static_cast<std::size_t>(cand.beam)] = path;
        json::Value row;
        row.set("token", inspect::display_token(spell(cand.token)));
        row.set("fate", cand.fate == generation::BeamCandidate::Fate::Kept       ? "kept"
                        : cand.fate == generation::BeamCandidate::Fate::Finished ? "finished"
                                                                                  : "dropped");
        row.set("text", inspect::display_token(decode(path)));
        std::string ids;
        for (TokenId id : path) ids += (ids.empty() ? "" : ",") + std::to_string(id);
        row.set("path", ids);
        rows.push_back(row);
      }
      beams = next;
    }
    json::Value trace_json;
    trace_json.set("steps", json::Value(steps));
    trace_json.set("beam_rows", json::Value(rows));
    expected.set("trace", trace_json);
    write_file_atomically(out + "/expected.json", json::dump(expected) + "\n", "[report sample]");
    std::printf("wrote %s/report.html, %s/svg/, %s/expected.json\n", out.c_str(), out.c_str(), out.c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
