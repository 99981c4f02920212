// llama — a Llama checkpoint's next-token prediction, every intermediate one flag away.
//
// What it teaches: a decoder-only language model reads a prompt and scores every vocabulary entry as the next
// token; the prediction for position t depends only on tokens 0..t (the causal mask). The model is
// examples/llama/llama.hpp: embedding → N × (RMSNorm, causal GQA attention with RoPE, RMSNorm, SwiGLU) → RMSNorm →
// LM head. Text generation comes with the generation issue; this program shows the one step it repeats.
//
// Run on a generated checkpoint (tests/fixtures/models, made by tools/fixtures/make_model_fixtures.py):
//     ./build/release/examples/llama/llama --model tests/fixtures/models/llama-gqa-sharded --ids 1,5,17,42
// On a real one (a folder downloaded from the Hugging Face hub; see docs/models.md):
//     ./build/release/examples/llama/llama --model ~/models/TinyLlama-1.1B-Chat-v1.0 --text "The capital of France is"
// Compare with another implementation:
//     ... --ids 1,450,7483 --dump llama.safetensors     (logits, hidden_states.<i>, attentions.<i> in F32)
// Step through it:
//     cmake --preset debug && cmake --build --preset debug --target llama
//     gdb --args ./build/debug/examples/llama/llama --model tests/fixtures/models/llama-gqa-sharded --ids 1,5,17
//     (gdb) break eigenformer::scaled_dot_product_attention     # the attention core, once per layer
#include "common/cli.hpp"
#include "llama/llama.hpp"

#include <cstdio>
#include <string>

using namespace eigenformer;

namespace {

const char* const kHelp = R"(usage: llama --model DIR (--ids LIST | --text TEXT) [--top-k N] [--dump FILE] [--double]

Runs a Llama checkpoint (Hugging Face layout, model_type "llama": TinyLlama, Llama 2, Llama 3, SmolLM, ...) on
one prompt and prints the most likely next tokens.

  --model DIR    the checkpoint folder: config.json and model.safetensors (or model.safetensors.index.json
                 with its shards); tokenizer files in it are used for --text and to print tokens
  --ids LIST     the prompt as token ids, comma-separated (e.g. 1,450,7483); no tokenizer involved
  --text TEXT    the prompt as text, through the folder's tokenizer (adds the beginning-of-text token)
  --top-k N      how many next-token candidates to print (default 10)
  --dump FILE    also write, in F32 safetensors: logits (T, V); hidden_states.<i> (T, C) for i = 0 (the
                 embeddings) to N (after the final norm); attentions.<i> (H, T, T) for each layer — the
                 meaning of Hugging Face's output_hidden_states / output_attentions
  --double       compute in double instead of float
  --help         this text

Errors (a wrong folder, a bad config.json, a missing or misshapen tensor, a token id outside the vocabulary)
print one line on stderr and exit with code 1; a wrong command line exits with code 2.
)";

template <class T>
int run(const cli::Arguments& args) {
  // 1) The checkpoint and its tokenizer (if it ships one).
  const std::string folder = args.value("--model");
  cli::check_input_given(args);  // a usage mistake is reported before a large model is loaded
  Llama<T> model = Llama<T>::from_pretrained(folder);
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const LlamaConfig& c = model.config();
  std::printf("model   %s\n        llama: %ld layers, %ld heads over %ld key/value heads of width %ld, width %ld, "
              "vocabulary %ld, %.3fM parameters\n",
              folder.c_str(), static_cast<long>(c.num_hidden_layers), static_cast<long>(c.num_attention_heads),
              static_cast<long>(c.num_key_value_heads), static_cast<long>(c.head_dim), static_cast<long>(c.hidden_size),
              static_cast<long>(c.vocab_size), static_cast<double>(count_parameters(model)) / 1e6);

  // 2) The prompt.
  const TokenSequence ids = cli::input_ids(args, tokenizer);
  cli::check_vocabulary(ids, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
  std::printf("input   %zu tokens: %s\n", ids.size(), cli::join_ids(ids).c_str());

  // 3) One forward pass, keeping every hidden state and attention map when they are to be dumped.
  Matrix<T> logits;  // (T, V)
  Capture<T> capture;
  LlamaOptions<T> options;
  if (args.has("--dump")) options.capture = &capture;
  model.forward(cli::as_batch(ids), logits, options);

  // 4) The next token: the last row of logits.
  std::printf("next token after position %zu:\n", ids.size() - 1);
  cli::print_candidates(cli::top_k(logits.row(logits.rows() - 1), args.positive("--top-k", 10)), tokenizer);

  if (args.has("--dump")) {
    SafeTensorsWriter out;
    add_rows<T>(out, "logits", logits);
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
  return cli::run_program(argc, argv, "llama", kHelp, options, &run<float>, &run<double>);
}
