#!/usr/bin/env bash
# Every C++ snippet in the notes compiles, and the ones marked `run` run (the course promises it).
#
#   check_snippets.sh OUT_DIR "COMPILER [FLAGS...]" FILE.md...
#
# extract_snippets.awk writes each ```cpp block as a file of its own. Function-body fragments and declarations
# are checked with -fsyntax-only (every template they touch is instantiated, nothing is generated), all of them
# together in one translation unit (each sits in a namespace of its own): parsing the library's headers costs
# ~10 s of CPU, and doing it once per block made this test the slowest of the suite. Only when that combined
# check fails is each fragment checked alone, so that the failure names its block. Complete programs are
# compiled and linked one by one, and programs marked `<!-- snippet: run -->` run from OUT_DIR and must exit
# with 0. A failure prints the Markdown file and line of the block.
set -u
out=$1
compiler=$2
shift 2
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
failures=0
total=0
fragments=()
origins=()

report() {  # report STATUS MODE ORIGIN LOG
  if [ "$1" -ne 0 ]; then
    failures=$((failures + 1))
    echo "FAILED ($2): the snippet at $3"
    head -n 30 "$4"
  else
    echo "ok ($2): $3"
  fi
}

for md in "$@"; do
  base=$(basename "$(dirname "$md")")_$(basename "$md" .md)
  while read -r mode file origin; do
    total=$((total + 1))
    if [ "$mode" = fragment ]; then
      fragments+=("$file")
      origins+=("$origin")
      continue
    fi
    $compiler "$file" -o "${file%.cpp}" 2> "$file.log"
    status=$?
    if [ $status -eq 0 ] && [ "$mode" = run ]; then
      (cd "$out" && timeout 120 "${file%.cpp}") < /dev/null > "$file.run.log" 2>&1
      status=$?
      [ $status -ne 0 ] && cat "$file.run.log" >> "$file.log"
    fi
    report $status "$mode" "$origin" "$file.log"
  done < <(awk -v out="$out" -v base="$base" -f "$here/extract_snippets.awk" "$md")
done

if [ ${#fragments[@]} -gt 0 ]; then
  combined="$out/all_fragments.cpp"
  : > "$combined"
  for file in "${fragments[@]}"; do echo "#include \"$file\"" >> "$combined"; done
  if $compiler -fsyntax-only "$combined" 2> "$combined.log"; then
    for origin in "${origins[@]}"; do echo "ok (fragment): $origin"; done
  else
    echo "the ${#fragments[@]} fragments together do not compile; checking each alone:"
    for i in "${!fragments[@]}"; do
      $compiler -fsyntax-only "${fragments[$i]}" 2> "${fragments[$i]}.log"
      report $? fragment "${origins[$i]}" "${fragments[$i]}.log"
    done
    if [ $failures -eq 0 ]; then  # each compiles alone, but not beside the others (a name clash)
      failures=1
      echo "FAILED: each fragment compiles alone but not together:"
      head -n 30 "$combined.log"
    fi
  fi
fi
echo "$total snippets, $failures failed"
[ $failures -eq 0 ]
