// course_pictures — the data pictures of the course's chapters (docs/pictures/), drawn by the library from the
// small models this project trains (the poet and the assistant) and from the library's own functions.
//
// What it teaches: every picture in the notes is a measurement you can redo. Each one below is a short function
// that computes something — a next-token distribution, RoPE's angles, a decoding run, a chat layout — and hands
// the numbers to one of the SVG writers of include/eigenformer/inspect/svg.hpp and heatmap.hpp.
//
//     ./build/release/examples/course_pictures/course_pictures --out docs/pictures             # all of them
//     ./build/release/examples/course_pictures/course_pictures --out docs/pictures --picture rope
//
// tools/make_pictures.sh runs it (and the family programs, for the attention pictures of the test checkpoints).
// The poet and the assistant come from the poet and assistant programs, which train them once into
// ~/.cache/eigenformer/; a picture whose model is missing says which program makes it.
//
//   picture        chapter                              file
//   next_token     0  what a language model computes    00_next_token.svg
//   tokens         2  tokens and tokenizers             02_tokens.svg
//   rope           3  embeddings and positions          03_rope_angles.svg
//   attention      4  attention; 5 blocks and stacks    04_attention_head.svg, 05_attention_grid.svg
//   decode         6  decoding until EOS                06_decode_steps.svg
//   temperature    7  greedy, beam search, sampling     07_temperature.svg
//   chat           8  prompts and chat formats          08_chat_layout.svg
//   sft            10 fine-tuning                       10_sft_targets.svg
//   speed          12 speed                             12_kv_cache_speed.svg
#include "common/cli.hpp"
#include "poet/poet.hpp"

#include <eigenformer/inspect.hpp>
#include <eigenformer/training.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace eigenformer;
namespace fs = std::filesystem;

