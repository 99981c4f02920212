#!/usr/bin/env bash
# DeepSeek-R1's <｜end▁of▁sentence｜> ending a reply, end to end through the llama program: `llama --chat` on the
# tiny checkpoint that test_chat writes (its cases of tests/chat/test_deepseek_eos.cpp) (the real DeepSeek-V3
# tokenizer files, a Llama-shaped model built to answer with one sentence and then the EOS;
# tests/chat/test_deepseek_eos.cpp says how). The program must render DeepSeek's own chat template, sample as
# generation_config.json asks, and report the stop with the token's name.
# Usage: deepseek_eos_test.sh path/to/test_chat path/to/llama tests/fixtures
set -u
test_bin=$1
llama=$2
fixtures=$3
fail() { echo "FAIL: $*"; exit 1; }

# 1) The checkpoint folder (written by the C++ test; it skips, or fails under CI=true, without npm).
out=$("$test_bin" --source-file="*test_deepseek_eos.cpp" 2>&1) || fail "test_chat (test_deepseek_eos.cpp): $out"
if grep -q "\[eigenformer\] SKIPPED: " <<<"$out"; then
  grep -m1 -o "\[eigenformer\] SKIPPED: .*" <<<"$out"
  exit 0
fi
dir="$fixtures/downloaded/deepseek-r1-tiny"
[ -f "$dir/model.safetensors" ] || fail "test_chat (test_deepseek_eos.cpp) wrote no checkpoint in $dir: $out"

# 2) The program, as a user runs it.
out=$("$llama" --model "$dir" --chat --prompt "Who are you?" --max-new-tokens 40 2>&1) || fail "llama --chat: $out"
echo "$out"
grep -q "EOS ids 1$" <<<"$out" || fail "the EOS ids must be the files' (1): $out"
grep -q "strategy sample" <<<"$out" || fail "generation_config.json asks for sampling: $out"
grep -q "stopped by end of sequence (id 1 \"<｜end▁of▁sentence｜>\")" <<<"$out" || fail "the stop reason must name the EOS: $out"
grep -q "^  text  I am a tiny model, and my reply ends here.$" <<<"$out" || fail "the reply: $out"
echo "DeepSeek-R1's <｜end▁of▁sentence｜> ends the reply: all checks passed"
