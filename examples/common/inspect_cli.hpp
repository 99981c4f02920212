// examples/common/inspect_cli.hpp — looking inside one forward pass of a family program (bert, llama, t5):
// the options --attention-svg DIR, --report FILE.html, --compare REF.safetensors (with --tolerance) and
// --capture GLOB, written once for the three programs. Each program calls it in two places:
//
//     if (cli::wants_inspection(args)) options.capture = cli::prepare_capture(capture, args, names, "decoder.");
//     ... the forward pass ...
//     return cli::inspect_run<Scalar>(args, {cli::stack(capture, "", inspect::AttentionKind::CausalSelf, tokens)},
//                                     &logits, "llama: " + folder);
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

namespace eigenformer::cli {

/// The options, as a section of a program's table.
inline Section inspect_options() {
  Section s;
  s.heading = "Looking inside (one forward pass, not generation; docs/looking_inside.md):";
  s.options = {
      {"--attention-svg", "DIR", "write every attention map as SVG into DIR: <name>.grid.svg (layers x heads) and\n"
                                 "<name>.layer<l>.head<h>.svg, <name> as in --dump"},
      {"--report", "FILE", "write one self-contained HTML page with every head (hover: query, key, weight;\n"
                           "click a token: where it looks)"},
      {"--compare", "FILE", "compare the run with a reference dump (same names as --dump: hidden_states.<i>,\n"
                            "attentions.<i>, logits, ...): prints the first diverging layer, tensor, head and\n"
                            "position with both values; exit code 3 when they diverge"},
      {"--tolerance", "X", "--compare's tolerance: |run - reference| <= X (default 1e-4)"},
      {"--capture", "GLOB", "keep the named intermediates matching GLOB (Hugging Face names, e.g.\n"
                            "'model.layers.0.self_attn.*'; '*' spans dots, ',' separates patterns): printed\n"
                            "as a table, and compared by --compare"}};
  return s;
}

/// Usage check: the options look at one forward pass, so they do not combine with generation.
inline void check_inspection_usage(const Arguments& args, bool generating) {
  for (const char* option : {"--attention-svg", "--report", "--compare", "--tolerance", "--capture"}) {
    if (generating && args.has(option)) {
      throw UsageError(detail::cat(option, " looks at one forward pass of the input; drop the generation options ",
                                   "(--prompt, --max-new-tokens, ...) to use it"));
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

}  // namespace eigenformer::cli