namespace {

struct Settings {
  std::string out = "docs/pictures";
  std::string poet, assistant;
};

void write(const Settings& s, const std::string& name, const std::string& svg) {
  fs::create_directories(s.out);
  const std::string path = (fs::path(s.out) / name).string();
  write_file_atomically(path, svg, "[course_pictures]");
  std::printf("wrote %s (%zu bytes)\n", path.c_str(), svg.size());
}

void require_model(const std::string& folder, const char* program) {
  if (!poet::saved(folder)) {
    throw FileError(detail::cat("[course_pictures] no model in ", folder, ": train it with ./build/release/examples/",
                                program, "/", program));
  }
}

/// A token's text for a label: a newline as ⏎ so that a line break shows as a token.
std::string label(const std::string& token) { return token == "\n" ? std::string("\xE2\x8F\x8E") : token; }

/// The poet's prompt: <|begin_of_text|> then the characters of `text`.
TokenSequence poet_prompt(const training::CharVocabulary& vocab, const std::string& text) {
  TokenSequence ids = {*vocab.id("<|begin_of_text|>")};
  for (TokenId id : vocab.encode(text)) ids.push_back(id);
  return ids;
}

/// The scores (V) of the token after the last of `ids`: one forward pass, the last row of the logits.
generation::Scores next_scores(Llama<float>& model, const TokenSequence& ids) {
  TokenIds batch(1, static_cast<Index>(ids.size()));
  for (std::size_t t = 0; t < ids.size(); ++t) batch(0, static_cast<Index>(t)) = ids[t];
  Matrix<float> logits;  // (T, V)
  model.forward(batch, logits);
  const Index last = logits.rows() - 1;
  return generation::Scores(logits.row(last).data(), logits.row(last).data() + logits.cols());
}

// ---- 0. What a language model computes: the distribution of the next token ----------------------------------

void picture_next_token(const Settings& s) {
  require_model(s.poet, "poet");
  Llama<float> model = Llama<float>::from_pretrained(s.poet);
  const training::CharVocabulary vocab = poet::load_vocabulary(s.poet);
  const std::string text = "《静夜思》\n作者：李白\n床前明月";
  const std::vector<double> p = generation::softmax(next_scores(model, poet_prompt(vocab, text)));
  std::vector<std::string> labels;
  std::vector<double> values;
  for (const generation::Candidate& c : generation::engine::top_candidates(p, 10)) {
    labels.push_back(label(vocab.token(c.id)));
    values.push_back(c.probability);
  }
  inspect::BarChartOptions options;
  options.title = "The poet's next character after \xE2\x80\x9C\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE2\x80\x9D: the 10 most probable of " +
                  std::to_string(p.size());
  options.value_label = "probability";
  write(s, "00_next_token.svg", inspect::bar_chart_svg(labels, values, options));
}

// ---- 2. Tokens: a sentence cut by a byte-level BPE learned from the fortunes and the poems --------------------

void picture_tokens(const Settings& s) {
  const poet::Corpus corpus = poet::load_corpus();
  std::string text;
  const std::vector<std::string> english = training::load_fortunes(training::fortunes_dir() + "/fortunes");
  for (std::size_t i = 0; i < english.size() && text.size() < 60000; ++i) text += english[i] + "\n";
  for (const std::string& poem : corpus.train) text += poem + "\n";
  tokenizers::BpeTrainerOptions options;  // as the tour's stage 1: 444 merges on top of the 256 bytes
  options.vocab_size = 700;
  options.special_tokens = {"<|endoftext|>"};
  const tokenizers::Tokenizer bpe = tokenizers::train_bpe(text, options).tokenizer();
  const std::string sentence = "The cat sat on the mat. \xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89<|endoftext|>";
  // Special-token text is refused by default (a user could forge it); here it is allowed on purpose.
  const TokenSequence ids = bpe.encode(sentence, tokenizers::EncodeOptions{}.allow("<|endoftext|>"));
  std::vector<std::string> pieces;
  std::vector<std::int64_t> numbers;
  std::vector<bool> special;
  for (TokenId id : ids) {
    const std::string bytes = bpe.decode_bytes({id});
    std::string piece;  // spaces shown as ␣, so " cat" reads as one token with its space
    for (char c : bytes) piece += c == ' ' ? std::string("\xE2\x90\xA3") : std::string(1, c);
    pieces.push_back(piece);
    numbers.push_back(id);
    special.push_back(bytes == "<|endoftext|>");
  }
  inspect::TokenStripOptions strip;
  strip.title = "\xE2\x80\x9CThe cat sat on the mat. \xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89\xE2\x80\x9D in a byte-level BPE of 700 tokens";
  strip.marked_label = "special token: one reserved id, never split into pieces";
  strip.per_row = 11;
  write(s, "02_tokens.svg", inspect::token_strip_svg(pieces, numbers, special, strip));
}

// ---- 3. RoPE: cos p·θ_i for every position p and pair i ------------------------------------------------------

void picture_rope(const Settings& s) {
  RopeConfig config;
  config.head_dim = 64;  // D: 32 pairs
  config.base = 10000.0;
  const std::vector<double> theta = rotary_inverse_frequencies(config);
  const Index positions = 48;
  std::vector<std::vector<double>> values(static_cast<std::size_t>(positions));
  std::vector<std::string> rows, columns;
  for (Index p = 0; p < positions; ++p) {
    rows.push_back("p = " + std::to_string(p));
    for (double t : theta) values[static_cast<std::size_t>(p)].push_back(std::cos(static_cast<double>(p) * t));
  }
  for (std::size_t i = 0; i < theta.size(); ++i) columns.push_back("i = " + std::to_string(i));
  inspect::ValueGridOptions options;
  options.title = "RoPE: cos p\xC2\xB7\xCE\xB8_i, \xCE\xB8_i = 10000^(\xE2\x88\x92" "2i/64) \xE2\x80\x94 pair 0 turns 1 rad per position, pair 31 barely moves";
  options.row_axis = "position p";
  options.column_axis = "pair i of a 64-wide head";
  options.value_label = "cos p\xC2\xB7\xCE\xB8_i";
  options.low = -1;
  options.high = 1;
  options.cell = 11;
  options.label_every = 4;
  write(s, "03_rope_angles.svg", inspect::value_grid_svg(values, rows, columns, options));
}

// ---- 4, 5. Attention: one head of the poet on a line, and every layer × head -----------------------------------

void picture_attention(const Settings& s) {
  require_model(s.poet, "poet");
  Llama<float> model = Llama<float>::from_pretrained(s.poet);
  const training::CharVocabulary vocab = poet::load_vocabulary(s.poet);
  const TokenSequence ids = poet_prompt(vocab, "\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89\xEF\xBC\x8C\xE7\x96\x91\xE6\x98\xAF\xE5\x9C\xB0\xE4\xB8\x8A\xE9\x9C\x9C\xE3\x80\x82");
  const std::vector<inspect::AttentionMaps> maps = poet::attention_maps(model, vocab, ids);
  const inspect::AttentionMaps& m = maps.front();
  // Layer 1, head 0: the head the chapter describes (see docs/attention.md under the picture).
  write(s, "04_attention_head.svg", inspect::head_svg(m, 1, 0));
  write(s, "05_attention_grid.svg", inspect::grid_svg(m));
}

// ---- 6. Decoding until EOS: each step's distribution over the tokens that mattered -----------------------------

void picture_decode(const Settings& s) {
  require_model(s.assistant, "assistant");
  Llama<float> model = Llama<float>::from_pretrained(s.assistant);
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(s.assistant);
  const TokenId eot = *tokenizer.token_to_id("<|eot_id|>");
  TokenSequence tokens = generation::llama3_chat_prompt(tokenizer, {{"user", "\xE5\xAF\xB9\xE4\xB8\x8B\xE5\x8F\xA5\xEF\xBC\x9A\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89"}});
  // The loop of docs/generation.md, written out: score, softmax, take the best, append, until <|eot_id|>.
  std::vector<std::vector<double>> distributions;
  TokenSequence chosen;
  for (int step = 0; step < 16; ++step) {
    const std::vector<double> p = generation::softmax(next_scores(model, tokens));
    const TokenId next = static_cast<TokenId>(std::max_element(p.begin(), p.end()) - p.begin());
    distributions.push_back(p);
    chosen.push_back(next);
    tokens.push_back(next);
    if (next == eot) break;
  }
  // The columns: every token that was among the 3 most probable at some step, and <|eot_id|>.
  std::vector<TokenId> columns;
  const auto add = [&](TokenId id) {
    if (std::find(columns.begin(), columns.end(), id) == columns.end()) columns.push_back(id);
  };
  for (const std::vector<double>& p : distributions) {
    for (const generation::Candidate& c : generation::engine::top_candidates(p, 3)) add(c.id);
  }
  add(eot);
  std::vector<std::vector<double>> values;
  std::vector<std::string> row_labels, column_labels;
  for (std::size_t k = 0; k < distributions.size(); ++k) {
    row_labels.push_back("step " + std::to_string(k) + " \xE2\x86\x92 " + label(tokenizer.id_to_token(chosen[k]).value_or("?")));
    std::vector<double> row;
    for (TokenId id : columns) row.push_back(distributions[k][static_cast<std::size_t>(id)]);
    values.push_back(row);
  }
  for (TokenId id : columns) column_labels.push_back(label(tokenizer.id_to_token(id).value_or("?")));
  inspect::ValueGridOptions options;
  options.title = "The assistant answers \xE2\x80\x9C\xE5\xAF\xB9\xE4\xB8\x8B\xE5\x8F\xA5\xEF\xBC\x9A\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89\xE2\x80\x9D greedily: p(next token) at each step, until <|eot_id|>";
  options.row_axis = "decoding step \xE2\x86\x92 the token chosen";
  options.column_axis = "the candidates (top 3 of some step, and <|eot_id|>)";
  options.value_label = "probability";
  options.cell = 22;
  write(s, "06_decode_steps.svg", inspect::value_grid_svg(values, row_labels, column_labels, options));
}

// ---- 7. Temperature: the same scores, sharper or flatter ------------------------------------------------------

void picture_temperature(const Settings& s) {
  require_model(s.poet, "poet");
  Llama<float> model = Llama<float>::from_pretrained(s.poet);
  const training::CharVocabulary vocab = poet::load_vocabulary(s.poet);
  const generation::Scores z = next_scores(model, poet_prompt(vocab, "\xE3\x80\x8A\xE6\x98\xA5\xE6\x99\x93\xE3\x80\x8B\n\xE4\xBD\x9C\xE8\x80\x85\xEF\xBC\x9A\xE5\xAD\x9F\xE6\xB5\xA9\xE7\x84\xB6\n\xE6\x98\xA5"));
  // The columns: the 12 most probable tokens at temperature 1, best first.
  const std::vector<generation::Candidate> top = generation::engine::top_candidates(generation::softmax(z), 12);
  std::vector<std::vector<double>> values;
  std::vector<std::string> rows, columns;
  for (double tau : {0.5, 1.0, 2.0}) {
    generation::Scores scaled = z;
    generation::apply_temperature(scaled, tau);  // z / τ
    const std::vector<double> p = generation::softmax(scaled);
    std::vector<double> row;
    for (const generation::Candidate& c : top) row.push_back(p[static_cast<std::size_t>(c.id)]);
    values.push_back(row);
    char name[32];
    std::snprintf(name, sizeof name, "temperature %.1f", tau);
    rows.push_back(name);
  }
  for (const generation::Candidate& c : top) columns.push_back(label(vocab.token(c.id)));
  inspect::ValueGridOptions options;
  options.title = "The poet after \xE2\x80\x9C\xE3\x80\x8A\xE6\x98\xA5\xE6\x99\x93\xE3\x80\x8B \xE2\x80\xA6 \xE6\x98\xA5\xE2\x80\x9D: softmax(z / \xCF\x84) over the 12 best tokens";
  options.row_axis = "\xCF\x84";
  options.column_axis = "the next character, most probable first";
  options.value_label = "probability";
  options.high = std::max(0.05, *std::max_element(values.front().begin(), values.front().end()));
  options.cell = 40;
  options.cell_values = true;
  write(s, "07_temperature.svg", inspect::value_grid_svg(values, rows, columns, options));
}

// ---- 8. The chat layout the assistant reads, special tokens marked ---------------------------------------------

std::vector<bool> special_marks(const TokenSequence& ids) {
  const std::size_t specials = poet::special_tokens().size();  // ids 0..6 are the special tokens
  std::vector<bool> marks;
  for (TokenId id : ids) marks.push_back(static_cast<std::size_t>(id) < specials);
  return marks;
}

void picture_chat(const Settings& s) {
  require_model(s.assistant, "assistant");
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(s.assistant);
  const TokenSequence ids = generation::llama3_chat_prompt(
      tokenizer, {{"user", "\xE5\xAF\xB9\xE4\xB8\x8B\xE5\x8F\xA5\xEF\xBC\x9A\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89"}});
  std::vector<std::string> pieces;
  std::vector<std::int64_t> numbers;
  for (TokenId id : ids) {
    pieces.push_back(tokenizer.id_to_token(id).value_or("?"));
    numbers.push_back(id);
  }
  inspect::TokenStripOptions options;
  options.title = "What the assistant reads for the request \xE2\x80\x9C\xE5\xAF\xB9\xE4\xB8\x8B\xE5\x8F\xA5\xEF\xBC\x9A\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89\xE2\x80\x9D (Llama 3's chat layout)";
  options.marked_label = "special token: one id each; typed text never becomes one";
  options.per_row = 9;
  write(s, "08_chat_layout.svg", inspect::token_strip_svg(pieces, numbers, special_marks(ids), options));
}

// ---- 10. Fine-tuning: which positions the loss scores -----------------------------------------------------------

void picture_sft(const Settings& s) {
  require_model(s.assistant, "assistant");
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer(s.assistant);
  const TokenId eot = *tokenizer.token_to_id("<|eot_id|>");
  // One training example of the assistant: the chat prompt, then the answer and <|eot_id|>.
  TokenSequence ids = generation::llama3_chat_prompt(
      tokenizer, {{"user", "\xE5\xAF\xB9\xE4\xB8\x8B\xE5\x8F\xA5\xEF\xBC\x9A\xE5\xBA\x8A\xE5\x89\x8D\xE6\x98\x8E\xE6\x9C\x88\xE5\x85\x89"}});
  const Index prompt_length = static_cast<Index>(ids.size());
  for (TokenId id : tokenizer.encode("\xE7\x96\x91\xE6\x98\xAF\xE5\x9C\xB0\xE4\xB8\x8A\xE9\x9C\x9C\xE3\x80\x82")) ids.push_back(id);
  ids.push_back(eot);
  TokenIds batch(1, static_cast<Index>(ids.size()));
  for (std::size_t t = 0; t < ids.size(); ++t) batch(0, static_cast<Index>(t)) = ids[t];
  const TokenIds labels = training::sft_labels(batch, {prompt_length});  // −100 on the prompt
  std::vector<std::string> pieces;
  std::vector<std::int64_t> numbers;
  std::vector<bool> scored;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    pieces.push_back(tokenizer.id_to_token(ids[t]).value_or("?"));
    numbers.push_back(labels(0, static_cast<Index>(t)));
    scored.push_back(labels(0, static_cast<Index>(t)) != training::kIgnoreIndex);
  }
  inspect::TokenStripOptions options;
  options.title = "One example of the assistant's fine-tuning: each token with its label (training::sft_labels)";
  options.marked_label = "a label the loss scores: the answer and its <|eot_id|> (the prompt's labels are \xE2\x88\x92" "100)";
  options.per_row = 9;
  write(s, "10_sft_targets.svg", inspect::token_strip_svg(pieces, numbers, scored, options));
}

