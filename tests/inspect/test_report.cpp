// inspect/report.hpp: the page is self-contained, every head has its canvas, tokens are escaped in the HTML
// and in the embedded data. (That the page draws and answers hover is checked in a real browser:
// tests/inspect/browser_test.js.)
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "eigenformer/inspect.hpp"
#include "inspect/inspect_test_maps.hpp"

using namespace eigenformer;
using namespace eigenformer::inspect;
using inspect_tests::count;

TEST_CASE("Report: one canvas per head, tokens escaped, nothing fetched from anywhere") {
  Report report("run <1> & \xE7\x8C\xAB");
  report.add_fact("model", "tests/fixtures/models/llama-gqa-sharded");
  report.add_attention(inspect_tests::encoder_two());
  report.add_attention(inspect_tests::causal_three());
  report.add_text("compare", "first divergence: <here>\n\xE4\xB8 end");
  const std::string html = report.html();

  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("<meta charset=\"utf-8\">") != std::string::npos);
  CHECK(html.find("<title>run &lt;1&gt; &amp; \xE7\x8C\xAB</title>") != std::string::npos);
  CHECK(count(html, "<canvas class=\"ef-map\"") == 2 * 2 + 1);
  CHECK(count(html, "class=\"ef-token\" data-set=\"0\"") == 2);
  CHECK(count(html, "class=\"ef-token\" data-set=\"1\"") == 3);
  CHECK(html.find("&lt;b&gt;&amp;&quot;&#39;</span>") != std::string::npos);     // the token, in the HTML
  CHECK(html.find("\"\\u003cb\\u003e\\u0026\\\"'\"") != std::string::npos);       // and in the script's data
  CHECK(html.find("first divergence: &lt;here&gt;\n\\xE4\\xB8 end") != std::string::npos);
  CHECK(html.find("\"weights\":[1,0,0,0.25,0.75,0,0.05,0.45,0.5]") != std::string::npos);

  // Self-contained: no URL, no external resource of any kind.
  CHECK(html.find("http") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  CHECK(html.find("@font-face") == std::string::npos);
  // Exactly two scripts: the data and the drawing code, both inline; no token can close them early.
  CHECK(count(html, "<script") == 2);
  CHECK(count(html, "</script>") == 2);
}

TEST_CASE("Report: generation traces — candidates per step, and the tree of beams with each beam's text") {
  generation::Trace trace;
  generation::TokenStep step;
  step.step = 0;
  step.chosen = 7;
  step.chosen_probability = 0.625;
  generation::FilterStage model;
  model.name = "model";
  model.kept = 10;
  model.top = {{7, 0.5}, {3, 0.25}};
  generation::FilterStage topk;
  topk.name = "top_k";
  topk.kept = 2;
  topk.top = {{7, 0.625}, {3, 0.375}};
  step.stages = {model, topk};
  trace.steps.push_back(step);

  generation::BeamStep b0;
  b0.step = 0;
  generation::BeamCandidate c;
  c.parent = 0; c.token = 3; c.score = -0.5; c.fate = generation::BeamCandidate::Fate::Kept; c.beam = 0;
  b0.candidates.push_back(c);
  c.parent = 0; c.token = 7; c.score = -0.9; c.fate = generation::BeamCandidate::Fate::Kept; c.beam = 1;
  b0.candidates.push_back(c);
  generation::BeamStep b1;
  b1.step = 1;
  c.parent = 1; c.token = 2; c.score = -1.0; c.fate = generation::BeamCandidate::Fate::Finished; c.beam = -1; c.final_score = -0.5;
  b1.candidates.push_back(c);
  c.parent = 0; c.token = 7; c.score = -2.0; c.fate = generation::BeamCandidate::Fate::Dropped;
  b1.candidates.push_back(c);
  trace.beam_steps = {b0, b1};

  const auto spell = [](TokenId id) { return id == 2 ? std::string("</s>") : id == 3 ? std::string("\xE7\x8C\xAB") : std::string("dog"); };
  Report report;
  report.add_trace(trace, spell);
  const std::string html = report.html();
  CHECK(html.find("step 0 (sequence 0): chose <b>dog</b> <small>(7)</small>, p = 0.6250") != std::string::npos);
  CHECK(html.find("<td>top_k</td><td>2</td><td><span class=\"ef-cand\" data-id=\"7\" data-p=\"0.6250\"><b>dog</b> <small>(7)</small> "
                  "0.6250<span class=\"ef-bar\" style=\"width:75px\">") != std::string::npos);
  CHECK(html.find("<div class=\"ef-step\" data-step=\"0\" data-sequence=\"0\" data-chosen=\"7\">") != std::string::npos);
  // Beam 1 was "dog"; at step 1 it finished with </s>: its text is "dog</s>", escaped.
  CHECK(html.find("<td>finished, score -0.5000</td><td>dog&lt;/s&gt;</td>") != std::string::npos);
  // Beam 0 was 猫; extended by dog and dropped.
  CHECK(html.find("<td>dropped</td><td>\xE7\x8C\xAB" "dog</td>") != std::string::npos);
  // Each row carries its path from the root; the tree nests "7 then 2" under "7", "3 then 7" under "3".
  CHECK(html.find("data-fate=\"finished\" data-path=\"7,2\"") != std::string::npos);
  CHECK(html.find("<ul class=\"ef-tree\">\n<li class=\"ef-kept\" data-path=\"3\"><b>\xE7\x8C\xAB</b> <small>(3)</small> log p -0.5000 "
                  "\xE2\x86\x92 beam 0\n<ul>\n<li class=\"ef-dropped\" data-path=\"3,7\">") != std::string::npos);
  CHECK(html.find("<li class=\"ef-kept\" data-path=\"7\"><b>dog</b> <small>(7)</small> log p -0.9000 \xE2\x86\x92 beam 1\n<ul>\n"
                  "<li class=\"ef-finished\" data-path=\"7,2\">") != std::string::npos);

  // With a decoder for whole sequences, a beam's text is the decoded text (here: ids joined by '+').
  Report decoded;
  decoded.add_trace(trace, spell, [](const TokenSequence& ids) {
    std::string s;
    for (TokenId id : ids) s += (s.empty() ? "" : "+") + std::to_string(id);
    return s;
  });
  const std::string html2 = decoded.html();
  CHECK(html2.find("<td>finished, score -0.5000</td><td>7+2</td>") != std::string::npos);
  CHECK(html2.find("finished, score -0.5000: \xE2\x80\x9C" "7+2\xE2\x80\x9D") != std::string::npos);
}

TEST_CASE("write_report: written atomically, bad maps refused") {
  const std::string path = (std::filesystem::temp_directory_path() / "eigenformer_test_report.html").string();
  write_report(path, {inspect_tests::causal_three()}, nullptr, {}, "three tokens");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("<h1>three tokens</h1>") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp-" + std::to_string(::getpid())));
  std::filesystem::remove(path);

  AttentionMaps bad = inspect_tests::causal_three();
  bad.key_tokens.pop_back();
  Report report;
  CHECK_THROWS_AS(report.add_attention(bad), ShapeError);
  CHECK_THROWS_AS(write_report("/nonexistent-folder/x.html", {inspect_tests::causal_three()}), FileError);
}
