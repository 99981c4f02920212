// tests/inspect/report_sample.cpp — writes the pictures of a real run for the browser test
// (browser_test.js): the PyTorch reference dump of the flan-t5-style fixture (encoder self-attention, decoder
// causal self-attention, cross-attention; 2 layers × 3 heads each), labelled with tokens that need care
// (Chinese, '<', '&', half a UTF-8 character), and a small generation trace.
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

    generation::Trace trace;
    generation::BeamStep step;
    step.step = 0;
    generation::BeamCandidate c;
    c.parent = 0; c.token = 1; c.score = -0.25; c.fate = generation::BeamCandidate::Fate::Kept; c.beam = 0;
    step.candidates.push_back(c);
    c.parent = 0; c.token = 2; c.score = -1.5; c.fate = generation::BeamCandidate::Fate::Finished; c.final_score = -1.5;
    step.candidates.push_back(c);
    trace.beam_steps.push_back(step);
    const auto spell = [&](TokenId id) { return labels.tokens[static_cast<std::size_t>(id) % labels.tokens.size()]; };

    inspect::write_report(out + "/report.html", maps, &trace, spell, "flan-t5-style: the PyTorch reference run",
                          {{"dump", dump}, {"source", "translate English to Chinese: 我爱<b>&amp;</s>"}});
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
    write_file_atomically(out + "/expected.json", json::dump(expected) + "\n", "[report sample]");
    std::printf("wrote %s/report.html, %s/svg/, %s/expected.json\n", out.c_str(), out.c_str(), out.c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
