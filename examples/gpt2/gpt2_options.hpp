// examples/gpt2/gpt2_options.hpp — the command line of the gpt2 program, written once: its --help, its parser
// and tests/models/test_programs.cpp (which checks that --help lists every option) all read this table.
#pragma once

#include "common/generate_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"

namespace eigenformer::cli {

inline Table gpt2_options() {
  Table t;
  t.program = "gpt2";
  t.usage = "gpt2 --model DIR (--ids LIST | --text TEXT) [--candidates N] [--dump FILE] [--double]\n"
            "       gpt2 --model DIR (--prompt TEXT | --ids LIST) [generation options] [--report FILE.html] [--attention-svg DIR]\n"
            "       gpt2 --model DIR --ids LIST [--labels LIST] --grad FILE [--double]";
  t.about = "Runs a GPT-2 checkpoint (Hugging Face layout, model_type \"gpt2\": gpt2, gpt2-medium/large/xl, distilgpt2).\n"
            "Without generation options it prints the most likely next tokens after the input; with them it generates.";
  FamilyOptionHelp help;
  help.model = "the checkpoint folder: config.json and model.safetensors (GPT2LMHeadModel names or the bare\n"
               "names of the original gpt2 file); vocab.json + merges.txt or tokenizer.json in it are used\n"
               "for --text/--prompt and to print tokens; generation_config.json supplies defaults";
  help.ids = "the input as token ids, comma-separated (e.g. 464,3290,3332); no tokenizer involved";
  help.text = "the input as text, through the folder's byte-level BPE tokenizer (GPT-2 adds no BOS)";
  help.candidates = "how many next-token candidates to print (default 10)";
  help.dump = "also write, in F32 safetensors: logits (T, V); hidden_states.<i> (T, C) for i = 0 (token +\n"
              "position embeddings) to N (after ln_f); attentions.<i> (H, T, T) for each layer — the\n"
              "meaning of Hugging Face's output_hidden_states / output_attentions";
  t.sections.push_back(family_options(help));
  t.sections.push_back(gradient_options(  // common/grad_cli.hpp
      "write the causal-LM loss of --ids and its gradient for every stored tensor, in F32\n"
      "safetensors: loss (1) and grad.<name> under the file's names and in its layout — Conv1D\n"
      "weights (in, out), the fused c_attn (C, 3C); wte.weight sums the lookup and the tied head",
      kCausalLabelsHelp));
  GenerationOptionHelp generation;
  generation.prompt = "the text to continue, through the folder's tokenizer";
  generation.no_cache = "recompute every position at every step (slow; checks the KV cache)";
  t.sections.push_back(generation_options(generation));
  t.sections.push_back(inspect_options());  // common/inspect_cli.hpp
  t.epilogue = "Errors (a wrong folder, a bad config.json, a missing or misshapen tensor, a token id outside the vocabulary,\n"
               "a setting out of range) print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

}  // namespace eigenformer::cli
