// examples/poet/poet.hpp — what the poet and the assistant share: the Tang poems as characters, a tiny Llama,
// the library's trainer (eigenformer/training/trainer.hpp) around Llama::loss_and_gradients, saving in the
// Hugging Face layout (with a tokenizer.json that `llama --model` reads: llama/llama_train.hpp), and the
// measures the two programs report.
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
#include <eigenformer/inspect.hpp>

#include "llama/llama.hpp"
#include "llama/llama_train.hpp"

#include <algorithm>
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

/// The special tokens, ids 0..6 (Llama 3's names): llama/llama_train.hpp's character vocabularies.
inline std::vector<std::string> special_tokens() { return llama_training::char_special_tokens(); }

/// Characters the assistant's prompts use besides the poems' own: the role names and the instruction.
inline const char* kChatCharacters = "user assistant\n对下句：";

/// The poems split once into training and held-out parts (10%, seed 1); the wider reading of the first stage
/// (wide_reading below); the vocabulary: every character of the training poems, and the characters the reading
/// uses at least 3 times.
struct Corpus {
  std::vector<std::string> train, held_out;  // one poem (title, author, lines) per entry
  std::vector<std::string> reading;          // one record of song100 or chinese per entry
  training::CharVocabulary vocab;
  TokenId pad = 0, bos = 0, eos = 0, start_header = 0, end_header = 0, eot = 0;
};

/// True when at least 60% of the non-space characters of `text` are CJK ideographs (U+4E00..U+9FFF): the test
/// that keeps the Chinese prose and verse of the `chinese` fortunes and drops its tables, code and English.
inline bool mostly_chinese(const std::string& text) {
  std::size_t cjk = 0, all = 0;
  for (const std::string& ch : training::utf8_characters(text)) {
    if (ch == " " || ch == "\n" || ch == "\t") continue;
    ++all;
    // U+4E00..U+9FFF is E4 B8 80 .. E9 BF BF in UTF-8: three bytes, the first E4..E9 (and not below E4 B8).
    const auto b0 = static_cast<unsigned char>(ch[0]);
    if (ch.size() == 3 && b0 >= 0xE4 && b0 <= 0xE9 && !(b0 == 0xE4 && static_cast<unsigned char>(ch[1]) < 0xB8)) ++cjk;
  }
  return all > 0 && cjk * 10 >= all * 6;
}

/// The poet's first reading — its pretraining: fortunes-zh's 宋词 (song100) and `chinese` (classical quotations,
/// proverbs, verse and some modern prose), each record that is mostly Chinese (mostly_chinese). A record that
/// quotes a clause of a held-out poem is left out, so the held-out loss stays a test on text the model never read
/// (`chinese` quotes Tang poems). Records with their colour-coded source lines, as the fortunes show them.
inline std::vector<std::string> wide_reading(const std::vector<std::string>& held_out) {
  std::vector<std::string> quoted;  // the held-out poems' clauses of 4 or more characters
  for (const std::string& poem : held_out) {
    std::string clause;
    std::size_t length = 0;
    for (const std::string& ch : training::utf8_characters(poem)) {
      if (ch == "，" || ch == "。" || ch == "？" || ch == "！" || ch == "；" || ch == "\n") {
        if (length >= 4) quoted.push_back(clause);
        clause.clear();
        length = 0;
      } else {
        clause += ch;
        ++length;
      }
    }
  }
  std::vector<std::string> out;
  for (const char* file : {"song100", "chinese"}) {
    const std::string path = training::fortunes_dir() + "/" + file;
    if (!std::filesystem::exists(path)) {
      throw FileError(detail::cat("[poet] ", path, " is missing: install the Debian package fortunes-zh ",
                                  "(tools/install-deps.sh installs it)"));
    }
    for (std::string& record : training::load_fortunes(path)) {
      if (!mostly_chinese(record)) continue;
      const bool quotes = std::any_of(quoted.begin(), quoted.end(),
                                      [&](const std::string& q) { return record.find(q) != std::string::npos; });
      if (!quotes) out.push_back(std::move(record));
    }
  }
  return out;
}

