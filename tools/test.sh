#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with the "ci" preset (-O1, assertions on,
# warnings as errors) and runs the whole suite. Extra arguments go to ctest (e.g. -R attention).
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
ctest --preset ci --no-tests=error "$@" 2>&1 | tee "$log" || status=$?
if [ "${CI:-}" = "true" ] && grep -q "The following tests did not run" "$log"; then
  echo "tools/test.sh: CI=true and some tests were skipped (listed above): in CI every test must run" >&2
  status=1
fi
phase "done"
exit "$status"
