// examples/poet/poet.hpp — what the poet and the assistant share: the Tang poems as characters, a tiny Llama,
// a training loop on the library's pieces, saving in the Hugging Face layout (with a tokenizer.json that
// `llama --model` reads), and the measures the two programs report.
//
// The corpus: 唐诗三百首 as Debian's fortunes-zh ships it (/usr/share/games/fortunes/tang300): 313 records of
//     《title》
//     作者：author
//     line，line。
//     ...
// read by training/corpus.hpp (colour codes and '%' separators stripped). One token per character
// (training::CharVocabulary), with Llama 3's special tokens first so that the assistant's chat layout needs no
// new rows: <pad> <unk> <|begin_of_text|> <|end_of_text|> <|start_header_id|> <|end_header_id|> <|eot_id|>.
//
// Shapes: B sequences, T positions, V vocabulary (~2,600 characters), C width.
#pragma once

#include <eigenformer/eigenformer.hpp>

#include "llama/llama.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace eigenformer::poet {

/// The special tokens, ids 0..6 in this order (Llama 3's names for the four that matter).
inline std::vector<std::string> special_tokens() {
  return {"<pad>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
          "<|eot_id|>"};
}

/// Characters the assistant's prompts use besides the poems' own: the role names and the instruction.
inline const char* kChatCharacters = "user assistant\n对下句：";

/// The poems split once into training and held-out parts (10%, seed 1), and the vocabulary of the training part.
struct Corpus {
  std::vector<std::string> train, held_out;  // one poem (title, author, lines) per entry
  training::CharVocabulary vocab;
  TokenId pad = 0, bos = 0, eos = 0, start_header = 0, end_header = 0, eot = 0;
};

inline Corpus load_corpus() {
  const std::string path = training::fortunes_dir() + "/tang300";
  if (!std::filesystem::exists(path)) {
    throw FileError(detail::cat("[poet] ", path, " is missing: install the Debian package fortunes-zh ",
                                "(tools/install-deps.sh installs it)"));
  }
  Corpus c;
  std::tie(c.train, c.held_out) = training::split_records(training::load_fortunes(path), 0.1, 1);
  std::vector<std::string> texts = c.train;
  texts.push_back(kChatCharacters);
  c.vocab = training::CharVocabulary::build(texts, special_tokens());
  c.pad = *c.vocab.id("<pad>");
  c.bos = *c.vocab.id("<|begin_of_text|>");
  c.eos = *c.vocab.id("<|end_of_text|>");
  c.start_header = *c.vocab.id("<|start_header_id|>");
  c.end_header = *c.vocab.id("<|end_header_id|>");
  c.eot = *c.vocab.id("<|eot_id|>");
  return c;
}

/// Poems → one stream: <|begin_of_text|> poem <|end_of_text|> after one another (what the poet learns).
inline TokenSequence poem_stream(const Corpus& c, const std::vector<std::string>& poems) {
  TokenSequence out;
  for (const std::string& p : poems) {
    out.push_back(c.bos);
    const TokenSequence ids = c.vocab.encode(p);
    out.insert(out.end(), ids.begin(), ids.end());
    out.push_back(c.eos);
  }
  return out;
}

/// The poet's Llama: tied embeddings (the head reuses the character table), GQA, SwiGLU, RoPE.
struct ModelSize {
  Index width = 128, layers = 4, heads = 4, kv_heads = 2, ffn = 344, context = 128;
};

inline LlamaConfig poet_config(const Corpus& c, const ModelSize& size) {
  LlamaConfig l;
  l.vocab_size = static_cast<Index>(c.vocab.size());
  l.hidden_size = size.width;
  l.intermediate_size = size.ffn;
  l.num_hidden_layers = size.layers;
  l.num_attention_heads = size.heads;
  l.num_key_value_heads = size.kv_heads;
  l.head_dim = size.width / size.heads;
  l.max_position_embeddings = size.context;
  l.rms_norm_eps = 1e-5;
  l.rope_theta = 10000.0;
  l.tie_word_embeddings = true;
  l.special_tokens.bos = c.bos;
  l.special_tokens.eos = {c.eos, c.eot};
  l.special_tokens.pad = c.pad;
  // config.json carries the special ids (LlamaConfig::to_json keeps the fields of `original`).
  json::Value original;
  original.set("bos_token_id", static_cast<std::int64_t>(c.bos));
  original.set("eos_token_id", json::Array{json::Value(static_cast<std::int64_t>(c.eos)),
                                           json::Value(static_cast<std::int64_t>(c.eot))});
  original.set("pad_token_id", static_cast<std::int64_t>(c.pad));
  original.set("torch_dtype", "float32");
  l.original = original;
  return l;
}

