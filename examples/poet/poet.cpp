// poet — a tiny Llama learns 唐诗三百首 character by character, then writes poems.
//
// What it teaches: pretraining is nothing but next-token prediction. The model (examples/llama/llama.hpp, about
// 1.3M parameters: 4 layers of width 128, tied embeddings) learns in two stages, as large models do: it first reads
// widely — 310k characters of other Chinese text (宋词 and the `chinese` fortunes: quotations, proverbs, verse) —
// then the Tang poems themselves, which alone (25k characters) are too few to learn the language from. Each
// stage reads windows of text and is scored by the causal-LM loss; its hand-written backward (Llama::loss_and_gradients) gives every gradient, AdamW with
// warmup + cosine decay and gradient clipping moves the weights. Nobody tells it that a line has five or seven
// characters, that a title sits in 《》 or that an author line follows; it finds out, because that is what
// makes the next character predictable. Two numbers show it:
//   - the held-out loss against the unigram entropy (the best a model that ignores context can do);
//   - the share of generated clauses with exactly 5 or 7 characters, against the same share in the corpus.
//
//     ./build/release/examples/poet/poet                      # trains (a few minutes), saves, writes poems
//     ./build/release/examples/poet/poet --poems 5 --seed 3   # reuses the saved model
//     ./build/release/examples/llama/llama --model ~/.cache/eigenformer/poet --prompt "《春" --max-new-tokens 60 --strategy sample --temperature 0.8
//
// The model is saved in the Hugging Face layout (config.json, model.safetensors, tokenizer.json) under --out
// (default ~/.cache/eigenformer/poet) and reused when present; log.csv and loss_curve.svg sit beside it.
#include "common/cli.hpp"
#include "poet/poet.hpp"

#include <cstdio>

using namespace eigenformer;

