// examples/bert/bert_options.hpp — the command line of the bert program, written once: its --help, its parser
// and tests/models/test_programs.cpp (which checks that --help lists every option) all read this table.
#pragma once

#include "common/family_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"
#include "common/train_cli.hpp"

namespace eigenformer::cli {

/// `bert --train`'s defaults: masked-LM pretraining of a small model (docs/training.md, "BERT").
inline TrainSettings bert_training_defaults() {
  TrainSettings s;
  s.batch = 32;
  s.seq_len = 64;
  s.eval_batches = 8;
  s.trainer.steps = 1000;
  s.trainer.lr = 1e-3;
  s.trainer.warmup = 60;
  s.trainer.eval_every = 200;
  return s;
}

inline Table bert_options() {
  Table t;
  t.program = "bert";
  t.usage = "bert --model DIR (--ids LIST | --text TEXT) [--mask-id ID] [--embed [--pooling mean|cls|pooler]]\n"
            "            [--candidates N] [--dump FILE] [--double]\n"
            "       bert --model DIR (--ids LIST | --text TEXT) (--labels LIST | --label K) --grad FILE [--double]\n"
            "       bert --train (--config FILE.json | --model DIR) --data NAME|FILE --out DIR [training options]";
  t.about = "Runs a BERT checkpoint (Hugging Face layout, model_type \"bert\": bert-base-uncased, bert-large-*, fine-tuned\n"
            "classifiers, sentence-transformers models such as all-MiniLM-L6-v2) on one sentence:\n"
            "  fill-mask      when the checkpoint has a masked-LM head and the input holds [MASK] tokens: the top-k\n"
            "                 candidates for each of them\n"
            "  classification when the checkpoint has a classifier: the probability of each label (id2label)\n"
            "  embedding      with --embed, or when the checkpoint has neither head: a sentence vector";
  FamilyOptionHelp help;
  help.model = "the checkpoint folder: config.json and model.safetensors (or a sharded index); vocab.txt or\n"
               "tokenizer.json in it are used for --text and to print tokens";
  help.ids = "the input as token ids, comma-separated (bert-base-uncased: 101 = [CLS], 102 = [SEP], 103 = [MASK])";
  help.text = "the input as text, through the folder's tokenizer ([CLS] and [SEP] are added; write [MASK]\n"
              "where a word should be guessed)";
  help.candidates = "how many candidates to print for each [MASK] (default 5)";
  help.dump = "also write, in F32 safetensors: logits (T, V) of the masked-LM head (or (L) of the classifier),\n"
              "pooler_output (C), hidden_states.<i> (T, C) for i = 0 (the embeddings) to N, attentions.<i>\n"
              "(H, T, T) for each layer — the meaning of Hugging Face's output_hidden_states / output_attentions";
  Section common = family_options(help);
  const std::vector<Option> heads = {
      {"--mask-id", "ID", "the id of [MASK] (default: from the tokenizer; required with --ids when there is none)"},
      {"--embed", "", "print the sentence embedding"},
      {"--pooling", "KIND", "mean (default: the mean of the last hidden states), cls (the [CLS] hidden state) or pooler\n"
                            "(tanh layer over [CLS], when the checkpoint has one)"}};
  common.options.insert(common.options.begin() + 3, heads.begin(), heads.end());
  t.sections.push_back(common);
  Section grad = gradient_options(  // common/grad_cli.hpp
      "write the loss and its gradient for every tensor the checkpoint stores, in eval mode (no\n"
      "dropout), F32 safetensors: loss (1) and grad.<stored name> (docs/training.md). The loss is\n"
      "the masked-LM loss with --labels, the classifier's with --label",
      "masked LM: one label per input token, comma-separated; -100 leaves a position out, any other\n"
      "value is the token the model must predict there. The loss is the mean cross-entropy over\n"
      "the positions not -100 (BertForMaskedLM's labels)");
  grad.options.push_back({"--label", "K", "sequence classification: the class of the input, 0 .. num_labels-1; the loss is the\n"
                                          "cross-entropy of the classifier's scores (BertForSequenceClassification's labels = [K])"});
  t.sections.push_back(grad);
  t.sections.push_back(inspect_options());  // common/inspect_cli.hpp
  add_training_options(t, bert_training_defaults());
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

}  // namespace eigenformer::cli
