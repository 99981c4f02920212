#!/usr/bin/env bash
# The tokenize example end to end on a tiny committed WordPiece tokenizer: encode, decode, special-token
# refusal and --allow-special, bad input. Usage: cli_test.sh path/to/tokenize path/to/tiny_wordpiece.json
set -u
tokenize=$1
json=$2
fail() { echo "FAIL: $*"; exit 1; }
[[ $(printf 'Hello WORLD!' | "$tokenize" --tokenizer "$json") == "4 5 8" ]] || fail "encode"
[[ $(printf 'hello [MASK]' | "$tokenize" --tokenizer "$json" --allow-special --add-special-tokens) == "1 4 3 2" ]] || fail "allow special"
printf 'hello [MASK]' | "$tokenize" --tokenizer "$json" 2>/dev/null && fail "special token text must be refused"
[[ $(printf '4 6 7 8' | "$tokenize" --tokenizer "$json" --decode) == "hello world!" ]] || fail "decode"
printf '4 x' | "$tokenize" --tokenizer "$json" --decode 2>/dev/null && fail "bad id must be refused"
printf 'bad \xff' | "$tokenize" --tokenizer "$json" 2>/dev/null && fail "invalid UTF-8 must be refused"
"$tokenize" --tokenizer /nonexistent.json </dev/null 2>/dev/null && fail "missing file"
echo "tokenize CLI: all checks passed"
