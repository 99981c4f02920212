#!/usr/bin/env bash
# Every C++ snippet in the notes compiles, and the ones marked `run` run (the course promises it).
#
#   check_snippets.sh OUT_DIR "COMPILER [FLAGS...]" FILE.md...
#
# extract_snippets.awk writes each ```cpp block as a translation unit of its own: function-body fragments
# and declarations are checked with -fsyntax-only (every template they touch is instantiated, nothing is
# generated), complete programs are compiled and linked, and programs marked `<!-- snippet: run -->` run
# from OUT_DIR and must exit with 0. A failure prints the Markdown file and line of the block.
set -u
out=$1
compiler=$2
shift 2
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
failures=0
total=0
for md in "$@"; do
  base=$(basename "$(dirname "$md")")_$(basename "$md" .md)
  while read -r mode file origin; do
    total=$((total + 1))
    case $mode in
      fragment) $compiler -fsyntax-only "$file" 2> "$file.log" ;;
      program | run) $compiler "$file" -o "${file%.cpp}" 2> "$file.log" ;;
    esac
    status=$?
    if [ $status -eq 0 ] && [ "$mode" = run ]; then
      (cd "$out" && timeout 120 "${file%.cpp}") < /dev/null > "$file.run.log" 2>&1
      status=$?
      [ $status -ne 0 ] && cat "$file.run.log" >> "$file.log"
    fi
    if [ $status -ne 0 ]; then
      failures=$((failures + 1))
      echo "FAILED ($mode): the snippet at $origin"
      head -n 30 "$file.log"
    else
      echo "ok ($mode): $origin"
    fi
  done < <(awk -v out="$out" -v base="$base" -f "$here/extract_snippets.awk" "$md")
done
echo "$total snippets, $failures failed"
[ $failures -eq 0 ]