namespace {

cli::Table poet_options() {
  cli::Table t;
  t.program = "poet";
  t.usage = "poet [--out DIR] [--retrain] [--read-steps N] [--read-lr X] [--steps N] [--batch N] [--lr X] [--width N] [--layers N]\n"
            "     [--poems N] [--seed N] [--temperature X]";
  t.about = "Trains a tiny Llama on the Tang poems (fortunes-zh's tang300), one token per character, then writes poems\n"
            "and measures them: held-out loss vs the unigram entropy, and the 5/7-character form vs the corpus.";
  cli::Section s;
  s.options = {
      {"--out", "DIR", "where the trained model is saved and looked for (default ~/.cache/eigenformer/poet)"},
      {"--retrain", "", "train again (both stages) even when DIR holds a model; without it a saved first stage\n"
                        "(DIR/reading) is reused when only the second is missing"},
      {"--read-steps", "N", "steps of the first stage, reading song100 and chinese (default 1500; 0 skips it)"},
      {"--read-lr", "X", "its peak learning rate (default 3e-3; warmup 40 steps, then cosine decay)"},
      {"--steps", "N", "steps of the second stage, the Tang poems (default 80; 300 without the reading)"},
      {"--eval-every", "N", "held-out loss every N steps of the second stage (default 10; 50 without the reading)"},
      {"--batch", "N", "windows of 128 characters per step (default 8)"},
      {"--lr", "X", "its peak learning rate (default 1e-3 after the reading, warmup 20 steps; 3e-3 and 40 without)"},
      {"--width", "N", "the model's width C (default 128; 4 heads of C/4)"},
      {"--layers", "N", "the model's layers (default 4)"},
      {"--poems", "N", "poems to generate and measure (default 40; the first 3 are printed)"},
      {"--seed", "N", "seed of the generation (default 1); training always uses the same seeds"},
      {"--temperature", "X", "sampling temperature (default 0.8)"},
      {"--help", "", "this text"}};
  t.sections.push_back(s);
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

int run(const cli::Arguments& args) {
  const std::string folder = args.has("--out") ? args.value("--out") : poet::default_folder("poet");
  const poet::Corpus corpus = poet::load_corpus();
  const TokenSequence train_stream = poet::poem_stream(corpus, corpus.train);
  const TokenSequence held_stream = poet::poem_stream(corpus, corpus.held_out);
  std::printf("corpus  tang300: %zu poems for training (%zu characters), %zu held out (%zu); vocabulary %zu\n",
              corpus.train.size(), train_stream.size(), corpus.held_out.size(), held_stream.size(), corpus.vocab.size());

  // 1) The model: trained here, or the one saved by an earlier run.
  poet::ModelSize size;
  size.width = args.integer_or("--width", 8, 4096, 128) / 8 * 8;  // heads of an even width
  size.layers = args.integer_or("--layers", 1, 64, 4);
  size.ffn = (size.width * 8 / 3 + 7) / 8 * 8;                      // SwiGLU's ~8C/3, rounded to 8
  const Index T = size.context;
  const Index batch = args.integer_or("--batch", 1, 1024, 8);
  Llama<float> model(poet::poet_config(corpus, size));
  if (poet::saved(folder) && !args.has("--retrain")) {
    poet::check_vocabulary(folder, corpus, "poet", "pass --retrain");
    model = Llama<float>::from_pretrained(folder);
    std::printf("model   %s (saved earlier; --retrain trains again)\n", folder.c_str());
  } else {
    llama_training::initialise(model, 42);
    std::printf("model   llama: %ld layers, width %ld, %ld heads over %ld key/value heads, tied embeddings, %.3fM "
                "parameters\n", static_cast<long>(size.layers), static_cast<long>(size.width),
                static_cast<long>(size.heads), static_cast<long>(size.kv_heads),
                static_cast<double>(count_parameters(model)) / 1e6);
    // The library's trainer runs the loop; the task is B windows of T characters, labels = ids. Two stages, as
    // large models are made: first it reads widely (pretraining on the other Chinese fortunes: it learns which
    // characters go together), then it reads the Tang poems (it learns their form). Both stages report the
    // held-out poems' loss, so the log shows what the first reading alone gives.
    const auto save = [&](const std::string& to) { llama_training::save_char_model(to, model, corpus.vocab, corpus.train.front()); };
    const std::int64_t read_steps = args.integer_or("--read-steps", 0, 1000000, 1500);
    const std::string reading_folder = folder + "/reading";
    if (read_steps > 0 && poet::saved(reading_folder) && !args.has("--retrain")) {
      poet::check_vocabulary(reading_folder, corpus, "poet", "pass --retrain");
      model = Llama<float>::from_pretrained(reading_folder);
      std::printf("reading %s (saved earlier; --retrain reads again)\n", reading_folder.c_str());
    } else if (read_steps > 0) {
      const TokenSequence reading_stream = poet::poem_stream(corpus, corpus.reading);
      std::printf("reading %zu records of song100 and chinese (%zu characters) for %lld steps\n", corpus.reading.size(),
                  reading_stream.size(), static_cast<long long>(read_steps));
      const training::TrainerConfig config =
          poet::trainer_config(read_steps, args.has("--read-lr") ? args.number("--read-lr") : 3e-3, 40,
                               std::max<std::int64_t>(1, read_steps / 5), reading_folder);
      training::WindowLoader loader(reading_stream, T, batch, config.seed);
      training::TrainingTask<float> task = llama_training::window_task(model, loader, held_stream, T, 0);
      task.save_model = save;
      const poet::Timing time = poet::train(config, std::move(task));
      std::printf("read    %lld steps of %ld × %ld characters in %.0f s wall, %.0f s CPU\n",
                  static_cast<long long>(config.steps), static_cast<long>(batch), static_cast<long>(T), time.wall, time.cpu);
    }
    // After the reading, a few passes over the poems are enough: the held-out loss is lowest after ~50–80 steps and
    // rises again as the model starts to memorise the 25k characters (docs/training.md, the poet).
    const std::int64_t steps = args.integer_or("--steps", 1, 1000000, read_steps > 0 ? 80 : 300);
    const training::TrainerConfig config =
        poet::trainer_config(steps, args.has("--lr") ? args.number("--lr") : read_steps > 0 ? 1e-3 : 3e-3,
                             read_steps > 0 ? 20 : 40, args.integer_or("--eval-every", 1, 1000000, read_steps > 0 ? 10 : 50), folder);
    training::WindowLoader loader(train_stream, T, batch, config.seed);
    training::TrainingTask<float> task = llama_training::window_task(model, loader, held_stream, T, 0);
    task.save_model = save;
    const poet::Timing time = poet::train(config, std::move(task));
    std::printf("trained %lld steps of %ld × %ld characters in %.0f s wall, %.0f s CPU\n",
                static_cast<long long>(config.steps), static_cast<long>(batch), static_cast<long>(T), time.wall, time.cpu);
    std::printf("saved   %s (config.json, model.safetensors, tokenizer.json; log.csv, loss_curve.svg)\n", folder.c_str());
  }

  // 2) How well it predicts poems it never saw, against the unigram entropy (nats per character).
  double unigram_held = 0;
  const double unigram = poet::unigram_entropy(train_stream, held_stream, &unigram_held);
  const double validation = llama_training::stream_loss(model, held_stream, T).loss;
  std::printf("loss    held-out %.3f nats/character; unigram entropy %.3f (training text), %.3f on the held-out text\n",
              validation, unigram, unigram_held);

  // 3) Poems: sampled from <|begin_of_text|> until <|end_of_text|>.
  generation::GenerationConfig g;
  g.strategy = generation::Strategy::Sample;
  g.temperature = args.has("--temperature") ? args.number("--temperature") : 0.8;
  g.top_k = 40;
  g.max_new_tokens = T - 1;
  const std::int64_t poems = args.integer_or("--poems", 1, 10000, 40);
  const std::uint64_t seed = static_cast<std::uint64_t>(args.integer_or("--seed", 0, 1000000000, 1));
  poet::FormCount generated, reference;
  std::int64_t finished = 0;
  for (std::int64_t k = 0; k < poems; ++k) {
    g.seed = seed + static_cast<std::uint64_t>(k);
    const generation::GeneratedSequence out = generation::generate<float>(model, {corpus.bos}, g).front();
    finished += out.stop_reason == generation::StopReason::EndOfSequence;
    const std::string text = corpus.vocab.decode(out.tokens, /*skip_special=*/true);
    poet::count_form(text, generated);
    if (k < 3) std::printf("\n%s\n", text.c_str());
  }
  for (const std::string& p : corpus.train) poet::count_form(p, reference);
  std::printf("\nform    %.1f%% of %lld generated clauses have 5 or 7 characters (corpus: %.1f%% of %lld); "
              "%lld of %lld poems ended with <|end_of_text|>\n",
              100 * generated.fraction(), static_cast<long long>(generated.clauses), 100 * reference.fraction(),
              static_cast<long long>(reference.clauses), static_cast<long long>(finished), static_cast<long long>(poems));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const cli::Table table = poet_options();
  return cli::run("poet", [&] {
    const cli::Arguments args(argc, argv, table);
    if (args.has("--help")) return cli::print_help(table);
    return run(args);
  });
}
