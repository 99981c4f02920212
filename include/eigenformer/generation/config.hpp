// eigenformer/generation/config.hpp — every knob of text generation, with Hugging Face's meaning.
//
// The generation loop (generate.hpp) is: the model scores every token of the vocabulary, a strategy picks
// one, the pick is appended, and the loop runs until the model emits an end-of-sequence (EOS) token or a
// limit is reached. This struct says which strategy, which filters on the scores, and which limits.
//
// Where the settings come from, in order of precedence (the later overrides the earlier):
//   1. config.json                the model's bos/eos/pad/decoder_start token ids (SpecialTokenIds)
//   2. generation_config.json     the checkpoint's recommended settings: eos_token_id (it wins over
//                                 config.json's — Llama 3 lists <|eot_id|> there), do_sample, temperature,
//                                 top_k, top_p, num_beams, max_length / max_new_tokens, min_length,
//                                 forced_bos_token_id / forced_eos_token_id (BART), ...
//   3. what the caller sets       the API fields below or the programs' command-line flags
// This is the precedence of Hugging Face's generate(): its model.generation_config is built from (2), or
// from (1) when (2) is absent, and keyword arguments override it.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer::generation {

enum class Strategy {
  Greedy,  // always the most likely token (ties: the lowest id)
  Sample,  // draw from the filtered distribution, with a seeded random number generator
  Beam     // keep the num_beams best partial sequences by total log-probability
};

inline const char* to_string(Strategy s) {
  switch (s) {
    case Strategy::Greedy: return "greedy";
    case Strategy::Sample: return "sample";
    case Strategy::Beam: return "beam";
  }
  return "?";
}

/// Beam search's early_stopping: true, false or "never" (Hugging Face's three values).
enum class EarlyStopping {
  Yes,     // stop a batch item as soon as num_beams hypotheses have finished
  Heuristic,  // "false": stop when the best running beam, scored at the current length, cannot beat the worst finished one
  Never    // stop only when no running beam can possibly beat the worst finished one (exact; uses max length)
};

struct GenerationConfig {
  // --- Strategy ---
  Strategy strategy = Strategy::Greedy;
  std::int64_t max_new_tokens = 20;  // Hugging Face's default max_length is 20 as well
  std::int64_t num_beams = 1;
  double length_penalty = 1.0;                       // beam score = Σ log p / (generated length)^length_penalty
  EarlyStopping early_stopping = EarlyStopping::Heuristic;
  std::int64_t num_return_sequences = 1;             // beams: the best n; sampling: n independent samples

  // --- Filters on the scores, applied in this order (as Hugging Face's logits processors) ---
  double repetition_penalty = 1.0;  // CTRL (Keskar et al. 2019): a seen token's score s → s/p if s > 0 else s·p
  std::int64_t no_repeat_ngram_size = 0;  // forbid any n-gram from occurring twice
  std::int64_t min_new_tokens = 0;  // no EOS before this many tokens are generated (summaries: bart-large-cnn 55)
  std::optional<TokenId> forced_bos_token_id;  // the first generated token of a one-token start (BART: <s>, 0)
  std::vector<TokenId> forced_eos_token_ids;   // the last allowed step must emit one of them (BART: </s>, 2)
  double temperature = 1.0;         // sampling: scores / temperature; 0 means greedy
  std::int64_t top_k = 50;          // sampling: keep the k best tokens (0 = off). 50 is Hugging Face's default
  double top_p = 1.0;               // sampling: keep the smallest set whose probability reaches p (nucleus)
  double min_p = 0.0;               // sampling: keep tokens with p ≥ min_p · p_max (0 = off)

  // --- Stopping ---
  std::vector<TokenId> eos_token_ids;   // any of them ends a sequence (Llama 3: <|eot_id|> and <|end_of_text|>)
  std::vector<std::string> stop_strings;  // text that ends generation, even across token boundaries
  std::optional<TokenId> pad_token_id;  // fills finished sequences of a batch

