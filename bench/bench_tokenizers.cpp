// bench/bench_tokenizers.cpp — cl100k_base encoding throughput (MB/s), to set beside npm tiktoken on the
// same text: node tools/tokenizers/bench_tiktoken.js prints the npm number.
//
// The text: the test corpus (tests/tokenizers/corpus.json) joined by newlines and repeated to ~1 MB.
// The vocabulary: tests/fixtures/downloaded/tokenizers/cl100k_base.tiktoken, written by
// tools/tokenizers/fetch_references.js; without it the benchmark is skipped with a message.
#include <benchmark/benchmark.h>

#include <filesystem>
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

}  // namespace

BENCHMARK(BM_cl100k_encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_o200k_encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);
