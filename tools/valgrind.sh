#!/usr/bin/env bash
# Valgrind memcheck on one walkthrough and one family program, built by the ci preset (tools/test.sh builds
# them; this script builds just the two when they are missing):
#   attention_walkthrough                               the demo's tables, every attention step
#   llama on the sharded test checkpoint                loading (index + 2 shards), a greedy run with the KV
#                                                       cache, a sampled run, beam search, a --dump file
# Any invalid read or write, use of uninitialised memory in a branch, invalid free or definite leak fails the
# run (memcheck's exit code 99), with memcheck's report above. Needs the valgrind package (tools/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "tools/valgrind.sh: valgrind is not installed (tools/install-deps.sh)" >&2; exit 1; }
build=build/ci
if [[ ! -x $build/examples/attention_walkthrough/attention_walkthrough || ! -x $build/examples/llama/llama ]]; then
  cmake --preset ci >/dev/null
  cmake --build --preset ci --target attention_walkthrough llama -j "$(nproc)"
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
memcheck=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
          --show-leak-kinds=definite --track-origins=yes --quiet)
model=tests/fixtures/models/llama-gqa-sharded
status=0
check() {
  local name="$1"; shift
  local start=$SECONDS
  if "${memcheck[@]}" "$@" >"$scratch/out" 2>"$scratch/err"; then
    echo "valgrind: $name: clean ($((SECONDS - start)) s)"
  else
    echo "valgrind: $name: FAILED (exit $?); memcheck's report:" >&2
    cat "$scratch/err" >&2
    status=1
  fi
}
check "attention_walkthrough" "$build/examples/attention_walkthrough/attention_walkthrough"
check "llama one step + --dump" "$build/examples/llama/llama" --model "$model" --ids 1,5,9 --dump "$scratch/dump.safetensors"
check "llama greedy" "$build/examples/llama/llama" --model "$model" --ids 1,5,9 --max-new-tokens 8
check "llama sampling" "$build/examples/llama/llama" --model "$model" --ids 1,5 --max-new-tokens 8 --strategy sample --seed 3 --top-k 10 --top-p 0.9
check "llama beam search" "$build/examples/llama/llama" --model "$model" --ids 1,5 --max-new-tokens 6 --num-beams 3
exit "$status"
