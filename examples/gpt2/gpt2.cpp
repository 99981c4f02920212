// gpt2 — a GPT-2 checkpoint predicts the next token, and generates text token by token.
//
// What it teaches: GPT-2 is the decoder-only model today's language models descend from — token embeddings plus
// learned position vectors, N pre-norm blocks of causal attention and an MLP, a final LayerNorm, and an output
// layer that reuses the token table. Its checkpoints store every projection as (in, out) "Conv1D" weights with the
// query, key and value projections fused into one c_attn: the model (examples/gpt2/gpt2.hpp) transposes and
// splits them once on load (include/eigenformer/models/stored_layout.hpp), then runs the library's common Decoder.
//
// Run on a generated checkpoint (tests/fixtures/models, made by tools/fixtures/make_gpt2_bart_fixtures.py):
//     ./build/release/examples/gpt2/gpt2 --model tests/fixtures/models/gpt2-style --ids 5,17,42
//     ./build/release/examples/gpt2/gpt2 --model tests/fixtures/models/gpt2-style --ids 5,17 --max-new-tokens 8 --explain
//     ./build/release/examples/gpt2/gpt2 --model tests/fixtures/models/gpt2-style --ids 5,17 --max-new-tokens 8 --report run.html
// On a real one (see docs/models.md):
//     huggingface-cli download gpt2 --include "*.json" "*.safetensors" "merges.txt" --local-dir models/gpt2
//     ./build/release/examples/gpt2/gpt2 --model models/gpt2 --prompt "The meaning of life is" --max-new-tokens 30 --stream
// Compare with another implementation:
//     ... --ids 464,3290,3332 --dump gpt2.safetensors     (logits, hidden_states.<i>, attentions.<i> in F32)
//     ... --ids 464,3290,3332 --grad grad.safetensors     (causal-LM loss and ∂loss/∂ every stored tensor, F32, in
//                                                          the file's Conv1D layout; tools/training/make_gpt2_grad_fixtures.py)
// The options and what they mean: gpt2 --help (the table in gpt2/gpt2_options.hpp).
#include "common/generate_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"
#include "gpt2/gpt2.hpp"
#include "gpt2/gpt2_options.hpp"

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
  cli::check_inspection_usage(args, generating);  // --compare, --capture: one forward pass, not generation
  // A usage mistake is reported before a large model is loaded.
  if (generating) {
    cli::check_generation_usage(args, folder);
  } else {
    cli::check_input_given(args);
  }
  GPT2<Scalar> model = GPT2<Scalar>::from_pretrained(folder);
  cli::check_finite_on_load(args, model, folder);  // NaN or Inf in a weight: refused now, naming the tensor, unless --no-finite-check (docs/hardening.md)
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const GPT2Config& c = model.config();
  std::printf("model   %s\n        gpt2: %ld layers, %ld heads of width %ld, width %ld, MLP %ld, %ld positions, "
              "vocabulary %ld, %s head, %.3fM parameters\n",
              folder.c_str(), static_cast<long>(c.n_layer), static_cast<long>(c.n_head),
              static_cast<long>(c.n_embd / c.n_head), static_cast<long>(c.n_embd), static_cast<long>(c.inner()),
              static_cast<long>(c.n_positions), static_cast<long>(c.vocab_size), c.tie_word_embeddings ? "tied" : "untied",
              static_cast<double>(count_parameters(model)) / 1e6);

  // 2) Generation: score, choose, append, until EOS (common/generate_cli.hpp). With --report or
  //    --attention-svg, the whole sequence (prompt and best output) runs once more with the capture on, and
  //    the report holds its attention and the generation trace (common/inspect_cli.hpp).
  if (generating) {
    const cli::GenerationRun run = cli::generate_and_print(model, args, tokenizer, folder);
    if (!cli::wants_inspection(args)) return 0;
    return cli::inspect_causal_generation<Scalar, GPT2Options<Scalar>>(model, args, run, tokenizer, "gpt2: " + folder);
  }

  // 3) Otherwise one step: the input.
  const TokenSequence ids = cli::input_ids(args, tokenizer);
  cli::check_vocabulary(ids, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
  std::printf("input   %zu tokens: %s\n", ids.size(), cli::join_ids(ids).c_str());
  if (args.has("--grad")) {  // common/grad_cli.hpp: the causal-LM loss, every stored tensor's gradient in its stored layout
    return cli::write_causal_lm_gradients(model, ids, args, cli::dump_names(model, folder, model.stored_layouts()));
  }
  if (args.has("--labels")) throw cli::UsageError("--labels goes with --grad");

  // 4) One forward pass, keeping every hidden state and attention map when they are to be dumped.
  Matrix<Scalar> logits;  // (T, V)
  Capture<Scalar> capture;
  GPT2Options<Scalar> options;
  if (args.has("--dump")) options.capture = &capture;
  if (cli::wants_inspection(args)) options.capture = cli::prepare_capture(capture, args, GPT2<Scalar>::hf_names(), "decoder.");
  model.forward(cli::as_batch(ids), logits, options);

  // 5) The next token: the last row of logits.
  std::printf("next token after position %zu:\n", ids.size() - 1);
  cli::print_candidates(cli::top_k(logits.row(logits.rows() - 1), args.integer_or("--candidates", 1, kMaxCandidates, 10)), tokenizer);

  if (args.has("--dump")) {
    SafeTensorsWriter out;
    add_rows<Scalar>(out, "logits", logits);
    add_capture(out, "", capture);
    out.write(args.value("--dump"));
    std::printf("dump    %s: logits, %zu hidden states, %zu attention maps\n", args.value("--dump").c_str(),
                capture.hidden_states.size(), capture.attentions.size());
  }
  // 6) Looking inside: --attention-svg, --report, --compare, --capture (common/inspect_cli.hpp).
  return cli::inspect_run<Scalar>(args, {cli::stack(capture, "", inspect::AttentionKind::CausalSelf, cli::token_labels(tokenizer, ids))},
                                  &logits, "gpt2: " + folder);
}

}  // namespace

int main(int argc, char** argv) { return cli::run_program(argc, argv, cli::gpt2_options(), &run<float>, &run<double>); }
