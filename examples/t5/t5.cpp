// t5 — a T5 checkpoint reads a source and writes the target, one token at a time until </s>.
//
// What it teaches: an encoder-decoder reads the whole source once (the encoder, bidirectional), then writes the
// target one token at a time (the decoder, causal), each decoder block looking back at the source through
// cross-attention. T5 adds no position vectors: a learned bias per distance bucket, shared by the layers of a
// stack, enters every self-attention's scores. The model is examples/t5/t5.hpp; generation (the encoder runs
// once, the decoder starts from decoder_start_token_id, the cross-attention keys and values are computed once)
// is include/eigenformer/generation/.
//
// Run on a generated checkpoint (tests/fixtures/models, made by tools/fixtures/make_model_fixtures.py):
//     ./build/release/examples/t5/t5 --model tests/fixtures/models/flan-t5-style --ids 7,20,33,1 --decoder-ids 0
//     ./build/release/examples/t5/t5 --model tests/fixtures/models/flan-t5-style --ids 7,20,33,1 --num-beams 4
//     ./build/release/examples/t5/t5 --model tests/fixtures/models/flan-t5-style --ids 7,20,33,1 --num-beams 4 --report run.html
// On a real one (see docs/models.md):
//     ./build/release/examples/t5/t5 --model ~/models/flan-t5-small --prompt "translate English to German: Hello"
// Compare with another implementation:
//     ... --ids 13959,1566,12,2968,10,8774,1 --decoder-ids 0 --dump t5.safetensors
// Check the backward pass against autograd (tools/training/make_t5_grad_fixtures.py computes the same in PyTorch):
//     ./build/release/examples/t5/t5 --model tests/fixtures/models/t5-small-style --ids 7,20,33,1 --labels 5,9,1 --grad g.safetensors
// The options and what they mean: t5 --help (the table in t5/t5_options.hpp).
#include "common/generate_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"
#include "t5/t5.hpp"
#include "t5/t5_options.hpp"
#include "t5/t5_train.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

using namespace eigenformer;

