// examples/llama/llama_train.hpp — training a Llama: the task the library's trainer runs
// (eigenformer/training/trainer.hpp), character vocabularies saved as a tokenizer.json, and `llama --train`.
//
//     llama --train --config examples/llama/tiny.json --data tang300 --steps 300 --out build/tiny      from scratch, characters
//     llama --train --model build/tiny --data my.txt --steps 100 --lr 1e-4 --out ft     fine-tune
//
// A step, as the trainer runs it (Llama::loss_and_gradients does 2–4):
//   1) the next B windows of T tokens from the training stream (training/data.hpp: WindowLoader, seeded)
//   2) forward with everything backward reads kept; logits (B·T, V)
//   3) causal-LM loss, labels = ids: position t is scored on token t+1
//   4) backward: every parameter's gradient added into its buffer
// and then the trainer's clipping, schedule, AdamW, log, evaluation and checkpoints.
//
// Text without a tokenizer (a new model from --config) is read one character per token: a
// training::CharVocabulary built from the training text, with Llama 3's special tokens first. It is saved as a
// tokenizer.json (a WordLevel model over single characters, which tokenizers::load_tokenizer and Hugging Face
// both read), so that `llama --model DIR --prompt ...` works on the trained folder.
//
// Shapes: B windows per micro-batch, T positions, V vocabulary, C width.
#pragma once

#include "common/train_cli.hpp"
#include "llama/llama.hpp"
#include "llama/llama_options.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace eigenformer::llama_training {

/// The special tokens of a character vocabulary, ids 0..6 in this order (Llama 3's names).
inline std::vector<std::string> char_special_tokens() {
  return {"<pad>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
          "<|eot_id|>"};
}

/// tokenizer.json for a character vocabulary: a WordLevel model (one entry per character), a pre-tokenizer that
/// isolates every character ([\s\S] matches newlines too), the Fuse decoder (characters join without spaces)
/// and the special tokens as added tokens.
inline std::string char_tokenizer_json(const training::CharVocabulary& vocab) {
  json::Value vocabulary{json::Object{}};
  json::Array added;
  for (std::size_t i = 0; i < vocab.size(); ++i) {
    const std::string& token = vocab.token(static_cast<TokenId>(i));
    vocabulary.set(token, static_cast<std::int64_t>(i));
    if (i < vocab.special_count()) {
      json::Value a;
      a.set("id", static_cast<std::int64_t>(i));
      a.set("content", token);
      a.set("single_word", false);
      a.set("lstrip", false);
      a.set("rstrip", false);
      a.set("normalized", false);
      a.set("special", true);
      added.push_back(a);
    }
  }
  json::Value pattern;
  pattern.set("Regex", "[\\s\\S]");
  json::Value pre;
  pre.set("type", "Split");
  pre.set("pattern", pattern);
  pre.set("behavior", "Isolated");
  pre.set("invert", false);
  json::Value decoder;
  decoder.set("type", "Fuse");
  json::Value model;
  model.set("type", "WordLevel");
  model.set("vocab", vocabulary);
  model.set("unk_token", "<unk>");
  json::Value root;
  root.set("version", "1.0");
  root.set("truncation", nullptr);
  root.set("padding", nullptr);
  root.set("added_tokens", added);
  root.set("normalizer", nullptr);
  root.set("pre_tokenizer", pre);
  root.set("post_processor", nullptr);
  root.set("decoder", decoder);
  root.set("model", model);
  return json::dump(root, 1);
}

/// Writes the Hugging Face folder of a character-level model: config.json + model.safetensors (F32),
/// tokenizer.json and char_vocabulary.json; then checks that the tokenizer.json just written encodes `sample`
/// exactly as the vocabulary does (FormatError otherwise).
template <class Scalar>
void save_char_model(const std::string& folder, Llama<Scalar>& model, const training::CharVocabulary& vocab,
                     const std::string& sample) {
  std::filesystem::create_directories(folder);
  model.save_pretrained(folder);
  write_file_atomically(folder + "/tokenizer.json", char_tokenizer_json(vocab), "[llama]");
  write_file_atomically(folder + "/char_vocabulary.json", vocab.to_json(), "[llama]");
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(folder);
  if (tokenizer.encode(sample) != vocab.encode(sample)) {
    throw FormatError(detail::cat("[llama] ", folder, "/tokenizer.json does not encode like the character vocabulary"));
  }
}

/// The character vocabulary saved beside a model, or nullopt when the folder has none.
inline std::optional<training::CharVocabulary> load_char_vocabulary(const std::string& folder) {
  const std::string path = folder + "/char_vocabulary.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return training::CharVocabulary::from_json(text.str(), path);
}

