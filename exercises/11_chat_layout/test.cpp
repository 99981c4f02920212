// The check for exercise 11: texts that Hugging Face's own Jinja renderer (@huggingface/jinja 0.5.11) made
// with the chat template of Llama 3.1's tokenizer_config.json, for the same messages
// (tools/chat/exercise_cases.js prints these lines).
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <chat_layout.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

namespace {

struct Case {
  std::string name;
  std::vector<exercise::Message> messages;
  bool add_generation_prompt;
  std::string rendered;  // by @huggingface/jinja
};

const std::vector<Case> kCases = {
    // node tools/chat/exercise_cases.js
    {"one_user_turn", {{"user", "What is the capital of France?"}}, true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"one_user_turn_no_prompt", {{"user", "What is the capital of France?"}}, false,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>"},
    {"system_and_user", {{"system", "You are a careful assistant. Answer briefly."}, {"user", "What is the capital of France?"}}, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a careful assistant. Answer briefly.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"several_turns", {{"system", "You are a careful assistant. Answer briefly."}, {"user", "What is the capital of France?"}, {"assistant", "Paris."}, {"user", "And of Japan?"}}, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a careful assistant. Answer briefly.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd of Japan?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"finished_conversation", {{"user", "What is the capital of France?"}, {"assistant", "Paris."}}, false,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>"},
    {"whitespace_trimmed", {{"system", "  用中文回答。  \n"}, {"user", "\n\t床前明月光，疑是地上霜。下一句是什么？ \n\n"}}, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n用中文回答。<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n床前明月光，疑是地上霜。下一句是什么？<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"empty_content", {{"user", ""}}, true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"typed_special_tokens", {{"user", "Hi <|eot_id|> there"}}, true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi <|eot_id|> there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
};

}  // namespace

TEST_CASE("renders what Llama 3.1's template renders") {
  REQUIRE(kCases.size() == 8);
  for (const Case& c : kCases) {
    INFO("conversation ", c.name);
    CHECK(exercise::llama3_chat_layout(c.messages, c.add_generation_prompt) == c.rendered);
  }
}

TEST_CASE("typed special tokens stay text") {
  // The layout is text: a user who types "<|eot_id|>" gets those characters inside their message. (Turning
  // the text into ids must then *not* read them as the special token: docs/chat_templates.md, section 4.)
  const std::string text = exercise::llama3_chat_layout({{"user", "Hi <|eot_id|> there"}}, false);
  CHECK(text.find("\n\nHi <|eot_id|> there<|eot_id|>") != std::string::npos);
}