/// Initial weights as Llama's training code draws them: N(0, 0.02²) for every matrix, 1 for the norms' gains.
inline void initialise(Llama<float>& model, std::uint64_t seed) {
  generation::Rng rng(seed);
  for (ParameterRef<float>& p : named_parameters(model)) {
    const bool gain = p.name.find("norm") != std::string::npos;
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      // Box–Muller from two uniforms in (0, 1].
      const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
      const double normal = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * 3.14159265358979323846 * u2);
      p.data[i] = gain ? 1.0f : static_cast<float>(0.02 * normal);
    }
  }
}

// ---- Training --------------------------------------------------------------------------------------------

struct TrainSettings {
  std::int64_t steps = 600;
  double lr = 3e-3;             // peak; linear warmup, then cosine decay to 0
  std::int64_t warmup = 40;
  double weight_decay = 0.1;    // AdamW's default rule: not on norms, biases and embeddings
  double clip = 1.0;            // global gradient norm
  std::int64_t eval_every = 100;
  std::string log_folder;       // log.csv and loss_curve.svg go here
};

/// One batch: ids (B, T), labels (B, T) with −100 where not scored, and the padding of the keys (or none).
struct TrainingBatch {
  TokenIds ids, labels;
  std::optional<KeyPadding> padding;
};

/// Wall-clock and CPU seconds of a run (CPU time counts every thread; on an idle machine wall ≈ CPU / threads).
struct Timing {
  double wall = 0, cpu = 0;
};

/// The loop (the same as docs/training.md's "One training step"): zero the gradients, forward + loss +
/// backward (Llama::loss_and_gradients), stop on a non-finite value, clip, set the scheduled learning rate,
/// AdamW step. `validate()` returns the held-out loss every eval_every steps. Writes log.csv and loss_curve.svg.
inline Timing train(Llama<float>& model, const std::function<TrainingBatch()>& next_batch,
                    const std::function<double()>& validate, const TrainSettings& s) {
  const auto wall_start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  ParameterList<float> params = parameters_with_gradients(model);
  training::AdamWConfig config;
  config.lr = s.lr;
  config.weight_decay = s.weight_decay;
  config.beta2 = 0.99;
  training::AdamW<float> optimizer(config);
  training::Progress progress(s.steps);
  training::TrainingLog log;
  for (std::int64_t step = 0; step < s.steps; ++step) {
    zero_gradients(params);
    const TrainingBatch batch = next_batch();
    const training::LossValue loss =
        model.loss_and_gradients(batch.ids, batch.labels, batch.padding ? &*batch.padding : nullptr);
    training::check_finite(params, step + 1, loss.loss);
    const double norm = training::clip_grad_norm(params, s.clip);
    optimizer.config.lr = s.lr * training::cosine_with_warmup(step, s.warmup, s.steps);
    optimizer.step(params);
    progress.update(step + 1, loss.loss, batch.ids.size());
    log.steps.push_back({step + 1, loss.loss, optimizer.config.lr, norm, 0});
    if ((step + 1) % s.eval_every == 0 || step + 1 == s.steps) {
      log.validations.push_back({step + 1, validate()});
      progress.finish();
      std::fprintf(stderr, "step %lld: validation loss %.4f\n", static_cast<long long>(step + 1),
                   log.validations.back().loss);
    }
  }
  progress.finish();
  if (!s.log_folder.empty()) {
    std::filesystem::create_directories(s.log_folder);
    log.write_csv(s.log_folder + "/log.csv");
    training::write_loss_curve(s.log_folder + "/loss_curve.svg", log);
  }
  Timing t;
  t.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  t.cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  return t;
}

/// Mean causal-LM loss over windows of `stream` (T positions each, in order), computed with the plain forward.
inline double stream_loss(Llama<float>& model, const TokenSequence& stream, Index T) {
  training::WindowLoader windows(stream, T, 1, 0);
  double total = 0;
  Index counted = 0;
  Matrix<float> logits;
  for (std::int64_t w = 0; w < windows.windows(); ++w) {
    const training::Batch b = windows.in_order(w, 1);
    model.forward(b.ids, logits);
    const training::LossValue l = training::causal_lm_loss<float>(logits, b.ids);
    total += l.loss * static_cast<double>(l.counted);
    counted += l.counted;
  }
  return total / static_cast<double>(counted);
}

