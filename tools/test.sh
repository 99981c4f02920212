#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with the "ci" preset (-O2, assertions on,
# warnings as errors) and runs the whole suite. Extra arguments go to ctest (e.g. -R attention).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset ci
cmake --build --preset ci -j "$(nproc)"
ctest --preset ci "$@"
