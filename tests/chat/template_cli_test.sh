#!/usr/bin/env bash
# The tokenize example's --template command end to end on committed fixtures (no network): the rendered
# text byte for byte, the named tool_use template chosen when tools are given, the ids with the typed
# "<|im_end|>" encoded as plain text, and bad input refused. Usage: template_cli_test.sh path/to/tokenize tests/chat
set -u
tokenize=$1
dir=$2
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$tokenize" --template "$dir/tiny_tokenizer_config.json" --messages "$dir/chat_messages.json" --add-generation-prompt > "$out/text" || fail "render"
printf '<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|> there<|im_end|>\n<|im_start|>assistant\n' > "$out/want"
cmp "$out/text" "$out/want" || fail "rendered text differs (nothing may be added, not even a newline)"

"$tokenize" --template "$dir/tiny_tokenizer_config.json" --messages "$dir/chat_messages.json" > "$out/text" || fail "render without prompt"
printf '<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|> there<|im_end|>\n' > "$out/want"
cmp "$out/text" "$out/want" || fail "without --add-generation-prompt"

"$tokenize" --template "$dir/tiny_tokenizer_config.json" --messages "$dir/chat_messages.json" --tools "$dir/chat_tools.json" > "$out/text" || fail "tools"
printf '<s><|im_start|>system\ntools: get_weather<|im_end|>\n<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|> there<|im_end|>\n' > "$out/want"
cmp "$out/text" "$out/want" || fail "--tools must pick the tool_use template"

ids=$("$tokenize" --template "$dir/tiny_tokenizer_config.json" --messages "$dir/chat_messages.json" --add-generation-prompt --tokenizer "$dir/tiny_chat_tokenizer.json") || fail "ids"
# <s> <|im_start|> system be brief . <|im_end|> <|im_start|> user hi [< | im _ end | >] there <|im_end|> <|im_start|> assistant
[[ "$ids" == *'"ids":[3,1,6,16,17,18,2,1,4,7,9,10,11,12,13,10,14,8,2,1,5]'* ]] || fail "ids: $ids"
[[ "$ids" == *'"typed_special_tokens_as_text":true'* ]] || fail "guard flag: $ids"

"$tokenize" --template "$dir/tiny_tokenizer_config.json" 2>/dev/null && fail "--messages is required"
"$tokenize" --template "$dir/tiny_tokenizer_config.json" --messages /nonexistent.json 2>/dev/null && fail "missing messages file"
"$tokenize" --template "$dir/tiny_tokenizer_config.json" --messages "$dir/chat_messages.json" --template-name nope 2>"$out/err" && fail "unknown template name"
grep -q "no chat template named 'nope'" "$out/err" || fail "error message names the template: $(cat "$out/err")"
echo "tokenize --template: all checks passed"