// ---- 12. Speed: the KV cache ------------------------------------------------------------------------------------

void picture_speed(const Settings& s) {
  require_model(s.poet, "poet");
  Llama<float> model = Llama<float>::from_pretrained(s.poet);
  const training::CharVocabulary vocab = poet::load_vocabulary(s.poet);
  const TokenSequence prompt = poet_prompt(vocab, "\xE3\x80\x8A\xE6\x98\xA5\xE6\x99\x93\xE3\x80\x8B\n");
  std::vector<std::string> labels;
  std::vector<double> values;
  TokenSequence first_run;
  for (bool cache : {true, false}) {
    generation::GenerationConfig config;  // greedy, exactly 100 new tokens
    config.max_new_tokens = 100;
    config.min_new_tokens = 100;
    config.use_cache = cache;
    double best = 0;  // the fastest of 3 runs: the least disturbed by the rest of the machine
    for (int run = 0; run < 3; ++run) {
      const auto start = std::chrono::steady_clock::now();
      const generation::GeneratedSequence out = generation::generate<float>(model, prompt, config).front();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::max(best, static_cast<double>(out.tokens.size()) / seconds);
      if (cache && run == 0) first_run = out.tokens;
      if (!cache && out.tokens != first_run) throw ValueError("[course_pictures] the cached and uncached runs differ");
    }
    labels.push_back(cache ? "with the KV cache" : "recomputing every position");
    values.push_back(best);
    std::printf("%s: %.0f tokens/s\n", labels.back().c_str(), best);
  }
  inspect::BarChartOptions options;
  options.title = "The poet (4 layers, width 128), 100 greedy tokens on 1 thread: the same tokens, two costs";
  options.value_label = "tokens per second (best of 3)";
  options.decimals = 0;
  write(s, "12_kv_cache_speed.svg", inspect::bar_chart_svg(labels, values, options));
}

