// inspect/svg.hpp and inspect/heatmap.hpp: labels made safe, the colour scale, one head and the grid as SVG.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "eigenformer/inspect.hpp"
#include "inspect/inspect_test_maps.hpp"

using namespace eigenformer;
using namespace eigenformer::inspect;
using inspect_tests::count;

TEST_CASE("xml_escape and display_token make any token a valid label") {
  CHECK(xml_escape("<b>&\"'") == "&lt;b&gt;&amp;&quot;&#39;");
  CHECK(display_token("\xE7\x8C\xAB") == "\xE7\x8C\xAB");          // 猫 stays
  CHECK(display_token("\xE4\xB8") == "\\xE4\\xB8");                  // half of 中: visible bytes, not invalid UTF-8
  CHECK(display_token("a\nb\t\x01") == "a\\nb\\t\\x01");
  CHECK(display_token("\xC0\xAF") == "\\xC0\\xAF");                  // overlong '/', RFC 3629 forbids it
  CHECK(display_token("\xED\xA0\x80") == "\\xED\\xA0\\x80");         // a UTF-16 surrogate
  CHECK(display_token("") == "\xE2\x88\x85");                        // ∅
  CHECK(display_columns("ab\xE7\x8C\xAB") == 4);                     // 猫 is two columns wide
  CHECK(fit_columns("abcdef", 4) == "abc\xE2\x80\xA6");
  CHECK(fit_columns("\xE7\x8C\xAB\xE7\x8C\xAB\xE7\x8C\xAB", 4) == "\xE7\x8C\xAB\xE2\x80\xA6");
}

TEST_CASE("viridis: the matplotlib anchors at 0, 1/2 and 1, clamped outside") {
  CHECK(hex(viridis(0)) == "#440154");
  CHECK(hex(viridis(0.5)) == "#21918c");
  CHECK(hex(viridis(1)) == "#fde725");
  CHECK(hex(viridis(-3)) == "#440154");
  CHECK(hex(viridis(7)) == "#fde725");
  CHECK(hex(viridis(std::nan(""))) == "#440154");
}

TEST_CASE("head_svg: title, escaped labels, one cell per weight, the causal cells hatched") {
  const AttentionMaps causal = inspect_tests::causal_three();
  const std::string svg = head_svg(causal, 0, 0);
  CHECK(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("Layer 0 \xC2\xB7 head 0 \xC2\xB7 causal self-attention") != std::string::npos);
  CHECK(svg.find(">&lt;s&gt;</text>") != std::string::npos);  // "<s>" as a label, escaped
  CHECK(svg.find("Noto Sans CJK SC") != std::string::npos);
  CHECK(count(svg, "<title>") == 9);                              // T·S cells with a hover title
  CHECK(count(svg, "fill=\"url(#ef-hidden)\"") == 3 + 1);         // 3 hidden cells + the legend's swatch
  CHECK(svg.find("<title>query The (1) \xE2\x86\x92 key The (1): 0.7500</title>") != std::string::npos);
  CHECK(svg.find("<title>query &lt;s&gt; (0) \xE2\x86\x92 key The (1): hidden</title>") != std::string::npos);
  CHECK(svg.find("fill=\"" + hex(viridis(0.25)) + "\"><title>query The (1) \xE2\x86\x92 key &lt;s&gt; (0)") != std::string::npos);
  CHECK(svg.find("hidden</text>") != std::string::npos);          // the legend explains the hatch

  const AttentionMaps enc = inspect_tests::encoder_two();
  const std::string e = head_svg(enc, 1, 1);
  CHECK(e.find("Layer 1 \xC2\xB7 head 1 \xC2\xB7 encoder self-attention") != std::string::npos);
  CHECK(e.find("&lt;b&gt;&amp;&quot;&#39;") != std::string::npos);
  CHECK(e.find(">\xE7\x8C\xAB</text>") != std::string::npos);
  CHECK(e.find("url(#ef-hidden)\"") == std::string::npos);        // nothing hidden, no hatch legend
  CHECK(e.find("<title>query \xE7\x8C\xAB (1) \xE2\x86\x92 key \xE7\x8C\xAB (1): 0.7000</title>") != std::string::npos);
  // No raw '<' or '&' from a token survives anywhere.
  CHECK(e.find("<b>") == std::string::npos);

  CHECK_THROWS_AS(head_svg(enc, 2, 0), ValueError);
  CHECK_THROWS_AS(head_svg(enc, 0, 2), ValueError);
}

TEST_CASE("grid_svg: every (layer, head) once, and write_attention_svgs writes them all") {
  const AttentionMaps enc = inspect_tests::encoder_two();
  const std::string grid = grid_svg(enc);
  CHECK(grid.find("encoder self-attention: 2 layers \xC3\x97 2 heads") != std::string::npos);
  for (const char* title : {"Layer 0 \xC2\xB7 head 0", "Layer 0 \xC2\xB7 head 1", "Layer 1 \xC2\xB7 head 0", "Layer 1 \xC2\xB7 head 1"}) {
    CHECK(count(grid, std::string("<title>") + title) == 1);
  }
  CHECK(count(grid, "<rect x=") == 2 * 2 * 4 + 4 + 1);  // 16 cells, 4 head frames, the legend bar

  const std::string dir = (std::filesystem::temp_directory_path() / "eigenformer_test_svgs").string();
  std::filesystem::remove_all(dir);
  const std::vector<std::string> written = write_attention_svgs(dir, {enc, inspect_tests::causal_three()});
  REQUIRE(written.size() == 2 + 4 + 1);
  CHECK(std::filesystem::path(written[0]).filename() == "encoder_attentions.grid.svg");
  CHECK(std::filesystem::path(written[1]).filename() == "attentions.grid.svg");
  CHECK(std::filesystem::path(written[2]).filename() == "encoder_attentions.layer0.head0.svg");
  std::ifstream in(dir + "/attentions.layer0.head0.svg");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == head_svg(inspect_tests::causal_three(), 0, 0));
  std::filesystem::remove_all(dir);
}