// ---- Saving: the Hugging Face layout plus a tokenizer llama --model reads ---------------------------------

/// tokenizer.json for the character vocabulary: a WordLevel model (one entry per character), a pre-tokenizer
/// that isolates every character ([\s\S] also matches newlines), the Fuse decoder (characters join without
/// spaces) and the special tokens as added tokens.
inline std::string tokenizer_json(const training::CharVocabulary& vocab) {
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

/// Writes config.json + model.safetensors (F32) + tokenizer.json + char_vocabulary.json into `folder`, then
/// checks that the tokenizer.json just written encodes `sample` exactly as the vocabulary does.
inline void save(const std::string& folder, Llama<float>& model, const training::CharVocabulary& vocab,
                 const std::string& sample) {
  std::filesystem::create_directories(folder);
  model.save_pretrained(folder);
  write_file_atomically(folder + "/tokenizer.json", tokenizer_json(vocab), "[poet]");
  write_file_atomically(folder + "/char_vocabulary.json", vocab.to_json(), "[poet]");
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(folder);
  if (tokenizer.encode(sample) != vocab.encode(sample)) {
    throw FormatError(detail::cat("[poet] ", folder, "/tokenizer.json does not encode like the character vocabulary"));
  }
}

/// The vocabulary a saved folder was trained with.
inline training::CharVocabulary load_vocabulary(const std::string& folder) {
  const std::string path = folder + "/char_vocabulary.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(detail::cat("[poet] cannot open '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return training::CharVocabulary::from_json(text.str(), path);
}

inline bool saved(const std::string& folder) {
  return std::filesystem::exists(folder + "/model.safetensors") && std::filesystem::exists(folder + "/char_vocabulary.json");
}

/// Where trained models go by default: ~/.cache/eigenformer/<name> (or build/<name> without $HOME).
inline std::string default_folder(const std::string& name) {
  const char* home = std::getenv("HOME");
  return home != nullptr ? std::string(home) + "/.cache/eigenformer/" + name : "build/" + name;
}

// ---- Measures ------------------------------------------------------------------------------------------------

/// The unigram entropy of the training characters, H = −Σ p log p (nats): the loss of the best model that
/// ignores context. `held_out` gets the cross-entropy of the held-out stream under the same frequencies.
inline double unigram_entropy(const TokenSequence& train, const TokenSequence& held, double* held_out) {
  std::map<TokenId, double> counts;
  for (TokenId id : train) counts[id] += 1;
  const double n = static_cast<double>(train.size());
  double h = 0;
  for (const auto& kv : counts) h -= kv.second / n * std::log(kv.second / n);
  double x = 0;
  for (TokenId id : held) {
    auto it = counts.find(id);
    x -= std::log((it == counts.end() ? 0.5 : it->second) / n);  // unseen: half a count
  }
  if (held_out != nullptr) *held_out = x / static_cast<double>(held.size());
  return h;
}

/// The clauses of a poem's lines and their lengths: every run of characters that ends at ， 。 ？ ！ or ；,
/// counted in characters (quotes “ ” left out), skipping the title line 《…》 and the author line 作者：….
struct FormCount {
  std::int64_t clauses = 0, five_or_seven = 0;
  double fraction() const { return clauses > 0 ? static_cast<double>(five_or_seven) / static_cast<double>(clauses) : 0; }
};

inline void count_form(const std::string& poem, FormCount& out) {
  std::size_t start = 0;
  while (start < poem.size()) {
    std::size_t end = poem.find('\n', start);
    if (end == std::string::npos) end = poem.size();
    const std::string line = poem.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line.rfind("《", 0) == 0 || line.rfind("作者", 0) == 0) continue;
    std::int64_t length = 0;
    for (const std::string& ch : training::utf8_characters(line)) {
      if (ch == "，" || ch == "。" || ch == "？" || ch == "！" || ch == "；") {
        ++out.clauses;
        if (length == 5 || length == 7) ++out.five_or_seven;
        length = 0;
      } else if (ch != "“" && ch != "”" && ch != " ") {
        ++length;
      }
    }
  }
}

}  // namespace eigenformer::poet
