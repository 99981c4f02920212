// eigenformer/generation/generate.hpp — the generation loop: score, choose, append, until EOS.
//
//     tokens = prompt
//     repeat:
//         scores = model(tokens)[last position]        (V)   one score per vocabulary entry
//         scores = filters(scores)                           logits_processing.hpp
//         next   = choose(scores)                            greedy: argmax; sampling: a draw
//         tokens = tokens + next
//     until next is an EOS token, a stop string appears, or max_new_tokens are generated
//
// Thanks to the KV cache, each step feeds only the one new token (session.hpp).
//
// generate_batch runs several prompts side by side as one left-padded batch (session.hpp, BatchCausalSession):
// one row per prompt, one new token per row and step, each row stopping on its own.
//
// Beam search keeps the num_beams most probable partial sequences instead of one. Each step scores every
// extension of every beam by its total log-probability Σ log p, ranks the best 2·num_beams (more when there
// are several EOS ids), and walks down the ranking: an extension ending in EOS becomes a finished
// hypothesis (if it ranks among the top num_beams), any other becomes one of the next beams, until
// num_beams beams are filled. Finished hypotheses are compared by Σ log p / length^length_penalty
// (length = generated tokens, EOS included), and the best num_beams are kept. This is Hugging Face's
// BeamSearchScorer, step for step; two deliberate differences: a hypothesis keeps the EOS token it actually
// ended with (Hugging Face writes eos_token_id[0] back), and a stop string ends a hypothesis just as an EOS
// does (Hugging Face stops the whole search only when every beam has met one).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/memory.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/threads.hpp"
#include "eigenformer/generation/config.hpp"
#include "eigenformer/generation/logits_processing.hpp"
#include "eigenformer/generation/sampling.hpp"
#include "eigenformer/generation/session.hpp"
#include "eigenformer/generation/stopping.hpp"
#include "eigenformer/generation/trace.hpp"
#include "eigenformer/models/language_model.hpp"
#include "eigenformer/tokenizers/stream_decoder.hpp"
#include "eigenformer/tokenizers/tokenizer.hpp"