TEST_CASE("bar_chart_svg: one bar per value, lengths in proportion, labels escaped, bad input throws") {
  BarChartOptions options;
  options.title = "next token after 'the cat'";
  options.value_label = "probability";
  const std::string svg = bar_chart_svg({"sat", "<and>", "\xE7\x8C\xAB"}, {0.5, 0.25, 0.0}, options);
  CHECK(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(count(svg, "<title>") == 3);
  CHECK(svg.find("<title>sat: 0.5000</title>") != std::string::npos);
  CHECK(svg.find("&lt;and&gt;</text>") != std::string::npos);
  CHECK(svg.find("<and>") == std::string::npos);
  CHECK(svg.find(">\xE7\x8C\xAB</text>") != std::string::npos);
  CHECK(svg.find("width=\"360\" height=\"20\"") != std::string::npos);  // the largest value: a full bar
  CHECK(svg.find("width=\"180\" height=\"20\"") != std::string::npos);  // half of it: half a bar
  CHECK(svg.find("width=\"0\" height=\"20\"") != std::string::npos);
  CHECK(svg.find(">next token after &#39;the cat&#39;</text>") != std::string::npos);
  CHECK_THROWS_AS(bar_chart_svg({"a"}, {0.1, 0.2}), ValueError);
  CHECK_THROWS_AS(bar_chart_svg({"a"}, {-0.1}), ValueError);
  CHECK_THROWS_AS(bar_chart_svg({"a"}, {std::nan("")}), ValueError);
  CHECK_THROWS_AS(bar_chart_svg({}, {}), ValueError);
}

TEST_CASE("token_strip_svg: a box per token with its piece and id, marked tokens filled, a legend") {
  TokenStripOptions options;
  options.marked_label = "special token";
  options.per_row = 2;
  const std::string svg = token_strip_svg({"<|begin_of_text|>", "Hi", "\n"}, {128000, 13347, 198}, {true, false, false}, options);
  CHECK(count(svg, "<title>") == 3);
  CHECK(svg.find("<title>token 0: &lt;|begin_of_text|&gt; = id 128000</title>") != std::string::npos);
  CHECK(svg.find("<title>token 2: \\n = id 198</title>") != std::string::npos);  // a newline shown as \n
  CHECK(count(svg, "fill=\"" + hex(viridis(0.85)) + "\"") == 2);                  // one marked box + the legend
  CHECK(svg.find(">special token</text>") != std::string::npos);
  CHECK(token_strip_svg({"a"}, {1}).find("special token") == std::string::npos);  // no marks, no legend
  CHECK_THROWS_AS(token_strip_svg({"a", "b"}, {1}), ValueError);
  CHECK_THROWS_AS(token_strip_svg({"a"}, {1}, {true, false}), ValueError);
}

TEST_CASE("value_grid_svg: R x C cells coloured on the stated scale, ragged input throws") {
  ValueGridOptions options;
  options.low = -1;
  options.high = 1;
  options.value_label = "cos";
  const std::string svg = value_grid_svg({{-1.0, 0.0, 1.0}, {0.5, 0.25, 2.0}}, {"p0", "p1"}, {"i0", "i1", "i2"}, options);
  CHECK(count(svg, "<title>") == 6);
  CHECK(svg.find("fill=\"" + hex(viridis(0.0)) + "\"><title>p0, i0: -1.0000</title>") != std::string::npos);
  CHECK(svg.find("fill=\"" + hex(viridis(0.5)) + "\"><title>p0, i1: 0.0000</title>") != std::string::npos);
  CHECK(svg.find("fill=\"" + hex(viridis(1.0)) + "\"><title>p1, i2: 2.0000</title>") != std::string::npos);  // clamped
  CHECK(svg.find(">cos</text>") != std::string::npos);
  CHECK(svg.find(">0.25</text>") == std::string::npos);            // no values printed unless asked
  options.cell_values = true;
  CHECK(value_grid_svg({{-1.0, 0.0, 1.0}, {0.5, 0.25, 2.0}}, {}, {}, options).find(">0.25</text>") != std::string::npos);
  // One-character column labels stand upright; longer ones are turned.
  const std::string upright = value_grid_svg({{0.5, 0.25}}, {}, {"\xE7\x8C\xAB", "a"});
  CHECK(upright.find("text-anchor=\"middle\">\xE7\x8C\xAB</text>") != std::string::npos);
  CHECK(upright.find("rotate(-90)\">\xE7\x8C\xAB") == std::string::npos);
  CHECK(value_grid_svg({{0.5}}, {}, {"pair 0"}).find("rotate(-90)\">pair 0</text>") != std::string::npos);
  CHECK_THROWS_AS(value_grid_svg({{1.0, 2.0}, {3.0}}, {}, {}), ValueError);
  CHECK_THROWS_AS(value_grid_svg({{1.0}}, {"a", "b"}, {}), ValueError);
  ValueGridOptions flat;
  flat.low = flat.high = 1;
  CHECK_THROWS_AS(value_grid_svg({{1.0}}, {}, {}, flat), ValueError);
}