/// The vocabulary with every token of `a` and every token of `b` that `a` lacks; specials are `a`'s, the other
/// tokens in byte order (as CharVocabulary::build orders them), so the same texts always give the same ids.
inline training::CharVocabulary merged_vocabulary(const training::CharVocabulary& a, const training::CharVocabulary& b) {
  std::vector<std::string> specials, chars;
  for (std::size_t i = 0; i < a.size(); ++i) {
    (i < a.special_count() ? specials : chars).push_back(a.token(static_cast<TokenId>(i)));
  }
  for (std::size_t i = b.special_count(); i < b.size(); ++i) {
    if (!a.id(b.token(static_cast<TokenId>(i)))) chars.push_back(b.token(static_cast<TokenId>(i)));
  }
  std::sort(chars.begin(), chars.end());
  specials.insert(specials.end(), chars.begin(), chars.end());
  return training::CharVocabulary::from_tokens(specials, a.special_count());
}

inline Corpus load_corpus() {
  const std::string path = training::fortunes_dir() + "/tang300";
  if (!std::filesystem::exists(path)) {
    throw FileError(detail::cat("[poet] ", path, " is missing: install the Debian package fortunes-zh ",
                                "(tools/install-deps.sh installs it)"));
  }
  Corpus c;
  std::tie(c.train, c.held_out) = training::split_records(training::load_fortunes(path), 0.1, 1);
  c.reading = wide_reading(c.held_out);
  std::vector<std::string> texts = c.train;
  texts.push_back(kChatCharacters);
  c.vocab = merged_vocabulary(training::CharVocabulary::build(texts, special_tokens()),
                              training::CharVocabulary::build(c.reading, special_tokens(), 3));
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

// ---- Training: the library's trainer ------------------------------------------------------------------

/// The trainer's settings for a run of `steps` steps with peak learning rate `lr` (linear warmup, cosine decay
/// to 0), AdamW (β2 = 0.99, weight decay 0.1 on the matrices: none on norms and the embedding), clipping at 1,
/// the held-out loss every `eval_every` steps; the model, log.csv and loss_curve.svg end up in `out`.
inline training::TrainerConfig trainer_config(std::int64_t steps, double lr, std::int64_t warmup, std::int64_t eval_every,
                                              const std::string& out) {
  training::TrainerConfig c;
  c.steps = steps;
  c.lr = lr;
  c.warmup = std::min(warmup, steps);
  c.weight_decay = 0.1;
  c.beta2 = 0.99;
  c.clip = 1.0;
  c.eval_every = eval_every;
  c.seed = 7;
  c.out = out;
  c.keep_checkpoints = 1;
  return c;
}

/// Wall-clock and CPU seconds of a run (CPU time counts every thread; on an idle machine wall ≈ CPU / threads).
struct Timing {
  double wall = 0, cpu = 0;
};

/// Runs the trainer on `task` and times it.
inline Timing train(const training::TrainerConfig& config, training::TrainingTask<float> task,
                    training::TrainingLog* log = nullptr) {
  const auto wall_start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  training::TrainingLog result = training::train(config, std::move(task));
  if (log != nullptr) *log = std::move(result);
  Timing t;
  t.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  t.cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  return t;
}

/// The vocabulary a saved folder was trained with (FileError when it has none).
inline training::CharVocabulary load_vocabulary(const std::string& folder) {
  std::optional<training::CharVocabulary> v = llama_training::load_char_vocabulary(folder);
  if (!v) throw FileError(detail::cat("[poet] ", folder, " has no char_vocabulary.json"));
  return *v;
}

/// ValueError unless `folder` was trained with the corpus's vocabulary: a model's rows are the ids of its own
/// vocabulary, and another one would read every character as a different one. `who` names the program in the
/// message, `remedy` says what to run.
inline void check_vocabulary(const std::string& folder, const Corpus& corpus, const char* who, const char* remedy) {
  if (load_vocabulary(folder).to_json() != corpus.vocab.to_json()) {
    throw ValueError(detail::cat("[", who, "] ", folder, " was trained with another vocabulary: ", remedy));
  }
}

/// One forward pass of `model` over `ids` (T tokens of `vocab`) that keeps every layer's attention weights, as
/// maps labelled with the tokens — what the tour's and the course's attention pictures draw.
inline std::vector<inspect::AttentionMaps> attention_maps(Llama<float>& model, const training::CharVocabulary& vocab,
                                                          const TokenSequence& ids) {
  TokenIds batch(1, static_cast<Index>(ids.size()));
  for (std::size_t t = 0; t < ids.size(); ++t) batch(0, static_cast<Index>(t)) = ids[t];
  Capture<float> capture;
  LlamaOptions<float> options;
  options.capture = &capture;
  Matrix<float> logits;
  model.forward(batch, logits, options);
  std::vector<std::string> tokens;
  for (TokenId id : ids) tokens.push_back(vocab.token(id));
  return inspect::attention_maps(capture, inspect::AttentionKind::CausalSelf, tokens);
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
