#!/usr/bin/env bash
# The README's first command: installs what is missing, builds everything in Release, trains the four small
# models the tour runs on, then runs the tour.
#
# The models are trained once and kept in ~/.cache/eigenformer/ (or $EIGENFORMER_MODELS): a second run of this
# script reuses them and goes straight to the tour. Each example program prints what it measured on its way:
#   poet        a tiny Llama on 唐诗三百首 (the decoder of stages 2, 4)
#   assistant   the poet fine-tuned on a chat layout, stopping at <|eot_id|> (stage 7)
#   reader      a tiny BERT pretrained by masked LM on the fortunes, then a classifier (stage 3)
#   translator  a tiny T5 writing numbers as English and Chinese words (stage 5)
# EIGENFORMER_TOUR_ARGS passes options to the tour, e.g. EIGENFORMER_TOUR_ARGS="--lang zh".
# The two walkthroughs of the first versions stay as examples: build/release/examples/attention_walkthrough/ and
# generation_walkthrough/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)"

models="${EIGENFORMER_MODELS:-${HOME:-/tmp}/.cache/eigenformer}"
bin=build/release/examples
step() { echo; echo "=== tools/setup.sh: $*"; }
step "the poet (trained once, then reused from $models/poet)"
"$bin/poet/poet" --out "$models/poet" --poems 3
step "the assistant"
"$bin/assistant/assistant" --poet "$models/poet" --out "$models/assistant" --prompts 20
step "the reader"
"$bin/reader/reader" --out "$models/reader"
step "the translator"
"$bin/translator/translator" --out "$models/translator"
step "the tour"
# shellcheck disable=SC2086  # EIGENFORMER_TOUR_ARGS is a list of options
"$bin/tour/tour" --poet "$models/poet" --assistant "$models/assistant" --reader "$models/reader" \
  --translator "$models/translator" --out build/tour ${EIGENFORMER_TOUR_ARGS:-}
