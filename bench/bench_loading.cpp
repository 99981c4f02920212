// bench_loading — how long a checkpoint takes to reach its first token, beside reading its file once.
//
// The yardstick: loading a stories110M-shaped checkpoint (fp32, 12 layers of width 768, vocabulary 32000:
// ~110M parameters, ~0.44 GB) and producing the first token should cost at most 1.5 times reading the file once
// from the page cache — nothing beyond one copy of each weight (and the dtype conversion when the file stores
// another one). Three cases, run in one program so they share the machine's state:
//
//   BM_ReadFileOnce/<dtype>        the whole model.safetensors read into one buffer (the floor)
//   BM_LoadModel/<dtype>           Llama<float>::from_pretrained: open, check, allocate, read every tensor
//   BM_LoadToFirstToken/<dtype>    the same, then a 16-token prompt and one greedy token
//
// <dtype> is the file's: F32 (read straight into the weights, core/safetensors.hpp) or BF16 (half the bytes,
// each value widened to float on the way). The checkpoints are written once, with random weights, to
// $TMPDIR/eigenformer-bench-loading/ (~0.7 GB; removed at exit). Every iteration after the first finds the file in
// the page cache, which is what the yardstick compares with: the disk's speed is not the library's.
//
// Run:  ./build/release/bench/bench_loading --benchmark_counters_tabular=true
// The ratio of interest is BM_LoadToFirstToken / BM_ReadFileOnce at the same dtype (docs/performance.md).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"
#include "stories_shapes.hpp"

using namespace eigenformer;

namespace {

/// $TMPDIR/eigenformer-bench-loading, created on first use and removed when the program exits.
const std::string& loading_root() {
  static const std::string root = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string r = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/eigenformer-bench-loading";
    std::filesystem::create_directories(r);
    return r;
  }();
  // Registered after `root` is built, so it runs before `root` is destroyed.
  static const bool cleanup = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(loading_root(), ec);
    });
    return true;
  }();
  (void)cleanup;
  return root;
}

/// The folder holding the checkpoint stored as `dtype`, written on first use.
const std::string& checkpoint_folder(DType dtype) {
  static std::string folders[2];
  std::string& folder = folders[dtype == DType::F32 ? 0 : 1];
  if (folder.empty()) {
    folder = loading_root() + "/" + dtype_name(dtype);
    Llama<float> model(bench::stories(true));
    std::srand(1);
    for (auto& p : named_parameters(model)) {
      for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = 0.05f * (static_cast<float>(std::rand()) / RAND_MAX - 0.5f);
    }
    model.save_pretrained(folder, dtype);
  }
  return folder;
}

DType dtype_of(const benchmark::State& state) { return state.range(0) == 0 ? DType::F32 : DType::BF16; }

void report_bytes(benchmark::State& state, const std::string& file) {
  const double bytes = static_cast<double>(std::filesystem::file_size(file));
  state.counters["file_MB"] = bytes / 1e6;
  state.counters["GB/s"] = benchmark::Counter(bytes * static_cast<double>(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
  state.SetLabel(dtype_name(dtype_of(state)));
}

void BM_ReadFileOnce(benchmark::State& state) {
  const std::string file = checkpoint_folder(dtype_of(state)) + "/model.safetensors";
  std::vector<char> buffer(static_cast<std::size_t>(std::filesystem::file_size(file)));
  for (auto _ : state) {
    std::ifstream in(file, std::ios::binary);
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (!in) state.SkipWithError("could not read the checkpoint");
    benchmark::DoNotOptimize(buffer.data());
  }
  report_bytes(state, file);
}

void BM_LoadModel(benchmark::State& state) {
  const std::string folder = checkpoint_folder(dtype_of(state));
  for (auto _ : state) {
    Llama<float> model = Llama<float>::from_pretrained(folder);
    benchmark::DoNotOptimize(model.embed_tokens.weight.data());
  }
  report_bytes(state, folder + "/model.safetensors");
}

void BM_LoadToFirstToken(benchmark::State& state) {
  const std::string folder = checkpoint_folder(dtype_of(state));
  TokenSequence prompt;
  for (TokenId i = 0; i < 16; ++i) prompt.push_back(1 + 37 * i);
  generation::GenerationConfig config;
  config.max_new_tokens = 1;
  for (auto _ : state) {
    Llama<float> model = Llama<float>::from_pretrained(folder);
    const auto result = generation::generate(model, prompt, config);
    benchmark::DoNotOptimize(result.front().tokens.data());
  }
  report_bytes(state, folder + "/model.safetensors");
}

// Arg 0: the file stores F32; 1: BF16. Real time: reading is I/O, not only CPU.
BENCHMARK(BM_ReadFileOnce)->ArgName("bf16")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadModel)->ArgName("bf16")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadToFirstToken)->ArgName("bf16")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