namespace eigenformer::generation {

/// One generated sequence.
struct GeneratedSequence {
  TokenSequence tokens;               // the generated tokens only (the EOS that ended it included)
  std::string text;                   // their text, special tokens left out (when a tokenizer was given)
  StopReason stop_reason = StopReason::MaxNewTokens;
  std::optional<TokenId> eos_token;   // which EOS id ended it
  std::string stop_string;            // which stop string ended it
  double log_probability = 0;         // Σ log p(token) under the model's unfiltered distribution
  double score = 0;                   // beam search: the length-penalised score it was ranked by;
                                      // otherwise log_probability
};

/// Optional companions of a run.
struct GenerationIO {
  /// Decodes text (results, stop strings, streaming) and spells tokens in traces.
  const tokenizers::Tokenizer* tokenizer = nullptr;
  /// Streaming (greedy and sampling, sequence 0): called once per generated token with the text it
  /// completes — possibly "" while a multi-byte character is incomplete. Needs the tokenizer.
  std::function<void(TokenId token, const std::string& text)> on_token;
  /// Receives a step-by-step record (trace.hpp).
  Trace* trace = nullptr;
};

namespace engine {

/// A model's score row converted to double, into z (resized; a reused buffer).   row (V) → z (V)
template <class Derived>
void copy_scores(const Eigen::MatrixBase<Derived>& row, Scores& z) {
  z.resize(static_cast<std::size_t>(row.size()));
  Eigen::Map<Eigen::RowVectorXd>(z.data(), row.size()) = row.template cast<double>();  // vectorised
}

/// Converts a model's score row to double, into z (resized; a reused buffer), and checks it.
template <class Derived>
void score_row_into(const Eigen::MatrixBase<Derived>& row, std::int64_t step, Scores& z) {
  copy_scores(row, z);
  check_finite(z, step);
}

/// The same for row `sequence` of a session's scores: when they are not finite, the error also names the first
/// layer whose output was not (DecodingSession::locate_non_finite runs that sequence again, only then).
template <class Derived, class Scalar>
void score_row_into(const Eigen::MatrixBase<Derived>& row, std::int64_t step, Scores& z, DecodingSession<Scalar>& session,
                    Index sequence) {
  copy_scores(row, z);
  check_finite(z, step, [&session, sequence] { return session.locate_non_finite(sequence); });
}
template <class Derived>
Scores score_row(const Eigen::MatrixBase<Derived>& row, std::int64_t step) {
  Scores z;
  score_row_into(row, step, z);
  return z;
}

/// What a step of the loops below works in, kept across steps: after the first step has sized them (V entries
/// each), a step allocates nothing here (tests/speed/test_alloc.cpp counts).
struct StepBuffers {
  Scores z;                  // (V) the scores being filtered
  Scores log_p;              // (V) beam search: log softmax of the model's unfiltered scores
  std::vector<double> p;     // (V) sampling: the filtered distribution
  FilterWorkspace filters;   // the filters' own buffers
};

/// The top `n` entries of a probability vector, best first (ties: lower id first).
inline std::vector<Candidate> top_candidates(const std::vector<double>& prob, std::size_t n) {
  std::vector<std::size_t> order(prob.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  n = std::min(n, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                    [&](std::size_t a, std::size_t b) { return prob[a] > prob[b] || (prob[a] == prob[b] && a < b); });
  std::vector<Candidate> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back({static_cast<TokenId>(order[i]), prob[order[i]]});
  return out;
}

inline FilterStage stage(const std::string& name, const Scores& z, std::size_t top_n) {
  const std::vector<double> prob = softmax(z);
  FilterStage s{name, top_candidates(prob, top_n), 0};
  for (double p : prob) s.kept += p > 0 ? 1 : 0;
  return s;
}

/// The generated text of `tokens` (special tokens skipped), or "" without a tokenizer.
inline std::string text_of(const GenerationIO& io, const TokenSequence& tokens) {
  if (io.tokenizer == nullptr) return "";
  tokenizers::DecodeOptions options;
  options.skip_special_tokens = true;
  return io.tokenizer->decode(tokens, options);
}

/// The stop string that appending `token` to `tokens` completes, or "". Works on the decoded bytes, so a
/// stop string may span tokens; one that was complete before `token` does not count again.
inline std::string completed_stop_string(const GenerationIO& io, const GenerationConfig& config, const TokenSequence& tokens,
                                         TokenId token) {
  if (config.stop_strings.empty()) return "";
  TokenSequence extended = tokens;
  extended.push_back(token);
  tokenizers::DecodeOptions options;
  options.skip_special_tokens = true;
  const std::string before = io.tokenizer->decode_bytes(tokens, options);
  const std::string after = io.tokenizer->decode_bytes(extended, options);
  StopStringMatcher matcher(config.stop_strings);
  if (after.compare(0, before.size(), before) == 0) {
    matcher.append(before);
    return matcher.append(after.substr(before.size())).value_or("");
  }
  return matcher.append(after).value_or("");  // a decoder rewrote earlier text (rare): search all of it
}

/// The memory guard of a run's KV cache (core/memory.hpp), before the first model call allocates any of it: the
/// cache at full context — every position the run may reach, P = the sequence's prefix + max_new_tokens (a
/// window-bounded cache holds at most W − 1 + the prefix) — of B sequences, each of the model's N layers keeping keys
/// and values:
///
///     bytes = N × 2 (keys, values) × B × Hkv × P × D × sizeof(Scalar)             self-attention
///           + N × 2 × B × Hkv × S × D × sizeof(Scalar)                             cross-attention over S source positions
///           × 2 when B > 1 and cached: reorder() copies the caches into a spare set of the same size (beam search,
///             several samples), and both live at once
///
/// MemoryError when that exceeds the memory available, naming every factor. Nothing is checked for a model whose
/// cache_shape() is unknown (KVCache::reserve still checks each layer as it grows). Saturating (Count).
template <class Scalar>
void check_cache_memory(const CacheShape& shape, Index batch, Index prefix, std::int64_t new_tokens, Index source_positions,
                        bool spare) {
  if (shape.layers <= 0) return;
  Count positions = Count(prefix) + Count(new_tokens);
  // A window-bounded cache keeps W − 1 positions before appending the new ones: W − 1 + the prompt at the first call.
  const Count bounded = Count(shape.window - 1) + Count(prefix);
  if (shape.window > 0 && positions.value() > bounded.value()) positions = bounded;
  const Count per_position = Count(shape.layers) * Count(2) * Count(batch) * Count(shape.kv_heads) * Count(shape.head_dim) *
                             Count(sizeof(Scalar));
  const Count copies = spare ? Count(2) : Count(1);
  const Count cross = shape.cross ? per_position * Count(source_positions) : Count(0);
  const Count bytes = (per_position * positions + cross) * copies;
  check_fits(bytes, [&] {
    std::string what = eigenformer::detail::cat("[KVCache] at full context (", prefix, " + max_new_tokens ", new_tokens,
                                                shape.window > 0 ? ", within the window" : "", " = ", positions.value(),
                                                " positions): ", shape.layers, " layers × 2 (keys, values) × ", batch,
                                                " sequences × ", shape.kv_heads, " heads × ", positions.value(), " positions × ",
                                                shape.head_dim, " dims × ", sizeof(Scalar), " bytes");
    if (shape.cross) {
      what += eigenformer::detail::cat(" + cross-attention: ", shape.layers, " × 2 × ", batch, " × ", shape.kv_heads, " × ",
                                       source_positions, " source positions × ", shape.head_dim, " × ", sizeof(Scalar));
    }
    if (spare) what += " × 2 (the spare set reorder() copies into, for beams or several samples)";
    return what;
  });
}

/// The token fed where a row has nothing to say — after it finished, and in the pad slots of a left-padded batch:
/// pad_token_id, else the first EOS id, else 0. Its value never matters (nobody reads those rows' scores, and pad
/// slots are hidden), but it must be a token of the vocabulary.
inline TokenId filler_token(const GenerationConfig& config) {
  return config.pad_token_id ? *config.pad_token_id : (config.eos_token_ids.empty() ? 0 : config.eos_token_ids.front());
}

/// A prompt: not empty, every id in [0, V). Errors name it as `which` ("the prompt" → "the prompt is empty",
/// "prompt token 3 has id ..."; "prompt 2 (of 4)" → "prompt 2 (of 4) is empty", "prompt 2 (of 4), token 3 has id ...").
inline void check_prompt(const TokenSequence& prompt, Index V, const std::string& which) {
  if (prompt.empty()) {
    throw ValueError(eigenformer::detail::cat("[generation] ", which, " is empty: give at least one token (a decoder usually starts with BOS)"));
  }
  const std::string token = which == "the prompt" ? std::string("prompt token ") : which + ", token ";
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= V) {
      throw ValueError(eigenformer::detail::cat("[generation] ", token, i, " has id ", prompt[i],
                                                ", outside the vocabulary of ", V, " tokens"));
    }
  }
}

/// The EOS and forced ids: each in the vocabulary.
inline void check_special_ids(const GenerationConfig& config, Index V) {
  for (TokenId e : config.eos_token_ids) {
    if (e < 0 || e >= V) {
      throw ValueError(eigenformer::detail::cat("[generation] EOS id ", e, " is outside the vocabulary of ", V, " tokens"));
    }
  }
  std::vector<TokenId> forced = config.forced_eos_token_ids;
  if (config.forced_bos_token_id) forced.push_back(*config.forced_bos_token_id);
  for (TokenId f : forced) {
    if (f >= V) {
      throw ValueError(eigenformer::detail::cat("[generation] forced token id ", f, " is outside the vocabulary of ", V, " tokens"));
    }
  }
}

/// Checks everything a run needs before the first model call.
template <class Scalar>
void check_run(const DecodingSession<Scalar>& session, const TokenSequence& prompt, const GenerationConfig& config,
               const GenerationIO& io, std::optional<Index> max_positions) {
  config.validate();
  const Index V = session.vocab_size();
  check_prompt(prompt, V, "the prompt");
  check_special_ids(config, V);
  if (max_positions && static_cast<Index>(prompt.size()) + config.max_new_tokens > *max_positions) {
    throw ValueError(eigenformer::detail::cat("[generation] the prompt (", prompt.size(), " tokens) plus max_new_tokens (",
                                              config.max_new_tokens, ") exceeds the model's context of ", *max_positions,
                                              " positions"));
  }
  const Index batch = config.strategy == Strategy::Beam && config.num_beams > 1
                          ? static_cast<Index>(config.num_beams)
                          : (config.samples() ? static_cast<Index>(config.num_return_sequences) : 1);
  check_cache_memory<Scalar>(session.cache_shape(), batch, session.prefix_length(), config.max_new_tokens,
                             session.source_positions(), config.use_cache && batch > 1);
  if (!config.stop_strings.empty() && io.tokenizer == nullptr) {
    throw ValueError("[generation] stop strings are matched in the text: they need a tokenizer");
  }
  if (io.on_token && io.tokenizer == nullptr) throw ValueError("[generation] streaming needs a tokenizer to decode text");
  if (io.on_token && config.strategy == Strategy::Beam) {
    throw ValueError("[generation] streaming is for greedy search and sampling: beam search only knows its result at the end");
  }
}

/// Checks everything a batch of prompts needs before the first model call (generate_batch): what check_run checks
/// for one prompt, for each prompt, naming it; and what a batch cannot do. The memory guard counts every row —
/// P prompts × num_return_sequences samples — at full context, L (the longest prompt, in slots) + max_new_tokens;
/// no spare set: the rows never reorder.
template <class Scalar>
void check_batch_run(const BatchCausalSession<Scalar>& session, const std::vector<TokenSequence>& prompts,
                     const GenerationConfig& config, const GenerationIO& io, Index max_positions) {
  config.validate();
  if (prompts.empty()) throw ValueError("[generation] the list of prompts is empty: give at least one prompt");
  if (config.strategy == Strategy::Beam && config.num_beams > 1) {
    throw ValueError("[generation] beam search over several prompts is not supported: run generate() once per prompt "
                     "(a batch of prompts runs greedy search or sampling)");
  }
  if (io.on_token) {
    throw ValueError("[generation] streaming follows one sequence: run generate() for the prompt to stream "
                     "(a batch of prompts returns its results at the end)");
  }
  const Index V = session.vocab_size();
  std::size_t longest = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    check_prompt(prompts[i], V, eigenformer::detail::cat("prompt ", i, " (of ", prompts.size(), ")"));
    if (prompts[i].size() > prompts[longest].size()) longest = i;
  }
  check_special_ids(config, V);
  const TokenId filler = filler_token(config);
  if (filler < 0 || filler >= V) {
    throw ValueError(eigenformer::detail::cat("[generation] pad_token_id ", filler, " (fed to finished sequences and pad slots) "
                                              "is outside the vocabulary of ", V, " tokens"));
  }
  // Every row runs in L + max_new_tokens slots; the longest prompt's positions fill them all.
  if (static_cast<Index>(prompts[longest].size()) + config.max_new_tokens > max_positions) {
    throw ValueError(eigenformer::detail::cat("[generation] prompt ", longest, " (", prompts[longest].size(),
                                              " tokens, the longest) plus max_new_tokens (", config.max_new_tokens,
                                              ") exceeds the model's context of ", max_positions, " positions"));
  }
  const Index rows = static_cast<Index>(prompts.size()) * (config.samples() ? static_cast<Index>(config.num_return_sequences) : 1);
  check_cache_memory<Scalar>(session.cache_shape(), rows, session.prefix_length(), config.max_new_tokens, 0, /*spare=*/false);
  if (!config.stop_strings.empty() && io.tokenizer == nullptr) {
    throw ValueError("[generation] stop strings are matched in the text: they need a tokenizer");
  }
}

