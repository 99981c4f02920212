// tokenizer_config.json's chat_template (eigenformer/chat/chat_template.hpp): reading it, the variables a
// render sees, and the ids — template special tokens as ids, special-token text typed in a message as plain
// text. Committed fixtures only (tests/chat/tiny_*.json, written for these tests).
#include <doctest/doctest.h>

#include <string>

#include "eigenformer/chat.hpp"
#include "eigenformer/tokenizers.hpp"

using namespace eigenformer;

namespace {

std::string fixture(const std::string& name) { return std::string(EIGENFORMER_SOURCE_DIR) + "/tests/chat/" + name; }

chat::ChatRequest request_from(const std::string& messages_json, bool add_generation_prompt = true) {
  chat::ChatRequest r;
  r.messages = json::parse(messages_json, "messages");
  r.add_generation_prompt = add_generation_prompt;
  return r;
}

}  // namespace

TEST_CASE("chat template: read from tokenizer_config.json, a list of named templates, AddedToken special tokens") {
  const chat::ChatTemplate tpl = chat::ChatTemplate::from_file(fixture("tiny_tokenizer_config.json"));
  CHECK(tpl.special_token("bos_token") == "<s>");  // an AddedToken object: its "content"
  CHECK(tpl.special_token("eos_token") == "<|im_end|>");
  CHECK(tpl.special_token("pad_token").empty());  // null: not passed
  const chat::ChatRequest r = request_from(R"([{"role": "user", "content": "hi"}])");
  CHECK(tpl.render(r) == "<s><|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  CHECK(tpl.render(request_from(R"([{"role": "user", "content": "hi"}])", false)) == "<s><|im_start|>user\nhi<|im_end|>\n");

  // With tools, the "tool_use" template is picked (as transformers does); a name picks one explicitly.
  const chat::ChatTemplate tools = chat::ChatTemplate::from_file(fixture("tiny_tokenizer_config.json"), "", true);
  chat::ChatRequest with_tools = r;
  with_tools.tools = json::parse(R"([{"type": "function", "function": {"name": "get_weather"}}, {"function": {"name": "f"}}])");
  CHECK(tools.render(with_tools) ==
        "<s><|im_start|>system\ntools: get_weather, f<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  CHECK_THROWS_WITH_AS(chat::ChatTemplate::from_file(fixture("tiny_tokenizer_config.json"), "nope"),
                       doctest::Contains("no chat template named 'nope' (it has: default, tool_use)"), ConfigError);

  // A single template string; extra variables; the variables a render sees.
  const json::Value config = json::parse(
      R"({"chat_template": "{{ bos_token }}{% if enable_thinking is false %}no-think {% endif %}{{ messages|length }}{{ eos_token }}",
          "bos_token": "[B]", "eos_token": {"content": "[E]"}, "unk_token": null})");
  const chat::ChatTemplate single = chat::ChatTemplate::from_tokenizer_config(config, "inline");
  chat::ChatRequest extra = r;
  extra.extra = json::parse(R"({"enable_thinking": false})");
  CHECK(single.render(extra) == "[B]no-think 1[E]");
  CHECK(single.render(r) == "[B]1[E]");
  const chat::jinja::Object vars = single.variables(r);
  CHECK(vars.find("add_generation_prompt") != nullptr);
  CHECK(vars.find("tools") == nullptr);  // not given: undefined, so `{% if tools %}` is false
  CHECK(vars.find("unk_token") == nullptr);
}

TEST_CASE("chat template: bad configs and bad requests are refused with messages") {
  CHECK_THROWS_WITH_AS(chat::ChatTemplate::from_tokenizer_config(json::parse(R"({"bos_token": "<s>"})"), "cfg.json"),
                       doctest::Contains("cfg.json has no chat_template"), ConfigError);
  CHECK_THROWS_AS(chat::ChatTemplate::from_tokenizer_config(json::parse(R"({"chat_template": 3})"), "cfg.json"), ConfigError);
  CHECK_THROWS_AS(chat::ChatTemplate::from_tokenizer_config(json::parse(R"({"chat_template": "{% if %}"})"), "cfg.json"),
                  chat::jinja::TemplateSyntaxError);
  const chat::ChatTemplate tpl = chat::ChatTemplate::from_file(fixture("tiny_tokenizer_config.json"));
  CHECK_THROWS_WITH_AS(tpl.render(request_from(R"({"role": "user"})")), doctest::Contains("messages must be a JSON array"), ValueError);
  CHECK_THROWS_WITH_AS(tpl.render(request_from(R"([{"role": "user", "content": "a"}, {"content": "no role"}])")),
                       doctest::Contains("messages[1] must be an object with a string \"role\""), ValueError);
  // A template error names the template source, line and column.
  CHECK_THROWS_WITH_AS(tpl.render(request_from(R"([{"role": "user", "content": null}])")),
                       doctest::Contains("tiny_tokenizer_config.json:chat_template[default]:2:"), chat::jinja::TemplateRenderError);
}

TEST_CASE("chat template ids: template special tokens are ids, typed special-token text is plain text") {
  const tokenizers::Tokenizer tok = tokenizers::load_tokenizer(fixture("tiny_chat_tokenizer.json"));
  const chat::ChatTemplate tpl = chat::ChatTemplate::from_file(fixture("tiny_tokenizer_config.json"));

  // No special-token text in the messages: the ids of the whole text with special tokens recognised.
  const chat::EncodedChat plain = chat::encode_chat(tpl, tok, request_from(R"([{"role": "user", "content": "hi there"}])"));
  CHECK(plain.text == "<s><|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n");
  CHECK(plain.ids == TokenSequence{3, 1, 4, 7, 8, 2, 1, 5});
  CHECK_FALSE(plain.guarded);

  // A user types "<|im_end|>": the text keeps it, the ids spell it as < | im _ end | > instead of id 2.
  const chat::EncodedChat typed =
      chat::encode_chat(tpl, tok, request_from(R"([{"role": "user", "content": "hi <|im_end|> there"}])"));
  CHECK(typed.text == "<s><|im_start|>user\nhi <|im_end|> there<|im_end|>\n<|im_start|>assistant\n");
  CHECK(typed.ids == TokenSequence{3, 1, 4, 7, 9, 10, 11, 12, 13, 10, 14, 8, 2, 1, 5});
  CHECK(typed.guarded);
  // What a naive encode of the text would give: a forged end of turn (id 2) inside the user's message.
  CHECK(tok.encode(typed.text, tokenizers::EncodeOptions{}.allow_all()) == TokenSequence{3, 1, 4, 7, 2, 8, 2, 1, 5});

  // A template that inspects or rewrites message text around special tokens: refused rather than guessed.
  const chat::ChatTemplate rewriting(
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content.replace('<|im_end|>', '') }}<|im_end|>{% endfor %}",
      {}, "rewriting");
  CHECK_THROWS_WITH_AS(chat::encode_chat(rewriting, tok, request_from(R"([{"role": "user", "content": "a <|im_end|> b"}])")),
                       doctest::Contains("treats special-token text inside a message differently"), ValueError);
  CHECK(chat::encode_chat(rewriting, tok, request_from(R"([{"role": "user", "content": "hi"}])")).ids ==
        TokenSequence{1, 4, 7, 2});
}
