// tour — the lecture in seven stages, run on the small models this project trained itself.
//
//     ./build/release/examples/tour/tour               # all seven stages, explained in English
//     ./build/release/examples/tour/tour --lang zh     # 中文讲解
//     ./build/release/examples/tour/tour --stage 2     # one stage
//
//   1 tokens        a sentence in English and in Chinese, cut by two tokenizers; the special tokens; each EOS
//   2 attention     one head of the poet on a line of a Tang poem, as a terminal heatmap, an SVG and an HTML page
//   3 the encoder   the reader's tiny BERT guesses a hidden character
//   4 the decoder   the poet writes: the top candidates at each step; greedy, beam search and sampling; the EOS
//   5 enc-decoder   the translator's tiny T5 spells numbers in English and in Chinese, with its cross-attention
//   6 learning      a fresh model learns from the poems for a few hundred steps, the loss falling
//   7 prompts       the assistant answers in Llama 3's chat layout and stops at <|eot_id|>
//
// The models come from the example programs (poet, assistant, reader, translator), which train them once and
// save them under ~/.cache/eigenformer/; tools/setup.sh runs them before the tour. A stage whose model is missing
// says which program makes it, and the tour goes on. Every stage is a function below that reads top to bottom;
// the words it prints are in tour_text.hpp, in both languages.
#include "common/cli.hpp"
#include "bert/bert.hpp"
#include "poet/poet.hpp"
#include "t5/t5.hpp"
#include "tour/tour_options.hpp"
#include "tour/tour_text.hpp"

#include <eigenformer/inspect.hpp>
#include <eigenformer/training.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace eigenformer;
namespace fs = std::filesystem;

namespace {

/// Where everything is, and in which language the tour speaks.
struct Settings {
  tour::Language lang = tour::Language::English;
  std::string out = "build/tour";
  std::string poet, assistant, reader, translator;
  std::int64_t learning_steps = 300;

