#!/bin/sh
# tools/tokenizers/count_split_instructions.sh — instructions the split of the benchmark text takes, for each
# pattern of pretokenize.hpp: its hand-written splitter against the regex engine (regex.hpp) running the same
# pattern. Instruction counts (valgrind's callgrind, counting only count_split()) do not depend on the load of
# the machine, unlike times. The text: tests/tokenizers/corpus.json joined by newlines, repeated to 1 MiB
# (as bench/bench_tokenizers.cpp). Usage (from the repository):
#   tools/tokenizers/count_split_instructions.sh [compiler, default clang++]
# Needs valgrind. Prints M instructions per MiB (2^20 bytes) and the engine's ratio; the piece counts of the
# two splitters must agree (the script stops if they do not).
set -eu
cd "$(dirname "$0")/../.."
CXX=${1:-clang++}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
$CXX -std=c++17 -O3 -DNDEBUG -Iinclude -DEIGENFORMER_SOURCE_DIR="\"$PWD\"" tools/tokenizers/split_driver.cpp -o "$out/split_driver"
printf '%-8s %14s %14s %8s\n' pattern handwritten regex ratio
for p in gpt2 cl100k o200k; do
  line=""
  for s in handwritten regex; do
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$p.$s" --toggle-collect='*count_split*' \
      "$out/split_driver" $p $s >"$out/res.$p.$s" 2>"$out/log.$p.$s"
    bytes=$(awk '{print $3}' "$out/res.$p.$s")
    ir=$(sed -n 's/^summary: //p' "$out/cg.$p.$s")
    eval "ir_$s=$ir"
  done
  if [ "$(cut -d: -f2 "$out/res.$p.handwritten")" != "$(cut -d: -f2 "$out/res.$p.regex")" ]; then
    echo "$p: the splitters disagree:"; cat "$out/res.$p.handwritten" "$out/res.$p.regex"; exit 1
  fi
  awk -v p=$p -v h="$ir_handwritten" -v r="$ir_regex" -v b="$bytes" 'BEGIN {
    m = b / 1048576; printf "%-8s %11.1f M/MiB %8.1f M/MiB %7.2fx\n", p, h / m / 1e6, r / m / 1e6, r / h }'
done
