// examples/t5/t5_options.hpp — the command line of the t5 program, written once: its --help, its parser
// and tests/models/test_programs.cpp (which checks that --help lists every option) all read this table.
#pragma once

#include "common/generate_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"
#include "common/train_cli.hpp"

namespace eigenformer::cli {

/// What `t5 --train` does without flags. --data is a text file of "source<TAB>target" lines.
inline TrainSettings t5_training_defaults() {
  TrainSettings d;
  d.batch = 16;
  d.seq_len = 64;
  d.trainer.steps = 1000;
  d.trainer.lr = 1e-3;
  d.trainer.warmup = 50;
  d.trainer.weight_decay = 0.01;
  d.trainer.clip = 1.0;
  d.trainer.eval_every = 100;
  return d;
}

inline Table t5_options() {
  Table t;
  t.program = "t5";
  t.usage = "t5 --model DIR (--ids LIST | --text TEXT) [--decoder-ids LIST] [--candidates N] [--dump FILE] [--double]\n"
            "       t5 --model DIR (--prompt TEXT | --ids LIST) [generation options] [--report FILE.html] [--attention-svg DIR]\n"
            "       t5 --model DIR (--ids LIST | --text TEXT) --labels LIST --grad FILE [--double]\n"
            "       t5 --train (--config FILE.json | --model DIR) --data PAIRS.tsv --out DIR [training options]\n"
            "       t5 --train (--config FILE.json | --model DIR) --objective span-corruption --data TEXTS.txt --out DIR";
  t.about = "Runs a T5 checkpoint (Hugging Face layout, model_type \"t5\": t5-small/base/large, t5-v1_1, flan-t5, mt5) on one\n"
            "source. Without generation options it prints the most likely next target token after the decoder input; with\n"
            "them it writes the target until </s>.";
  FamilyOptionHelp help;
  help.model = "the checkpoint folder: config.json and model.safetensors (or a sharded index); tokenizer\n"
               "files in it are used for --text/--prompt and to print tokens; generation_config.json in\n"
               "it supplies default generation settings";
  help.ids = "the encoder input as token ids, comma-separated (end it with </s>, id 1, as T5 does)";
  help.text = "the encoder input as text, through the folder's tokenizer (which appends </s>)";
  help.candidates = "how many candidates to print (default 10)";
  help.dump = "also write, in F32 safetensors: logits (T, V) over the decoder positions;\n"
              "encoder_hidden_states.<i> (S, C) and decoder_hidden_states.<i> (T, C), i = 0 the\n"
              "embeddings to N after the stack's final norm; encoder_attentions.<i> (H, S, S),\n"
              "decoder_attentions.<i> (H, T, T) and cross_attentions.<i> (H, T, S) for each layer";
  Section common = family_options(help);
  common.options.insert(common.options.begin() + 3,
                        {"--decoder-ids", "LIST", "the decoder input so far (default: decoder_start_token_id from config.json, usually 0)"});
  t.sections.push_back(common);
  GenerationOptionHelp generation;
  generation.prompt = "the source text (e.g. \"translate English to German: ...\"; the tokenizer appends </s>)";
  generation.no_cache = "recompute every decoder position at every step (slow; checks the KV cache)";
  t.sections.push_back(generation_options(generation));
  t.sections.push_back(gradient_options(kSeq2SeqGradHelp, kSeq2SeqLabelsHelp));  // common/grad_cli.hpp
  t.sections.push_back(inspect_options());  // common/inspect_cli.hpp
  add_training_options(t, t5_training_defaults());
  t.sections.back().options.push_back(
      {"--objective", "NAME", "with --train: pairs (default; --data holds source<TAB>target lines) or span-corruption\n"
                              "(T5's pretraining: --data holds one text per line; 15% of its tokens, in spans of mean\n"
                              "length 3, become <extra_id_i> sentinels in the source, and the target lists each\n"
                              "sentinel with its span; the tokenizer must have the sentinels)"});
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

}  // namespace eigenformer::cli