  bool zh() const { return lang == tour::Language::Chinese; }
  /// The English or the Chinese of a short phrase.
  const char* say(const char* en, const char* zh_text) const { return zh() ? zh_text : en; }
};

void heading(int stage, const Settings& s) {
  std::printf("\n══ %d/%d  %s ══════════════════════════════════════════════════════════\n\n", stage, tour::kStages,
              tour::title(stage, s.lang).c_str());
  std::printf("%s\n\n", tour::explanation(stage, s.lang).c_str());
}

void read_next(int stage, const Settings& s) {
  std::printf("\n%s %s\n", s.say("Read next:", "接着读："), tour::stage_text(stage).read_next);
}

/// False (and a line saying which program makes it) when `folder` holds no trained model.
bool have_model(const std::string& folder, const char* program, const Settings& s) {
  if (fs::exists(fs::path(folder) / "model.safetensors") && fs::exists(fs::path(folder) / "config.json")) return true;
  std::printf("%s %s — %s ./build/release/examples/%s/%s\n", s.say("(no model in", "（没有找到模型："), folder.c_str(),
              s.say("train it with", "先运行"), program, program);
  return false;
}

/// A token's text for display: printable as it is, or its bytes in hex when it is not whole UTF-8 (a byte-level
/// BPE token may hold half of a Chinese character).
std::string shown(const std::string& bytes) {
  if (tokenizers::find_invalid_utf8(bytes) == std::string::npos) {
    std::string out;
    for (char c : bytes) out += c == ' ' ? std::string("␣") : c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
  }
  std::string hex = "<";
  char buffer[4];
  for (unsigned char b : bytes) {
    std::snprintf(buffer, sizeof buffer, "%s%02x", hex.size() > 1 ? " " : "", b);
    hex += buffer;
  }
  return hex + ">";
}

// ---- 1. Tokens ---------------------------------------------------------------------------------------------------

void print_tokens(const char* name, const std::vector<std::string>& pieces, const TokenSequence& ids, const Settings& s) {
  std::printf("  %-31s %2zu %s", name, ids.size(), s.say("tokens:", "个词元："));
  for (std::size_t i = 0; i < ids.size(); ++i) std::printf(" %s|%d", pieces[i].c_str(), ids[i]);
  std::printf("\n");
}

void stage_tokens(const Settings& s) {
  const std::vector<std::string> sentences = {"The cat sat on the mat.", "床前明月光，疑是地上霜。"};

  // Tokenizer A: one token per character, the poet's vocabulary (the characters of the Tang poems).
  const poet::Corpus corpus = poet::load_corpus();
  // Tokenizer B: a byte-level BPE learned right now from English fortunes and the poems (tokenizers/bpe_trainer.hpp).
  std::string text;
  const std::vector<std::string> english = training::load_fortunes(training::fortunes_dir() + "/fortunes");
  for (std::size_t i = 0; i < english.size() && text.size() < 60000; ++i) text += english[i] + "\n";
  for (const std::string& poem : corpus.train) text += poem + "\n";
  tokenizers::BpeTrainerOptions options;
  options.vocab_size = 700;
  options.special_tokens = {"<|endoftext|>"};
  const tokenizers::Tokenizer bpe = tokenizers::train_bpe(text, options).tokenizer();
  std::printf("%s %zu KB: %d %s\n\n", s.say("A byte-level BPE was just learned from", "刚刚从以下语料学出了一个字节级 BPE："),
              text.size() / 1024, 700 - 256, s.say("merges on top of the 256 bytes", "次合并，加在 256 个字节之上"));

  for (const std::string& sentence : sentences) {
    std::printf("\"%s\"\n", sentence.c_str());
    const TokenSequence char_ids = corpus.vocab.encode(sentence);
    std::vector<std::string> char_pieces;
    for (TokenId id : char_ids) char_pieces.push_back(corpus.vocab.token(id));
    print_tokens(s.say("characters (the poet's)", "字符（诗人的词表）"), char_pieces, char_ids, s);
    const TokenSequence bpe_ids = bpe.encode(sentence);
    std::vector<std::string> bpe_pieces;
    for (TokenId id : bpe_ids) bpe_pieces.push_back(shown(bpe.decode_bytes({id})));  // the token's raw bytes
    print_tokens(s.say("byte-level BPE (just learned)", "字节级 BPE（刚学出的）"), bpe_pieces, bpe_ids, s);
    std::printf("\n");
  }
  std::printf("%s\n", s.say("The poet's vocabulary holds the characters of the poems (and the few letters its chat layout needs): most\n"
                            "English letters become <unk>. The BPE sees a Chinese character as 3 bytes and keeps them apart unless it\n"
                            "learned to merge them (␣ is a space; <e5 ba> two bytes of a character cut in half); frequent English words\n"
                            "became single tokens.",
                            "诗人的词表里是诗中的字（外加对话格式需要的几个字母）：大多数英文字母都成了 <unk>。BPE 把一个汉字\n"
                            "看作 3 个字节，除非学会了合并它们，否则就分开（␣ 是空格；<e5 ba> 是被切成两半的汉字的两个字节）；\n"
                            "常见的英文单词则成了单个词元。"));

  // The end-of-sequence token of each family, from the presets the library keeps (tokenizers/special_tokens.hpp).
  std::printf("\n%s\n", s.say("Each family's end-of-sequence token:", "各模型家族的序列结束符："));
  using tokenizers::Family;
  const std::vector<std::pair<const char*, Family>> families = {{"GPT-2", Family::gpt2},
                                                                {"GPT-4 (cl100k_base)", Family::cl100k_base},
                                                                {"Llama 3", Family::llama3},
                                                                {"DeepSeek-R1", Family::deepseek_r1},
                                                                {"T5", Family::t5}};
  for (const auto& [name, family] : families) {
    std::string eos;
    for (const tokenizers::SpecialTokenSpec& spec : tokenizers::family_special_tokens(family)) {
      if (spec.role == tokenizers::Role::eos) {
        eos += (eos.empty() ? "" : "  ") + spec.content + (spec.id ? detail::cat(" (", *spec.id, ")") : std::string());
      }
    }
    std::printf("  %-22s %s\n", name, eos.c_str());
  }
}

// ---- 2. Attention ------------------------------------------------------------------------------------------------

/// The mean entropy of a head's rows (nats): low for a head that looks at one token, high for one that spreads.
double mean_entropy(const inspect::LayerAttention& layer, Index head) {
  double total = 0;
  for (Index t = 0; t < layer.queries; ++t) {
    for (Index k = 0; k < layer.keys; ++k) {
      const double w = layer.at(head, t, k);
      if (w > 0) total -= w * std::log(w);
    }
  }
  return total / static_cast<double>(layer.queries);
}

void stage_attention(const Settings& s) {
  if (!have_model(s.poet, "poet", s)) return;
  Llama<float> model = Llama<float>::from_pretrained(s.poet);
  const training::CharVocabulary vocab = poet::load_vocabulary(s.poet);
  const std::string line = "床前明月光，疑是地上霜。";
  TokenSequence ids = {*vocab.id("<|begin_of_text|>")};
  for (TokenId id : vocab.encode(line)) ids.push_back(id);

  // One forward pass that keeps every layer's attention weights (B, H, T, S) in a Capture (poet/poet.hpp).
  const std::vector<inspect::AttentionMaps> maps = poet::attention_maps(model, vocab, ids);

  // The most focused head of the last layer: the one whose rows have the lowest entropy.
  const inspect::LayerAttention& last = maps.front().layers.back();
  Index best = 0;
  for (Index h = 1; h < last.heads; ++h) {
    if (mean_entropy(last, h) < mean_entropy(last, best)) best = h;
  }
  std::printf("%s %ld, %s %ld (%s)\n\n", s.say("Layer", "第"), static_cast<long>(last.layer), s.say("head", "层，第"),
              static_cast<long>(best), s.say("the most focused head of the last layer", "个头：最后一层中最集中的头"));
  std::printf("%s\n", inspect::terminal_view(maps.front(), static_cast<Index>(maps.front().layers.size()) - 1, best,
                                             inspect::TerminalStyle::detect()).c_str());

  // The same as pictures: one SVG per head and a layer × head grid, and one HTML page to explore them.
  fs::create_directories(s.out);
  const std::vector<std::string> files = inspect::write_attention_svgs(s.out, maps);
  const std::string report = (fs::path(s.out) / "attention.html").string();
  inspect::write_report(report, maps, nullptr, {}, "tour: the poet on " + line, {{"model", s.poet}});
  std::printf("%s %zu SVG %s %s; %s %s\n", s.say("Wrote", "已写出"), files.size(), s.say("pictures to", "张图片到"),
              s.out.c_str(), s.say("open in a browser:", "用浏览器打开："), report.c_str());
}

// ---- 3. The encoder ------------------------------------------------------------------------------------------------

/// The k most probable entries of a row of scores, as (id, probability), best first.
// The k most probable entries of a score row (V), best first: the library's softmax and top_candidates, the
// same two functions that fill a generation trace.
std::vector<generation::Candidate> top_k(const Eigen::Ref<const RowVector<float>>& scores, std::size_t k) {
  const generation::Scores z(scores.data(), scores.data() + scores.size());
  return generation::engine::top_candidates(generation::softmax(z), k);
}

void stage_encoder(const Settings& s) {
  const std::string folder = (fs::path(s.reader) / "pretrained").string();
  if (!have_model(folder, "reader", s)) return;
  Bert<float> model = Bert<float>::from_pretrained(folder);
  const training::CharVocabulary vocab =
      training::CharVocabulary::from_json(tokenizers::read_file_bytes(folder + "/character_vocabulary.json", "[tour]"), folder);
  for (const std::string& line : {std::string("床前明月光，疑是地上霜。"), std::string("白日依山尽，黄河入海流。")}) {
    // [CLS] the characters [SEP], one of them replaced by [MASK]: the 4th, a noun of the line.
    const TokenSequence chars = vocab.encode(line);
    const std::size_t hidden_at = 3;
    TokenSequence ids = {*vocab.id("[CLS]")};
    ids.insert(ids.end(), chars.begin(), chars.end());
    ids.push_back(*vocab.id("[SEP]"));
    const TokenId answer = ids[hidden_at + 1];
    ids[hidden_at + 1] = *vocab.id("[MASK]");
    std::string shown_line;
    for (std::size_t i = 1; i + 1 < ids.size(); ++i) shown_line += vocab.token(ids[i]);

    // The encoder reads the whole line at once, both directions; the masked-LM head scores the hidden position.
    TokenIds batch(1, static_cast<Index>(ids.size()));
    for (std::size_t t = 0; t < ids.size(); ++t) batch(0, static_cast<Index>(t)) = ids[t];
    Tensor3<float> hidden;                              // (1, T, C)
    model.forward(batch, hidden);
    const std::vector<Index> rows = {static_cast<Index>(hidden_at + 1)};
    Matrix<float> logits;                               // (1, V)
    model.masked_lm_logits(hidden, logits, &rows);
    std::printf("%s  %s\n", s.say("Text:", "文本："), shown_line.c_str());
    std::printf("%s", s.say("  guesses for [MASK]:", "  对 [MASK] 的猜测："));
    for (const generation::Candidate& c : top_k(logits.row(0), 5)) std::printf("  %s %.3f", vocab.token(c.id).c_str(), c.probability);
    std::printf("   (%s %s)\n\n", s.say("the poem has", "原诗是"), vocab.token(answer).c_str());
  }
}

// ---- 4. The decoder ------------------------------------------------------------------------------------------------

void stage_decoder(const Settings& s) {
  if (!have_model(s.poet, "poet", s)) return;
  Llama<float> model = Llama<float>::from_pretrained(s.poet);
  const training::CharVocabulary vocab = poet::load_vocabulary(s.poet);
  const std::string opening = "《春晓》\n作者：孟浩然\n";
  TokenSequence prompt = {*vocab.id("<|begin_of_text|>")};
  for (TokenId id : vocab.encode(opening)) prompt.push_back(id);
  const auto spell = [&](TokenId id) { return shown(vocab.token(id)); };
  std::printf("%s \"%s\"\n\n", s.say("Prompt:", "提示词："), "<|begin_of_text|>《春晓》\\n作者：孟浩然\\n");

  // a) Greedy search, step by step: the five most probable next characters, and the one chosen.
  generation::GenerationConfig greedy;
  greedy.max_new_tokens = 60;
  generation::Trace trace;
  generation::GenerationIO io;
  io.trace = &trace;
  const generation::GeneratedSequence g = generation::generate<float>(model, prompt, greedy, io).front();
  std::printf("%s\n", s.say("Greedy search, the first steps (top candidates and their probabilities):",
                            "贪心搜索的前几步（最可能的候选字及其概率）："));
  for (std::size_t k = 0; k < std::min<std::size_t>(8, trace.steps.size()); ++k) {
    const generation::TokenStep& step = trace.steps[k];
    std::printf("  step %zu:", k);
    for (const generation::Candidate& c : step.stages.front().top) std::printf("  %s %.3f", spell(c.id).c_str(), c.probability);
    std::printf("   → %s\n", spell(step.chosen).c_str());
  }

  // b) The same prompt, three ways of choosing.
  const auto show = [&](const char* name, const generation::GeneratedSequence& r) {
    std::string why = r.stop_reason == generation::StopReason::EndOfSequence
                          ? detail::cat(s.say("stopped at ", "停在 "), vocab.token(*r.eos_token))
                          : std::string(s.say("stopped at the length limit", "达到长度上限而停止"));
    std::printf("\n%s (%s, log p = %.1f):\n%s\n", name, why.c_str(), r.log_probability,
                vocab.decode(r.tokens, /*skip_special=*/true).c_str());
  };
  show(s.say("Greedy", "贪心搜索"), g);
  generation::GenerationConfig beam;
  beam.strategy = generation::Strategy::Beam;
  beam.num_beams = 4;
  beam.max_new_tokens = 60;
  show(s.say("Beam search, 4 beams", "束搜索，4 条束"), generation::generate<float>(model, prompt, beam).front());
  generation::GenerationConfig sample;
  sample.strategy = generation::Strategy::Sample;
  sample.temperature = 0.8;
  sample.top_k = 40;
  sample.seed = 3;
  sample.max_new_tokens = 60;
  show(s.say("Sampling, temperature 0.8, top-k 40", "采样，温度 0.8，top-k 40"), generation::generate<float>(model, prompt, sample).front());
  std::printf("\n%s\n", s.say("The poem ends where the model emits <|end_of_text|>, its end-of-sequence token: it learned where\n"
                              "poems end because every poem it read ended with one.",
                              "诗在模型输出 <|end_of_text|>（它的序列结束符）的地方结束：它读过的每首诗都以这个词元结尾，\n"
                              "所以它学会了诗在哪里结束。"));
}

// ---- 5. The encoder-decoder ------------------------------------------------------------------------------------------

void stage_encoder_decoder(const Settings& s) {
  if (!have_model(s.translator, "translator", s)) return;
  T5<float> model = T5<float>::from_pretrained(s.translator);
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(s.translator);
  const TokenId eos = *tokenizer.token_to_id("</s>");
  for (const char* task : {"<en>", "<zh>"}) {
    for (const char* number : {"1234", "1005", "10"}) {
      // The source: the task token, the digits, </s>. The decoder writes characters until </s>.
      TokenSequence source = tokenizer.encode(std::string(task) + number, tokenizers::EncodeOptions{}.with_special_tokens());
      source.push_back(eos);
      generation::GenerationConfig greedy;
      greedy.max_new_tokens = 60;
      const generation::GeneratedSequence out = generation::generate<float>(model, source, greedy).front();
      std::printf("  %s%-6s → %s\n", task, number, tokenizer.decode(out.tokens, tokenizers::DecodeOptions{true}).c_str());
    }
  }

  // The cross-attention of one translation: which source position each output character consulted.
  TokenSequence source = tokenizer.encode("<zh>2026", tokenizers::EncodeOptions{}.with_special_tokens());
  source.push_back(eos);
  generation::GenerationConfig greedy;
  greedy.max_new_tokens = 60;
  const TokenSequence written = generation::generate<float>(model, source, greedy).front().tokens;
  TokenSequence target = {model.special_tokens().decoder_start.value_or(0)};  // teacher forcing: what the decoder read
  target.insert(target.end(), written.begin(), written.end() - 1);
  const auto row = [](const TokenSequence& ids) {
    TokenIds m(1, static_cast<Index>(ids.size()));
    for (std::size_t t = 0; t < ids.size(); ++t) m(0, static_cast<Index>(t)) = ids[t];
    return m;
  };
  Capture<float> capture;
  T5Options<float> options;
  options.decoder_capture = &capture;
  Matrix<float> logits;
  model.forward(row(source), row(target), logits, options);
  const auto spell = [&](const TokenSequence& ids) {
    std::vector<std::string> out;
    for (TokenId id : ids) out.push_back(tokenizer.id_to_token(id).value_or("?"));
    return out;
  };
  const std::vector<inspect::AttentionMaps> maps =
      inspect::attention_maps(capture, inspect::AttentionKind::CausalSelf, spell(target), spell(source));
  const inspect::AttentionMaps& cross = maps.back();
  const Index layer = static_cast<Index>(cross.layers.size()) - 1;
  Index best = 0;
  for (Index h = 1; h < cross.heads(); ++h) {
    if (mean_entropy(cross.layers.back(), h) < mean_entropy(cross.layers.back(), best)) best = h;
  }
  std::printf("\n%s\n", s.say("Cross-attention of the last layer's most focused head (rows: what the decoder read; columns: the source):",
                              "最后一层中最集中的交叉注意力头（行：解码器读到的；列：原文）："));
  std::printf("%s\n", inspect::terminal_view(cross, layer, best, inspect::TerminalStyle::detect()).c_str());
}

// ---- 6. Learning ---------------------------------------------------------------------------------------------------

void stage_learning(const Settings& s) {
  const poet::Corpus corpus = poet::load_corpus();
  const TokenSequence train_stream = poet::poem_stream(corpus, corpus.train);
  const TokenSequence held_stream = poet::poem_stream(corpus, corpus.held_out);
  poet::ModelSize size;  // smaller than the poet: this one trains while you watch
  size.width = 64;
  size.layers = 2;
  size.heads = 4;
  size.kv_heads = 2;
  size.ffn = 176;
  size.context = 64;
  Llama<float> model(poet::poet_config(corpus, size));
  llama_training::initialise(model, 42);

  const auto write_sample = [&](const char* when) {
    generation::GenerationConfig g;
    g.strategy = generation::Strategy::Sample;
    g.temperature = 0.8;
    g.top_k = 40;
    g.seed = 1;
    g.max_new_tokens = 40;
    const generation::GeneratedSequence out = generation::generate<float>(model, {corpus.bos}, g).front();
    std::printf("%s\n%s\n\n", when, corpus.vocab.decode(out.tokens, true).c_str());
  };
  std::printf("%s %.2fM %s\n\n", s.say("A fresh model:", "一个全新的模型："), static_cast<double>(count_parameters(model)) / 1e6,
              s.say("parameters, all random", "个参数，全部是随机数"));
  write_sample(s.say("Before training, a sample:", "训练前的样本："));
  const double held_before = llama_training::stream_loss(model, held_stream, size.context, 20).loss;

  training::TrainerConfig config = poet::trainer_config(s.learning_steps, 3e-3, 30, std::max<std::int64_t>(1, s.learning_steps / 5),
                                                        (fs::path(s.out) / "learning").string());
  training::WindowLoader loader(train_stream, size.context, 16, config.seed);
  training::TrainingTask<float> task = llama_training::window_task(model, loader, held_stream, size.context, 20);
  task.save_model = [&](const std::string& to) { llama_training::save_char_model(to, model, corpus.vocab, corpus.train.front()); };
  const training::TrainingLog log = training::train(config, std::move(task));

  // The training loss of the last steps, and the held-out loss before and after: poems the model never read.
  double recent = 0;
  const std::size_t last = std::min<std::size_t>(20, log.steps.size());
  for (std::size_t k = log.steps.size() - last; k < log.steps.size(); ++k) recent += log.steps[k].loss / static_cast<double>(last);
  const double held_after = llama_training::stream_loss(model, held_stream, size.context, 20).loss;
  std::printf("\n%s %.2f → %.2f (%s)\n", s.say("Training loss (nats per character):", "训练损失（每个字的奈特数）："),
              log.steps.front().loss, recent, s.say("mean of the last 20 steps", "最后 20 步的平均"));
  std::printf("%s %.2f → %.2f;  %s ln %zu = %.2f\n\n", s.say("Held-out loss, poems it never read:", "验证集损失（没读过的诗）："),
              held_before, held_after, s.say("guessing uniformly:", "均匀乱猜："), corpus.vocab.size(),
              std::log(static_cast<double>(corpus.vocab.size())));
  write_sample(s.say("After training, a sample:", "训练后的样本："));
  std::printf("%s %s\n", s.say("The loss curve:", "损失曲线："), (fs::path(s.out) / "learning" / "loss_curve.svg").string().c_str());
}

// ---- 7. Prompts ---------------------------------------------------------------------------------------------------

void stage_prompts(const Settings& s) {
  if (!have_model(s.assistant, "assistant", s)) return;
  Llama<float> model = Llama<float>::from_pretrained(s.assistant);
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(s.assistant);
  const TokenId eot = *tokenizer.token_to_id("<|eot_id|>");
  for (const char* first : {"床前明月光", "白日依山尽"}) {
    const std::string request = std::string("对下句：") + first;
    const TokenSequence prompt = generation::llama3_chat_prompt(tokenizer, {{"user", request}});
    std::string layout;
    for (TokenId id : prompt) layout += shown(tokenizer.id_to_token(id).value_or("?"));
    std::printf("%s\n  %s\n", s.say("The prompt the model reads (special tokens included):", "模型读到的提示词（含特殊词元）："),
                layout.c_str());
    generation::GenerationConfig g;  // greedy
    g.max_new_tokens = 20;
    g.eos_token_ids = {eot};
    const generation::GeneratedSequence out = generation::generate<float>(model, prompt, g).front();
    std::printf("%s %s  [%s]\n\n", s.say("Its answer:", "它的回答："), tokenizer.decode(out.tokens, tokenizers::DecodeOptions{true}).c_str(),
                out.stop_reason == generation::StopReason::EndOfSequence ? s.say("stopped at <|eot_id|> by itself", "自己停在了 <|eot_id|>")
                                                                          : s.say("did not stop by itself", "没有自己停下"));
  }
}

// ---- The stages in order --------------------------------------------------------------------------------------------

void run_stage(int stage, const Settings& s) {
  heading(stage, s);
  switch (stage) {
    case 1: stage_tokens(s); break;
    case 2: stage_attention(s); break;
    case 3: stage_encoder(s); break;
    case 4: stage_decoder(s); break;
    case 5: stage_encoder_decoder(s); break;
    case 6: stage_learning(s); break;
    case 7: stage_prompts(s); break;
  }
  read_next(stage, s);
}

int run(const cli::Arguments& args) {
  Settings s;
  if (args.has("--lang")) {
    const std::string lang = args.value("--lang");
    if (lang != "en" && lang != "zh") throw cli::UsageError("[tour] --lang takes en or zh, not '" + lang + "'");
    s.lang = lang == "zh" ? tour::Language::Chinese : tour::Language::English;
  }
  if (args.has("--out")) s.out = args.value("--out");
  s.poet = args.has("--poet") ? args.value("--poet") : poet::default_folder("poet");
  s.assistant = args.has("--assistant") ? args.value("--assistant") : poet::default_folder("assistant");
  s.reader = args.has("--reader") ? args.value("--reader") : poet::default_folder("reader");
  s.translator = args.has("--translator") ? args.value("--translator") : poet::default_folder("translator");
  s.learning_steps = args.integer_or("--learning-steps", 1, 100000, 300);
  if (args.has("--stage")) {
    run_stage(static_cast<int>(args.integer("--stage", 1, tour::kStages)), s);
  } else {
    for (int stage = 1; stage <= tour::kStages; ++stage) run_stage(stage, s);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const cli::Table table = tour::tour_options();
  return cli::run("tour", [&] {
    const cli::Arguments args(argc, argv, table);
    if (args.has("--help")) return cli::print_help(table);
    return run(args);
  });
}
