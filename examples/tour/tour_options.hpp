// examples/tour/tour_options.hpp — the tour's command line: one table, from which --help is generated.
#pragma once

#include "common/cli.hpp"

namespace tour {

inline eigenformer::cli::Table tour_options() {
  eigenformer::cli::Table t;
  t.program = "tour";
  t.usage = "tour [--lang en|zh] [--stage N] [--out DIR] [--poet DIR] [--assistant DIR] [--reader DIR] [--translator DIR]\n"
            "     [--learning-steps N]";
  t.about = "A guided tour of the lecture on the small models this project trained itself: tokens, attention, the encoder,\n"
            "the decoder, the encoder-decoder, learning, prompts. Each stage explains what it shows and where to read on.";
  eigenformer::cli::Section s;
  s.options = {
      {"--lang", "en|zh", "the language of the explanations (default en; zh: 中文)"},
      {"--stage", "N", "run only stage N (1-7)"},
      {"--out", "DIR", "where the pictures and the report go (default build/tour)"},
      {"--poet", "DIR", "the poet's model (default ~/.cache/eigenformer/poet; made by the poet program)"},
      {"--assistant", "DIR", "the assistant's model (default ~/.cache/eigenformer/assistant; made by assistant)"},
      {"--reader", "DIR", "the reader's models (default ~/.cache/eigenformer/reader; made by reader)"},
      {"--translator", "DIR", "the translator's model (default ~/.cache/eigenformer/translator; made by translator)"},
      {"--learning-steps", "N", "training steps of stage 6 (default 300)"},
      {"--help", "", "this text"}};
  t.sections.push_back(s);
  t.epilogue = "A stage whose model is missing says which program trains it and goes on. tools/setup.sh trains them all,\n"
               "then runs the tour. Errors print one line on stderr and exit with code 1; a wrong command line exits with 2.";
  return t;
}

}  // namespace tour