// ------------------------------------------------------------------------------------------------
// Greedy search and sampling
// ------------------------------------------------------------------------------------------------

/// Greedy search or sampling over B = P·n rows: P prompts (the session's; 1 but for a batch) × n sequences each
/// (num_return_sequences samples, or 1). Row b = i·n + k is sequence k of prompt i; each row stops on its own (EOS,
/// stop string, max_new_tokens) and is fed the filler token from then on; the run ends when every row has stopped.
/// Sampling draws from one random stream per prompt, seeded with config.seed and drawn by that prompt's rows in
/// order: a prompt's samples are those it gets alone, whatever else is in the batch (so two equal prompts in one
/// batch get equal samples — ask for num_return_sequences to get different ones).
template <class Scalar>
std::vector<GeneratedSequence> greedy_or_sample(DecodingSession<Scalar>& session, const GenerationConfig& config,
                                                const GenerationIO& io) {
  const bool sampling = config.samples();
  const Index per_prompt = sampling ? config.num_return_sequences : 1;  // n
  const Index B = session.prompts() * per_prompt;
  std::vector<GeneratedSequence> results(static_cast<std::size_t>(B));
  if (config.max_new_tokens == 0) return results;  // nothing to generate: the prompt stands alone

  std::vector<bool> finished(static_cast<std::size_t>(B), false);
  std::vector<StopStringMatcher> stops(static_cast<std::size_t>(B), StopStringMatcher(config.stop_strings));
  // One stream decoder per sequence, when text is needed as it comes: it holds back the bytes of an
  // incomplete UTF-8 character until the character is complete.
  std::vector<std::unique_ptr<tokenizers::StreamDecoder>> streams;
  if (io.tokenizer != nullptr && (io.on_token || !config.stop_strings.empty())) {
    tokenizers::DecodeOptions text_only;  // as the result's text: special tokens left out
    text_only.skip_special_tokens = true;
    for (Index b = 0; b < B; ++b) streams.push_back(std::make_unique<tokenizers::StreamDecoder>(*io.tokenizer, text_only));
  }
  std::vector<Rng> rngs(static_cast<std::size_t>(session.prompts()), Rng(config.seed));  // (P) one stream per prompt
  const TokenId filler = filler_token(config);

  const std::size_t room = static_cast<std::size_t>(std::min<std::int64_t>(config.max_new_tokens, DecodingSession<Scalar>::kRoomAhead));
  for (GeneratedSequence& r : results) r.tokens.reserve(room);
  std::vector<TokenId> next(static_cast<std::size_t>(B), filler);
  StepBuffers buffers;
  // (B) each row's scores, V doubles each, and (B) log Σ exp of each: step 1 fills them for all rows at once. Sized
  // here, so that nothing in step 1's parallel pass allocates (or throws).
  std::vector<Scores> row_scores(static_cast<std::size_t>(B), Scores(static_cast<std::size_t>(session.vocab_size())));
  std::vector<double> log_normalisers(static_cast<std::size_t>(B), 0.0);
  std::vector<char> finite_rows(static_cast<std::size_t>(B), 1);  // (B) every score of the row finite (char: each
                                                                   // thread writes its own rows; vector<bool> shares words)
  std::vector<TokenId> best_unfiltered(static_cast<std::size_t>(B), 0);  // (B) greedy: argmax of the model's scores
  Matrix<Scalar> logits;
  session.reserve(config.max_new_tokens);
  session.start(per_prompt, logits);  // per_prompt copies of each prompt: B rows
  for (std::int64_t step = 0;; ++step) {
    std::fill(next.begin(), next.end(), filler);
    // 1) The model's scores for the next token, as doubles, whether they are all finite, their log Σ exp — log p of
    //    the chosen token (step 4) under the unfiltered scores is z_chosen − log Σ exp z, so only the sum — and for
    //    greedy search their argmax, for every unfinished row at once. These passes are most of a row's choice
    //    (27–60 µs at V = 32,000, by machine: BM_ScoreRow in bench/bench_decode.cpp), and each row's are its own, so
    //    the rows are shared out over the threads; a batch's rows would otherwise keep the second thread waiting
    //    (docs/performance.md, "Batches"). A row with NaN or ±∞ throws below, in the loop over the rows, before
    //    anything uses its scores: the check's error may run the model again.
    parallel_for(B, [&](Index b) {
      const std::size_t ub = static_cast<std::size_t>(b);
      if (finished[ub]) return;
      copy_scores(logits.row(b), row_scores[ub]);
      finite_rows[ub] = all_finite(row_scores[ub]) ? 1 : 0;
      if (!finite_rows[ub]) return;  // the loop below throws
      const double largest = scores_array(row_scores[ub]).maxCoeff();  // for both
      log_normalisers[ub] = log_sum_exp(row_scores[ub], largest);
      if (!sampling) best_unfiltered[ub] = argmax(row_scores[ub], largest);
    });
    for (Index b = 0; b < B; ++b) {
      const std::size_t ub = static_cast<std::size_t>(b);
      if (finished[ub]) continue;
      Scores& z = row_scores[ub];
      if (!finite_rows[ub]) check_finite(z, step, [&session, b] { return session.locate_non_finite(b); });  // throws
      if (io.trace != nullptr && io.trace->keep_logits) io.trace->logits.push_back(z);
      const double log_normaliser = log_normalisers[ub];
      TokenStep record;
      record.step = step;
      record.sequence = b;
      const std::size_t top_n = io.trace != nullptr ? io.trace->top_n : 0;
      if (io.trace != nullptr) record.stages.push_back(stage("model", z, top_n));

      // 2) The filters, in Hugging Face's order (filtered: one of them changed z, so greedy's argmax of step 1 is stale).
      bool filtered = false;
      const TokenSequence& context = session.sequences()[ub];
      if (config.repetition_penalty != 1.0) {
        apply_repetition_penalty(z, context, config.repetition_penalty, buffers.filters);
        filtered = true;
        if (io.trace != nullptr) record.stages.push_back(stage("repetition_penalty", z, top_n));
      }
      if (config.no_repeat_ngram_size > 0) {
        apply_no_repeat_ngram(z, context, config.no_repeat_ngram_size);
        filtered = true;
        if (io.trace != nullptr) record.stages.push_back(stage("no_repeat_ngram", z, top_n));
      }
      if (step < config.min_new_tokens) {
        apply_min_new_tokens(z, step, config.min_new_tokens, config.eos_token_ids);
        filtered = true;
        if (io.trace != nullptr) record.stages.push_back(stage("min_new_tokens", z, top_n));
      }
      if (config.forced_bos_token_id && context.size() == 1) {
        apply_forced_bos(z, context.size(), config.forced_bos_token_id);
        filtered = true;
        if (io.trace != nullptr) record.stages.push_back(stage("forced_bos", z, top_n));
      }
      if (!config.forced_eos_token_ids.empty() && step == config.max_new_tokens - 1) {
        apply_forced_eos(z, step, config.max_new_tokens, config.forced_eos_token_ids);
        filtered = true;
        if (io.trace != nullptr) record.stages.push_back(stage("forced_eos", z, top_n));
      }
      TokenId chosen = 0;
      if (sampling) {
        apply_temperature(z, config.temperature);
        if (io.trace != nullptr && config.temperature != 1.0) record.stages.push_back(stage("temperature", z, top_n));
        if (config.top_k > 0) {
          apply_top_k(z, config.top_k, buffers.filters);
          if (io.trace != nullptr) record.stages.push_back(stage("top_k", z, top_n));
        }
        if (config.top_p < 1.0) {
          apply_top_p(z, config.top_p, buffers.filters);
          if (io.trace != nullptr) record.stages.push_back(stage("top_p", z, top_n));
        }
        if (config.min_p > 0) {
          apply_min_p(z, config.min_p, buffers.filters);
          if (io.trace != nullptr) record.stages.push_back(stage("min_p", z, top_n));
        }
        // 3a) Sampling: a draw from the filtered distribution.
        const std::vector<double>& p = buffers.p;
        softmax_into(z, buffers.p);
        chosen = sample(p, rngs[static_cast<std::size_t>(b / per_prompt)]);
        record.chosen_probability = p[static_cast<std::size_t>(chosen)];
      } else {
        // 3b) Greedy: the best score (ties: the lowest id). Its probability only matters to a trace.
        chosen = filtered ? argmax(z) : best_unfiltered[ub];
        if (io.trace != nullptr) record.chosen_probability = softmax(z)[static_cast<std::size_t>(chosen)];
      }
      if (io.trace != nullptr) {
        record.chosen = chosen;
        io.trace->steps.push_back(std::move(record));
      }

      // 4) Append, stream, and check whether the sequence ends here.
      GeneratedSequence& r = results[ub];
      r.tokens.push_back(chosen);
      r.log_probability += static_cast<double>(logits(b, chosen)) - log_normaliser;  // z_chosen before the filters
      next[ub] = chosen;
      if (!streams.empty()) {
        const std::string piece = streams[ub]->push(chosen);
        if (io.on_token && b == 0) io.on_token(chosen, piece);
        if (auto s = stops[ub].append(piece)) {
          finished[ub] = true;
          r.stop_reason = StopReason::StopString;
          r.stop_string = *s;
        }
      }
      if (!finished[ub] && is_eos(config.eos_token_ids, chosen)) {
        finished[ub] = true;
        r.stop_reason = StopReason::EndOfSequence;
        r.eos_token = chosen;
      }
    }
    const bool all_done = std::all_of(finished.begin(), finished.end(), [](bool f) { return f; });
    if (all_done || step + 1 >= config.max_new_tokens) break;  // the last token needs no forward pass
    session.step(next, logits);
  }
  for (GeneratedSequence& r : results) {
    r.score = r.log_probability;
    r.text = text_of(io, r.tokens);
  }
  return results;
}

