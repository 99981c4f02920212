// examples/common/cli.hpp — the command-line contract the family programs (bert, llama, t5) share.
//
//     <program> --model DIR [--ids 101,7592,102 | --text "..."] [--dump FILE.safetensors] [--candidates N] [--double]
//
//   --model DIR    a Hugging Face checkpoint folder (config.json + model.safetensors or a sharded index)
//   --ids LIST     input token ids, comma-separated, bypassing any tokenizer
//   --text TEXT    input text, through the tokenizer files of the folder (tokenizer.json, vocab.txt, ...)
//   --dump FILE    writes logits, hidden_states.<i> and attentions.<i> in F32 (models/dump.hpp)
//   --candidates N how many candidates to print
//   --double       computes in double instead of float
//   --help         the program's own help
//
// Every failure ends the program with one line on stderr, "<program>: error: <message>", where the message
// names the file, field, tensor or option at fault; the exit code is 1, or 2 for a usage mistake (an unknown
// option, a missing value).
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>
#include <eigenformer/tokenizers.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace eigenformer::cli {

/// A mistake in how the program was called: exit code 2.
class UsageError : public ValueError {
 public:
  using ValueError::ValueError;
};

struct Option {
  std::string name;  // "--model"
  bool takes_value;  // "--model DIR" (true) or "--double" (false)
};

/// The options every family program accepts.
inline std::vector<Option> common_options() {
  return {{"--model", true}, {"--ids", true}, {"--text", true}, {"--dump", true},
          {"--candidates", true}, {"--double", false}, {"--help", false}};
}

/// The parsed command line: each option at most once.
class Arguments {
 public:
  Arguments(int argc, char** argv, const std::vector<Option>& options) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const auto known = std::find_if(options.begin(), options.end(), [&](const Option& o) { return o.name == arg; });
      if (known == options.end()) {
        throw UsageError(detail::cat("unknown argument '", arg, "' (see --help)"));
      }
      if (values_.count(arg) != 0) throw UsageError(detail::cat(arg, " is given twice"));
      if (known->takes_value) {
        if (i + 1 >= argc) throw UsageError(detail::cat(arg, " needs a value (see --help)"));
        values_[arg] = argv[++i];
      } else {
        values_[arg] = "";
      }
    }
  }

  bool has(const std::string& option) const { return values_.count(option) != 0; }

  const std::string& value(const std::string& option) const {
    auto it = values_.find(option);
    if (it == values_.end()) throw UsageError(detail::cat(option, " is required (see --help)"));
    return it->second;
  }

  /// A positive integer option, or `fallback` when absent.
  Index positive(const std::string& option, Index fallback) const {
    if (!has(option)) return fallback;
    const std::string& text = value(option);
    const bool digits = !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stol(text) == 0) {
      throw UsageError(detail::cat(option, " needs a positive integer, got '", text, "'"));
    }
    return static_cast<Index>(std::stol(text));
  }

 private:
  std::map<std::string, std::string> values_;
};

/// "101,7592,102" → {101, 7592, 102}. ValueError naming the option and the bad item.
inline TokenSequence parse_ids(const std::string& text, const std::string& option) {
  TokenSequence ids;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty() || item.size() > 10 || item.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(item) > 2147483647LL) {
      throw ValueError(detail::cat(option, ": '", item, "' is not a token id (expected comma-separated non-negative ",
                                   "integers, e.g. ", option, " 101,7592,102)"));
    }
    ids.push_back(static_cast<TokenId>(std::stoll(item)));
    start = comma + 1;
  }
  return ids;
}

/// ValueError unless every id lies in [0, vocab_size).
inline void check_vocabulary(const TokenSequence& ids, Index vocab_size, const std::string& what) {
  for (std::size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] < 0 || ids[t] >= vocab_size) {
      throw ValueError(detail::cat(what, ": token id ", ids[t], " at position ", t, " is outside the vocabulary of ",
                                   vocab_size, " tokens (vocab_size in config.json)"));
    }
  }
}

/// One sequence as a (1, T) batch.
inline TokenIds as_batch(const TokenSequence& ids) {
  TokenIds batch(1, static_cast<Index>(ids.size()));
  for (std::size_t t = 0; t < ids.size(); ++t) batch(0, static_cast<Index>(t)) = ids[t];
  return batch;
}

/// The tokenizer of a checkpoint folder, when it ships tokenizer files (nullopt otherwise).
inline std::optional<tokenizers::Tokenizer> open_tokenizer(const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path dir(folder);
  const bool present = fs::is_regular_file(dir / "tokenizer.json") || fs::is_regular_file(dir / "tokenizer.model") ||
                       fs::is_regular_file(dir / "vocab.txt") || fs::is_regular_file(dir / "vocab.json");
  if (!present) return std::nullopt;
  return tokenizers::load_tokenizer(folder);
}

