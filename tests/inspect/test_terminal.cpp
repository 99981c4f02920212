// inspect/terminal.hpp: one head in block characters, plain and in 256 colours.
#include <doctest/doctest.h>

#include <cstdlib>

#include "eigenformer/inspect.hpp"
#include "inspect/inspect_test_maps.hpp"

using namespace eigenformer::inspect;

TEST_CASE("terminal_view: shades by weight, dots where the causal mask hides") {
  TerminalStyle plain;
  const std::string view = terminal_view(inspect_tests::causal_three(), 0, 0, plain);
  const std::string expected =
      "Layer 0 \xC2\xB7 head 0 \xC2\xB7 causal self-attention   (rows: queries, columns: keys)\n"
      "             0 1 2 \n"
      " 0 <s>       \xE2\x96\x88\xE2\x96\x88\xC2\xB7 \xC2\xB7 \n"                                  // 1     · ·
      " 1 The       \xE2\x96\x91\xE2\x96\x91\xE2\x96\x88\xE2\x96\x88\xC2\xB7 \n"                      // 0.25 0.75 ·
      " 2 cat         \xE2\x96\x92\xE2\x96\x92\xE2\x96\x93\xE2\x96\x93\n"                             // 0.05 0.45 0.5
      "keys: 0 <s>  1 The  2 cat \n"
      "weight: \"  \" < 0.1 \xE2\x89\xA4 \xE2\x96\x91 < 0.3 \xE2\x89\xA4 \xE2\x96\x92 < 0.5 \xE2\x89\xA4 \xE2\x96\x93 < 0.7 "
      "\xE2\x89\xA4 \xE2\x96\x88      \xC2\xB7 hidden by the causal mask\n";
  CHECK(view == expected);
}

TEST_CASE("terminal_view: colour escapes only when asked, and never with NO_COLOR or into a pipe") {
  TerminalStyle colour;
  colour.colour = true;
  const std::string view = terminal_view(inspect_tests::causal_three(), 0, 0, colour);
  // weight 1 is viridis yellow (253, 231, 37); the nearest cube levels are (255, 215, 0) = (5, 4, 0):
  // xterm colour 16 + 36·5 + 6·4 + 0 = 220.
  CHECK(view.find("\x1b[38;5;220m\xE2\x96\x88\xE2\x96\x88\x1b[0m") != std::string::npos);
  CHECK(terminal_view(inspect_tests::causal_three(), 0, 0, TerminalStyle{}).find("\x1b[") == std::string::npos);

  // ctest runs us with stdout in a pipe or a file: never colour, whatever TERM says.
  ::setenv("TERM", "xterm-256color", 1);
  ::unsetenv("NO_COLOR");
  CHECK_FALSE(TerminalStyle::detect(stdout).colour);
  ::setenv("NO_COLOR", "1", 1);
  CHECK_FALSE(TerminalStyle::detect(stdout).colour);
  ::unsetenv("NO_COLOR");

  // Wide characters keep the columns aligned: 猫 takes two of the ten label columns.
  const std::string enc = terminal_view(inspect_tests::encoder_two(), 0, 0, TerminalStyle{});
  CHECK(enc.find("\n 1 \xE7\x8C\xAB        ") != std::string::npos);
  CHECK(enc.find("hidden by the causal mask") == std::string::npos);
}