namespace {

constexpr std::int64_t kMaxCandidates = 1000000;  // more than any vocabulary

/// --train: a T5 trained on the "source<TAB>target" lines of --data (seq2seq pairs) by the library's trainer,
/// from --config (new weights, T5's initialisation) or --model (fine-tuning). The tokenizer comes from the model
/// folder, or from the folder of the config file; it is copied beside every saved model.
template <class Scalar>
int train_t5(const cli::Arguments& args) {
  namespace fs = std::filesystem;
  const cli::TrainSettings s = cli::training_settings(args, cli::t5_training_defaults());
  cli::apply_threads(s);
  // 1) The model: a new one from a config.json, or a checkpoint to fine-tune.
  std::shared_ptr<T5<Scalar>> model;
  std::string folder;  // where the tokenizer files are
  if (!s.config_file.empty()) {
    model = std::make_shared<T5<Scalar>>(T5Config::from(ModelConfig::from_file(s.config_file)));
    initialise_t5(*model, s.trainer.seed);
    folder = fs::path(s.config_file).parent_path().string();
  } else {
    model = std::make_shared<T5<Scalar>>(T5<Scalar>::from_pretrained(s.model_dir));
    cli::check_finite_on_load(args, *model, s.model_dir);  // NaN or Inf in a weight: refused now, naming the tensor, unless --no-finite-check (docs/hardening.md)
    folder = s.model_dir;
  }
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder.empty() ? "." : folder);
  if (!tokenizer) {
    throw ValueError(detail::cat("--train reads text: put tokenizer.json (or another tokenizer file) in '", folder,
                                 "' beside the config or the checkpoint"));
  }
  // 2) The pairs. --objective pairs: "source<TAB>target" lines, each side through the tokenizer (ending with </s>),
  //    cut to --seq-len tokens. --objective span-corruption: one text per line, cut to --seq-len − 1 tokens, made
  //    into (source, target) by T5's span corruption with the tokenizer's <extra_id_i> sentinels (t5_train.hpp).
  const std::string objective = args.has("--objective") ? args.value("--objective") : "pairs";
  if (objective != "pairs" && objective != "span-corruption") {
    throw cli::UsageError(detail::cat("--objective must be pairs or span-corruption, got '", objective, "'"));
  }
  std::ifstream in(s.data);
  if (!in) throw FileError(detail::cat("--data: cannot open '", s.data, "'"));
  const TokenId eos = model->config().special_tokens.eos.front();
  const auto encode = [&](const std::string& text) {
    TokenSequence ids = tokenizer->encode(text, tokenizers::EncodeOptions{}.with_special_tokens());
    if (ids.empty() || ids.back() != eos) ids.push_back(eos);
    if (static_cast<Index>(ids.size()) > s.seq_len) {
      ids.resize(static_cast<std::size_t>(s.seq_len));
      ids.back() = eos;
    }
    cli::check_vocabulary(ids, model->config().vocab_size, "--data");
    return ids;
  };
  std::vector<Seq2SeqPair> pairs;
  std::vector<TokenSequence> texts;  // span corruption: each line's ids, without </s>
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (objective == "span-corruption") {
      TokenSequence ids = tokenizer->encode(line, tokenizers::EncodeOptions{});
      if (static_cast<Index>(ids.size()) >= s.seq_len) ids.resize(static_cast<std::size_t>(s.seq_len - 1));
      cli::check_vocabulary(ids, model->config().vocab_size, "--data");
      texts.push_back(std::move(ids));
      continue;
    }
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos) {
      throw ValueError(detail::cat("--data: line ", number, " of '", s.data, "' has no tab (expected source<TAB>target)"));
    }
    pairs.push_back({encode(line.substr(0, tab)), encode(line.substr(tab + 1))});
  }
  if (objective == "span-corruption") {
    const auto token_id = [&](const std::string& token) { return tokenizer->token_to_id(token); };
    pairs = span_corruption_pairs(texts, token_id, eos, s.trainer.seed);
    std::printf("span corruption: %zu texts → %zu (source, target) pairs, 15%% of the tokens dropped in spans of mean "
                "length 3\n", texts.size(), pairs.size());
  }
  if (pairs.size() < 2) throw ValueError(detail::cat("--data: '", s.data, "' gives ", pairs.size(), " training pairs; at least 2 are needed"));
  // 3) 5% held out (a seeded choice), the rest trained on.
  auto [train_pairs, held_out] = training::split_records(pairs, 0.05, s.trainer.seed);
  std::printf("train   %zu pairs from %s (%zu held out), %s, %.3fM parameters\n", train_pairs.size(), s.data.c_str(),
              held_out.size(), s.config_file.empty() ? ("fine-tuning " + s.model_dir).c_str() : ("new from " + s.config_file).c_str(),
              static_cast<double>(count_parameters(*model)) / 1e6);
  std::fflush(stdout);
  // The memory guard (training/footprint.hpp): gradients, AdamW's moments and a step's activations — encoder and
  // decoder blocks, the decoder's cross-attentions, B pairs of --seq-len positions a side — must fit before they
  // are allocated (MemoryError otherwise, naming each part).
  {
    const T5Config& c = model->config();
    training::TrainingShape shape;
    shape.layers = c.num_layers + c.num_decoder_layers;
    shape.cross_layers = c.num_decoder_layers;
    shape.width = c.d_model;
    shape.heads = c.num_heads;
    shape.kv_heads = c.num_heads;
    shape.head_dim = c.d_kv;
    shape.ffn = c.d_ff;
    shape.vocab = c.vocab_size;
    shape.batch = s.batch;
    shape.positions = s.seq_len;
    training::check_training_memory<Scalar>(shape, count_parameters(*model),
                                            s.trainer.optimizer == training::OptimizerKind::AdamW ? 2 : (s.trainer.momentum > 0 ? 1 : 0),
                                            /*weights_loaded=*/true);
  }
  // 4) The trainer: checkpoints, log.csv, loss_curve.svg and the model (with the tokenizer files) in --out.
  const auto save = [model, folder](const std::string& out) {
    model->save_pretrained(out);
    for (const char* file : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model",
                             "generation_config.json"}) {
      const fs::path from = fs::path(folder.empty() ? "." : folder) / file;
      if (fs::is_regular_file(from)) fs::copy_file(from, fs::path(out) / file, fs::copy_options::overwrite_existing);
    }
  };
  training::train(s.trainer, seq2seq_task<Scalar>(model, std::move(train_pairs), std::move(held_out), s.batch,
                                                  s.trainer.seed, save));
  std::printf("model   %s (t5 --model %s --prompt ...)\n", s.trainer.out.c_str(), s.trainer.out.c_str());
  return 0;
}

