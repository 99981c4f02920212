// examples/common/inspect_cli.hpp — looking inside a run of a family program (bert, llama, t5, gpt2, bart):
// the options --attention-svg DIR, --report FILE.html, --compare REF.safetensors (with --tolerance) and
// --capture GLOB, written once for the five programs. Each program calls it in two places:
//
//     if (cli::wants_inspection(args)) options.capture = cli::prepare_capture(capture, args, names, "decoder.");
//     ... the forward pass ...
//     return cli::inspect_run<Scalar>(args, {cli::stack(capture, "", inspect::AttentionKind::CausalSelf, tokens)},
//                                     &logits, "llama: " + folder);
//
// With generation (llama, gpt2, t5, bart), --report and --attention-svg look at the finished run instead: the
// program generates, runs the whole sequence (prompt and the best output; an encoder-decoder: the source, and
// the decoder's start token and output) through the model once more with the capture on, and
// inspect_generation() writes the pictures of that pass and, in the report, the generation trace — the
// candidates of every step, or for beam search the tree of beams with each beam's text:
//
//     const cli::GenerationRun run = cli::generate_and_print(model, args, tokenizer, folder);
//     ... model.forward(prompt + run.results[0].tokens, logits, options) with the capture ...
//     return cli::inspect_generation<Scalar>(args, {cli::stack(...)}, run, tokenizer, "llama: " + folder);
//
// --compare and --capture stay with one forward pass of a given input (their input would otherwise be
// whatever the run generated); check_inspection_usage() says so.
//
// What each option does (docs/looking_inside.md shows the pictures):
//   --attention-svg DIR  every attention map of the run as SVG: <name>.grid.svg (layers × heads) and
//                        <name>.layer<l>.head<h>.svg, <name> as --dump names them (attentions, cross_attentions, ...)
//   --report FILE.html   one self-contained page: tokens, every head, hover and click (inspect/report.hpp)
//   --compare REF        the run (hidden states, attention maps, logits, and whatever --capture kept) against a
//                        dump written by another implementation under the same names: the first diverging
//                        layer, tensor, head and position with both values (inspect/compare.hpp); exit code 3
//                        when they diverge
//   --capture GLOB       keep the named intermediates whose Hugging Face name matches (e.g.
//                        'model.layers.0.self_attn.*'; attention/forward_context.hpp lists them): printed as a
//                        table, and compared by --compare
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/inspect.hpp>

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/family_cli.hpp"
#include "common/generate_cli.hpp"

