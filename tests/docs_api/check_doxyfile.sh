#!/usr/bin/env bash
# tests/docs_api/check_doxyfile.sh DOXYFILE WORKDIR [DOXYGEN] — the API reference's configuration
# (docs/Doxyfile.in, configured by cmake/docs_api.cmake) is complete: every @VARIABLE@ was filled in, every
# INPUT exists, the main page is one of the inputs, the keys are spelled as Doxygen spells them. When Doxygen
# is installed (DOXYGEN given), it also runs it into WORKDIR and checks that the pages of the library's central
# names were written, with their comments, and that Doxygen reported no problem with the configuration.
set -euo pipefail
doxyfile="$1" work="$2" doxygen="${3:-}"
fail() { echo "check_doxyfile: $*" >&2; exit 1; }
[ -f "$doxyfile" ] || fail "$doxyfile is missing (cmake/docs_api.cmake configures it)"
if grep -nE '@[A-Z_]+@' "$doxyfile"; then fail "unconfigured @VARIABLE@ left in $doxyfile"; fi
value() { sed -n "s/^$1 *= *//p" "$doxyfile"; }
inputs="$(value INPUT)"
[ -n "$inputs" ] || fail "no INPUT"
for path in $inputs; do [ -e "$path" ] || fail "INPUT $path does not exist"; done
mainpage="$(value USE_MDFILE_AS_MAINPAGE)"
case " $inputs " in *" $mainpage "*) ;; *) fail "the main page $mainpage is not among the INPUT files";; esac
# Keys: upper-case words, each once (a repeated key silently overrides the first).
keys="$(sed -n 's/^\([A-Z_0-9]*\) *=.*/\1/p' "$doxyfile")"
[ "$(echo "$keys" | sort | uniq -d)" = "" ] || fail "keys set twice: $(echo "$keys" | sort | uniq -d | tr '\n' ' ')"
if grep -vnE '^(#.*|[A-Z_0-9]+ +=.*|)$' "$doxyfile"; then fail "lines above are neither a comment nor KEY = value"; fi
# The headers carry the comments the reference is made from: '///' above the public functions.
count="$(grep -rh '^ *///' $(value INPUT | cut -d' ' -f1) | wc -l)"
[ "$count" -gt 500 ] || fail "only $count '///' comment lines under the INPUT headers"
echo "check_doxyfile: $doxyfile is complete ($(echo "$keys" | wc -l) keys, $count '///' comment lines in the headers)"

if [ -z "$doxygen" ] || ! [ -x "$doxygen" ]; then
  echo "check_doxyfile: Doxygen is not installed; the configuration was checked, the reference was not generated"
  exit 0
fi
rm -rf "$work" && mkdir -p "$work"
sed -e "s#^OUTPUT_DIRECTORY *=.*#OUTPUT_DIRECTORY = $work#" -e "s#^WARN_LOGFILE *=.*#WARN_LOGFILE = $work/warnings.txt#" \
  "$doxyfile" > "$work/Doxyfile"
# Unknown or obsolete keys: Doxygen names them on stderr ("warning: ignoring unsupported tag").
"$doxygen" "$work/Doxyfile" 2> "$work/stderr.txt" || { cat "$work/stderr.txt" >&2; fail "doxygen failed"; }
if grep -i "unsupported tag\|obsolete" "$work/stderr.txt" "$work/warnings.txt"; then fail "Doxygen rejected a key (above)"; fi
[ -f "$work/html/index.html" ] || fail "no html/index.html"
grep -rlq "scaled_dot_product_attention" "$work/html" || fail "no page mentions scaled_dot_product_attention"
grep -rlq "context = softmax" "$work/html" || fail "the attention core's equation comment did not reach the pages"
echo "check_doxyfile: Doxygen wrote $(find "$work/html" -name '*.html' | wc -l) pages into $work/html"
