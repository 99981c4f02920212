// assistant — the poet, fine-tuned to follow one instruction in Llama 3's chat layout, and to stop by itself.
//
// What it teaches: an "assistant" is a pretrained language model fine-tuned on conversations (supervised
// fine-tuning, SFT). The conversation is written in the model's chat layout with its special tokens,
//
//     <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n对下句：春眠不觉晓<|eot_id|>
//     <|start_header_id|>assistant<|end_header_id|>\n\n处处闻啼鸟。<|eot_id|>
//
// (generation::llama3_chat_prompt builds the prompt part, exactly as `llama --chat` does), and the loss counts only
// the answer's tokens — the prompt's labels are −100 (training::sft_labels) — so the model learns to answer, not
// to write questions. The answer ends with <|eot_id|>; generation stops at an end-of-sequence token, so a model
// that has learned to emit <|eot_id|> after its answer stops by itself. The poet never saw <|eot_id|> (its
// embedding row is the untrained initial one): before fine-tuning it never stops there.
//
// The task, learnable in minutes: 对下句 — "give the next line". The user gives the first clause of a couplet
// (5 or 7 characters); the answer is the second clause, the same length, with its punctuation. Measured on
// couplets of held-out poems: how often the answer ends with <|eot_id|> on its own, and how often it has the
// prompt's length.
//
//     ./build/release/examples/poet/poet                       # first: the pretrained poet
//     ./build/release/examples/assistant/assistant             # fine-tunes (about a minute), saves, measures
//     ./build/release/examples/llama/llama --model ~/.cache/eigenformer/assistant --chat --prompt "对下句：床前明月光"
#include "common/cli.hpp"
#include "poet/poet.hpp"

#include <cstdio>

using namespace eigenformer;

