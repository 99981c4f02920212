// reader — a tiny BERT that learns to read Chinese (and some English) by filling in blanks, then learns to tell
// which collection a text comes from: a Tang poem (唐诗三百首), a Song lyric (宋词) or another Chinese fortune.
//
// What it teaches: the two stages of BERT (Devlin et al. 2019, §3). Pretraining needs no labels — hide 15% of the
// characters and predict them (masked LM) — and leaves the encoder knowing which characters go together; a
// classifier fine-tuned on top of it then needs few labelled examples. The program measures exactly that: the
// same classifier, same steps, same data, trained (a) from the pretrained encoder and (b) from random weights,
// beside the majority-class baseline, on held-out texts.
//
// Run (a few minutes on 2 cores; the corpora are Debian's fortunes and fortunes-zh packages):
//     ./build/release/examples/reader/reader                       # pretrain, fine-tune both ways, evaluate
//     ./build/release/examples/reader/reader --out build/reader    # where the three models go (the default)
// Models already in --out are loaded instead of trained again (--retrain trains anew). They are Hugging Face
// folders, loadable by the bert program:
//     ./build/release/examples/bert/bert --model build/reader/classifier --text "床前明月光，疑是地上霜。"
//     ./build/release/examples/bert/bert --model build/reader/pretrained --text "床前明[MASK]光"
// The model is examples/bert/bert.hpp, its loss and backward Bert::masked_lm_loss / classification_loss.
#include "bert/bert.hpp"
#include "bert/bert_training.hpp"
#include "common/cli.hpp"

#include <eigenformer/training.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <set>
#include <tuple>
#include <string>
#include <vector>

using namespace eigenformer;
namespace fs = std::filesystem;

