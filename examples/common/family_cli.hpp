// examples/common/family_cli.hpp — what the family programs (bert, llama, t5) share beyond the option parser
// (common/cli.hpp): the options every family program has, token ids from --ids or --text, the checkpoint's
// tokenizer, the table of next-token candidates, and main() in float or double.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>
#include <eigenformer/tokenizers.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.hpp"

namespace eigenformer::cli {

/// The options every family program has, with its own words for --model, --ids, --text, --candidates and --dump
/// (what they mean differs between an encoder, a decoder and an encoder-decoder).
struct FamilyOptionHelp {
  std::string model, ids, text, candidates, dump;
};
inline Section family_options(const FamilyOptionHelp& help) {
  Section s;
  s.options = {{"--model", "DIR", help.model},
               {"--ids", "LIST", help.ids},
               {"--text", "TEXT", help.text},
               {"--candidates", "N", help.candidates},
               {"--dump", "FILE", help.dump},
               {"--double", "", "compute in double instead of float"},
               {"--no-finite-check", "", "load a checkpoint with NaN or Inf weights instead of refusing it (to look "
                                         "inside it; generation then names the first layer whose output is not finite)"},
               {"--threads", "N", "threads for decoding and products (default: EIGENFORMER_THREADS, else 1; "
                                  "1 in a build without OpenMP)"},
               {"--help", "", "this text"}};
  return s;
}

/// The finite check on load (core/parameters.hpp: check_weights_finite), on by default in every family program: a
/// NaN or an Inf in a weight is refused right after loading, naming the tensor (ValueError, exit code 1).
/// --no-finite-check skips it, so that a broken checkpoint can still be looked into (--dump, or generation, which
/// stops at the first non-finite logits naming the layer that made them); a note on stderr says it was skipped.
template <class Model>
void check_finite_on_load(const Arguments& args, Model& model, const std::string& folder) {
  if (args.accepts("--no-finite-check") && args.has("--no-finite-check")) {
    std::fprintf(stderr, "note: --no-finite-check: the weights of %s were not checked for NaN or Inf\n", folder.c_str());
    return;
  }
  check_weights_finite(model, folder);
}

/// "101,7592,102" → {101, 7592, 102}. ValueError naming the option and the bad item.
inline TokenSequence parse_ids(const std::string& text, const std::string& option) {
  TokenSequence ids;
  for (const std::string& item : list_items(text)) {
    try {
      ids.push_back(static_cast<TokenId>(parse_integer(item, option, 0, std::numeric_limits<TokenId>::max())));
    } catch (const UsageError&) {  // a malformed id is bad input (exit 1), like an id outside the vocabulary
      throw ValueError(detail::cat(option, ": '", item, "' is not a token id (expected comma-separated non-negative ",
                                   "integers, e.g. ", option, " 101,7592,102)"));
    }
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

/// A family program's main(): parses the command line against `table`, prints its help for --help, runs the body
/// in float (or in double with --double), and turns every exception into one line on stderr (cli::run).
inline int run_program(int argc, char** argv, const Table& table, int (*in_float)(const Arguments&),
                       int (*in_double)(const Arguments&)) {
  return run(table.program.c_str(), [&] {
    const Arguments args(argc, argv, table);
    if (args.has("--help")) return print_help(table);
    // Threads (core/threads.hpp): --threads, else EIGENFORMER_THREADS, else 1 — for eigenformer and Eigen alike.
    // (A program whose table has no --threads, e.g. head_ablation, takes the environment's setting.)
    const bool given = args.accepts("--threads") && args.has("--threads");
    set_threads(given ? static_cast<int>(args.integer("--threads", 1, 4096)) : threads());
    return args.has("--double") ? in_double(args) : in_float(args);
  });
}

}  // namespace eigenformer::cli
