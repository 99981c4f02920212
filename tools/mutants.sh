#!/usr/bin/env bash
# Mutation testing: does the test suite notice when a rule the library claims is broken?
#
#   tools/mutants.sh                 every mutant below (takes minutes: each one rebuilds its test suites)
#   tools/mutants.sh beam_ causal    only the mutants whose name contains one of the words
#   tools/mutants.sh --list          where each mutant's pattern matches in the current source, without building
#
# Each mutant is a small edit of the library source: an exact line fragment and its replacement. For each one
# the script applies the edit to a copy of the tree (without build/ and .git) in a scratch directory — never
# to this tree —, compiles the test files that should notice it into one doctest program (the test suites'
# flags: -O1, EIGEN_INITIALIZE_MATRICES_BY_NAN, the fixture paths; ccache when installed) and runs it. Only
# those files are compiled, not the whole suite: a mutant costs a minute, not a suite's build.
#
#   KILLED   a suite failed: the tests notice the broken rule (what we want)
#   ALIVE    every suite passed with the rule broken: a hole in the tests
#   ERROR    the pattern matched no line or more than one line (the source changed: update the list), the
#            mutated copy did not compile, or the unmutated copy's suites do not pass
#   PENDING  a rule whose code has not landed yet (the list keeps its place)
#
# The script exits non-zero unless every mutant that is not PENDING is KILLED.
#
# ---- The list --------------------------------------------------------------------------------------------
# name | test files (under tests/) | edit [;; edit ...]      with edit = fragment => replacement
# A fragment is matched literally (runs of spaces match any whitespace) against every file under include/ and
# examples/; it must occur on exactly one line of one file. "pending | <what>" reserves a place.
# (t5_bucket_boundary ends the exact range one distance early: "<=" at the boundary would be an equivalent
# mutant, since distance = max_exact gets bucket max_exact from the logarithmic formula too.)
read -r -d '' MUTANTS <<'LIST' || true
beam_eos_rank         | generation/test_beam_rules.cpp  | if (rank < unb) { => if (rank < keep) {
beam_heuristic_stop   | generation/test_beam_rules.cpp  | case EarlyStopping::Heuristic: return worst_score >= penalised(best_sum_log_probs, length); => case EarlyStopping::Heuristic: return false;
beam_never_bound      | generation/test_beam_rules.cpp  | const std::size_t best_length = length_penalty > 0 ? static_cast<std::size_t>(max_new_tokens) : length; => const std::size_t best_length = length;
beam_true_stops       | generation/test_beam_rules.cpp  | case EarlyStopping::Yes: return true; => case EarlyStopping::Yes: return worst_score >= penalised(best_sum_log_probs, length);
beam_keep_per_eos     | generation/test_beam_rules.cpp  | std::max<std::size_t>(2, 1 + config.eos_token_ids.size()) => std::size_t{2}
top_p_boundary        | generation/test_sampling.cpp generation/test_logits_processing.cpp | if (cumulative <= 1.0 - p) => if (cumulative < 1.0 - p)
causal_off_by_one     | core/test_attention.cpp | const Index last_visible = mask.first_query + t; => const Index last_visible = mask.first_query + t + 1;
rope_half_split       | core/test_rope.cpp | config_.layout == RopeLayout::HalfSplit ? i : 2 * i; => config_.layout == RopeLayout::HalfSplit ? 2 * i : 2 * i; ;; config_.layout == RopeLayout::HalfSplit ? i + half : 2 * i + 1; => config_.layout == RopeLayout::HalfSplit ? 2 * i + 1 : 2 * i + 1;
t5_bucket_boundary    | core/test_relative_position_bias.cpp | if (distance < max_exact) return bucket + distance; => if (distance + 1 < max_exact) return bucket + distance;
gqa_head_mapping      | core/test_attention.cpp core/test_rope.cpp | const Index g = h / group; // the key/value head => const Index g = h % keys.heads; // the key/value head
mlm_80_10_10          | training/test_objectives.cpp | if (u < config.mask_fraction) { => if (u < config.mask_fraction + config.random_fraction) {
adamw_bias_correction | training/test_optimizer.cpp | const Scalar step_size = static_cast<Scalar>(config.lr / bias_correction1); => const Scalar step_size = static_cast<Scalar>(config.lr);
llama_lookup_grad     | training/test_llama_gradients.cpp | embed_tokens.backward(training_ids_, as_matrix(d_x)); => (void)training_ids_;
LIST

set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LIST_ONLY=0
FILTERS=()
for arg in "$@"; do
  case "$arg" in
    --list) LIST_ONLY=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) FILTERS+=("$arg") ;;
  esac
done

trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

# A literal fragment as a Perl regex whose runs of spaces match any whitespace.
fragment_regex() { perl -e 'my $f = shift; my $r = join("\\s+", map { quotemeta } split(/\s+/, $f)); print $r;' -- "$1"; }

# Prints "file:line" for every line of include/ and examples/ under $1 matching the fragment $2.
locate() {
  local tree="$1" regex
  regex="$(fragment_regex "$2")"
  (cd "$tree" && grep -rnP --include='*.hpp' --include='*.h' --include='*.cpp' -- "$regex" include examples 2>/dev/null |
    cut -d: -f1,2)
}

# Applies one edit to the copy: replaces the fragment on its one matching line.
apply_edit() {
  local tree="$1" fragment="$2" replacement="$3" where file line regex
  where="$(locate "$tree" "$fragment")"
  file="${where%%:*}"
  line="${where#*:}"
  regex="$(fragment_regex "$fragment")"
  FRAG_RE="$regex" REPL="$replacement" LINE="$line" perl -i -pe 'if ($. == $ENV{LINE}) { s/$ENV{FRAG_RE}/$ENV{REPL}/ } close ARGV if eof' "$tree/$file"
}

selected() {
  [ "${#FILTERS[@]}" -eq 0 ] && return 0
  local f
  for f in "${FILTERS[@]}"; do [[ "$1" == *"$f"* ]] && return 0; done
  return 1
}

WORK="${EIGENFORMER_MUTANTS_DIR:-/tmp/eigenformer-mutants-$$}"
export CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-$(command -v ccache || true)}"
export CCACHE_BASEDIR="$WORK"  # the copy's absolute paths differ from run to run: hash relative ones
RESULTS=()
status=0

CXX="${CXX:-c++}"
CCACHE="$(command -v ccache || true)"
EIGEN_FLAGS="$(pkg-config --cflags eigen3 2>/dev/null || echo -I/usr/include/eigen3)"
# tree files... → 0 the program passed, 1 it failed (output in $WORK/last.log), 2 it did not compile.
# Each file is compiled on its own (-c, so that ccache can reuse what a mutant did not change), then linked.
build_and_run() {
  exec </dev/null
  local tree="$1"; shift
  local objects=() f o
  mkdir -p "$WORK/bin"
  : >"$WORK/build.log"
  if [ ! -f "$WORK/bin/main.o" ]; then
    $CCACHE "$CXX" -std=c++17 -O1 -c "$tree/tests/main.cpp" -o "$WORK/bin/main.o" >>"$WORK/build.log" 2>&1 || return 2
  fi
  for f in "$@"; do
    o="$WORK/bin/$(echo "$f" | tr '/' '_').o"
    nice -n 10 $CCACHE "$CXX" -std=c++17 -O1 -w $EIGEN_FLAGS -I"$tree/include" -I"$tree/examples" -I"$tree/tests" \
      -DEIGEN_INITIALIZE_MATRICES_BY_NAN -DEIGENFORMER_SOURCE_DIR="\"$tree\"" \
      -DEIGENFORMER_FIXTURE_DIR="\"$tree/tests/fixtures\"" -c "$tree/tests/$f" -o "$o" >>"$WORK/build.log" 2>&1 || return 2
    objects+=("$o")
  done
  "$CXX" "${objects[@]}" "$WORK/bin/main.o" -o "$WORK/bin/suite" >>"$WORK/build.log" 2>&1 || return 2
  (cd "$tree" && timeout 900 "$WORK/bin/suite" --no-colors=true >"$WORK/last.log" 2>&1) || return 1
  return 0
}

mkdir -p "$WORK"
TREE="$WORK/tree"
if [ "$LIST_ONLY" -eq 0 ]; then
  echo "copying the tree to $TREE"
  rm -rf "$TREE" && mkdir -p "$TREE"
  (cd "$ROOT" && tar --exclude=./build --exclude=./.git --exclude=./models -cf - .) | (cd "$TREE" && tar -xf -)
fi
restore() {  # puts back the files the last mutant edited
  [ -d "$WORK/orig" ] || return 0
  (cd "$WORK/orig" && find . -type f) | while IFS= read -r f; do cp "$WORK/orig/$f" "$TREE/$f"; done
  rm -rf "$WORK/orig"
}

declare -A BASELINE=()
while IFS= read -r entry <&3; do
  [ -n "$(trim "$entry")" ] || continue
  IFS='|' read -r name targets edits <<<"$entry"
  name="$(trim "$name")"; targets="$(trim "$targets")"; edits="$(trim "$edits")"
  if [ "$name" = "pending" ]; then
    selected "$targets" && RESULTS+=("$(printf '%-22s %-8s %s' "$targets" PENDING "$edits")")
    continue
  fi
  selected "$name" || continue

  # 1) Every edit's fragment must sit on exactly one line.
  where_all=()
  problem=""
  IFS=$'\n' read -r -d '' -a edit_list < <(perl -e 'print join("\n", split(/\s*;;\s*/, shift)), "\0"' -- "$edits")
  for edit in "${edit_list[@]}"; do
    fragment="$(trim "${edit%%=>*}")"
    where="$(locate "$ROOT" "$fragment")"
    count="$(printf '%s' "$where" | grep -c . || true)"
    if [ "$count" -ne 1 ]; then
      problem="pattern '$fragment' matches $count lines${where:+: $(echo $where)}"
      break
    fi
    where_all+=("$where")
  done
  if [ -n "$problem" ]; then
    RESULTS+=("$(printf '%-22s %-8s %s' "$name" ERROR "$problem")"); status=1
    continue
  fi
  if [ "$LIST_ONLY" -eq 1 ]; then
    RESULTS+=("$(printf '%-22s %-8s %s' "$name" matches "${where_all[*]} ($targets)")")
    continue
  fi

  # 2) The unmutated suites must pass (once per suite set).
  if [ -z "${BASELINE[$targets]:-}" ]; then
    echo "baseline: compiling and running $targets on the unmutated copy"
    build_and_run "$TREE" $targets
    BASELINE[$targets]=$?
    [ "${BASELINE[$targets]}" -eq 0 ] || cat "$WORK/build.log" "$WORK/last.log" >"$WORK/baseline-${targets//[ \/]/_}.log"
  fi
  if [ "${BASELINE[$targets]}" -ne 0 ]; then
    RESULTS+=("$(printf '%-22s %-8s %s' "$name" ERROR "the unmutated $targets fail or do not compile (see $WORK/baseline-*.log)")"); status=1
    continue
  fi

  # 3) The mutant: the edits applied to the copy, then undone (a plain copy back: new times, so the next
  #    build recompiles the original, from ccache).
  rm -rf "$WORK/orig"
  for w in "${where_all[@]}"; do
    mkdir -p "$WORK/orig/$(dirname "${w%%:*}")"
    cp "$TREE/${w%%:*}" "$WORK/orig/${w%%:*}"
  done
  for edit in "${edit_list[@]}"; do
    apply_edit "$TREE" "$(trim "${edit%%=>*}")" "$(trim "${edit#*=>}")"
  done
  if [ -n "$(diff -rq "$WORK/orig" "$TREE" 2>/dev/null | grep differ || true)" ]; then :; else  # no grep -q: pipefail
    RESULTS+=("$(printf '%-22s %-8s %s' "$name" ERROR "the edit changed nothing")"); status=1
    restore; continue
  fi
  echo "mutant $name: ${where_all[*]} → compiling $targets"
  build_and_run "$TREE" $targets
  rc=$?
  cp "$WORK/last.log" "$WORK/$name.log" 2>/dev/null || true
  failing="$(grep -h '^TEST CASE:' "$WORK/$name.log" 2>/dev/null | sed 's/^TEST CASE: *//' | sort -u | paste -sd ';' - | cut -c1-160)"
  case $rc in
    0) RESULTS+=("$(printf '%-22s %-8s %s' "$name" ALIVE "${where_all[*]}")"); status=1 ;;
    1) RESULTS+=("$(printf '%-22s %-8s %s — failed: %s' "$name" KILLED "${where_all[*]}" "$failing")") ;;
    *) cp "$WORK/build.log" "$WORK/$name.build.log" 2>/dev/null
       RESULTS+=("$(printf '%-22s %-8s %s' "$name" ERROR "${where_all[*]}: the mutant did not build (see $WORK/$name.build.log)")"); status=1 ;;
  esac
  echo "${RESULTS[-1]}"
  restore
done 3<<<"$MUTANTS"

echo
printf '%-22s %-8s %s\n' mutant result "target line — failing test cases"
printf '%s\n' "${RESULTS[@]}"
[ "$LIST_ONLY" -eq 1 ] || echo "logs: $WORK"
exit $status