template <class Scalar>
int run(const cli::Arguments& args) {
  if (cli::wants_training(args)) return train_t5<Scalar>(args);
  // 1) The checkpoint and its tokenizer (if it ships one).
  const std::string folder = args.value("--model");
  const bool generating = cli::wants_generation(args);
  const bool gradients = cli::check_seq2seq_gradient_usage(args, generating);  // common/grad_cli.hpp
  cli::check_inspection_usage(args, generating);  // --compare, --capture: one forward pass, not generation
  // A usage mistake is reported before a large model is loaded.
  if (generating) {
    cli::check_generation_usage(args, folder);
    if (args.has("--decoder-ids")) throw cli::UsageError("--decoder-ids is for one step; generation starts from decoder_start_token_id");
  } else {
    cli::check_input_given(args);
    if (args.has("--decoder-ids")) cli::parse_ids(args.value("--decoder-ids"), "--decoder-ids");
  }
  T5<Scalar> model = T5<Scalar>::from_pretrained(folder);
  cli::check_finite_on_load(args, model, folder);  // NaN or Inf in a weight: refused now, naming the tensor, unless --no-finite-check (docs/hardening.md)
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const T5Config& c = model.config();
  std::printf("model   %s\n        t5: %ld encoder and %ld decoder layers, %ld heads of width %ld, width %ld, FFN %s %ld, "
              "%s head, vocabulary %ld, %.3fM parameters\n",
              folder.c_str(), static_cast<long>(c.num_layers), static_cast<long>(c.num_decoder_layers),
              static_cast<long>(c.num_heads), static_cast<long>(c.d_kv), static_cast<long>(c.d_model),
              c.feed_forward_proj.c_str(), static_cast<long>(c.d_ff), c.tie_word_embeddings ? "tied" : "untied",
              static_cast<long>(c.vocab_size), static_cast<double>(count_parameters(model)) / 1e6);

  // 2) Gradients of the labels' loss (--grad), or generation: the encoder reads the source once, the decoder writes until </s> (common/generate_cli.hpp).
  //    With --report or --attention-svg, the whole run goes through the model once more with the capture on,
  //    and the report holds its attention and the generation trace (common/inspect_cli.hpp).
  if (gradients) {  // common/grad_cli.hpp: teacher-forced loss of --labels, every stored tensor's gradient
    const TokenSequence source = cli::input_ids(args, tokenizer);
    cli::check_vocabulary(source, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
    const typename T5<Scalar>::GradientNames stored = model.gradient_names(Checkpoint(folder));  // shared.weight's spellings
    cli::GradientDumpNames names;
    names.names = stored.names;
    names.spelled.copies = stored.copies;
    return cli::write_seq2seq_gradients(model, source, args, names);
  }
  if (generating) {
    const cli::GenerationRun run = cli::generate_and_print(model, args, tokenizer, folder);
    if (!cli::wants_inspection(args)) return 0;
    return cli::inspect_seq2seq_generation<Scalar>(model, *c.special_tokens.decoder_start, args, run, tokenizer,
                                                   "t5: " + folder);
  }

  // 3) Otherwise one step: source and target so far.
  const TokenSequence source = cli::input_ids(args, tokenizer);
  cli::check_vocabulary(source, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
  const TokenSequence target = args.has("--decoder-ids") ? cli::parse_ids(args.value("--decoder-ids"), "--decoder-ids")
                                                         : TokenSequence{*c.special_tokens.decoder_start};
  cli::check_vocabulary(target, c.vocab_size, "--decoder-ids");
  std::printf("source  %zu tokens: %s\ntarget  %zu tokens: %s\n", source.size(), cli::join_ids(source).c_str(),
              target.size(), cli::join_ids(target).c_str());

  // 4) Encoder and decoder in one forward pass.
  Matrix<Scalar> logits;  // (T, V)
  Capture<Scalar> encoder, decoder;
  T5Options<Scalar> options;
  if (args.has("--dump")) {
    options.encoder_capture = &encoder;
    options.decoder_capture = &decoder;
  }
  if (cli::wants_inspection(args)) {  // common/inspect_cli.hpp
    options.encoder_capture = cli::prepare_capture(encoder, args, model.hf_names(), "encoder.");
    options.decoder_capture = cli::prepare_capture(decoder, args, model.hf_names(), "decoder.");
  }
  model.forward(cli::as_batch(source), cli::as_batch(target), logits, options);

  // 5) The next target token: the last row of logits.
  std::printf("next target token after decoder position %zu:\n", target.size() - 1);
  cli::print_candidates(cli::top_k(logits.row(logits.rows() - 1), args.integer_or("--candidates", 1, kMaxCandidates, 10)), tokenizer);

  if (args.has("--dump")) {
    SafeTensorsWriter out;
    add_rows<Scalar>(out, "logits", logits);
    add_capture(out, "encoder_", encoder);
    add_capture(out, "decoder_", decoder);  // also cross_attentions.<i>
    out.write(args.value("--dump"));
    std::printf("dump    %s: logits, %zu + %zu hidden states, %zu + %zu + %zu attention maps\n",
                args.value("--dump").c_str(), encoder.hidden_states.size(), decoder.hidden_states.size(),
                encoder.attentions.size(), decoder.attentions.size(), decoder.cross_attentions.size());
  }
  // 6) Looking inside: --attention-svg, --report, --compare, --capture (common/inspect_cli.hpp).
  const std::vector<std::string> source_tokens = cli::token_labels(tokenizer, source);
  return cli::inspect_run<Scalar>(
      args, {cli::stack(encoder, "encoder_", inspect::AttentionKind::EncoderSelf, source_tokens),
             cli::stack(decoder, "decoder_", inspect::AttentionKind::CausalSelf, cli::token_labels(tokenizer, target), source_tokens)},
      &logits, "t5: " + folder);
}

}  // namespace

int main(int argc, char** argv) { return cli::run_program(argc, argv, cli::t5_options(), &run<float>, &run<double>); }
