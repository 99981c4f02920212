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