  // --- Reproducibility and checking ---
  std::uint64_t seed = 0;  // sampling: the same seed reproduces the same run
  bool use_cache = true;   // false recomputes every position at every step (slow; to check the cache)

  /// Throws ValueError naming the first setting outside its range.
  void validate() const {
    const auto bad = [](const std::string& what) { throw ValueError("[generation] " + what); };
    if (max_new_tokens < 0) bad(eigenformer::detail::cat("max_new_tokens must be >= 0, got ", max_new_tokens));
    if (num_beams < 1) bad(eigenformer::detail::cat("num_beams must be >= 1, got ", num_beams));
    if (num_return_sequences < 1) bad(eigenformer::detail::cat("num_return_sequences must be >= 1, got ", num_return_sequences));
    if (strategy == Strategy::Beam && num_return_sequences > num_beams) {
      bad(eigenformer::detail::cat("num_return_sequences (", num_return_sequences, ") cannot exceed num_beams (", num_beams, ")"));
    }
    if (strategy == Strategy::Greedy && num_return_sequences > 1) {
      bad("greedy search returns one sequence; num_return_sequences > 1 needs sampling or beam search");
    }
    if (!std::isfinite(length_penalty)) bad("length_penalty must be finite");
    if (!(repetition_penalty > 0) || !std::isfinite(repetition_penalty)) {
      bad(eigenformer::detail::cat("repetition_penalty must be a positive number, got ", repetition_penalty));
    }
    if (no_repeat_ngram_size < 0) bad(eigenformer::detail::cat("no_repeat_ngram_size must be >= 0, got ", no_repeat_ngram_size));
    if (min_new_tokens < 0) bad(eigenformer::detail::cat("min_new_tokens must be >= 0, got ", min_new_tokens));
    if (forced_bos_token_id && *forced_bos_token_id < 0) {
      bad(eigenformer::detail::cat("forced_bos_token_id must be >= 0, got ", *forced_bos_token_id));
    }
    for (TokenId id : forced_eos_token_ids) {
      if (id < 0) bad(eigenformer::detail::cat("forced_eos_token_id must be >= 0, got ", id));
    }
    if (std::isnan(temperature) || temperature < 0 || std::isinf(temperature)) {
      bad(eigenformer::detail::cat("temperature must be a finite number >= 0, got ", temperature));
    }
    if (top_k < 0) bad(eigenformer::detail::cat("top_k must be >= 0, got ", top_k));
    if (!(top_p > 0 && top_p <= 1)) bad(eigenformer::detail::cat("top_p must lie in (0, 1], got ", top_p));
    if (!(min_p >= 0 && min_p <= 1)) bad(eigenformer::detail::cat("min_p must lie in [0, 1], got ", min_p));
    for (const std::string& s : stop_strings) {
      if (s.empty()) bad("stop strings must not be empty");
    }
  }

  /// Sampling with temperature 0 is greedy search (the limit of a sharper and sharper distribution).
  bool samples() const { return strategy == Strategy::Sample && temperature > 0; }
};

