#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (the `fuzz` preset: clang++, AddressSanitizer + UBSan) and runs them.
#
#   tools/fuzz.sh                         CI: every target for an equal share of 150 s of fuzzing (10 s each)
#   tools/fuzz.sh --jobs 2 ...            run two targets at a time (.ci/run: one per core, so the 150 s take ~90 s)
#   tools/fuzz.sh --seconds 600 json      a local campaign: 600 s for each target named (all when none is)
#   tools/fuzz.sh --runs 10000000 json    a local campaign counted in executions
#   tools/fuzz.sh --no-build ...          skip the cmake steps (the fuzzers are already built)
#   tools/fuzz.sh --preset sanitize ...   build and run the fuzzers of another preset's folder (.ci/run: the sanitize
#                                         build, which compiles them beside the suite with the same flags)
#   tools/fuzz.sh --timeout 60 ...        seconds one input may take before it counts as a hang (default 25; libFuzzer
#                                         measures wall time, so on a busy shared machine give it more)
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/, never written to) plus what earlier runs on
# this machine found (build/fuzz/corpus/<target>/, grown by every run), with its dictionary when fuzz/dict has one.
# A crash, a leak, a sanitizer report, an exception that is not an eigenformer::Error, a hang (--timeout) or more
# than 2 GB of memory stops the target and saves the input in build/fuzz/findings/<target>/; the script then
# fails. At the end it prints the executions of each target and the total.
# Targets: safetensors json config_llama config_bert config_t5 checkpoint_index tokenizer_json tiktoken gpt2_files
#          vocab_txt encode_bpe encode_wordpiece encode_unigram jinja regex
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(safetensors json config_llama config_bert config_t5 checkpoint_index tokenizer_json tiktoken gpt2_files
             vocab_txt encode_bpe encode_wordpiece encode_unigram jinja regex)
ci_total_seconds=150
seconds=""
runs=""
build=1
preset=fuzz
parallel=1
timeout=25
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --preset) preset="$2"; shift 2 ;;
    --jobs) parallel="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "tools/fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")
if [[ -z $seconds && -z $runs ]]; then
  seconds=$((ci_total_seconds / ${#targets[@]}))
fi

if ((build)); then
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --target "${targets[@]/#/fuzz_}" -j "$(nproc)"
fi

dict_of() {
  case "$1" in
    config_*) echo fuzz/dict/config.dict ;;
    gpt2_files|tiktoken|vocab_txt|encode_*) ;;
    *) [[ -f fuzz/dict/$1.dict ]] && echo "fuzz/dict/$1.dict" ;;
  esac
}

# Scratch files on tmpfs when there is one: the file-reading targets write every input.
scratch="$(mktemp -d -p "$( [[ -d /dev/shm && -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")"
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"  # the targets' scratch files (fuzz/fuzz_common.hpp)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# One target: libFuzzer on its seeds and grown corpus; its log and exit status go to $scratch/<target>.{log,status}.
fuzz_one() {
  local t="$1" binary="build/$preset/fuzz/fuzz_$1" grown="build/fuzz/corpus/$1" findings="build/fuzz/findings/$1"
  mkdir -p "$grown" "$findings"
  local args=("-timeout=$timeout" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "-artifact_prefix=$findings/")
  if [[ -n $runs ]]; then args+=("-runs=$runs"); else args+=("-max_total_time=$seconds"); fi
  local dict budget="$seconds s"
  dict="$(dict_of "$t")"
  [[ -n $dict ]] && args+=("-dict=$dict")
  [[ -n $runs ]] && budget="$runs runs"
  echo "== fuzz_$t: $budget${dict:+, dictionary $dict}"
  local status=0
  "$binary" "${args[@]}" "$grown" "fuzz/corpus/$t" >"$scratch/$t.log" 2>&1 || status=$?
  echo "$status" >"$scratch/$t.status"
}

for t in "${targets[@]}"; do
  [[ -x build/$preset/fuzz/fuzz_$t ]] || { echo "tools/fuzz.sh: build/$preset/fuzz/fuzz_$t is not built" >&2; exit 1; }
done
# --jobs targets at a time (each fuzzer is one process on one core).
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
  fuzz_one "$t" &
done
wait

failed=()
total=0
summary=""
for t in "${targets[@]}"; do
  log="$scratch/$t.log"
  status="$(cat "$scratch/$t.status" 2>/dev/null || echo 1)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  execs="${execs:-0}"
  total=$((total + execs))
  if ((status != 0)); then
    failed+=("$t")
    echo "fuzz_$t FAILED (exit $status); the input is in build/fuzz/findings/$t/. The end of its log:"
    tail -40 "$log"
  fi
  summary+="$(printf '%-18s %12s executions %8s/s  %s' "$t" "$execs" "${rate:-?}" "$( ((status)) && echo FAILED || echo clean)")"$'\n'
done

echo
echo "tools/fuzz.sh: executions per target"
printf '%s' "$summary"
printf '%-18s %12s executions\n' "total" "$total"
if ((${#failed[@]})); then
  echo "tools/fuzz.sh: findings in: ${failed[*]} (inputs under build/fuzz/findings/)" >&2
  exit 1
fi
