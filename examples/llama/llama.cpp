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
// On a real one (a folder downloaded from the Hugging Face hub; see docs/models.md):
//     ./build/release/examples/llama/llama --model ~/models/TinyLlama-1.1B-Chat-v1.0 --text "The capital of France is"
//     ./build/release/examples/llama/llama --model ~/models/Llama-3.2-1B-Instruct --chat --prompt "Why is the sky blue?" --stream
// Compare with another implementation:
//     ... --ids 1,450,7483 --dump llama.safetensors     (logits, hidden_states.<i>, attentions.<i> in F32)
// Step through it:
//     cmake --preset debug && cmake --build --preset debug --target llama
//     gdb --args ./build/debug/examples/llama/llama --model tests/fixtures/models/llama-gqa-sharded --ids 1,5,17
//     (gdb) break eigenformer::scaled_dot_product_attention     # the attention core, once per layer
#include "common/cli.hpp"
#include "common/generate_cli.hpp"
#include "llama/llama.hpp"

#include <cstdio>
#include <string>

using namespace eigenformer;

namespace {

const char* const kHelp = R"(usage: llama --model DIR (--ids LIST | --text TEXT) [--candidates N] [--dump FILE] [--double]
       llama --model DIR (--prompt TEXT | --ids LIST) [--chat [--system TEXT]] [generation options]

Runs a Llama checkpoint (Hugging Face layout, model_type "llama": TinyLlama, Llama 2, Llama 3, SmolLM, ...).
Without generation options it prints the most likely next tokens after the input; with them it generates.

  --model DIR    the checkpoint folder: config.json and model.safetensors (or model.safetensors.index.json
                 with its shards); tokenizer files in it are used for --text/--prompt and to print tokens;
                 generation_config.json in it supplies default generation settings
  --ids LIST     the input as token ids, comma-separated (e.g. 1,450,7483); no tokenizer involved
  --text TEXT    the input as text, through the folder's tokenizer (adds the beginning-of-text token)
  --candidates N how many next-token candidates to print (default 10)
  --dump FILE    also write, in F32 safetensors: logits (Scalar, V); hidden_states.<i> (Scalar, C) for i = 0 (the
                 embeddings) to N (after the final norm); attentions.<i> (H, Scalar, Scalar) for each layer — the
                 meaning of Hugging Face's output_hidden_states / output_attentions
  --double       compute in double instead of float
  --help         this text

Generation (settings from generation_config.json, overridden by these flags):
  --prompt TEXT             the text to continue (the tokenizer adds <|begin_of_text|>)
  --chat                    --prompt is the user's message in the checkpoint's chat template (else Llama 3's format);
                            --system TEXT sets the system turn
  --max-new-tokens N        at most N new tokens (default 20, or from generation_config.json)
  --strategy S              greedy (default), sample or beam
  --num-beams N             beam search width (implies --strategy beam)
  --length-penalty X        beam score = sum of log p / length^X (default 1)
  --early-stopping E        beam search: true, false (default) or never
  --num-return-sequences N  beams: the N best; sampling: N samples
  --temperature X           sampling: scores / X (0 = greedy)
  --top-k N                 sampling: keep the N best tokens (default 50; 0 = off)
  --top-p X                 sampling: keep the smallest set of probability >= X (nucleus)
  --min-p X                 sampling: keep tokens with p >= X * p_max
  --seed N                  sampling: the random seed (the same seed reproduces a run)
  --repetition-penalty X    divide (multiply) the scores of tokens already present by X
  --no-repeat-ngram N       forbid repeating any N-gram
  --stop TEXT               stop when the generated text contains TEXT
  --eos LIST                the end-of-sequence ids (default: generation_config.json, then config.json)
  --stream                  print the text as it is generated
  --trace FILE              write each step (candidates after every filter, or the beams) as JSON
  --explain                 print that trace
  --no-cache                recompute every position at every step (slow; checks the KV cache)

Errors (a wrong folder, a bad config.json, a missing or misshapen tensor, a token id outside the vocabulary,
a setting out of range) print one line on stderr and exit with code 1; a wrong command line exits with code 2.
)";

template <class Scalar>
int run(const cli::Arguments& args) {
  // 1) The checkpoint and its tokenizer (if it ships one).
  const std::string folder = args.value("--model");
  const bool generating = cli::wants_generation(args);
  // A usage mistake is reported before a large model is loaded.
  if (generating) {
    cli::check_generation_usage(args, folder);
  } else {
    cli::check_input_given(args);
  }
  Llama<Scalar> model = Llama<Scalar>::from_pretrained(folder);
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const LlamaConfig& c = model.config();
  std::printf("model   %s\n        llama: %ld layers, %ld heads over %ld key/value heads of width %ld, width %ld, "
              "vocabulary %ld, %.3fM parameters\n",
              folder.c_str(), static_cast<long>(c.num_hidden_layers), static_cast<long>(c.num_attention_heads),
              static_cast<long>(c.kv_heads()), static_cast<long>(c.head_width()), static_cast<long>(c.hidden_size),
              static_cast<long>(c.vocab_size), static_cast<double>(count_parameters(model)) / 1e6);

  // 2) Generation: score, choose, append, until EOS (common/generate_cli.hpp).
  if (generating) return cli::run_generation(model, args, tokenizer, folder);

  // 3) Otherwise one step: the prompt.
  const TokenSequence ids = cli::input_ids(args, tokenizer);
  cli::check_vocabulary(ids, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
  std::printf("input   %zu tokens: %s\n", ids.size(), cli::join_ids(ids).c_str());

  // 4) One forward pass, keeping every hidden state and attention map when they are to be dumped.
  Matrix<Scalar> logits;  // (T, V)
  Capture<Scalar> capture;
  LlamaOptions<Scalar> options;
  if (args.has("--dump")) options.capture = &capture;
  model.forward(cli::as_batch(ids), logits, options);

  // 5) The next token: the last row of logits.
  std::printf("next token after position %zu:\n", ids.size() - 1);
  cli::print_candidates(cli::top_k(logits.row(logits.rows() - 1), args.positive("--candidates", 10)), tokenizer);

  if (args.has("--dump")) {
    SafeTensorsWriter out;
    add_rows<Scalar>(out, "logits", logits);
    add_capture(out, "", capture);
    out.write(args.value("--dump"));
    std::printf("dump    %s: logits, %zu hidden states, %zu attention maps\n", args.value("--dump").c_str(),
                capture.hidden_states.size(), capture.attentions.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<cli::Option> options = cli::common_options();
  cli::add_generation_options(options);
  return cli::run_program(argc, argv, "llama", kHelp, options, &run<float>, &run<double>);
}