namespace {

cli::Table assistant_options() {
  cli::Table t;
  t.program = "assistant";
  t.usage = "assistant [--poet DIR] [--out DIR] [--retrain] [--steps N] [--prompts N]";
  t.about = "Fine-tunes the poet (run poet first) on \"对下句：<first clause>\" → \"<second clause>\" conversations in\n"
            "Llama 3's chat layout, the prompt masked out of the loss; then measures how often it stops at <|eot_id|>.";
  cli::Section s;
  s.options = {
      {"--poet", "DIR", "the pretrained poet (default ~/.cache/eigenformer/poet)"},
      {"--out", "DIR", "where the fine-tuned model is saved and looked for (default ~/.cache/eigenformer/assistant)"},
      {"--retrain", "", "fine-tune again even when DIR holds a model"},
      {"--steps", "N", "fine-tuning steps (default 300; batch 16 conversations)"},
      {"--prompts", "N", "held-out prompts to measure on (default 200; the first 5 are printed)"},
      {"--help", "", "this text"}};
  t.sections.push_back(s);
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

/// A couplet: the first clause (without its comma) and the second (with its final punctuation).
struct Couplet {
  std::string first, second;
  std::int64_t length = 0;  // characters of the first clause
};

/// The couplets of a poem's lines: "兰叶春葳蕤，桂华秋皎洁。" → {"兰叶春葳蕤", "桂华秋皎洁。"}; only lines made of
/// exactly two clauses (a comma, then 。 ？ or ！), title and author lines skipped.
std::vector<Couplet> couplets(const std::vector<std::string>& poems) {
  std::vector<Couplet> out;
  for (const std::string& poem : poems) {
    std::size_t start = 0;
    while (start < poem.size()) {
      std::size_t end = poem.find('\n', start);
      if (end == std::string::npos) end = poem.size();
      const std::vector<std::string> line = training::utf8_characters(poem.substr(start, end - start));
      start = end + 1;
      if (line.empty() || line.front() == "《" || (line.size() > 1 && line[0] == "作" && line[1] == "者")) continue;
      std::size_t comma = 0;
      while (comma < line.size() && line[comma] != "，") ++comma;
      if (comma == 0 || comma + 2 >= line.size()) continue;
      const std::string& last = line.back();
      if (last != "。" && last != "？" && last != "！") continue;
      bool plain = true;  // one comma, no other punctuation inside
      for (std::size_t i = 0; i + 1 < line.size(); ++i) {
        if (i != comma && (line[i] == "，" || line[i] == "。" || line[i] == "？" || line[i] == "！" || line[i] == "；" ||
                           line[i] == "“" || line[i] == "”")) {
          plain = false;
        }
      }
      if (!plain) continue;
      Couplet c;
      for (std::size_t i = 0; i < comma; ++i) c.first += line[i];
      for (std::size_t i = comma + 1; i < line.size(); ++i) c.second += line[i];
      c.length = static_cast<std::int64_t>(comma);
      out.push_back(c);
    }
  }
  return out;
}

/// The prompt of a couplet, in Llama 3's layout ending with the assistant's header: what the model reads.
TokenSequence prompt_ids(const tokenizers::Tokenizer& tokenizer, const Couplet& c) {
  return generation::llama3_chat_prompt(tokenizer, {{"user", "对下句：" + c.first}});
}

int run(const cli::Arguments& args) {
  const std::string poet_folder = args.has("--poet") ? args.value("--poet") : poet::default_folder("poet");
  const std::string folder = args.has("--out") ? args.value("--out") : poet::default_folder("assistant");
  if (!poet::saved(poet_folder)) {
    throw FileError(detail::cat("[assistant] no poet in ", poet_folder, ": run the poet program first (it trains one)"));
  }
  const poet::Corpus corpus = poet::load_corpus();
  poet::check_vocabulary(poet_folder, corpus, "assistant", "run poet --retrain");
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(poet_folder);
  const std::vector<Couplet> train = couplets(corpus.train), held = couplets(corpus.held_out);
  std::printf("data    %zu couplets from the training poems, %zu from the held-out poems\n", train.size(), held.size());

  // 1) The conversations: prompt (masked out of the loss) + answer + <|eot_id|> (scored).
  std::vector<TokenSequence> records;
  std::vector<Index> prompt_lengths;
  for (const Couplet& c : train) {
    TokenSequence ids = prompt_ids(tokenizer, c);
    prompt_lengths.push_back(static_cast<Index>(ids.size()));
    const TokenSequence answer = corpus.vocab.encode(c.second);
    ids.insert(ids.end(), answer.begin(), answer.end());
    ids.push_back(corpus.eot);
    records.push_back(ids);
  }

  Llama<float> poet_model = Llama<float>::from_pretrained(poet_folder);
  const Index prompts = static_cast<Index>(std::min<std::int64_t>(args.integer_or("--prompts", 1, 100000, 200),
                                                                  static_cast<std::int64_t>(held.size())));
  // How often a model ends its answer with <|eot_id|> by itself (greedy, at most 2 × the clause + 4 tokens), and
  // how often the answer (before <|eot_id|>) has the prompt's length plus its punctuation.
  struct Score {
    std::int64_t stopped = 0, same_length = 0;
  };
  const auto measure = [&](Llama<float>& model, bool print) {
    Score s;
    for (Index k = 0; k < prompts; ++k) {
      const Couplet& c = held[static_cast<std::size_t>(k)];
      generation::GenerationConfig g;  // greedy
      g.max_new_tokens = 2 * c.length + 4;
      g.eos_token_ids = {corpus.eot};
      const generation::GeneratedSequence out = generation::generate<float>(model, prompt_ids(tokenizer, c), g).front();
      const bool stopped = out.stop_reason == generation::StopReason::EndOfSequence && out.eos_token == corpus.eot;
      s.stopped += stopped;
      const std::int64_t answer_length = static_cast<std::int64_t>(out.tokens.size()) - (stopped ? 1 : 0);
      s.same_length += stopped && answer_length == c.length + 1;
      if (print && k < 5) {
        std::printf("  对下句：%s  →  %s%s\n", c.first.c_str(), corpus.vocab.decode(out.tokens, true).c_str(),
                    stopped ? "  [<|eot_id|>]" : "  [no <|eot_id|>: stopped at max_new_tokens]");
      }
    }
    return s;
  };

  // 2) Fine-tune the poet (or reuse the assistant saved earlier).
  Llama<float> model = poet_model;
  if (poet::saved(folder) && !args.has("--retrain")) {
    model = Llama<float>::from_pretrained(folder);
    std::printf("model   %s (saved earlier; --retrain fine-tunes again)\n", folder.c_str());
  } else {
    const training::TrainerConfig config =
        poet::trainer_config(args.integer_or("--steps", 1, 1000000, 300), 1e-3, 20, 100, folder);
    training::SequenceLoader loader(records, 16, corpus.pad, poet_model.config().max_position_embeddings, 7);
    // Validation: the answer-only loss of held-out conversations (the prompt masked as in training).
    std::vector<TokenIds> held_ids, held_labels;
    for (Index k = 0; k < prompts; ++k) {
      const Couplet& c = held[static_cast<std::size_t>(k)];
      TokenSequence ids = prompt_ids(tokenizer, c);
      const Index prompt = static_cast<Index>(ids.size());
      const TokenSequence answer = corpus.vocab.encode(c.second);
      ids.insert(ids.end(), answer.begin(), answer.end());
      ids.push_back(corpus.eot);
      TokenIds row(1, static_cast<Index>(ids.size()));
      for (std::size_t t = 0; t < ids.size(); ++t) row(0, static_cast<Index>(t)) = ids[t];
      held_ids.push_back(row);
      held_labels.push_back(training::sft_labels(row, {prompt}));
    }
    const auto validate = [&]() -> training::LossValue {
      double total = 0;
      Index counted = 0;
      Matrix<float> logits;
      for (std::size_t k = 0; k < held_ids.size(); ++k) {
        model.forward(held_ids[k], logits);
        const training::LossValue l = training::causal_lm_loss<float>(logits, held_labels[k]);
        total += l.loss * static_cast<double>(l.counted);
        counted += l.counted;
      }
      return {total / static_cast<double>(counted), counted};
    };
    std::printf("before  held-out answer loss %.3f (the poet)\n", validate().loss);
    // The library's trainer runs the loop; a micro-batch is 16 conversations, right-padded: the padding keys are
    // hidden, and neither the prompt nor the padding is scored (sft_labels).
    training::TrainingTask<float> task;
    task.parameters = parameters_with_gradients(model);
    task.train_micro_batch = [&](const training::MicroBatchContext&) {
      const training::Batch b = loader.next();
      std::vector<Index> prompt(b.examples.size());
      for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = prompt_lengths[static_cast<std::size_t>(b.examples[i])];
      const KeyPadding padding = KeyPadding::from_lengths(b.lengths);
      const training::LossValue l = model.loss_and_gradients(b.ids, training::sft_labels(b.ids, prompt, b.lengths), &padding);
      training::MicroBatchResult r;
      r.loss = l.loss;
      r.counted = l.counted;
      r.tokens = b.ids.size();
      return r;
    };
    task.evaluate = validate;
    task.data_position = [&] { return loader.position(); };
    task.seek_data = [&](const training::DataPosition& p) { loader.seek(p); };
    task.save_model = [&](const std::string& to) {
      llama_training::save_char_model(to, model, corpus.vocab, corpus.train.front());
    };
    const poet::Timing time = poet::train(config, std::move(task));
    std::printf("tuned   %lld steps of 16 conversations in %.0f s wall, %.0f s CPU; held-out answer loss %.3f\n",
                static_cast<long long>(config.steps), time.wall, time.cpu, validate().loss);
    std::printf("saved   %s (config.json, model.safetensors, tokenizer.json; log.csv, loss_curve.svg)\n", folder.c_str());
  }

  // 3) Stopping by itself, before and after fine-tuning, on prompts from poems neither model trained on.
  std::printf("\nheld-out prompts, the assistant (greedy):\n");
  const Score after = measure(model, true);
  const Score before = measure(poet_model, false);
  std::printf("\nstops   the assistant ended %lld of %ld answers with <|eot_id|> by itself (%.1f%%), %lld with the prompt's "
              "length (%.1f%%); the poet before fine-tuning: %lld (%.1f%%)\n",
              static_cast<long long>(after.stopped), static_cast<long>(prompts), 100.0 * static_cast<double>(after.stopped) / static_cast<double>(prompts),
              static_cast<long long>(after.same_length), 100.0 * static_cast<double>(after.same_length) / static_cast<double>(prompts),
              static_cast<long long>(before.stopped), 100.0 * static_cast<double>(before.stopped) / static_cast<double>(prompts));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const cli::Table table = assistant_options();
  return cli::run("assistant", [&] {
    const cli::Arguments args(argc, argv, table);
    if (args.has("--help")) return cli::print_help(table);
    return run(args);
  });
}
