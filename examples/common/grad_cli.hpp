// examples/common/grad_cli.hpp — `--grad FILE` on the family programs, written once: the --labels option, its
// checks, its --help section, and the two kinds of loss whose gradients a program dumps
// (include/eigenformer/models/gradient_dump.hpp has the file format; docs/training.md, "A gradient dump anyone
// can check", the meaning):
//
//     causal LM        llama, gpt2   --ids LIST [--labels LIST]   mean cross-entropy of predicting ids[1:] from
//                                                                 ids[:-1] (labels default to the ids, as
//                                                                 transformers' labels=input_ids)
//     encoder-decoder  t5, bart      --ids SRC --labels TGT       teacher forcing: the decoder reads the labels
//                                                                 shifted right behind decoder_start_token_id;
//                                                                 mean cross-entropy over the labels
//
// -100 in --labels marks a position the loss leaves out (training::kIgnoreIndex, PyTorch's ignore_index).
//
//     if (args.has("--grad")) return cli::write_causal_lm_gradients(model, ids, args, names);
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "common/family_cli.hpp"

namespace eigenformer::cli {

/// "5,-100,7" → {5, -100, 7}: token ids, or -100 (training::kIgnoreIndex) for a position the loss leaves out.
/// ValueError naming the bad item.
inline TokenSequence parse_labels(const std::string& text) {
  TokenSequence labels;
  for (const std::string& item : list_items(text)) {  // common/cli.hpp
    const bool ignored = item == std::to_string(training::kIgnoreIndex);
    labels.push_back(ignored ? training::kIgnoreIndex : parse_ids(item, "--labels").front());
  }
  return labels;
}

/// ValueError naming the first label that is neither -100 nor a token id below `vocab_size`.
inline void check_labels(const TokenSequence& labels, Index vocab_size) {
  for (std::size_t t = 0; t < labels.size(); ++t) {
    if (labels[t] != training::kIgnoreIndex && (labels[t] < 0 || labels[t] >= vocab_size)) {
      throw ValueError(detail::cat("--labels: label ", labels[t], " at position ", t, " is outside the vocabulary of ",
                                   vocab_size, " tokens (vocab_size in config.json) and is not -100"));
    }
  }
}

/// --labels in the help of a causal LM (llama, gpt2).
inline const char* const kCausalLabelsHelp =
    "with --grad: the labels, comma-separated, -100 for a position left out of the loss\n"
    "(default: the ids, as transformers' labels=input_ids); position t+1's label is\n"
    "the target of position t's prediction";

/// --grad and --labels in the help of an encoder-decoder (t5, bart).
inline const char* const kSeq2SeqGradHelp =
    "write, in F32 safetensors, `loss` (1) — the mean cross-entropy of the labels, teacher-forced\n"
    "(decoder input = the labels shifted right behind decoder_start_token_id, -100 → pad) —\n"
    "and grad.<name> for every tensor of the checkpoint under its file name(s)";
inline const char* const kSeq2SeqLabelsHelp = "with --grad: the target token ids, comma-separated; -100 marks a label not scored";

/// The --help section of --grad and --labels, in each program's words.
inline Section gradient_options(const std::string& grad_help, const std::string& labels_help) {
  Section s;
  s.heading = "Gradients (checked against PyTorch autograd: docs/training.md)";
  s.options = {{"--grad", "FILE", grad_help}, {"--labels", "LIST", labels_help}};
  return s;
}

/// The usage rules of --grad in an encoder-decoder program (t5, bart): --grad and --labels together, no
/// generation options, no --decoder-ids (the decoder input comes from the labels). UsageError (exit 2) otherwise.
/// Returns whether --grad was given.
inline bool check_seq2seq_gradient_usage(const Arguments& args, bool generating) {
  const bool gradients = args.has("--grad");
  if (args.has("--labels") != gradients) throw UsageError("--grad and --labels go together");
  if (gradients && generating) throw UsageError("--grad computes one loss; it does not combine with generation options");
  if (gradients && args.has("--decoder-ids")) {
    throw UsageError("--grad builds the decoder input from --labels; leave out --decoder-ids");
  }
  return gradients;
}

/// How a program's checkpoint names the dump's tensors: our names → the canonical Hugging Face names, the
/// tensors the file stores fused or transposed (GPT-2), and the file's own spellings and copies.
struct GradientDumpNames {
  NameMapping names;
  std::vector<StoredLayout> layouts;
  GradientNames spelled;
};

/// The dump names of `model` loaded from `folder`: Model::names(), the stored `layouts` (GPT-2's
/// stored_layouts(); none for the others), and the spellings and copies that folder's files use
/// (stored_gradient_names: bare GPT-2 names, BART's shared table stored under four names, ...).
template <class Model>
GradientDumpNames dump_names(Model& model, const std::string& folder, const std::vector<StoredLayout>& layouts = {}) {
  GradientDumpNames d;
  d.names = model.names();
  d.layouts = layouts;
  d.spelled = stored_gradient_names(Checkpoint(folder), d.names, canonical_gradient_names(named_parameters(model), d.names, layouts));
  return d;
}

namespace grad_detail {

/// Writes the dump of `params` and prints what was written.
template <class Scalar>
void write_and_report(const Arguments& args, const training::LossValue& loss, const ParameterList<Scalar>& params,
                      const GradientDumpNames& names) {
  const std::string& path = args.value("--grad");
  write_gradient_dump<Scalar>(path, static_cast<Scalar>(loss.loss), params, names.names, names.layouts, names.spelled);
  std::printf("loss    %.9g (mean cross-entropy over %ld scored positions)\n", loss.loss, static_cast<long>(loss.counted));
  std::printf("grad    %s: loss and the gradients of %zu parameters\n", path.c_str(), params.size());
}

}  // namespace grad_detail

/// --grad of a causal LM (llama, gpt2): Model::loss_and_gradients(ids (1, T), labels (1, T)) — the target of
/// position t is labels[t + 1] — with --labels or the ids themselves, then the dump. ValueError for labels of
/// another length, outside the vocabulary, or all ignored.
template <class Model>
int write_causal_lm_gradients(Model& model, const TokenSequence& ids, const Arguments& args, const GradientDumpNames& names) {
  using Scalar = typename Model::scalar_type;
  const TokenSequence labels = args.has("--labels") ? parse_labels(args.value("--labels")) : ids;
  if (labels.size() != ids.size()) {
    throw ValueError(detail::cat("--labels: ", labels.size(), " labels for ", ids.size(), " ids (one per position)"));
  }
  check_labels(labels, model.vocab_size());
  ParameterList<Scalar> params = parameters_with_gradients(model);  // buffers sized and zeroed
  const training::LossValue loss = model.loss_and_gradients(as_batch(ids), as_batch(labels));
  if (loss.counted == 0) {
    throw ValueError("--labels: every target is -100 (or there is a single position): the loss is undefined");
  }
  grad_detail::write_and_report(args, loss, params, names);
  return 0;
}

/// --grad of an encoder-decoder (t5, bart): Model::loss_and_gradients(source (1, S), labels (1, T)) — teacher
/// forcing on the labels shifted right — then the dump. ValueError for labels outside the vocabulary or all -100.
template <class Model>
int write_seq2seq_gradients(Model& model, const TokenSequence& source, const Arguments& args, const GradientDumpNames& names) {
  using Scalar = typename Model::scalar_type;
  const TokenSequence labels = parse_labels(args.value("--labels"));
  check_labels(labels, model.vocab_size());
  if (std::all_of(labels.begin(), labels.end(), [](TokenId y) { return y == training::kIgnoreIndex; })) {
    throw ValueError("--labels: every label is -100, so no position is scored and the mean loss is undefined");
  }
  ParameterList<Scalar> params = parameters_with_gradients(model);
  const training::LossValue loss = model.loss_and_gradients(as_batch(source), as_batch(labels));
  std::printf("source  %zu tokens: %s\nlabels  %zu: %s\n", source.size(), join_ids(source).c_str(), labels.size(),
              join_ids(labels).c_str());
  grad_detail::write_and_report(args, loss, params, names);
  return 0;
}

}  // namespace eigenformer::cli
