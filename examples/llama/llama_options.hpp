// examples/llama/llama_options.hpp — the command line of the llama program, written once: its --help, its parser
// and tests/models/test_programs.cpp (which checks that --help lists every option) all read this table.
#pragma once

#include "common/generate_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/train_cli.hpp"
#include "common/inspect_cli.hpp"

namespace eigenformer::cli {

/// The defaults of `llama --train` (examples/llama/llama_train.hpp): a poet-sized run on 唐诗三百首.
inline TrainSettings llama_train_defaults() {
  TrainSettings d;
  d.data = "tang300";
  d.batch = 8;
  d.seq_len = 128;
  d.eval_batches = 32;  // held-out windows per evaluation
  d.trainer.steps = 300;
  d.trainer.lr = 3e-3;
  d.trainer.warmup = 40;
  d.trainer.weight_decay = 0.1;
  d.trainer.beta2 = 0.99;
  d.trainer.eval_every = 50;
  return d;
}

inline Table llama_options() {
  Table t;
  t.program = "llama";
  t.usage = "llama --model DIR (--ids LIST | --text TEXT) [--candidates N] [--dump FILE] [--double]\n"
            "       llama --model DIR (--prompt TEXT | --ids LIST) [--chat [--system TEXT]] [generation options]\n"
            "             [--report FILE.html] [--attention-svg DIR]\n"
            "       llama --model DIR --ids LIST [--labels LIST] --grad FILE [--double]\n"
            "       llama --train (--config FILE.json | --model DIR) [--data NAME|FILE] --out DIR [training options]";
  t.about = "Runs a Llama checkpoint (Hugging Face layout, model_type \"llama\": TinyLlama, Llama 2, Llama 3, SmolLM, ...),\n"
            "or a relative: model_type \"qwen2\" (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen), \"qwen3\" (Qwen3) or\n"
            "\"mistral\" (Mistral 7B: sliding-window attention).\n"
            "Without generation options it prints the most likely next tokens after the input; with them it generates.";
  FamilyOptionHelp help;
  help.model = "the checkpoint folder: config.json and model.safetensors (or model.safetensors.index.json\n"
               "with its shards); tokenizer files in it are used for --text/--prompt and to print tokens;\n"
               "generation_config.json in it supplies default generation settings";
  help.ids = "the input as token ids, comma-separated (e.g. 1,450,7483); no tokenizer involved";
  help.text = "the input as text, through the folder's tokenizer (adds the beginning-of-text token)";
  help.candidates = "how many next-token candidates to print (default 10)";
  help.dump = "also write, in F32 safetensors: logits (T, V); hidden_states.<i> (T, C) for i = 0 (the\n"
              "embeddings) to N (after the final norm); attentions.<i> (H, T, T) for each layer — the\n"
              "meaning of Hugging Face's output_hidden_states / output_attentions";
  t.sections.push_back(family_options(help));
  Section weights;  // layers/packed_weight.hpp; docs/performance.md, "Fewer bytes per token"
  weights.heading = "Weights in memory";
  weights.options = {{"--weights", "FORMAT",
                      "fp32 (default, the reference), bf16 (2 bytes per weight: the top half of each fp32,\n"
                      "rounded to nearest even) or int8 (groups of 32 weights with one scale each, 1.125 bytes\n"
                      "per weight; activations quantised likewise): the projections and the LM head, for\n"
                      "faster decoding; not with --grad or --train"}};
  t.sections.push_back(weights);
  t.sections.push_back(gradient_options(  // common/grad_cli.hpp
      "write the causal-LM loss of --ids and its gradient for every stored tensor, in F32\n"
      "safetensors: loss (1) and grad.<name> under the checkpoint's tensor names (a tied\n"
      "checkpoint stores the embedding once: its gradient sums the lookup and the LM head);\n"
      "every model_type: llama, qwen2 (q/k/v biases), qwen3 (per-head q/k norm), mistral (window)",
      kCausalLabelsHelp));
  GenerationOptionHelp generation;
  generation.prompt = "the text to continue (the tokenizer adds <|begin_of_text|>)";
  generation.chat = true;
  generation.no_cache = "recompute every position at every step (slow; checks the KV cache)";
  t.sections.push_back(generation_options(generation));
  t.sections.push_back(inspect_options());  // common/inspect_cli.hpp
  // Last: the training options skip the names the table already has (--model, and --seed, which stays the
  // sampling seed in --help; llama --train reads it as the training seed).
  add_training_options(t, llama_train_defaults());
  t.epilogue = "Errors (a wrong folder, a bad config.json, a missing or misshapen tensor, a token id outside the vocabulary,\n"
               "a setting out of range) print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

}  // namespace eigenformer::cli
