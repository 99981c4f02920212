#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with the "ci" preset (assertions on, warnings as
# errors; -O0, and -O1 for the targets whose tests spend their time computing: CMakeLists.txt) and runs the whole
# suite but the build checks (label build_check: the notes' snippets, the other compiler, the packaging
# consumers — `ctest --preset ci -L build_check` runs them, and so does .ci/run). Extra arguments go to ctest
# (e.g. -R attention).
# Under CI=true (.ci/run sets it) a skipped test fails the run: CI can reach the npm registry, so a test
# skipped there (tests/tokenizers/references.hpp) would hide a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
phase_start=$SECONDS
phase() {  # phase NAME: prints how long the previous phase took (the budget: 15 minutes on 2 cores in all)
  echo "=== tools/test.sh: $1 ($((SECONDS - phase_start)) s since the start)"
}
phase "installing missing packages"
tools/install-deps.sh
phase "configuring (ci preset)"
cmake --preset ci
phase "building"
cmake --build --preset ci -j "$(nproc)"
phase "testing"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
ctest --preset ci --no-tests=error -LE build_check "$@" 2>&1 | tee "$log" || status=$?
if [ "${CI:-}" = "true" ] && grep -q "The following tests did not run" "$log"; then
  echo "tools/test.sh: CI=true and some tests were skipped (listed above): in CI every test must run" >&2
  status=1
fi
phase "done"
exit "$status"