/// Usage check, before anything is loaded: exactly one of --ids and --text, and --ids well formed.
inline void check_input_given(const Arguments& args, const std::string& ids_option = "--ids",
                              const std::string& text_option = "--text") {
  if (args.has(ids_option) == args.has(text_option)) {
    throw UsageError(detail::cat("give the input as ", ids_option, " or as ", text_option, " (one of them)"));
  }
  if (args.has(ids_option)) parse_ids(args.value(ids_option), ids_option);
}

/// The input ids: --ids, or --text through the tokenizer (with the template's special tokens, and special
/// tokens such as [MASK] accepted in the text). Exactly one of the two is required.
inline TokenSequence input_ids(const Arguments& args, const std::optional<tokenizers::Tokenizer>& tokenizer,
                               const std::string& ids_option = "--ids", const std::string& text_option = "--text") {
  check_input_given(args, ids_option, text_option);
  if (args.has(ids_option)) return parse_ids(args.value(ids_option), ids_option);
  if (!tokenizer) {
    throw ValueError(detail::cat(text_option, " needs tokenizer files (tokenizer.json, tokenizer.model, vocab.txt or ",
                                 "vocab.json + merges.txt) in the model folder; there are none, so pass ", ids_option));
  }
  return tokenizer->encode(args.value(text_option), tokenizers::EncodeOptions{}.with_special_tokens().allow_all());
}

/// How a token looks: its spelling from the tokenizer, quoted, or "" without one.
inline std::string token_text(const std::optional<tokenizers::Tokenizer>& tokenizer, TokenId id) {
  if (!tokenizer) return "";
  const std::optional<std::string> t = tokenizer->id_to_token(id);
  return t ? "\"" + *t + "\"" : "";
}

inline std::string join_ids(const TokenSequence& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out;
}

/// The k largest entries of a row of logits, with their softmax probabilities over the whole row.
struct Candidate {
  TokenId id;
  double logit;
  double probability;
};
template <class Row>
std::vector<Candidate> top_k(const Row& logits, Index k) {
  const generation::Scores scores(logits.data(), logits.data() + logits.size());
  const std::vector<double> p = generation::softmax(scores);  // the probabilities generation would draw from
  std::vector<Candidate> all;
  for (std::size_t v = 0; v < scores.size(); ++v) all.push_back({static_cast<TokenId>(v), scores[v], p[v]});
  k = std::min<Index>(k, static_cast<Index>(all.size()));
  std::partial_sort(all.begin(), all.begin() + k, all.end(),
                    [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; });
  all.resize(static_cast<std::size_t>(k));
  return all;
}

inline void print_candidates(const std::vector<Candidate>& candidates,
                             const std::optional<tokenizers::Tokenizer>& tokenizer) {
  std::printf("  %4s %8s %10s %8s  %s\n", "rank", "id", "logit", "prob", tokenizer ? "token" : "");
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    std::printf("  %4zu %8d %10.4f %8.4f  %s\n", i + 1, candidates[i].id, candidates[i].logit, candidates[i].probability,
                token_text(tokenizer, candidates[i].id).c_str());
  }
}

/// Runs a program's body; every exception becomes one line on stderr and exit code 1 (2 for usage errors).
inline int run(const char* program, const std::function<int()>& body) {
  const auto report = [program](std::string message, int code) {
    std::replace(message.begin(), message.end(), '\n', ' ');  // one line, whatever the message holds
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", program, message.c_str());
    return code;
  };
  try {
    return body();
  } catch (const UsageError& e) {
    return report(e.what(), 2);
  } catch (const std::bad_alloc&) {
    return report("out of memory (is the model larger than this machine's memory?)", 1);
  } catch (const std::exception& e) {
    return report(e.what(), 1);
  }
}

/// A family program's main(): parses the command line against `options`, prints `help` for --help, runs the
/// body in float (or in double with --double), and turns every exception into one line on stderr (run above).
inline int run_program(int argc, char** argv, const char* program, const char* help, const std::vector<Option>& options,
                       int (*in_float)(const Arguments&), int (*in_double)(const Arguments&)) {
  return run(program, [&] {
    const Arguments args(argc, argv, options);
    if (args.has("--help")) {
      std::fputs(help, stdout);
      return 0;
    }
    return args.has("--double") ? in_double(args) : in_float(args);
  });
}

}  // namespace eigenformer::cli
