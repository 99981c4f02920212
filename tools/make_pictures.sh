#!/usr/bin/env bash
# tools/make_pictures.sh — redraws every picture of the course (docs/pictures/), each by a program of this
# repository through the library's SVG writers (include/eigenformer/inspect/svg.hpp, heatmap.hpp,
# training/loss_curve.hpp). Each chapter of docs/README.md names the line below that draws its picture.
#
#     tools/make_pictures.sh                 # with the programs of build/release (configured by tools/setup.sh)
#     BUILD=build/ci tools/make_pictures.sh  # with another build folder
#
# The poet and the assistant (~/.cache/eigenformer/) are trained by their programs when missing (a few minutes
# on 2 cores); everything else comes from committed test fixtures. Nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build/release}"
OUT=docs/pictures
EX="$BUILD/examples"
cmake --build "$BUILD" --target course_pictures t5 poet assistant
mkdir -p "$OUT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The trained models the pictures read (each program trains once, then reuses its folder).
[ -f "$HOME/.cache/eigenformer/poet/model.safetensors" ] || "$EX/poet/poet"
[ -f "$HOME/.cache/eigenformer/assistant/model.safetensors" ] || "$EX/assistant/assistant"

# ch 0   the next-token distribution of the poet
"$EX/course_pictures/course_pictures" --out "$OUT" --picture next_token
# ch 1   the three kinds of attention in one encoder-decoder (the flan-t5-style test checkpoint): encoder self,
#        decoder causal self, cross; ch 11 uses the decoder head and the cross-attention grid of the same run
"$EX/t5/t5" --model tests/fixtures/models/flan-t5-style --ids 14,47,59,29,32,0,31,45,1 --decoder-ids 0,53,25,12,37 \
  --attention-svg "$tmp/t5" > /dev/null
cp "$tmp/t5/encoder_attentions.layer0.head0.svg" "$OUT/01_encoder_self_attention.svg"
cp "$tmp/t5/decoder_attentions.layer0.head0.svg" "$OUT/01_decoder_causal_attention.svg"
cp "$tmp/t5/cross_attentions.layer0.head0.svg" "$OUT/01_cross_attention.svg"
cp "$tmp/t5/decoder_attentions.layer1.head2.svg" "$OUT/11_decoder_head.svg"
cp "$tmp/t5/cross_attentions.grid.svg" "$OUT/11_cross_attention_grid.svg"
# ch 2   a sentence cut by a byte-level BPE
"$EX/course_pictures/course_pictures" --out "$OUT" --picture tokens
# ch 3   RoPE's angles
"$EX/course_pictures/course_pictures" --out "$OUT" --picture rope
# ch 4, 5  one head of the poet, and all its layers × heads
"$EX/course_pictures/course_pictures" --out "$OUT" --picture attention
# ch 6   greedy decoding until <|eot_id|>
"$EX/course_pictures/course_pictures" --out "$OUT" --picture decode
# ch 7   temperature
"$EX/course_pictures/course_pictures" --out "$OUT" --picture temperature
# ch 8   the chat layout
"$EX/course_pictures/course_pictures" --out "$OUT" --picture chat
# ch 9   the poet's pretraining loss curve: its first stage, reading (written by its training run: training/loss_curve.hpp)
cp "$HOME/.cache/eigenformer/poet/reading/loss_curve.svg" "$OUT/09_poet_loss_curve.svg"
# ch 10  the fine-tuning labels, and the assistant's fine-tuning loss curve
"$EX/course_pictures/course_pictures" --out "$OUT" --picture sft
cp "$HOME/.cache/eigenformer/assistant/loss_curve.svg" "$OUT/10_assistant_loss_curve.svg"
# ch 12  decoding speed with and without the KV cache (measured now, on this machine)
"$EX/course_pictures/course_pictures" --out "$OUT" --picture speed

ls -l "$OUT"
