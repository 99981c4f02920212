// examples/bart/bart_options.hpp — the command line of the bart program, written once: its --help, its parser
// and tests/models/test_programs.cpp (which checks that --help lists every option) all read this table.
#pragma once

#include "common/generate_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"

namespace eigenformer::cli {

inline Table bart_options() {
  Table t;
  t.program = "bart";
  t.usage = "bart --model DIR (--ids LIST | --text TEXT) [--decoder-ids LIST] [--candidates N] [--dump FILE] [--double]\n"
            "       bart --model DIR (--prompt TEXT | --ids LIST) [generation options] [--report FILE.html] [--attention-svg DIR]\n"
            "       bart --model DIR (--ids LIST | --text TEXT) --labels LIST --grad FILE [--double]";
  t.about = "Runs a BART checkpoint (Hugging Face layout, model_type \"bart\": bart-base, bart-large, bart-large-cnn,\n"
            "bart-large-xsum, distilbart) on one source. Without generation options it prints the most likely next target\n"
            "token after the decoder input; with them it writes the target (a summary, for bart-large-cnn) until </s>.";
  FamilyOptionHelp help;
  help.model = "the checkpoint folder: config.json and model.safetensors; tokenizer files in it (vocab.json +\n"
               "merges.txt, or tokenizer.json) are used for --text/--prompt and to print tokens;\n"
               "generation_config.json in it supplies default generation settings (bart-large-cnn: beams,\n"
               "no_repeat_ngram_size, length_penalty, min_length, max_length, forced tokens)";
  help.ids = "the encoder input as token ids, comma-separated (<s> ... </s>: 0,...,2 as BART's tokenizer writes it)";
  help.text = "the encoder input as text, through the folder's tokenizer (which adds <s> and </s>)";
  help.candidates = "how many candidates to print (default 10)";
  help.dump = "also write, in F32 safetensors: logits (T, V) over the decoder positions;\n"
              "encoder_hidden_states.<i> (S, C) and decoder_hidden_states.<i> (T, C), i = 0 the\n"
              "normalised embeddings to N the last layer's output; encoder_attentions.<i> (H, S, S),\n"
              "decoder_attentions.<i> (H, T, T) and cross_attentions.<i> (H, T, S) for each layer";
  Section common = family_options(help);
  common.options.insert(common.options.begin() + 3,
                        {"--decoder-ids", "LIST", "the decoder input so far (default: decoder_start_token_id from config.json, 2)"});
  t.sections.push_back(common);
  GenerationOptionHelp generation;
  generation.prompt = "the source text (the article to summarise; the tokenizer adds <s> and </s>)";
  generation.no_cache = "recompute every decoder position at every step (slow; checks the KV cache)";
  t.sections.push_back(generation_options(generation));
  t.sections.push_back(gradient_options(  // common/grad_cli.hpp
      std::string(kSeq2SeqGradHelp) + ";\nnot final_logits_bias: a buffer in transformers, which no gradient reaches",
      kSeq2SeqLabelsHelp));
  t.sections.push_back(inspect_options());  // common/inspect_cli.hpp
  t.epilogue = "forced_bos_token_id / forced_eos_token_id come from generation_config.json, else config.json.\n"
               "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

}  // namespace eigenformer::cli