namespace eigenformer::cli {

/// The options, as a section of a program's table.
inline Section inspect_options() {
  Section s;
  s.heading = "Looking inside (one forward pass; with generation, --attention-svg and --report show the whole\n"
              "sequence and the report the generation trace; docs/looking_inside.md):";
  s.options = {
      {"--attention-svg", "DIR", "write every attention map as SVG into DIR: <name>.grid.svg (layers x heads) and\n"
                                 "<name>.layer<l>.head<h>.svg, <name> as in --dump"},
      {"--report", "FILE", "write one self-contained HTML page with every head (hover: query, key, weight;\n"
                           "click a token: where it looks); with generation, also the trace: the candidates\n"
                           "of every step, or the tree of beams with each beam's text"},
      {"--compare", "FILE", "compare the run with a reference dump (same names as --dump: hidden_states.<i>,\n"
                            "attentions.<i>, logits, ...): prints the first diverging layer, tensor, head and\n"
                            "position with both values; exit code 3 when they diverge"},
      {"--tolerance", "X", "--compare's tolerance: |run - reference| <= X (default 1e-4)"},
      {"--capture", "GLOB", "keep the named intermediates matching GLOB (Hugging Face names, e.g.\n"
                            "'model.layers.0.self_attn.*'; '*' spans dots, ',' separates patterns): printed\n"
                            "as a table, and compared by --compare"}};
  return s;
}

/// Usage check: --compare (and its --tolerance) and --capture look at one forward pass of an input the user
/// gives, so they do not combine with generation; --attention-svg and --report do (inspect_generation()).
inline void check_inspection_usage(const Arguments& args, bool generating) {
  if (!generating) return;
  for (const char* option : {"--compare", "--tolerance", "--capture"}) {
    if (args.has(option)) {
      throw UsageError(detail::cat(option, " looks at one forward pass of an input you give, not at a generation run; ",
                                   "drop the generation options (--prompt, --max-new-tokens, ...) and pass the sequence ",
                                   "as --ids (--report and --attention-svg do work with generation)"));
    }
  }
}

/// True when one of the options above is given: the forward pass must capture.
inline bool wants_inspection(const Arguments& args) {
  return args.has("--attention-svg") || args.has("--report") || args.has("--compare") || args.has("--capture");
}

/// Prepares a stack's capture for the options: Hugging Face names from the family's table (`names`), `prefix`
/// our path of the stack ("decoder.", "encoder."), and --capture's filter. Returns &capture.
template <class Scalar>
Capture<Scalar>* prepare_capture(Capture<Scalar>& capture, const Arguments& args, const NameTable& names,
                                 const std::string& prefix) {
  if (args.has("--tolerance") && !args.has("--compare")) throw UsageError("--tolerance applies to --compare");
  capture.prefix = prefix;
  capture.rename = inspect::activation_names(names);
  if (args.has("--capture")) capture.keep_matching(args.value("--capture"));
  return &capture;
}

/// One stack of the run, as the options see it.
template <class Scalar>
struct InspectedStack {
  const Capture<Scalar>* capture = nullptr;
  std::string dump_prefix;                 // "", "encoder_", "decoder_": the --dump names
  inspect::AttentionKind self_kind = inspect::AttentionKind::EncoderSelf;
  std::vector<std::string> tokens;         // its tokens (the keys of its self-attention)
  std::vector<std::string> source_tokens;  // the keys of its cross-attention (a decoder over an encoder)
};

template <class Scalar>
InspectedStack<Scalar> stack(const Capture<Scalar>& capture, const std::string& dump_prefix, inspect::AttentionKind kind,
                             std::vector<std::string> tokens, std::vector<std::string> source_tokens = {}) {
  InspectedStack<Scalar> s;
  s.capture = &capture;
  s.dump_prefix = dump_prefix;
  s.self_kind = kind;
  s.tokens = std::move(tokens);
  s.source_tokens = std::move(source_tokens);
  return s;
}

/// The labels of ids: the tokenizer's spelling, or the id itself without a tokenizer.
inline std::vector<std::string> token_labels(const std::optional<tokenizers::Tokenizer>& tokenizer, const TokenSequence& ids) {
  std::vector<std::string> out;
  for (TokenId id : ids) {
    const std::optional<std::string> t = tokenizer ? tokenizer->id_to_token(id) : std::nullopt;
    out.push_back(t ? *t : std::to_string(id));
  }
  return out;
}

/// Prints the intermediates --capture kept: name, shape, mean, largest |value|.
template <class Scalar>
void print_captured(const Capture<Scalar>& capture) {
  for (const Intermediate<Scalar>& a : capture.named) {
    double sum = 0, largest = 0;
    std::size_t finite = 0;
    for (Scalar v : a.values) {
      if (!std::isfinite(static_cast<double>(v))) continue;
      sum += static_cast<double>(v);
      largest = std::max(largest, std::abs(static_cast<double>(v)));
      ++finite;
    }
    std::string shape = "(";
    for (std::size_t d = 0; d < a.shape.size(); ++d) shape += detail::cat(d ? ", " : "", a.axes[d], " ", a.shape[d]);
    shape += ")";
    std::printf("  %-48s %-44s mean %10.4g  max|x| %10.4g%s\n", a.name.c_str(), shape.c_str(),
                finite ? sum / static_cast<double>(finite) : 0.0, largest,
                finite < a.values.size() ? "  (-inf: masked)" : "");
  }
}

/// After the forward pass: does what the options ask, for sequence 0. `logits` (T, V) may be null (a model
/// without a language-model head). Returns the program's exit code: 3 when --compare finds a divergence, else 0.
template <class Scalar>
int inspect_run(const Arguments& args, const std::vector<InspectedStack<Scalar>>& stacks, const Matrix<Scalar>* logits,
                const std::string& title) {
  if (!wants_inspection(args)) return 0;
  std::vector<inspect::AttentionMaps> maps;
  for (const InspectedStack<Scalar>& s : stacks) {
    const std::vector<inspect::AttentionMaps> m =
        inspect::attention_maps(*s.capture, s.self_kind, s.tokens, s.source_tokens, 0, s.dump_prefix);
    maps.insert(maps.end(), m.begin(), m.end());
  }
  if (args.has("--capture")) {
    std::printf("captured (%s):\n", args.value("--capture").c_str());
    std::size_t n = 0;
    for (const InspectedStack<Scalar>& s : stacks) {
      print_captured(*s.capture);
      n += s.capture->named.size();
    }
    if (n == 0) std::printf("  nothing matched; the names are listed in attention/forward_context.hpp (try --capture '*')\n");
  }
  if (args.has("--attention-svg")) {
    const std::vector<std::string> written = inspect::write_attention_svgs(args.value("--attention-svg"), maps);
    std::printf("svg     %s: %zu pictures (%s, ...)\n", args.value("--attention-svg").c_str(), written.size(),
                written.empty() ? "" : written.front().c_str());
  }
  if (args.has("--report")) {
    std::vector<std::pair<std::string, std::string>> facts = {{"model", args.value("--model")}};
    for (const InspectedStack<Scalar>& s : stacks) {
      std::string text;
      for (const std::string& t : s.tokens) text += (text.empty() ? "" : " ") + inspect::display_token(t);
      facts.emplace_back(s.dump_prefix.empty() ? "tokens" : s.dump_prefix + "tokens", text);
    }
    inspect::write_report(args.value("--report"), maps, nullptr, {}, title, facts);
    std::printf("report  %s\n", args.value("--report").c_str());
  }
  if (args.has("--compare")) {
    inspect::NamedTensors run;
    run.source = "this run";
    for (const InspectedStack<Scalar>& s : stacks) run.append(inspect::named_tensors(*s.capture, s.dump_prefix));
    if (logits != nullptr) run.add_matrix("logits", *logits);
    inspect::Tolerance tolerance;
    tolerance.absolute = args.has("--tolerance") ? args.number("--tolerance") : 1e-4;
    if (!(tolerance.absolute >= 0)) throw UsageError("--tolerance must be a non-negative number");
    const inspect::Comparison c = inspect::compare(run, inspect::read_named_tensors(args.value("--compare")), tolerance);
    std::printf("%s", c.to_text().c_str());
    if (!c.agree()) return 3;
  }
  return 0;
}

/// The ids of the best output of a generation run (empty when it made none).
inline TokenSequence best_output(const GenerationRun& run) {
  return run.results.empty() ? TokenSequence{} : run.results.front().tokens;
}

/// After generation and one more forward pass over the whole sequence (the stacks' captures): writes what
/// --attention-svg and --report ask for — the attention maps of that pass and, in the report, the facts of
/// the run (prompt, settings, every output with its ids and text) and the generation trace (generation/trace.hpp:
/// candidates per step, or the tree of beams with each beam's text). Returns the exit code, 0.
template <class Scalar>
int inspect_generation(const Arguments& args, const std::vector<InspectedStack<Scalar>>& stacks, const GenerationRun& run,
                       const std::optional<tokenizers::Tokenizer>& tokenizer, const std::string& title) {
  std::vector<inspect::AttentionMaps> maps;
  for (const InspectedStack<Scalar>& s : stacks) {
    const std::vector<inspect::AttentionMaps> m =
        inspect::attention_maps(*s.capture, s.self_kind, s.tokens, s.source_tokens, 0, s.dump_prefix);
    maps.insert(maps.end(), m.begin(), m.end());
  }
  if (args.has("--attention-svg")) {
    const std::vector<std::string> written = inspect::write_attention_svgs(args.value("--attention-svg"), maps);
    std::printf("svg     %s: %zu pictures of the whole sequence (%s, ...)\n", args.value("--attention-svg").c_str(),
                written.size(), written.empty() ? "" : written.front().c_str());
  }
  if (args.has("--report")) {
    // Tokens spelled as --explain and --trace spell them; a beam's text decoded as the outputs are.
    const inspect::Report::TokenText spell = [&](TokenId id) {
      const std::optional<std::string> t = tokenizer ? tokenizer->id_to_token(id) : std::nullopt;
      return t ? *t : std::to_string(id);
    };
    inspect::Report::SequenceText text_of;
    if (tokenizer) {
      text_of = [&](const TokenSequence& ids) {
        tokenizers::DecodeOptions options;
        options.skip_special_tokens = true;  // as generation::text_of
        return tokenizer->decode(ids, options);
      };
    }
    inspect::Report report(title);
    report.add_fact("model", args.value("--model"));
    report.add_fact("prompt", join_ids(run.prompt));
    report.add_fact("strategy", eigenformer::detail::cat(generation::to_string(run.config.strategy), ", max_new_tokens ",
                                                         run.config.max_new_tokens,
                                                         run.config.strategy == generation::Strategy::Beam
                                                             ? eigenformer::detail::cat(", ", run.config.num_beams, " beams")
                                                             : std::string()));
    for (std::size_t i = 0; i < run.results.size(); ++i) {
      const generation::GeneratedSequence& r = run.results[i];
      const std::string key = eigenformer::detail::cat(run.results.size() > 1 ? "sequence " : "output ", i + 1);
      report.add_fact(key, join_ids(r.tokens));
      if (tokenizer) report.add_fact(key + " text", r.text);
    }
    for (const InspectedStack<Scalar>& s : stacks) {
      std::string line;
      for (const std::string& t : s.tokens) line += (line.empty() ? "" : " ") + inspect::display_token(t);
      report.add_fact(s.dump_prefix.empty() ? "attention over" : s.dump_prefix + "tokens", line);
    }
    for (const inspect::AttentionMaps& m : maps) report.add_attention(m);
    report.add_trace(run.trace, spell, text_of);
    report.write(args.value("--report"));
    std::printf("report  %s: the whole sequence's attention and the generation trace\n", args.value("--report").c_str());
  }
  return 0;
}

/// A decoder-only family after generation (llama, gpt2): the prompt and the best output, (T) ids in all, run once
/// more through `model` with the capture on, then inspect_generation. Options: the family's options (.capture).
template <class Scalar, class Options, class Model>
int inspect_causal_generation(Model& model, const Arguments& args, const GenerationRun& run,
                              const std::optional<tokenizers::Tokenizer>& tokenizer, const std::string& title) {
  TokenSequence whole = run.prompt;
  const TokenSequence output = best_output(run);
  whole.insert(whole.end(), output.begin(), output.end());
  Matrix<Scalar> logits;  // (T, V)
  Capture<Scalar> capture;
  Options options;
  options.capture = prepare_capture(capture, args, model.hf_names(), "decoder.");
  model.forward(as_batch(whole), logits, options);
  return inspect_generation<Scalar>(
      args, {stack(capture, "", inspect::AttentionKind::CausalSelf, token_labels(tokenizer, whole))}, run, tokenizer,
      title);
}

/// An encoder-decoder after generation (t5, bart): the source (S) through the encoder, decoder_start and the best
/// output (T) through the decoder, once more with both captures on, then inspect_generation.
template <class Scalar, class Model>
int inspect_seq2seq_generation(Model& model, TokenId decoder_start, const Arguments& args, const GenerationRun& run,
                               const std::optional<tokenizers::Tokenizer>& tokenizer, const std::string& title) {
  TokenSequence target{decoder_start};
  const TokenSequence output = best_output(run);
  target.insert(target.end(), output.begin(), output.end());
  Matrix<Scalar> logits;  // (T, V)
  Capture<Scalar> encoder, decoder;
  Seq2SeqOptions<Scalar> options;
  options.encoder_capture = prepare_capture(encoder, args, model.hf_names(), "encoder.");
  options.decoder_capture = prepare_capture(decoder, args, model.hf_names(), "decoder.");
  model.forward(as_batch(run.prompt), as_batch(target), logits, options);
  const std::vector<std::string> source_tokens = token_labels(tokenizer, run.prompt);
  return inspect_generation<Scalar>(
      args, {stack(encoder, "encoder_", inspect::AttentionKind::EncoderSelf, source_tokens),
             stack(decoder, "decoder_", inspect::AttentionKind::CausalSelf, token_labels(tokenizer, target), source_tokens)},
      run, tokenizer, title);
}

}  // namespace eigenformer::cli
