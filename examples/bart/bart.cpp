// bart — a BART checkpoint reads a source and writes the target (bart-large-cnn: a summary) until </s>.
//
// What it teaches: BART is the 2017 encoder-decoder with BERT's habits — learned positions (read at p + 2, an
// offset kept from fairseq), a LayerNorm of the embeddings, post-norm blocks, GELU — pre-trained to rebuild
// corrupted text. Summarising with it shows the generation rules a real checkpoint ships in
// generation_config.json: beam search scored by Σ log p / length^length_penalty, no n-gram repeated, a minimum
// length, the first token forced to <s> and the last allowed one to </s>. The model is examples/bart/bart.hpp; the
// rules are include/eigenformer/generation/.
//
// Run on a generated checkpoint (tests/fixtures/models, made by tools/fixtures/make_gpt2_bart_fixtures.py):
//     ./build/release/examples/bart/bart --model tests/fixtures/models/bart-large-style --ids 0,9,33,14,51,7,2
//     ./build/release/examples/bart/bart --model tests/fixtures/models/bart-large-style --ids 0,9,33,14,51,7,2 --num-beams 4 --explain
//     ./build/release/examples/bart/bart --model tests/fixtures/models/bart-large-style --ids 0,9,33,14,51,7,2 --report run.html
// On a real one (see docs/models.md):
//     ./build/release/examples/bart/bart --model models/bart-large-cnn --prompt "$(cat article.txt)"
// Compare with another implementation:
//     ... --ids 0,31414,232,2 --decoder-ids 2,0 --dump bart.safetensors
//     ... --ids 0,31414,232,2 --labels 0,9,2 --grad grad.safetensors   (teacher-forced loss of the labels and
//                                  ∂loss/∂ every stored parameter, F32; tools/training/make_gpt2_bart_grad_fixtures.py)
// The options and what they mean: bart --help (the table in bart/bart_options.hpp).
#include "bart/bart.hpp"
#include "bart/bart_options.hpp"
#include "common/generate_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"

#include <cstdio>
#include <string>

using namespace eigenformer;

namespace {

constexpr std::int64_t kMaxCandidates = 1000000;  // more than any vocabulary

template <class Scalar>
int run(const cli::Arguments& args) {
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
  Bart<Scalar> model = Bart<Scalar>::from_pretrained(folder);
  cli::check_finite_on_load(args, model, folder);  // NaN or Inf in a weight: refused now, naming the tensor, unless --no-finite-check (docs/hardening.md)
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const BartConfig& c = model.config();
  std::printf("model   %s\n        bart: %ld encoder and %ld decoder layers, %ld/%ld heads, width %ld, FFN %s %ld/%ld, "
              "%s head, vocabulary %ld, %.3fM parameters\n",
              folder.c_str(), static_cast<long>(c.encoder_layers), static_cast<long>(c.decoder_layers),
              static_cast<long>(c.encoder_attention_heads), static_cast<long>(c.decoder_attention_heads),
              static_cast<long>(c.d_model), to_string(c.activation_function), static_cast<long>(c.encoder_ffn_dim),
              static_cast<long>(c.decoder_ffn_dim), c.tie_word_embeddings ? "tied" : "untied",
              static_cast<long>(c.vocab_size), static_cast<double>(count_parameters(model)) / 1e6);

  // 2) Gradients of the labels' loss (--grad; final_logits_bias, a buffer, has none: bart.hpp), or generation:
  //    the encoder reads the source once, the decoder writes until </s> (common/generate_cli.hpp).
  //    With --report or --attention-svg, the whole run goes through the model once more with the capture on,
  //    and the report holds its attention and the generation trace (common/inspect_cli.hpp).
  if (gradients) {
    const TokenSequence source = cli::input_ids(args, tokenizer);
    cli::check_vocabulary(source, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
    return cli::write_seq2seq_gradients(model, source, args, cli::dump_names(model, folder));
  }
  if (generating) {
    const cli::GenerationRun run = cli::generate_and_print(model, args, tokenizer, folder);
    if (!cli::wants_inspection(args)) return 0;
    return cli::inspect_seq2seq_generation<Scalar>(model, *c.special_tokens.decoder_start, args, run, tokenizer,
                                                   "bart: " + folder);
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
  BartOptions<Scalar> options;
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
      &logits, "bart: " + folder);
}

}  // namespace

int main(int argc, char** argv) { return cli::run_program(argc, argv, cli::bart_options(), &run<float>, &run<double>); }