/// Initial weights as Llama's training code draws them: N(0, 0.02²) for every matrix (Box–Muller over the
/// seeded generation::Rng), 1 for the norms' gains.
template <class Scalar>
void initialise(Llama<Scalar>& model, std::uint64_t seed) {
  generation::Rng rng(seed);
  for (ParameterRef<Scalar>& p : named_parameters(model)) {
    const bool gain = p.name.find("norm") != std::string::npos;
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();  // u1 in (0, 1]: log is finite
      const double normal = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * 3.14159265358979323846 * u2);
      p.data[i] = gain ? Scalar(1) : static_cast<Scalar>(0.02 * normal);
    }
  }
}

/// Mean causal-LM loss over the first `max_windows` windows of T tokens of `stream` (all when 0), in order,
/// with the plain forward. Returns the mean over every scored position and their count.
template <class Scalar>
training::LossValue stream_loss(Llama<Scalar>& model, const TokenSequence& stream, Index T, std::int64_t max_windows = 0) {
  training::WindowLoader windows(stream, T, 1, 0);
  const std::int64_t n = max_windows > 0 ? std::min(max_windows, windows.windows()) : windows.windows();
  if (n == 0) {
    throw ValueError(detail::cat("[llama] the held-out text has ", stream.size(), " tokens: not one window of ", T));
  }
  double total = 0;
  Index counted = 0;
  Matrix<Scalar> logits;
  for (std::int64_t w = 0; w < n; ++w) {
    const training::Batch b = windows.in_order(w, 1);
    model.forward(b.ids, logits);
    const training::LossValue l = training::causal_lm_loss<Scalar>(logits, b.ids);
    total += l.loss * static_cast<double>(l.counted);
    counted += l.counted;
  }
  return {total / static_cast<double>(counted), counted};
}

/// The trainer's task for causal-LM pretraining on windows: each micro-batch is the loader's next B windows
/// (labels = ids), evaluation the first `eval_windows` held-out windows in order, the data position the
/// loader's. `save_model` is left to the caller (it knows the tokenizer). model, loader and held-out stream
/// must outlive the run.
template <class Scalar>
training::TrainingTask<Scalar> window_task(Llama<Scalar>& model, training::WindowLoader& loader,
                                           const TokenSequence& held_out, Index T, std::int64_t eval_windows) {
  training::TrainingTask<Scalar> task;
  task.parameters = parameters_with_gradients(model);
  task.train_micro_batch = [&model, &loader](const training::MicroBatchContext&) {
    const training::Batch b = loader.next();
    const training::LossValue l = model.loss_and_gradients(b.ids, b.ids);  // predict the next token
    training::MicroBatchResult r;
    r.loss = l.loss;
    r.counted = l.counted;
    r.tokens = b.ids.size();
    return r;
  };
  task.evaluate = [&model, &held_out, T, eval_windows] { return stream_loss(model, held_out, T, eval_windows); };
  task.data_position = [&loader] { return loader.position(); };
  task.seek_data = [&loader](const training::DataPosition& p) { loader.seek(p); };
  return task;
}

/// The sizes of a training step of `config` on B windows of T positions, for the memory guard
/// (training/footprint.hpp).
inline training::TrainingShape training_shape(const LlamaConfig& config, Index B, Index T) {
  training::TrainingShape shape;
  shape.layers = config.num_hidden_layers;
  shape.width = config.hidden_size;
  shape.heads = config.num_attention_heads;
  shape.kv_heads = config.kv_heads();
  shape.head_dim = config.head_width();
  shape.ffn = config.intermediate_size;
  shape.vocab = config.vocab_size;
  shape.batch = B;
  shape.positions = T;
  return shape;
}

