#!/usr/bin/env bash
# Qwen3's <|im_end|> ending a reply, through the llama program: `llama --chat` on the tiny qwen3-shaped checkpoint
# that test_chat writes (its cases of tests/chat/test_qwen3_eos.cpp) (the real Qwen3 tokenizer files;
# tests/chat/test_qwen3_eos.cpp says how the model is built). The program must render Qwen3's own chat template,
# take the EOS ids from generation_config.json and stop at <|im_end|>, naming it.
# Usage: qwen3_eos_test.sh path/to/test_chat path/to/llama tests/fixtures
set -u
test_bin=$1
llama=$2
fixtures=$3
fail() { echo "FAIL: $*"; exit 1; }

# 1) The checkpoint folder (written by the C++ test; it skips, or fails under CI=true, without npm).
out=$("$test_bin" --source-file="*test_qwen3_eos.cpp" 2>&1) || fail "test_chat (test_qwen3_eos.cpp): $out"
if grep -q "\[eigenformer\] SKIPPED: " <<<"$out"; then
  grep -m1 -o "\[eigenformer\] SKIPPED: .*" <<<"$out"
  exit 0
fi
dir="$fixtures/downloaded/qwen3-tiny"
[ -f "$dir/model.safetensors" ] || fail "test_chat (test_qwen3_eos.cpp) wrote no checkpoint in $dir: $out"

# 2) The program, as a user runs it.
out=$("$llama" --model "$dir" --chat --prompt "Who are you?" --max-new-tokens 40 2>&1) || fail "llama --chat: $out"
echo "$out"
grep -q "EOS ids 151645,151643$" <<<"$out" || fail "the EOS ids must be generation_config.json's: $out"
grep -q "stopped by end of sequence (id 151645 \"<|im_end|>\")" <<<"$out" || fail "the stop reason must name <|im_end|>: $out"
grep -q "^  text  I am a tiny Qwen, and I stop here.$" <<<"$out" || fail "the reply: $out"
echo "Qwen3's <|im_end|> ends the reply: all checks passed"
