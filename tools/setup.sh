#!/usr/bin/env bash
# The README's first command: installs what is missing, builds everything in Release and runs the demo —
# the attention walkthrough, then the generation walkthrough.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)"
./build/release/examples/attention_walkthrough/attention_walkthrough
echo
echo "=================================================================================================="
echo
./build/release/examples/generation_walkthrough/generation_walkthrough