/// Applies the fields a generation_config.json sets (Hugging Face names) on top of `config`.
/// Unknown fields are ignored (the file has many this library does not use); known fields of the wrong
/// type are a ConfigError naming the file and the field.
/// max_length and min_length count the prompt (decoder-only) or the decoder start (encoder-decoder) too: they are
/// handed back through `max_length` / `min_length` for the caller, who knows that length, to turn into
/// max_new_tokens / min_new_tokens.
inline void apply_generation_config_json(const json::Value& file, const std::string& path, GenerationConfig& config,
                                         std::optional<std::int64_t>* max_length = nullptr,
                                         std::optional<std::int64_t>* min_length = nullptr) {
  if (!file.is_object()) throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": not a JSON object"));
  const auto field = [&](const char* name) { return file.find(name); };
  const auto number = [&](const char* name) {
    const json::Value* v = field(name);
    if (v == nullptr || v->is_null()) return std::optional<double>();
    if (!v->is_number()) throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": field '", name, "' must be a number"));
    return std::optional<double>(v->as_number());
  };
  const auto integer = [&](const char* name) {
    const json::Value* v = field(name);
    if (v == nullptr || v->is_null()) return std::optional<std::int64_t>();
    if (!v->is_integer()) throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": field '", name, "' must be an integer"));
    return std::optional<std::int64_t>(v->as_int());
  };
  if (const json::Value* eos = field("eos_token_id"); eos != nullptr && !eos->is_null()) {
    config.eos_token_ids.clear();
    if (eos->is_array()) {
      for (const json::Value& id : eos->as_array()) {
        if (!id.is_integer()) throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": eos_token_id must hold integers"));
        config.eos_token_ids.push_back(static_cast<TokenId>(id.as_int()));
      }
    } else if (eos->is_integer()) {
      config.eos_token_ids.push_back(static_cast<TokenId>(eos->as_int()));
    } else {
      throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": eos_token_id must be an integer or a list of integers"));
    }
  }
  if (auto v = integer("pad_token_id")) config.pad_token_id = static_cast<TokenId>(*v);
  if (const json::Value* s = field("do_sample"); s != nullptr && !s->is_null()) {
    if (!s->is_bool()) throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": field 'do_sample' must be true or false"));
    if (s->as_bool()) config.strategy = Strategy::Sample;
  }
  if (auto v = integer("num_beams")) {
    config.num_beams = *v;
    if (*v > 1 && config.strategy == Strategy::Greedy) config.strategy = Strategy::Beam;
  }
  if (auto v = number("temperature")) config.temperature = *v;
  if (auto v = integer("top_k")) config.top_k = *v;
  if (auto v = number("top_p")) config.top_p = *v;
  if (auto v = number("min_p")) config.min_p = *v;
  if (auto v = number("repetition_penalty")) config.repetition_penalty = *v;
  if (auto v = integer("no_repeat_ngram_size")) config.no_repeat_ngram_size = *v;
  if (auto v = number("length_penalty")) config.length_penalty = *v;
  if (auto v = integer("max_new_tokens")) config.max_new_tokens = *v;
  if (auto v = integer("num_return_sequences")) config.num_return_sequences = *v;
  if (max_length != nullptr) {
    if (auto v = integer("max_length")) *max_length = *v;
  }
  if (min_length != nullptr) {
    if (auto v = integer("min_length")) *min_length = *v;
  }
  if (auto v = integer("min_new_tokens")) config.min_new_tokens = *v;
  if (auto v = integer("forced_bos_token_id")) config.forced_bos_token_id = static_cast<TokenId>(*v);
  if (const json::Value* e = field("forced_eos_token_id"); e != nullptr && !e->is_null()) {
    config.forced_eos_token_ids.clear();
    const auto add = [&](const json::Value& id) {
      if (!id.is_integer()) {
        throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": forced_eos_token_id must be an integer or a list of integers"));
      }
      config.forced_eos_token_ids.push_back(static_cast<TokenId>(id.as_int()));
    };
    if (e->is_array()) {
      for (const json::Value& id : e->as_array()) add(id);
    } else {
      add(*e);
    }
  }
  if (const json::Value* e = field("early_stopping"); e != nullptr && !e->is_null()) {
    if (e->is_bool()) {
      config.early_stopping = e->as_bool() ? EarlyStopping::Yes : EarlyStopping::Heuristic;
    } else if (e->is_string() && e->as_string() == "never") {
      config.early_stopping = EarlyStopping::Never;
    } else {
      throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": early_stopping must be true, false or \"never\""));
    }
  }
  if (const json::Value* stops = field("stop_strings"); stops != nullptr && !stops->is_null()) {
    const auto add = [&](const json::Value& s) {
      if (!s.is_string()) throw ConfigError(eigenformer::detail::cat("[generation] ", path, ": stop_strings must be strings"));
      config.stop_strings.push_back(s.as_string());
    };
    if (stops->is_array()) {
      for (const json::Value& s : stops->as_array()) add(s);
    } else {
      add(*stops);
    }
  }
}

}  // namespace eigenformer::generation
