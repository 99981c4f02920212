// fuzz/fuzz_jinja.cpp — the chat-template interpreter (chat/jinja.hpp) on arbitrary template text.
//
// The input is parsed as a template (TemplateSyntaxError, or InvalidUtf8Error for bytes that are not UTF-8)
// and rendered with a fixed conversation, tools and special tokens, as a chat program would
// (TemplateRenderError for anything it cannot do). The budgets are lowered so that one input cannot run
// for long: a template that loops or recurses without end must hit a budget, never hang or overflow the stack.
#include "fuzz_common.hpp"

#include <eigenformer/chat.hpp>

using namespace eigenformer;
using namespace eigenformer::chat;

namespace {

const jinja::Object& variables() {
  static const jinja::Object vars = [] {
    const json::Value messages = json::parse(
        R"([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi <b>&amp; \u00e9"},
            {"role": "assistant", "content": "Hello.", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
            {"role": "tool", "content": "{\"ok\": true}"}, {"role": "user", "content": ["part", {"type": "text", "text": "t"}]}])",
        "messages");
    const json::Value tools = json::parse(
        R"([{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object",
            "properties": {"x": {"type": "integer"}}}}}])",
        "tools");
    jinja::Object v;
    v.set("messages", jinja::Value::from_json(messages));
    v.set("tools", jinja::Value::from_json(tools));
    v.set("add_generation_prompt", jinja::Value::boolean(true));
    v.set("bos_token", jinja::Value::string("<s>"));
    v.set("eos_token", jinja::Value::string("</s>"));
    return v;
  }();
  return vars;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  jinja::Limits limits;
  limits.max_output_bytes = 1u << 20;     // 1 MiB
  limits.max_loop_iterations = 100'000;
  limits.max_range = 10'000;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_typed([&] {
    const jinja::Template tpl(text, "fuzz template", limits);
    const std::string out = tpl.render(variables());
    EIGENFORMER_FUZZ_CHECK(out.size() <= limits.max_output_bytes);
  });
  return 0;
}