/// `llama --train`: a new model from --config (its vocabulary: the characters of the training text, which
/// sets vocab_size and the special ids) or a checkpoint from --model (its character vocabulary or its
/// tokenizer), trained on --data (a fortunes corpus name such as tang300, or a text file; 10% of its records
/// held out), saved with its tokenizer into --out.
template <class Scalar>
int run_training(const cli::Arguments& args) {
  const cli::TrainSettings s = cli::training_settings(args, cli::llama_train_defaults());
  cli::apply_threads(s);
  // 1) The text: records, 10% held out.
  const std::string data_path = std::filesystem::exists(s.data) ? s.data : training::fortunes_dir() + "/" + s.data;
  if (!std::filesystem::exists(data_path)) {
    throw FileError(detail::cat("--data: '", s.data, "' is neither a file nor a corpus in ", training::fortunes_dir(),
                                " (install fortunes / fortunes-zh: tools/install-deps.sh)"));
  }
  const std::pair<std::vector<std::string>, std::vector<std::string>> split =
      training::split_records(training::load_fortunes(data_path), 0.1, 1);
  const std::vector<std::string>& train_records = split.first;
  const std::vector<std::string>& held_records = split.second;
  if (train_records.empty() || held_records.empty()) {
    throw ValueError(detail::cat("--data: ", data_path, " has too few records (separated by '%' lines) to hold 10% out"));
  }

  // 2) The model and how text becomes ids.
  std::optional<training::CharVocabulary> vocab;
  std::optional<tokenizers::Tokenizer> tokenizer;
  std::optional<Llama<Scalar>> model;
  if (!s.config_file.empty()) {
    std::vector<std::string> texts = train_records;
    vocab = training::CharVocabulary::build(texts, char_special_tokens());
    json::Value j = ModelConfig::from_file(s.config_file).json();
    j.set("vocab_size", static_cast<std::int64_t>(vocab->size()));
    j.set("bos_token_id", static_cast<std::int64_t>(*vocab->id("<|begin_of_text|>")));
    j.set("eos_token_id", json::Array{json::Value(static_cast<std::int64_t>(*vocab->id("<|end_of_text|>"))),
                                      json::Value(static_cast<std::int64_t>(*vocab->id("<|eot_id|>")))});
    j.set("pad_token_id", static_cast<std::int64_t>(*vocab->id("<pad>")));
    model.emplace(LlamaConfig::from(ModelConfig(j, s.config_file)));
    initialise(*model, s.trainer.seed);
    std::printf("model   new from %s: vocabulary of %zu characters (vocab_size set to it)\n", s.config_file.c_str(),
                vocab->size());
  } else {
    model.emplace(Llama<Scalar>::from_pretrained(s.model_dir));
    vocab = load_char_vocabulary(s.model_dir);
    if (!vocab) tokenizer = cli::open_tokenizer(s.model_dir);
    if (!vocab && !tokenizer) {
      throw FileError(detail::cat("--model ", s.model_dir, " has neither char_vocabulary.json nor tokenizer files"));
    }
    std::printf("model   %s\n", s.model_dir.c_str());
  }
  Llama<Scalar>& m = *model;
  const SpecialTokenIds& special = m.config().special_tokens;
  const auto stream = [&](const std::vector<std::string>& records) {
    TokenSequence out;
    for (const std::string& r : records) {
      if (special.bos) out.push_back(*special.bos);
      const TokenSequence ids = vocab ? vocab->encode(r) : tokenizer->encode(r, tokenizers::EncodeOptions{}.as_text());
      out.insert(out.end(), ids.begin(), ids.end());
      if (!special.eos.empty()) out.push_back(special.eos.front());
    }
    cli::check_vocabulary(out, m.config().vocab_size, "--data");
    return out;
  };
  const TokenSequence train_stream = stream(train_records), held_stream = stream(held_records);
  std::printf("data    %s: %zu records (%zu tokens) for training, %zu held out (%zu tokens)\n", data_path.c_str(),
              train_records.size(), train_stream.size(), held_records.size(), held_stream.size());
  const Index T = std::min<Index>(s.seq_len, m.config().max_position_embeddings);

  // 3) The trainer runs the task — if its gradients, optimizer moments and activations fit (MemoryError before
  //    allocating them otherwise, naming each part: training/footprint.hpp).
  training::check_training_memory<Scalar>(training_shape(m.config(), s.batch, T), count_parameters(m),
                                          s.trainer.optimizer == training::OptimizerKind::AdamW ? 2 : (s.trainer.momentum > 0 ? 1 : 0),
                                          /*weights_loaded=*/true);
  training::WindowLoader loader(train_stream, T, s.batch, s.trainer.seed);
  training::TrainingTask<Scalar> task = window_task(m, loader, held_stream, T, s.eval_batches);
  task.save_model = [&](const std::string& folder) {
    if (vocab) {
      save_char_model(folder, m, *vocab, train_records.front());
    } else {
      m.save_pretrained(folder);
      for (const char* name : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json"}) {
        const std::filesystem::path from = std::filesystem::path(s.model_dir) / name;
        if (std::filesystem::exists(from)) {
          std::filesystem::copy_file(from, std::filesystem::path(folder) / name,
                                     std::filesystem::copy_options::overwrite_existing);
        }
      }
    }
  };
  const training::TrainingLog log = training::train(s.trainer, std::move(task));
  std::printf("trained %lld steps; last training loss %.4f", static_cast<long long>(s.trainer.steps),
              log.steps.empty() ? 0.0 : log.steps.back().loss);
  if (!log.validations.empty()) std::printf(", held-out loss %.4f", log.validations.back().loss);
  std::printf("\nsaved   %s (config.json, model.safetensors, tokenizer; log.csv, loss_curve.svg)\n", s.trainer.out.c_str());
  return 0;
}

}  // namespace eigenformer::llama_training
