// examples/common/generate_cli.hpp — text generation from the command line, shared by the family
// programs (llama, t5, gpt2, bart): the generation options (one table section, below), the settings they make, and the loop's output.
//
// Settings come, from weakest to strongest: config.json (EOS ids), generation_config.json in the folder (the
// checkpoint's recommendations), then these flags — Hugging Face's precedence (generation/config.hpp).
#pragma once

#include <eigenformer/chat.hpp>
#include <eigenformer/generation.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/family_cli.hpp"

namespace eigenformer::cli {

/// The heading of the generation options: any of them on the command line means "generate".
inline const char* const kGenerationHeading = "Generation (settings from generation_config.json, overridden by these flags):";

/// What differs between the programs in the generation options.
struct GenerationOptionHelp {
  std::string prompt;      // what --prompt is ("the text to continue", "the source text")
  bool chat = false;       // --chat and --system (Llama 3's chat format)
  std::string no_cache;    // what --no-cache recomputes
};

/// The generation options, with their meaning: one place for the llama and t5 programs.
inline Section generation_options(const GenerationOptionHelp& help) {
  Section s;
  s.heading = kGenerationHeading;
  s.options.push_back({"--prompt", "TEXT", help.prompt});
  if (help.chat) {
    s.options.push_back({"--chat", "", "--prompt is the user's message, in the checkpoint's chat template (tokenizer_config.json), else Llama 3's layout"});
    s.options.push_back({"--system", "TEXT", "with --chat: the system turn"});
  }
  const std::vector<Option> rest = {
      {"--max-new-tokens", "N", "at most N new tokens (default 20, or from generation_config.json)"},
      {"--strategy", "S", "greedy (default), sample or beam"},
      {"--num-beams", "N", "beam search width (implies --strategy beam)"},
      {"--length-penalty", "X", "beam score = sum of log p / length^X (default 1)"},
      {"--early-stopping", "E", "beam search: true, false (default) or never"},
      {"--num-return-sequences", "N", "beams: the N best; sampling: N samples"},
      {"--temperature", "X", "sampling: scores / X (0 = greedy)"},
      {"--top-k", "N", "sampling: keep the N best tokens (default 50; 0 = off)"},
      {"--top-p", "X", "sampling: keep the smallest set of probability >= X (nucleus)"},
      {"--min-p", "X", "sampling: keep tokens with p >= X * p_max"},
      {"--seed", "N", "sampling: the random seed (the same seed reproduces a run)"},
      {"--repetition-penalty", "X", "divide (multiply) the scores of tokens already present by X"},
      {"--no-repeat-ngram", "N", "forbid repeating any N-gram"},
      {"--min-new-tokens", "N", "no end-of-sequence before N new tokens (generation_config.json: min_length)"},
      {"--stop", "TEXT", "stop when the generated text contains TEXT"},
      {"--eos", "LIST", "the end-of-sequence ids (default: generation_config.json, then config.json)"},
      {"--stream", "", "print the text as it is generated"},
      {"--trace", "FILE", "write each step (candidates after every filter, or the beams) as JSON"},
      {"--explain", "", "print that trace"},
      {"--no-cache", "", help.no_cache}};
  s.options.insert(s.options.end(), rest.begin(), rest.end());
  return s;
}

/// The largest count a generation option takes (tokens, beams, sequences): far beyond any model's context.
constexpr std::int64_t kMaxCount = std::numeric_limits<std::int32_t>::max();

/// Generation mode: any generation option on the command line.
inline bool wants_generation(const Arguments& args) { return args.any_in(kGenerationHeading); }

/// The settings for this run: defaults, then generation_config.json of `folder`, then the flags.
/// `prompt_length` turns generation_config.json's max_length and min_length (prompt included) into max_new_tokens
/// and min_new_tokens; for an encoder-decoder the "prompt" of the decoder is its start token, length 1.
inline generation::GenerationConfig generation_settings(const Arguments& args, const std::string& folder,
                                                        std::size_t prompt_length) {
  using namespace generation;
  GenerationConfig c;
  // 1) generation_config.json, when the checkpoint has one.
  const std::string file = (std::filesystem::path(folder) / "generation_config.json").string();
  if (std::filesystem::is_regular_file(file)) {
    std::optional<std::int64_t> max_length, min_length;
    const json::Value saved = json::parse_file(file);
    apply_generation_config_json(saved, file, c, &max_length, &min_length);
    if (max_length && saved.find("max_new_tokens") == nullptr) {
      c.max_new_tokens = std::max<std::int64_t>(0, *max_length - static_cast<std::int64_t>(prompt_length));
    }
    if (min_length && saved.find("min_new_tokens") == nullptr) {
      c.min_new_tokens = std::max<std::int64_t>(0, *min_length - static_cast<std::int64_t>(prompt_length));
    }
  }
  // 2) The flags.
  if (args.has("--strategy")) {
    const std::string& s = args.value("--strategy");
    if (s == "greedy") c.strategy = Strategy::Greedy;
    else if (s == "sample") c.strategy = Strategy::Sample;
    else if (s == "beam") c.strategy = Strategy::Beam;
    else throw UsageError(eigenformer::detail::cat("--strategy must be greedy, sample or beam, got '", s, "'"));
  }
  if (args.has("--max-new-tokens")) c.max_new_tokens = args.integer("--max-new-tokens", 0, kMaxCount);
  if (args.has("--num-beams")) {
    c.num_beams = args.integer("--num-beams", 0, kMaxCount);
    if (c.num_beams < 1) c.validate();  // "num_beams must be >= 1, got 0": the reset to 1 below would hide it
    if (!args.has("--strategy") && c.num_beams > 1) c.strategy = Strategy::Beam;
  }
  if (c.strategy != Strategy::Beam) c.num_beams = 1;
  if (args.has("--length-penalty")) c.length_penalty = args.number("--length-penalty");
  if (args.has("--early-stopping")) {
    const std::string& e = args.value("--early-stopping");
    if (e == "true") c.early_stopping = EarlyStopping::Yes;
    else if (e == "false") c.early_stopping = EarlyStopping::Heuristic;
    else if (e == "never") c.early_stopping = EarlyStopping::Never;
    else throw UsageError(eigenformer::detail::cat("--early-stopping must be true, false or never, got '", e, "'"));
  }
  if (args.has("--num-return-sequences")) c.num_return_sequences = args.integer("--num-return-sequences", 0, kMaxCount);
  if (args.has("--temperature")) c.temperature = args.number("--temperature");
  if (args.has("--top-k")) c.top_k = args.integer("--top-k", 0, kMaxCount);
  if (args.has("--top-p")) c.top_p = args.number("--top-p");
  if (args.has("--min-p")) c.min_p = args.number("--min-p");
  if (args.has("--seed")) c.seed = static_cast<std::uint64_t>(args.integer("--seed", 0, std::numeric_limits<std::int64_t>::max()));
  if (args.has("--repetition-penalty")) c.repetition_penalty = args.number("--repetition-penalty");
  if (args.has("--no-repeat-ngram")) c.no_repeat_ngram_size = args.integer("--no-repeat-ngram", 0, kMaxCount);
  if (args.has("--min-new-tokens")) c.min_new_tokens = args.integer("--min-new-tokens", 0, kMaxCount);
  if (args.has("--stop")) c.stop_strings = {args.value("--stop")};
  if (args.has("--eos")) c.eos_token_ids = parse_ids(args.value("--eos"), "--eos");
  if (args.has("--no-cache")) c.use_cache = false;
  c.validate();  // bad values (temperature < 0, top_p outside (0, 1], ...) are named before the model runs
  return c;
}

/// Usage checks for generation, before a large model is loaded: one prompt, and every setting valid.
inline void check_generation_usage(const Arguments& args, const std::string& folder) {
  if (args.has("--text")) throw UsageError("--text shows one prediction step; to generate, give the text as --prompt");
  if (args.has("--dump")) throw UsageError("--dump records one forward pass: run it without the generation options");
  if (args.has("--prompt") == args.has("--ids")) {
    throw UsageError("give the prompt as --prompt TEXT or as --ids LIST (one of them)");
  }
  if (args.has("--ids")) parse_ids(args.value("--ids"), "--ids");
  generation_settings(args, folder, 0);
}

/// The checkpoint's chat template, when `folder`/tokenizer_config.json has one.
inline std::optional<chat::ChatTemplate> checkpoint_chat_template(const std::string& folder) {
  const std::string path = folder + "/tokenizer_config.json";
  if (folder.empty() || !std::filesystem::exists(path)) return std::nullopt;
  const json::Value config = json::parse_file(path);
  const json::Value* t = config.find("chat_template");
  if (t == nullptr || t->is_null()) return std::nullopt;
  return chat::ChatTemplate::from_tokenizer_config(config, path);
}

/// The prompt's ids: --prompt through the tokenizer (plain, or with --chat the checkpoint's chat template,
/// else the built-in Llama 3 layout), or --ids.
inline TokenSequence generation_prompt(const Arguments& args, const std::optional<tokenizers::Tokenizer>& tokenizer,
                                       const std::string& folder = "") {
  if (args.has("--ids")) {
    if (args.accepts("--chat") && args.has("--chat")) throw UsageError("--chat formats text: use it with --prompt, not --ids");
    return parse_ids(args.value("--ids"), "--ids");
  }
  if (!tokenizer) {
    throw ValueError("--prompt needs tokenizer files in the model folder (tokenizer.json, ...); there are none, so pass --ids");
  }
  if (args.accepts("--chat") && args.has("--chat")) {
    std::vector<generation::ChatMessage> messages;
    if (args.has("--system")) messages.push_back({"system", args.value("--system")});
    messages.push_back({"user", args.value("--prompt")});
    if (const std::optional<chat::ChatTemplate> tpl = checkpoint_chat_template(folder)) {
      chat::ChatRequest request;  // message text stays plain text: a typed special token cannot forge a turn
      json::Array list;
      for (const generation::ChatMessage& m : messages) {
        json::Value message;
        message.set("role", m.role);
        message.set("content", m.content);
        list.push_back(message);
      }
      request.messages = json::Value(std::move(list));
      request.add_generation_prompt = true;
      return chat::encode_chat(*tpl, *tokenizer, request).ids;
    }
    return generation::llama3_chat_prompt(*tokenizer, messages);
  }
  return generation::plain_prompt(*tokenizer, args.value("--prompt"));
}

/// What a generation run made, for the options that look at it afterwards (--report, --attention-svg in
/// common/inspect_cli.hpp).
struct GenerationRun {
  TokenSequence prompt;                                // the prompt's ids (an encoder-decoder: the source)
  generation::GenerationConfig config;                 // the settings it ran with
  std::vector<generation::GeneratedSequence> results;  // best first
  generation::Trace trace;                             // filled when --trace, --explain or --report asked for it
};

/// Generates with `model` (a CausalLM or a Seq2SeqLM) from the command line's prompt (--prompt or --ids; for
/// an encoder-decoder, the source), prints the result(s) and returns them with the trace.
template <class Model>
GenerationRun generate_and_print(Model& model, const Arguments& args, const std::optional<tokenizers::Tokenizer>& tokenizer,
                                 const std::string& folder) {
  using namespace generation;
  const TokenSequence prompt = generation_prompt(args, tokenizer, folder);
  check_vocabulary(prompt, model.vocab_size(), args.has("--ids") ? "--ids" : "--prompt");
  // An encoder-decoder's prompt is its source; its decoder starts from one token (decoder_start_token_id).
  constexpr bool seq2seq = std::is_base_of_v<Seq2SeqLM<typename Model::scalar_type>, Model>;
  GenerationConfig config = generation_settings(args, folder, seq2seq ? 1 : prompt.size());
  // With the checkpoint's chat template, its end of turn — tokenizer_config.json's eos_token (Qwen's
  // <|im_end|>, Gemma's <end_of_turn>) — ends a reply too, beside generation_config.json's list.
  if (args.accepts("--chat") && args.has("--chat") && !args.has("--eos") && tokenizer) {
    if (const std::optional<chat::ChatTemplate> tpl = checkpoint_chat_template(folder)) {
      const std::string eos_text = tpl->special_token("eos_token");
      const std::optional<TokenId> id = eos_text.empty() ? std::nullopt : tokenizer->token_to_id(eos_text);
      if (id) {
        if (config.eos_token_ids.empty()) config.eos_token_ids = model.special_tokens().eos;
        if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), *id) == config.eos_token_ids.end()) {
          config.eos_token_ids.push_back(*id);
        }
      }
    }
  }
  GenerationRun run;
  Trace& trace = run.trace;
  GenerationIO io;
  if (tokenizer) io.tokenizer = &*tokenizer;
  // --report shows the trace too (candidates per step, the tree of beams).
  if (args.has("--trace") || args.has("--explain") || (args.accepts("--report") && args.has("--report"))) io.trace = &trace;
  const bool stream = args.has("--stream");
  if (stream) {
    if (!tokenizer) throw ValueError("--stream prints text: it needs tokenizer files in the model folder");
    io.on_token = [](TokenId, const std::string& text) {
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
    };
  }
  std::printf("prompt  %zu tokens: %s\n", prompt.size(), join_ids(prompt).c_str());
  const std::vector<TokenId>& eos = config.eos_token_ids.empty() ? model.special_tokens().eos : config.eos_token_ids;
  std::printf("generate  strategy %s, max_new_tokens %lld, EOS ids %s\n", to_string(config.strategy),
              static_cast<long long>(config.max_new_tokens), eos.empty() ? "(none)" : join_ids(eos).c_str());
  if (stream) std::printf("--- streamed ---\n");
  const std::vector<GeneratedSequence> results = generate(model, prompt, config, io);
  if (stream) std::printf("\n--- end ---\n");

  for (std::size_t i = 0; i < results.size(); ++i) {
    const GeneratedSequence& r = results[i];
    std::string why = to_string(r.stop_reason);
    if (r.eos_token) {
      why += eigenformer::detail::cat(" (id ", *r.eos_token, tokenizer ? " " + token_text(tokenizer, *r.eos_token) : std::string(), ")");
    }
    if (!r.stop_string.empty()) why += " \"" + r.stop_string + "\"";
    std::printf("%s %zu: %zu tokens, stopped by %s, log p = %.4f%s\n", results.size() > 1 ? "sequence" : "output", i + 1,
                r.tokens.size(), why.c_str(), r.log_probability,
                config.strategy == Strategy::Beam ? eigenformer::detail::cat(", score ", r.score).c_str() : "");
    std::printf("  ids   %s\n", join_ids(r.tokens).c_str());
    if (tokenizer) std::printf("  text  %s\n", r.text.c_str());
  }
  const auto spell = [&](TokenId id) {
    if (!tokenizer) return std::to_string(id);
    const std::optional<std::string> t = tokenizer->id_to_token(id);
    return t ? *t : std::to_string(id);
  };
  if (args.has("--explain")) std::printf("--- trace ---\n%s", trace.to_text(spell).c_str());
  if (args.has("--trace")) {
    trace.write_json(args.value("--trace"), spell);
    std::printf("trace   %s\n", args.value("--trace").c_str());
  }
  run.prompt = prompt;
  run.config = config;
  run.results = results;
  return run;
}

/// generate_and_print() for a program that does nothing more with the run. Returns the exit code, 0.
template <class Model>
int run_generation(Model& model, const Arguments& args, const std::optional<tokenizers::Tokenizer>& tokenizer,
                   const std::string& folder) {
  generate_and_print(model, args, tokenizer, folder);
  return 0;
}

}  // namespace eigenformer::cli
