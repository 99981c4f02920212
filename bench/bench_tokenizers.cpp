// bench/bench_tokenizers.cpp — cl100k_base encoding throughput (MB/s), to set beside npm tiktoken on the
// same text: node tools/tokenizers/bench_tiktoken.js prints the npm number.
//
// Also: real tokenizer.json files (DeepSeek-V3, Qwen3, GPT-3.5/4's cl100k) through the general pipeline and
// its regex engine (regex.hpp), beside Hugging Face tokenizers on npm (node
// tools/tokenizers/bench_hf_tokenizers.js prints those numbers), and the cl100k split alone: the
// hand-written splitter (pretokenize.hpp) against the regex engine on the same pattern. The tokenizer.json
// files come from tools/tokenizers/fetch_real_tokenizers.js (run by the tests); without them those
// benchmarks are skipped with a message.
//
// The text: the test corpus (tests/tokenizers/corpus.json) joined by newlines and repeated to ~1 MB.
// The vocabulary: tests/fixtures/downloaded/tokenizers/cl100k_base.tiktoken, written by
// tools/tokenizers/fetch_references.js; without it the benchmark is skipped with a message.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "eigenformer/core/json.hpp"
#include "eigenformer/tokenizers.hpp"

namespace tk = eigenformer::tokenizers;

namespace {

std::string source_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().string();  // bench/.. = the repository
}

/// The benchmark text; the node script builds the same one.
const std::string& bench_text() {
  static const std::string text = [] {
    const eigenformer::json::Value corpus = eigenformer::json::parse_file(source_dir() + "/tests/tokenizers/corpus.json");
    std::string joined;
    for (const eigenformer::json::Value& s : corpus.as_array()) joined += s.as_string() + "\n";
    std::string out;
    while (out.size() < (1u << 20)) out += joined;
    return out;
  }();
  return text;
}

const tk::Tokenizer* load(const std::string& encoding) {
  static std::unique_ptr<tk::Tokenizer> cache[2];
  const int slot = encoding == "o200k_base" ? 1 : 0;
  if (!cache[slot]) {
    const std::string file = source_dir() + "/tests/fixtures/downloaded/tokenizers/" + encoding + ".tiktoken";
    if (!std::filesystem::exists(file)) return nullptr;
    cache[slot] = std::make_unique<tk::Tokenizer>(tk::load_tokenizer(file, tk::LoadOptions{encoding}));
  }
  return cache[slot].get();
}

void encode_benchmark(benchmark::State& state, const std::string& encoding) {
  const tk::Tokenizer* tok = load(encoding);
  if (tok == nullptr) {
    state.SkipWithError(("no " + encoding + ".tiktoken: run node tools/tokenizers/fetch_references.js first").c_str());
    return;
  }
  const std::string& text = bench_text();
  std::size_t tokens = 0;
  for (auto _ : state) {
    const eigenformer::TokenSequence ids = tok->encode(text, tk::EncodeOptions{}.as_text());
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["text_bytes"] = static_cast<double>(text.size());
}

void BM_cl100k_encode(benchmark::State& state) { encode_benchmark(state, "cl100k_base"); }
void BM_o200k_encode(benchmark::State& state) { encode_benchmark(state, "o200k_base"); }

const tk::Tokenizer* load_json(const std::string& model) {
  static std::map<std::string, std::unique_ptr<tk::Tokenizer>> cache;
  std::unique_ptr<tk::Tokenizer>& slot = cache[model];
  if (!slot) {
    const std::string file = source_dir() + "/tests/fixtures/downloaded/tokenizers-real/" + model + "/tokenizer.json";
    if (!std::filesystem::exists(file)) return nullptr;
    slot = std::make_unique<tk::Tokenizer>(tk::load_tokenizer(file));
  }
  return slot.get();
}

/// A real tokenizer.json encoding the benchmark text (special-token text recognised, as Hugging Face does).
void json_encode_benchmark(benchmark::State& state, const std::string& model) {
  const tk::Tokenizer* tok = load_json(model);
  if (tok == nullptr) {
    state.SkipWithError(("no " + model + "/tokenizer.json: run node tools/tokenizers/fetch_real_tokenizers.js first").c_str());
    return;
  }
  const std::string& text = bench_text();
  std::size_t tokens = 0;
  for (auto _ : state) {
    const eigenformer::TokenSequence ids = tok->encode(text, tk::EncodeOptions{}.allow_all());
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

void BM_deepseek_v3_json_encode(benchmark::State& state) { json_encode_benchmark(state, "deepseek_v3"); }
void BM_qwen3_json_encode(benchmark::State& state) { json_encode_benchmark(state, "qwen3"); }
void BM_cl100k_json_encode(benchmark::State& state) { json_encode_benchmark(state, "gpt35turbo"); }

/// cl100k_base's ranks as BM_cl100k_encode uses them, but split by the regex engine instead of the
/// hand-written splitter: the cost of the general engine inside a whole encode.
void BM_cl100k_encode_regex_split(benchmark::State& state) {
  const std::string file = source_dir() + "/tests/fixtures/downloaded/tokenizers/cl100k_base.tiktoken";
  if (!std::filesystem::exists(file)) {
    state.SkipWithError("no cl100k_base.tiktoken: run node tools/tokenizers/fetch_references.js first");
    return;
  }
  static const tk::Tokenizer tok = [&] {
    tk::Pipeline pipeline;
    tk::pre_tokenizers::Split split;
    split.pattern = std::make_shared<const tk::regex::Regex>(tk::split_pattern_regex(tk::SplitPattern::cl100k));
    pipeline.pre_tokenizer.push_back(split);
    pipeline.decoder.push_back(tk::decoders::ByteLevel{});
    return tk::Tokenizer(std::make_shared<tk::BytePairEncoding>(tk::load_tiktoken(file)), pipeline, tk::SpecialTokens{},
                         "cl100k_base (regex split)");
  }();
  const std::string& text = bench_text();
  std::size_t tokens = 0;
  for (auto _ : state) {
    const eigenformer::TokenSequence ids = tok.encode(text, tk::EncodeOptions{}.as_text());
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

/// The cl100k split alone: the hand-written teaching splitter...
void BM_cl100k_split_handwritten(benchmark::State& state) {
  const std::string& text = bench_text();
  std::size_t pieces = 0;
  for (auto _ : state) {
    pieces = 0;
    tk::split_pieces(text, tk::SplitPattern::cl100k, [&](std::string_view p) {
      benchmark::DoNotOptimize(p.data());
      ++pieces;
    });
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["pieces"] = static_cast<double>(pieces);
}

/// ...and the regex engine running the same pattern.
void BM_cl100k_split_regex(benchmark::State& state) {
  const tk::regex::Regex re(tk::split_pattern_regex(tk::SplitPattern::cl100k));
  const std::string& text = bench_text();
  std::size_t pieces = 0;
  for (auto _ : state) {
    pieces = 0;
    re.for_each_match(text, [&](std::size_t b, std::size_t e) {
      benchmark::DoNotOptimize(b + e);
      ++pieces;
    });
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["pieces"] = static_cast<double>(pieces);
}

}  // namespace

BENCHMARK(BM_deepseek_v3_json_encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_qwen3_json_encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_cl100k_json_encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_cl100k_encode_regex_split)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_cl100k_split_handwritten)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_cl100k_split_regex)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_cl100k_encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_o200k_encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);