// ------------------------------------------------------------------------------------------------
// Beam search
// ------------------------------------------------------------------------------------------------

/// The finished hypotheses of one search: the best num_beams by length-penalised score.
struct BeamHypotheses {
  struct Hypothesis {
    double score;          // Σ log p / length^length_penalty
    double sum_log_probs;  // Σ log p (of the processed scores, as ranked)
    TokenSequence tokens;  // generated tokens, EOS included when it ended the hypothesis
    StopReason reason;
    std::string stop_string;
  };

  std::size_t num_beams;
  double length_penalty;
  EarlyStopping early_stopping;
  std::int64_t max_new_tokens;
  std::vector<Hypothesis> beams;
  double worst_score = 1e9;

  double penalised(double sum_log_probs, std::size_t length) const {
    return sum_log_probs / std::pow(static_cast<double>(length), length_penalty);
  }

  /// Adds a hypothesis if there is room or it beats the worst one (which is then dropped).
  /// Returns whether it was kept and its score.
  bool add(TokenSequence tokens, double sum_log_probs, StopReason reason, std::string stop_string, double* score_out) {
    const double score = penalised(sum_log_probs, tokens.size());
    if (score_out != nullptr) *score_out = score;
    if (beams.size() < num_beams || score > worst_score) {
      beams.push_back({score, sum_log_probs, std::move(tokens), reason, std::move(stop_string)});
      if (beams.size() > num_beams) {
        std::size_t worst = 0;
        for (std::size_t i = 1; i < beams.size(); ++i) {
          if (beams[i].score < beams[worst].score) worst = i;
        }
        beams.erase(beams.begin() + static_cast<std::ptrdiff_t>(worst));
        worst_score = beams.front().score;
        for (const Hypothesis& h : beams) worst_score = std::min(worst_score, h.score);
      } else {
        worst_score = std::min(score, worst_score);
      }
      return true;
    }
    return false;
  }

