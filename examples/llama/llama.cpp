// llama — a Llama checkpoint predicts the next token, and generates text token by token until EOS.
//
// What it teaches: a decoder-only language model reads a prompt and scores every vocabulary entry as the next
// token; the prediction for position t depends only on tokens 0..t (the causal mask). Generation repeats that
// step — score, choose (greedy, sampling, beam search), append — with a KV cache, until the model emits an
// end-of-sequence token. The model is examples/llama/llama.hpp: embedding → N × (RMSNorm, causal GQA attention
// with RoPE, RMSNorm, SwiGLU) → RMSNorm → LM head; the loop is include/eigenformer/generation/.
//
// Run on a generated checkpoint (tests/fixtures/models, made by tools/fixtures/make_model_fixtures.py):
//     ./build/release/examples/llama/llama --model tests/fixtures/models/llama-gqa-sharded --ids 1,5,17,42
//     ./build/release/examples/llama/llama --model tests/fixtures/models/llama-gqa-sharded --ids 1,5 --max-new-tokens 8 --explain
//     ./build/release/examples/llama/llama --model tests/fixtures/models/llama-gqa-sharded --ids 1,5 --num-beams 3 --report run.html
//     ./build/release/examples/llama/llama --model tests/fixtures/models/llama-gqa-sharded --ids 1,5 --max-new-tokens 8 --weights int8
// On a real one (a folder downloaded from the Hugging Face hub; see docs/models.md):
//     ./build/release/examples/llama/llama --model ~/models/TinyLlama-1.1B-Chat-v1.0 --text "The capital of France is"
//     ./build/release/examples/llama/llama --model ~/models/Llama-3.2-1B-Instruct --chat --prompt "Why is the sky blue?" --stream
// Compare with another implementation:
//     ... --ids 1,450,7483 --dump llama.safetensors     (logits, hidden_states.<i>, attentions.<i> in F32)
//     ... --ids 1,450,7483 --grad grad.safetensors      (causal-LM loss and ∂loss/∂ every stored tensor, F32)
// Train one (llama/llama_train.hpp; the loop is eigenformer/training/trainer.hpp):
//     ./build/release/examples/llama/llama --train --config examples/llama/tiny.json --data tang300 --steps 300 --out build/tiny
// Step through it:
//     cmake --preset debug && cmake --build --preset debug --target llama
//     gdb --args ./build/debug/examples/llama/llama --model tests/fixtures/models/llama-gqa-sharded --ids 1,5,17
//     (gdb) break eigenformer::scaled_dot_product_attention     # the attention core, once per layer
// The options and what they mean: llama --help (the table in llama/llama_options.hpp).
#include "common/generate_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"
#include "llama/llama.hpp"
#include "llama/llama_options.hpp"
#include "llama/llama_train.hpp"

#include <cstdio>
#include <string>

using namespace eigenformer;

namespace {

constexpr std::int64_t kMaxCandidates = 1000000;  // more than any vocabulary

template <class Scalar>
int run(const cli::Arguments& args) {
  if (cli::wants_training(args) && args.has("--weights")) throw cli::UsageError("--weights is for inference, not --train");
  if (cli::wants_training(args)) return llama_training::run_training<Scalar>(args);  // llama/llama_train.hpp
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
  // --weights: how the projections are kept (layers/packed_weight.hpp); checked before the model is loaded.
  WeightFormat weight_format = WeightFormat::F32;
  if (args.has("--weights")) {
    try {
      weight_format = weight_format_from_name(args.value("--weights"));
    } catch (const ValueError& e) {
      throw cli::UsageError(detail::cat("--weights: ", e.what()));
    }
    if (weight_format != WeightFormat::F32 && args.has("--grad")) {
      throw cli::UsageError("--weights bf16/int8 is for inference: --grad needs fp32 weights");
    }
  }
  Llama<Scalar> model = Llama<Scalar>::from_pretrained(folder);
  cli::check_finite_on_load(args, model, folder);  // NaN or Inf in a weight: refused now, naming the tensor, unless --no-finite-check (docs/hardening.md)
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const LlamaConfig& c = model.config();
  std::printf("model   %s\n        llama: %ld layers, %ld heads over %ld key/value heads of width %ld, width %ld, "
              "vocabulary %ld, %.3fM parameters\n",
              folder.c_str(), static_cast<long>(c.num_hidden_layers), static_cast<long>(c.num_attention_heads),
              static_cast<long>(c.kv_heads()), static_cast<long>(c.head_width()), static_cast<long>(c.hidden_size),
              static_cast<long>(c.vocab_size), static_cast<double>(count_parameters(model)) / 1e6);
  if (weight_format != WeightFormat::F32) {
    const std::size_t before = model.weight_bytes();
    model.pack_weights(weight_format);
    std::printf("        weights: %s, %.1f MB in memory (fp32: %.1f MB), %.1f MB read per decoded token\n",
                weight_format_name(weight_format), static_cast<double>(model.weight_bytes()) / 1e6,
                static_cast<double>(before) / 1e6, static_cast<double>(model.weight_bytes_per_token()) / 1e6);
  }
  // A sliding window (mistral; qwen2 with use_sliding_window): generation keeps only what the windows see.
  if (c.sliding_window > 0) {
    Index sliding = 0;
    for (Index w : c.layer_windows()) sliding += w > 0 ? 1 : 0;
    std::printf("        %s: sliding window of %ld positions in %ld of %ld layers (KV cache bounded by it)\n",
                c.model_type.c_str(), static_cast<long>(c.sliding_window), static_cast<long>(sliding),
                static_cast<long>(c.num_hidden_layers));
    model.window_cache = true;
  }

  // 2) Generation: score, choose, append, until EOS (common/generate_cli.hpp). With --report or
  //    --attention-svg, the whole sequence (prompt and best output) runs once more with the capture on, and
  //    the report holds its attention and the generation trace (common/inspect_cli.hpp).
  if (generating) {
    const cli::GenerationRun run = cli::generate_and_print(model, args, tokenizer, folder);
    if (!cli::wants_inspection(args)) return 0;
    return cli::inspect_causal_generation<Scalar, LlamaOptions<Scalar>>(model, args, run, tokenizer, "llama: " + folder);
  }

  // 3) Otherwise one step: the prompt.
  const TokenSequence ids = cli::input_ids(args, tokenizer);
  cli::check_vocabulary(ids, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
  std::printf("input   %zu tokens: %s\n", ids.size(), cli::join_ids(ids).c_str());
  if (args.has("--grad")) {  // common/grad_cli.hpp: the causal-LM loss and every stored tensor's gradient
    return cli::write_causal_lm_gradients(model, ids, args, cli::dump_names(model, folder));
  }
  if (args.has("--labels")) throw cli::UsageError("--labels goes with --grad");

  // 4) One forward pass, keeping every hidden state and attention map when they are to be dumped.
  Matrix<Scalar> logits;  // (T, V)
  Capture<Scalar> capture;
  LlamaOptions<Scalar> options;
  if (args.has("--dump")) options.capture = &capture;
  if (cli::wants_inspection(args)) options.capture = cli::prepare_capture(capture, args, Llama<Scalar>::hf_names(), "decoder.");
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
                                  &logits, "llama: " + folder);
}

}  // namespace

int main(int argc, char** argv) { return cli::run_program(argc, argv, cli::llama_options(), &run<float>, &run<double>); }
