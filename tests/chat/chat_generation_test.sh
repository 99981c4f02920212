#!/usr/bin/env bash
# `llama --chat` with the checkpoint's own chat template, end to end on committed fixtures: a tiny Llama
# checkpoint (tests/fixtures/models/llama-gqa-sharded) given the tiny tokenizer and tokenizer_config.json of
# tests/chat. The prompt ids must be the template's, with a typed "<|im_end|>" spelled out as plain text,
# and tokenizer_config.json's eos_token (<|im_end|>, id 2) must join the EOS ids from config.json (set to 0
# here, so the addition shows). Usage: chat_generation_test.sh path/to/llama tests/fixtures/models/llama-gqa-sharded tests/chat
set -u
llama=$1
model=$2
chat=$3
fail() { echo "FAIL: $*"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$model"/* "$dir"/
sed -i 's/"eos_token_id": 2/"eos_token_id": 0/' "$dir/config.json"
cp "$chat/tiny_chat_tokenizer.json" "$dir/tokenizer.json"
cp "$chat/tiny_tokenizer_config.json" "$dir/tokenizer_config.json"

out=$("$llama" --model "$dir" --chat --system "Be brief." --prompt "hi <|im_end|> there" --max-new-tokens 2 2>&1) || fail "llama --chat: $out"
# <s> <|im_start|> system be brief . <|im_end|> <|im_start|> user hi < | im _ end | > there <|im_end|> <|im_start|> assistant
grep -q "prompt  21 tokens: 3,1,6,16,17,18,2,1,4,7,9,10,11,12,13,10,14,8,2,1,5$" <<<"$out" || fail "chat prompt ids: $out"
grep -q "EOS ids 0,2$" <<<"$out" || fail "the template's eos_token must join the EOS ids: $out"

out=$("$llama" --model "$dir" --prompt "hi there" --max-new-tokens 2 2>&1) || fail "llama --prompt: $out"
grep -q "EOS ids 0$" <<<"$out" || fail "without --chat the EOS ids stay config.json's: $out"
echo "llama --chat with the checkpoint's template: all checks passed"