  /// Whether no running beam can improve the kept hypotheses (early_stopping decides how that is judged).
  /// best_sum_log_probs: the best running candidate's Σ log p; length: its generated length.
  bool is_done(double best_sum_log_probs, std::size_t length) const {
    if (beams.size() < num_beams) return false;
    switch (early_stopping) {
      case EarlyStopping::Yes: return true;
      case EarlyStopping::Heuristic: return worst_score >= penalised(best_sum_log_probs, length);
      case EarlyStopping::Never: {
        // The highest score any continuation could reach: Σ log p only falls as tokens are added, so with a
        // positive length penalty the best case is the longest allowed length; otherwise the current one.
        const std::size_t best_length = length_penalty > 0 ? static_cast<std::size_t>(max_new_tokens) : length;
        return worst_score >= penalised(best_sum_log_probs, best_length);
      }
    }
    return false;
  }
};

template <class Scalar>
std::vector<GeneratedSequence> beam_search(DecodingSession<Scalar>& session, const GenerationConfig& config,
                                           const GenerationIO& io) {
  const Index nb = config.num_beams;
  const std::size_t unb = static_cast<std::size_t>(nb);
  BeamHypotheses hyps{unb, config.length_penalty, config.early_stopping, config.max_new_tokens, {}, 1e9};
  if (config.max_new_tokens == 0) return std::vector<GeneratedSequence>(static_cast<std::size_t>(config.num_return_sequences));

  // Every beam starts as the prompt; only beam 0 is live at first, so the first step does not pick the
  // same token num_beams times.
  std::vector<double> beam_scores(unb, -1e9);
  beam_scores[0] = 0;
  std::vector<TokenSequence> generated(unb);
  std::vector<double> model_log_prob(unb, 0.0);  // Σ log p under the unfiltered model, per beam
  const std::size_t n_keep = static_cast<std::size_t>(std::max<std::size_t>(2, 1 + config.eos_token_ids.size())) * unb;

  // What every step works in, kept across steps (after the first, a step allocates nothing but what a trace
  // records and the hypotheses that finish).
  struct Extension {
    double score;
    double model_log_p;
    std::size_t beam;
    TokenId token;
  };
  const std::size_t V = static_cast<std::size_t>(session.vocab_size());
  std::vector<Extension> all;  // (num_beams·V) every extension of every beam
  all.reserve(unb * V);
  StepBuffers buffers;
  Scores& raw = buffers.p;     // (V) the model's scores of one beam
  Scores& z = buffers.z;
  const Scores& log_p = buffers.log_p;
  std::vector<std::size_t> parents;  // (num_beams) the next beams: parent beam, token, Σ log p's
  std::vector<TokenId> tokens;
  std::vector<double> scores, model_scores;
  std::vector<Index> source;
  parents.reserve(unb);
  tokens.reserve(unb);
  scores.reserve(unb);
  model_scores.reserve(unb);
  source.reserve(unb);
  std::vector<TokenSequence> next_generated(unb);  // step 4's destination, then swapped with `generated`
  const std::size_t room = static_cast<std::size_t>(std::min<std::int64_t>(config.max_new_tokens, DecodingSession<Scalar>::kRoomAhead));
  for (std::size_t i = 0; i < unb; ++i) {
    generated[i].reserve(room);
    next_generated[i].reserve(room);
  }

  Matrix<Scalar> logits;
  session.reserve(config.max_new_tokens);
  session.start(nb, logits);
  bool done = false;
  std::int64_t step = 0;
  for (;; ++step) {
    // 1) Every extension of every beam: its beam's score + log p(token) (processed scores, as HF ranks).
    all.clear();
    for (std::size_t i = 0; i < unb; ++i) {
      score_row_into(logits.row(static_cast<Index>(i)), step, raw, session, static_cast<Index>(i));
      if (io.trace != nullptr && io.trace->keep_logits) io.trace->logits.push_back(raw);
      log_softmax_into(raw, buffers.log_p);
      z.assign(log_p.begin(), log_p.end());
      apply_repetition_penalty(z, session.sequences()[i], config.repetition_penalty, buffers.filters);
      apply_no_repeat_ngram(z, session.sequences()[i], config.no_repeat_ngram_size);
      apply_min_new_tokens(z, step, config.min_new_tokens, config.eos_token_ids);
      apply_forced_bos(z, session.sequences()[i].size(), config.forced_bos_token_id);
      apply_forced_eos(z, step, config.max_new_tokens, config.forced_eos_token_ids);
      for (std::size_t v = 0; v < V; ++v) all.push_back({z[v] + beam_scores[i], log_p[v], i, static_cast<TokenId>(v)});
    }
    // 2) The best n_keep, best first (ties: the earlier beam, then the lower id).
    const std::size_t keep = std::min(n_keep, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                      [](const Extension& a, const Extension& b) {
                        if (a.score != b.score) return a.score > b.score;
                        if (a.beam != b.beam) return a.beam < b.beam;
                        return a.token < b.token;
                      });
    // 3) Walk down the ranking: finished hypotheses and the next beams.
    BeamStep record;  // filled only for a trace
    record.step = step;
    parents.clear();
    tokens.clear();
    scores.clear();
    model_scores.clear();
    for (std::size_t rank = 0; rank < keep && parents.size() < unb; ++rank) {
      const Extension& e = all[rank];
      BeamCandidate c{static_cast<std::int64_t>(e.beam), e.token, e.score, BeamCandidate::Fate::Dropped, -1, 0};
      const std::string stop_string = is_eos(config.eos_token_ids, e.token) ? "" : completed_stop_string(io, config, generated[e.beam], e.token);
      if (is_eos(config.eos_token_ids, e.token) || !stop_string.empty()) {
        // An ended hypothesis counts only if it ranks among the top num_beams (as Hugging Face).
        if (rank < unb) {
          TokenSequence extended = generated[e.beam];
          extended.push_back(e.token);
          double final_score = 0;
          hyps.add(extended, e.score, stop_string.empty() ? StopReason::EndOfSequence : StopReason::StopString,
                   stop_string, &final_score);
          c.fate = BeamCandidate::Fate::Finished;
          c.final_score = final_score;
        }
      } else {
        c.fate = BeamCandidate::Fate::Kept;
        c.beam = static_cast<std::int64_t>(parents.size());
        parents.push_back(e.beam);
        tokens.push_back(e.token);
        scores.push_back(e.score);
        model_scores.push_back(model_log_prob[e.beam] + e.model_log_p);
      }
      if (io.trace != nullptr) record.candidates.push_back(c);
    }
    if (io.trace != nullptr) io.trace->beam_steps.push_back(std::move(record));
    if (parents.size() < unb) {
      throw ValueError(eigenformer::detail::cat("[generation] beam search found only ", parents.size(), " of ", nb,
                                                " beams to continue (too few tokens with a finite score)"));
    }

    // 4) The new beams (written into the spare set, which then changes places with `generated`).
    for (std::size_t i = 0; i < unb; ++i) {
      next_generated[i].assign(generated[parents[i]].begin(), generated[parents[i]].end());
      next_generated[i].push_back(tokens[i]);
    }
    generated.swap(next_generated);
    beam_scores.assign(scores.begin(), scores.end());
    model_log_prob.assign(model_scores.begin(), model_scores.end());

    done = hyps.is_done(all[0].score, static_cast<std::size_t>(step + 1));
    if (done || step + 1 >= config.max_new_tokens) break;
    source.assign(parents.begin(), parents.end());
    session.reorder(source);
    session.step(tokens, logits);
  }

  // 5) Out of steps without being done: the running beams compete with the finished hypotheses.
  if (!done) {
    for (std::size_t i = 0; i < unb; ++i) hyps.add(generated[i], beam_scores[i], StopReason::MaxNewTokens, "", nullptr);
  }
  std::vector<BeamHypotheses::Hypothesis> best = hyps.beams;
  std::stable_sort(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  std::vector<GeneratedSequence> results;
  for (std::int64_t n = 0; n < config.num_return_sequences && n < static_cast<std::int64_t>(best.size()); ++n) {
    const auto& h = best[static_cast<std::size_t>(n)];
    GeneratedSequence r;
    r.tokens = h.tokens;
    r.stop_reason = h.reason;
    r.stop_string = h.stop_string;
    if (h.reason == StopReason::EndOfSequence) r.eos_token = h.tokens.back();
    r.score = h.score;
    r.log_probability = h.sum_log_probs;
    r.text = text_of(io, r.tokens);
    results.push_back(std::move(r));
  }
  return results;
}

template <class Scalar>
std::vector<GeneratedSequence> run(DecodingSession<Scalar>& session, const GenerationConfig& config, const GenerationIO& io) {
  if (config.strategy == Strategy::Beam && config.num_beams > 1) return beam_search(session, config, io);
  return greedy_or_sample(session, config, io);
}

/// The EOS ids to stop on: the caller's, or else the model's (config.json); likewise the forced first and last
/// tokens (BART's config.json names them), when the caller set neither.
inline GenerationConfig with_model_eos(GenerationConfig config, const SpecialTokenIds& special) {
  if (config.eos_token_ids.empty()) config.eos_token_ids = special.eos;
  if (!config.pad_token_id) config.pad_token_id = special.pad;
  if (!config.forced_bos_token_id && config.forced_eos_token_ids.empty()) {
    config.forced_bos_token_id = special.forced_bos;
    config.forced_eos_token_ids = special.forced_eos;
  }
  return config;
}

}  // namespace engine

