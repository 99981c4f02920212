// eigenformer/chat.hpp — chat templates: the prompt format a checkpoint ships, run as it is written.
//
//     #include "eigenformer/chat.hpp"
//     using namespace eigenformer;
//     chat::ChatTemplate tpl = chat::ChatTemplate::from_file("checkpoint/tokenizer_config.json");
//     chat::ChatRequest request;
//     request.messages = json::parse(R"([{"role": "user", "content": "Hello!"}])");
//     request.add_generation_prompt = true;
//     std::string prompt = tpl.render(request);
//
// Read docs/chat_templates.md beside the headers: jinja (the interpreter), then chat_template.
#pragma once

#include "eigenformer/chat/jinja.hpp"
#include "eigenformer/chat/chat_template.hpp"