const std::vector<std::pair<std::string, void (*)(const Settings&)>>& pictures() {
  static const std::vector<std::pair<std::string, void (*)(const Settings&)>> all = {
      {"next_token", picture_next_token}, {"tokens", picture_tokens}, {"rope", picture_rope},
      {"attention", picture_attention},   {"decode", picture_decode}, {"temperature", picture_temperature},
      {"chat", picture_chat},             {"sft", picture_sft},       {"speed", picture_speed}};
  return all;
}

cli::Table options_table() {
  cli::Table t;
  t.program = "course_pictures";
  t.usage = "course_pictures [--out DIR] [--picture NAME] [--poet DIR] [--assistant DIR]";
  t.about = "Draws the course's data pictures (docs/pictures/) with the library's SVG writers, from the poet, the\n"
            "assistant and the library's own functions. tools/make_pictures.sh runs it.";
  cli::Section s;
  s.options = {{"--out", "DIR", "where the SVG files go (default docs/pictures)"},
               {"--picture", "NAME", "one picture: next_token, tokens, rope, attention, decode, temperature, chat, sft, speed"},
               {"--poet", "DIR", "the poet's model (default ~/.cache/eigenformer/poet; made by the poet program)"},
               {"--assistant", "DIR", "the assistant's model (default ~/.cache/eigenformer/assistant; made by assistant)"},
               {"--help", "", "this text"}};
  t.sections.push_back(s);
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with 2.";
  return t;
}

int run(const cli::Arguments& args) {
  Settings s;
  if (args.has("--out")) s.out = args.value("--out");
  s.poet = args.has("--poet") ? args.value("--poet") : poet::default_folder("poet");
  s.assistant = args.has("--assistant") ? args.value("--assistant") : poet::default_folder("assistant");
  const std::string only = args.has("--picture") ? args.value("--picture") : "";
  bool found = only.empty();
  for (const auto& [name, draw] : pictures()) {
    if (only.empty() || only == name) {
      draw(s);
      found = true;
    }
  }
  if (!found) throw cli::UsageError("[course_pictures] no picture named '" + only + "' (--help lists them)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const cli::Table table = options_table();
  return cli::run("course_pictures", [&] {
    const cli::Arguments args(argc, argv, table);
    if (args.has("--help")) return cli::print_help(table);
    return run(args);
  });
}