/// Continues `prompt` with a decoder-only model. Returns one sequence (greedy), num_return_sequences
/// samples, or the num_return_sequences best beams, best first.
template <class Scalar>
std::vector<GeneratedSequence> generate(CausalLM<Scalar>& model, const TokenSequence& prompt, const GenerationConfig& config,
                                        const GenerationIO& io = {}) {
  const GenerationConfig c = engine::with_model_eos(config, model.special_tokens());
  CausalSession<Scalar> session(model, prompt, c.use_cache);
  engine::check_run(session, prompt, c, io, model.max_positions());
  return engine::run(session, c, io);
}

/// Continues several prompts at once with a decoder-only model, as Hugging Face's generate(input_ids, attention_mask)
/// with padding_side="left": the prompts (P, of any lengths) run as one left-padded batch (BatchCausalSession in
/// session.hpp), every step feeds one token per row, and each row stops on its own (EOS, stop string,
/// max_new_tokens). Returns P·n sequences, n = num_return_sequences for sampling (else 1): result i·n + k is
/// sequence k of prompt i — with greedy search, result i is what generate(model, prompts[i], config) returns.
/// Greedy search and sampling; beam search and streaming are refused (ValueError), as are an empty list, an empty
/// prompt, an id outside the vocabulary and a prompt that does not fit the context with max_new_tokens (each naming
/// the prompt). The model must take left-padded batches (CausalLM::forward_left_padded: Llama, Qwen, Mistral, GPT-2).
template <class Scalar>
std::vector<GeneratedSequence> generate_batch(CausalLM<Scalar>& model, const std::vector<TokenSequence>& prompts,
                                              const GenerationConfig& config, const GenerationIO& io = {}) {
  const GenerationConfig c = engine::with_model_eos(config, model.special_tokens());
  BatchCausalSession<Scalar> session(model, prompts, engine::filler_token(c), c.use_cache);
  engine::check_batch_run(session, prompts, c, io, model.max_positions());
  return engine::greedy_or_sample(session, c, io);
}

/// Writes the target for `source` with an encoder-decoder model (the encoder runs once).
template <class Scalar>
std::vector<GeneratedSequence> generate(Seq2SeqLM<Scalar>& model, const TokenSequence& source, const GenerationConfig& config,
                                        const GenerationIO& io = {}) {
  const GenerationConfig c = engine::with_model_eos(config, model.special_tokens());
  Seq2SeqSession<Scalar> session(model, source, c.use_cache);
  engine::check_run(session, source, c, io, std::nullopt);
  return engine::run(session, c, io);
}

}  // namespace eigenformer::generation