namespace {

// ---- The command line -------------------------------------------------------------------------------------------

cli::Table options() {
  cli::Table t;
  t.program = "reader";
  t.usage = "reader [--out DIR] [--retrain] [--pretrain-steps N] [--finetune-steps N] [--finetune-lr X] [--labelled N,...] [--seed N]";
  t.about = "Pretrains a tiny BERT with masked LM on the Chinese and English fortunes, fine-tunes it to tell a Tang poem\n"
            "from a Song lyric from another Chinese fortune, and reports held-out accuracy beside the majority class\n"
            "and beside the same classifier trained without pretraining.";
  cli::Section s;
  s.options = {{"--out", "DIR", "where the models are saved and looked for (default build/reader)"},
               {"--retrain", "", "train again even when the models exist"},
               {"--pretrain-steps", "N", "masked-LM steps (default 4000)"},
               {"--finetune-steps", "N", "classification steps, for each classifier (default 150)"},
               {"--finetune-lr", "X", "their peak learning rate (default 5e-4)"},
               {"--labelled", "N,...", "how many labelled training texts each pair of classifiers sees: a list of counts,\n"
                                       "'all' for every one (default 50,100,200,all)"},
               {"--seed", "N", "seed of the data split, the initial weights, the masking and the batches (default 1)"},
               {"--help", "", "this text"}};
  t.sections.push_back(s);
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

// ---- The texts --------------------------------------------------------------------------------------------------

/// The body of every record of a fortune file: the coloured lines (titles, authors, "-- Debian ..." sources) are
/// dropped — a classifier should read the text, not its label-like header — and the lines are joined (without a
/// separator for Chinese, with a space for English).
std::vector<std::string> bodies(const std::string& file, bool chinese) {
  const std::string path = training::fortunes_dir() + "/" + file;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(detail::cat("[reader] cannot open '", path, "' (Debian packages fortunes and fortunes-zh)"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  for (const std::string& record : training::split_fortunes(text)) {
    std::string body;
    std::size_t at = 0;
    while (at <= record.size()) {
      std::size_t end = std::min(record.find('\n', at), record.size());
      std::string line = record.substr(at, end - at);
      at = end + 1;
      if (line.find('\x1b') != std::string::npos) continue;
      line.erase(0, line.find_first_not_of(" \t"));
      if (line.empty()) continue;
      if (!body.empty() && !chinese) body += ' ';
      body += line;
    }
    if (!body.empty()) out.push_back(body);
  }
  return out;
}

struct Example {
  TokenSequence ids;  // [CLS] + characters, at most T
  TokenId label = 0;
};

constexpr Index kPositions = 64;  // T: [CLS] and up to 63 characters
const char* const kLabels[] = {"tang", "song", "other"};

/// A (B, T) batch of examples, right-padded with [PAD] (id 0), with its lengths.
struct Batch {
  TokenIds ids;
  std::vector<Index> lengths;
  std::vector<TokenId> labels;
};
Batch make_batch(const std::vector<Example>& data, const std::vector<std::size_t>& which) {
  Batch b;
  b.ids = TokenIds::Zero(static_cast<Index>(which.size()), kPositions);
  for (std::size_t i = 0; i < which.size(); ++i) {
    const Example& e = data[which[i]];
    for (std::size_t t = 0; t < e.ids.size(); ++t) b.ids(static_cast<Index>(i), static_cast<Index>(t)) = e.ids[t];
    b.lengths.push_back(static_cast<Index>(e.ids.size()));
    b.labels.push_back(e.label);
  }
  return b;
}

// ---- The model --------------------------------------------------------------------------------------------------

/// Hugging Face's BERT initialisation: weights N(0, 0.02), biases 0, LayerNorm γ = 1 and β = 0.
void initialise(Bert<float>& model, generation::Rng& rng) {
  for (ParameterRef<float>& p : named_parameters(model)) {
    const bool gain = p.name.find("norm.weight") != std::string::npos;
    const bool bias = p.name.find("bias") != std::string::npos;
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      if (gain || bias) {
        p.data[i] = gain ? 1.0f : 0.0f;
        continue;
      }
      const double u1 = std::max(rng.uniform(), 1e-300), u2 = rng.uniform();  // Box–Muller
      p.data[i] = static_cast<float>(0.02 * std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
  }
}

BertConfig tiny_config(Index vocab_size, bool classifier) {
  BertConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 256;
  c.max_position_embeddings = kPositions;
  c.type_vocab_size = 2;
  c.layer_norm_eps = 1e-12;
  c.num_labels = 3;
  c.pad_token_id = 0;
  json::Value j = json::Value(json::Object{});
  json::Array architectures;
  architectures.emplace_back(classifier ? "BertForSequenceClassification" : "BertForMaskedLM");
  j.set("architectures", json::Value(architectures));
  j.set("pad_token_id", json::Value(static_cast<std::int64_t>(0)));
  if (classifier) {
    json::Value id2label = json::Value(json::Object{}), label2id = json::Value(json::Object{});
    for (std::int64_t k = 0; k < 3; ++k) {
      id2label.set(std::to_string(k), json::Value(std::string(kLabels[k])));
      label2id.set(kLabels[k], json::Value(k));
    }
    j.set("id2label", id2label);
    j.set("label2id", label2id);
  }
  c.original = j;
  return c;
}

BertHeads heads(bool classifier) {
  BertHeads h;
  h.prefixed = true;  // "bert.embeddings...", as BertFor* checkpoints
  h.masked_lm = !classifier;
  h.pooler = classifier;
  h.classifier = classifier;
  return h;
}

// ---- Training ---------------------------------------------------------------------------------------------------

struct Clock {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  std::clock_t cpu = std::clock();
  double wall_seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(); }
  double cpu_seconds() const { return static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC; }
};

/// The trainer's settings shared by the three runs: AdamW (no decay on norms, biases, embeddings), clipping at 1,
/// 6% linear warmup then cosine decay to 0, the held-out loss every `steps / 5` steps, the model saved into `out`
/// at the end (with log.csv and loss_curve.svg).
training::TrainerConfig trainer_config(std::int64_t steps, double lr, std::uint64_t seed, const std::string& out) {
  training::TrainerConfig c;
  c.steps = steps;
  c.lr = lr;
  c.warmup = std::max<std::int64_t>(1, steps * 6 / 100);
  c.weight_decay = 0.01;
  c.clip = 1.0;
  c.seed = seed;
  c.out = out;
  c.eval_every = std::max<std::int64_t>(1, steps / 5);
  c.keep_checkpoints = 1;
  c.progress_every = std::max<std::int64_t>(1, steps / 20);
  return c;
}

/// Held-out accuracy of a classifier.
double accuracy(Bert<float>& model, const std::vector<Example>& data, const std::vector<std::size_t>& which) {
  std::size_t correct = 0;
  for (std::size_t start = 0; start < which.size(); start += 64) {
    const std::vector<std::size_t> part(which.begin() + static_cast<std::ptrdiff_t>(start),
                                        which.begin() + static_cast<std::ptrdiff_t>(std::min(which.size(), start + 64)));
    const Batch b = make_batch(data, part);
    const KeyPadding padding = KeyPadding::from_lengths(b.lengths);
    BertOptions<float> options;
    options.padding = &padding;
    Tensor3<float> hidden;
    Matrix<float> pooled, logits;
    model.forward(b.ids, hidden, options);
    model.pool(hidden, pooled);
    model.classify(pooled, logits);
    for (Index i = 0; i < logits.rows(); ++i) {
      Index best = 0;
      logits.row(i).maxCoeff(&best);
      if (static_cast<TokenId>(best) == b.labels[static_cast<std::size_t>(i)]) ++correct;
    }
  }
  return static_cast<double>(correct) / static_cast<double>(which.size());
}

int run(const cli::Arguments& args) {
  const Clock total;
  const std::string out = args.has("--out") ? args.value("--out") : "build/reader";
  const bool retrain = args.has("--retrain");
  const std::int64_t pretrain_steps = args.integer_or("--pretrain-steps", 1, 1000000, 4000);
  const std::int64_t finetune_steps = args.integer_or("--finetune-steps", 1, 1000000, 150);
  const double finetune_lr = args.has("--finetune-lr") ? args.number("--finetune-lr") : 5e-4;
  const auto seed = static_cast<std::uint64_t>(args.integer_or("--seed", 0, 1000000000, 1));
  constexpr Index kBatch = 32;

  // 1) The texts. Classification: the three Chinese collections; the large "other" one is sampled down to the
  //    size of the Tang poems so that no class swamps the others. Pretraining reads every Chinese text and three
  //    English collections.
  std::vector<std::string> tang = bodies("tang300", true), song = bodies("song100", true), other = bodies("chinese", true);
  std::vector<std::string> english;
  for (const char* f : {"fortunes", "wisdom", "people"}) {
    for (std::string& b : bodies(f, false)) english.push_back(std::move(b));
  }
  generation::Rng rng(seed);
  std::vector<std::string> pretraining = tang;
  pretraining.insert(pretraining.end(), song.begin(), song.end());
  pretraining.insert(pretraining.end(), other.begin(), other.end());
  pretraining.insert(pretraining.end(), english.begin(), english.end());

  // 2) One token per character that occurs at least twice; [PAD] = 0 (BERT's pad id), <unk>, [CLS], [SEP], [MASK].
  const training::CharVocabulary vocab =
      training::CharVocabulary::build(pretraining, bert_character_specials(), 2);
  const TokenId cls = 2, mask_id = 4;
  auto encode = [&](const std::string& text, std::size_t first_char) {
    const TokenSequence chars = vocab.encode(text);
    TokenSequence ids = {cls};
    for (std::size_t i = first_char; i < chars.size() && ids.size() < static_cast<std::size_t>(kPositions); ++i) {
      ids.push_back(chars[i]);
    }
    return ids;
  };

  // 3) The classification data, split 75/25 by record (a poem is never in both halves).
  std::vector<Example> examples;
  std::vector<std::string> texts_of;  // the text of each example
  for (TokenId label = 0; label < 3; ++label) {
    std::vector<std::string>& texts = label == 0 ? tang : label == 1 ? song : other;
    std::vector<std::size_t> order(texts.size());
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = order.size(); i > 1; --i) {
      std::swap(order[i - 1], order[std::min(i - 1, static_cast<std::size_t>(rng.uniform() * static_cast<double>(i)))]);
    }
    const std::size_t keep = label == 2 ? std::min(texts.size(), tang.size()) : texts.size();
    for (std::size_t i = 0; i < keep; ++i) {
      examples.push_back({encode(texts[order[i]], 0), label});
      texts_of.push_back(texts[order[i]]);
    }
  }
  std::vector<std::size_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  for (std::size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[std::min(i - 1, static_cast<std::size_t>(rng.uniform() * static_cast<double>(i)))]);
  }
  const std::size_t n_test = examples.size() / 4;
  const std::vector<std::size_t> test(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_test));
  const std::vector<std::size_t> train_set(order.begin() + static_cast<std::ptrdiff_t>(n_test), order.end());
  std::size_t counts[3] = {0, 0, 0}, test_counts[3] = {0, 0, 0};
  for (std::size_t i : train_set) ++counts[examples[i].label];
  for (std::size_t i : test) ++test_counts[examples[i].label];
  std::printf("data    pretraining: %zu texts (%zu Chinese, %zu English), vocabulary %zu characters\n", pretraining.size(),
              pretraining.size() - english.size(), english.size(), vocab.size());
  std::printf("        classification: train %zu (tang %zu, song %zu, other %zu), held out %zu (tang %zu, song %zu, other %zu)\n",
              train_set.size(), counts[0], counts[1], counts[2], test.size(), test_counts[0], test_counts[1], test_counts[2]);

  // 4) Pretraining: masked LM on every text except the held-out classification ones (the classifier's test texts
  //    stay unseen, even without their labels), cut into 63-character pieces, [CLS] first; 5% held out.
  std::set<std::string> held_out_texts;
  for (std::size_t i : test) held_out_texts.insert(texts_of[i]);
  std::vector<TokenSequence> pieces;
  for (const std::string& text : pretraining) {
    if (held_out_texts.count(text) != 0) continue;
    const std::size_t n = vocab.encode(text).size();
    for (std::size_t first = 0; first < n; first += static_cast<std::size_t>(kPositions - 1)) pieces.push_back(encode(text, first));
  }
  BertTaskData mlm;
  std::tie(mlm.train, mlm.validation) = training::split_records(pieces, 0.05, seed);
  mlm.masking.mask_token_id = mask_id;
  mlm.masking.vocab_size = static_cast<Index>(vocab.size());
  mlm.masking.special_ids = {0, 1, 2, 3, 4};
  mlm.batch = kBatch;
  mlm.max_length = kPositions;
  mlm.seed = seed;
  const auto save_vocabulary = [&vocab](const std::string& folder) { write_character_vocabulary(folder, vocab); };

  const std::string pretrained_dir = out + "/pretrained";
  Bert<float> pretrained(tiny_config(static_cast<Index>(vocab.size()), false), heads(false));
  if (!retrain && fs::exists(pretrained_dir + "/model.safetensors")) {
    pretrained = Bert<float>::from_pretrained(pretrained_dir);
    std::printf("pretrained  loaded %s\n", pretrained_dir.c_str());
  } else {
    std::printf("pretraining masked LM on %zu pieces (%zu held out), %lld steps of %ld\n", mlm.train.size(),
                mlm.validation.size(), static_cast<long long>(pretrain_steps), static_cast<long>(kBatch));
    generation::Rng init(seed);
    initialise(pretrained, init);
    const Clock clock;
    const training::TrainingLog log =
        training::train(trainer_config(pretrain_steps, 1e-3, seed, pretrained_dir), masked_lm_task(pretrained, mlm, save_vocabulary));
    std::printf("pretrained  saved %s: held-out masked-LM loss %.3f (uniform guess: ln V = %.3f); wall %.0f s, CPU %.0f s\n",
                pretrained_dir.c_str(), log.validations.empty() ? std::nan("") : log.validations.back().loss,
                std::log(static_cast<double>(vocab.size())), clock.wall_seconds(), clock.cpu_seconds());
  }

  // 5) The classifiers: for each label budget (how many labelled training texts it may see), the pretrained
  //    encoder and embeddings (names match: embeddings.*, encoder.*) with a new pooler and classifier, and the same
  //    model from random weights. Same steps, batches, learning rate, seed and texts. The budget is where
  //    pretraining should show: with few labels, a model that must also learn what the characters are from them
  //    has little to go on; the pretrained one learned that from unlabelled text.
  std::vector<std::size_t> budgets;  // counts of labelled texts, each ≤ train_set.size()
  for (const std::string& item : cli::list_items(args.has("--labelled") ? args.value("--labelled") : "50,100,200,all")) {
    if (item == "all") {
      budgets.push_back(train_set.size());
      continue;
    }
    const std::int64_t n = cli::parse_integer(item, "--labelled", 10, 1000000);
    budgets.push_back(std::min(train_set.size(), static_cast<std::size_t>(n)));
  }
  auto classifier = [&](bool from_pretrained, std::size_t budget) {
    const std::string suffix = budget == train_set.size() ? "" : "-" + std::to_string(budget);
    const std::string dir = out + (from_pretrained ? "/classifier" : "/classifier-scratch") + suffix;
    const char* name = from_pretrained ? "fine-tuned" : "scratch";
    Bert<float> model(tiny_config(static_cast<Index>(vocab.size()), true), heads(true));
    if (!retrain && fs::exists(dir + "/model.safetensors")) {
      model = Bert<float>::from_pretrained(dir);
      std::printf("%-11s loaded %s\n", name, dir.c_str());
      return model;
    }
    BertTaskData classes;  // the first `budget` texts of the (shuffled) training part; every held-out text
    for (std::size_t k = 0; k < budget; ++k) {
      classes.train.push_back(examples[train_set[k]].ids);
      classes.train_labels.push_back(examples[train_set[k]].label);
    }
    for (std::size_t i : test) {
      classes.validation.push_back(examples[i].ids);
      classes.validation_labels.push_back(examples[i].label);
    }
    classes.batch = kBatch;
    classes.max_length = kPositions;
    classes.seed = seed;
    generation::Rng init(seed + 7);  // the same pooler, classifier (and, for scratch, encoder) start both ways
    initialise(model, init);
    if (from_pretrained) {
      ParameterList<float> source = named_parameters(pretrained);
      for (ParameterRef<float>& p : named_parameters(model)) {
        for (const ParameterRef<float>& s : source) {
          if (s.name == p.name) std::copy(s.data, s.data + s.numel(), p.data);
        }
      }
    }
    std::printf("%s classifier on %zu labelled texts: %lld steps of %ld\n",
                from_pretrained ? "fine-tuning the pretrained" : "training a new", budget,
                static_cast<long long>(finetune_steps), static_cast<long>(kBatch));
    const Clock clock;
    const training::TrainingLog log =
        training::train(trainer_config(finetune_steps, finetune_lr, seed, dir), classification_task(model, classes, save_vocabulary));
    std::printf("%-11s saved %s: held-out loss %.3f; wall %.0f s, CPU %.0f s\n", name, dir.c_str(),
                log.validations.empty() ? std::nan("") : log.validations.back().loss, clock.wall_seconds(), clock.cpu_seconds());
    return model;
  };
  struct Row {
    std::size_t budget;
    double scratch, fine_tuned;
  };
  std::vector<Row> rows;
  for (std::size_t budget : budgets) {
    Bert<float> fine_tuned = classifier(true, budget);
    Bert<float> scratch = classifier(false, budget);
    rows.push_back({budget, accuracy(scratch, examples, test), accuracy(fine_tuned, examples, test)});
  }

  // 6) Held-out accuracy.
  const std::size_t majority = *std::max_element(test_counts, test_counts + 3);
  std::printf("\nheld-out accuracy on %zu texts (tang / song / other); majority class %.1f%%\n", test.size(),
              100.0 * static_cast<double>(majority) / static_cast<double>(test.size()));
  std::printf("  labelled texts   from scratch   pretrained + fine-tuned\n");
  for (const Row& r : rows) {
    std::printf("  %14zu   %11.1f%%   %22.1f%%\n", r.budget, 100.0 * r.scratch, 100.0 * r.fine_tuned);
  }
  std::printf("time    wall %.0f s, CPU %.0f s\n", total.wall_seconds(), total.cpu_seconds());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const cli::Table table = options();
  return cli::run(table.program.c_str(), [&] {
    const cli::Arguments args(argc, argv, table);
    if (args.has("--help")) return cli::print_help(table);
    return run(args);
  });
}
