// bench_loading — how long a checkpoint takes to reach its first token, beside reading its file once.
//
// The yardstick: loading a stories110M-shaped checkpoint (fp32, 12 layers of width 768, vocabulary 32000:
// ~110M parameters, ~0.44 GB) and producing the first token should cost at most 1.5 times reading the file once
// from the page cache — nothing beyond one copy of each weight (and the dtype conversion when the file stores
// another one). The cases, run in one program so they share the machine's state:
//
//   BM_ReadFileOnce/<dtype>/huge:0   the whole model.safetensors read into a fresh buffer (the floor): new memory,
//                                    so the first write to every page happens in the read, as it does in a load
//   BM_ReadFileOnce/<dtype>/huge:1   the same into a fresh buffer aligned to 2 MiB and advised for transparent
//                                    huge pages (madvise(MADV_HUGEPAGE)): the floor for memory on huge pages
//   BM_LoadModel/<dtype>             Llama<float>::from_pretrained: open, check, allocate, read every tensor (the
//                                    matrices unfilled and advised for huge pages: core/parameter_memory.hpp)
//   BM_LoadModelZeroFilled/<dtype>   the same steps with the model built as any model is, zero-filled and on
//                                    small pages, then loaded (what from_pretrained did before)
//   BM_LoadToFirstToken/<dtype>      from_pretrained, then a 16-token prompt and one greedy token
//
// <dtype> is the file's: F32 (read straight into the weights, core/safetensors.hpp) or BF16 (half the bytes,
// each value widened to float on the way). The checkpoints are written once, with random weights, to
// $TMPDIR/eigenformer-bench-loading/ (~0.7 GB; removed at exit). Every iteration after the first finds the file in
// the page cache, which is what the yardstick compares with: the disk's speed is not the library's. Counter
// faults: the page faults of one iteration (getrusage), i.e. how many pages were mapped: 4 KiB ones or 2 MiB ones.
//
// Fresh memory, as in a program that starts and loads a model: when a model is freed, glibc keeps some of its
// memory in its heap, and the next iteration would find heap pages the previous model already touched — cheaper
// than any real first load. Each iteration therefore starts (untimed) with malloc_trim(0), which hands every free
// heap page back to the system: every iteration writes fresh memory, as the first load of a process does.
//
// Run:  TMPDIR=/dev/shm ./build/release/bench/bench_loading --benchmark_repetitions=3
//           --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true   (one line)
// The ratio of interest is BM_LoadToFirstToken / BM_ReadFileOnce at the same dtype (docs/performance.md).
#include <benchmark/benchmark.h>

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"
#include "stories_shapes.hpp"

using namespace eigenformer;

namespace {

/// Untimed: every free heap page back to the system, so that the iteration starts from fresh memory.
void start_fresh(benchmark::State& state) {
  state.PauseTiming();
  malloc_trim(0);
  state.ResumeTiming();
}

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

long page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt + usage.ru_majflt;
}

void report_bytes(benchmark::State& state, const std::string& file, long faults) {
  const double bytes = static_cast<double>(std::filesystem::file_size(file));
  state.counters["file_MB"] = bytes / 1e6;
  state.counters["GB/s"] = benchmark::Counter(bytes * static_cast<double>(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
  state.counters["faults"] = static_cast<double>(faults) / static_cast<double>(state.iterations());
  state.SetLabel(dtype_name(dtype_of(state)));
}

/// A fresh buffer of `bytes` bytes, never written: on small pages, or 2 MiB-aligned and advised for huge pages.
struct FreshBuffer {
  FreshBuffer(std::size_t bytes, bool huge) {
    constexpr std::size_t kHugePage = std::size_t(2) << 20;
    if (!huge) {
      data.reset(static_cast<char*>(std::malloc(bytes)));  // above the mmap threshold: a new mapping
    } else {
      const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
      data.reset(static_cast<char*>(std::aligned_alloc(kHugePage, rounded)));
      if (data) madvise(data.get(), rounded, MADV_HUGEPAGE);
    }
  }
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> data;
};

void BM_ReadFileOnce(benchmark::State& state) {
  const std::string file = checkpoint_folder(dtype_of(state)) + "/model.safetensors";
  const std::size_t bytes = static_cast<std::size_t>(std::filesystem::file_size(file));
  const bool huge = state.range(1) != 0;
  long faults = 0;
  for (auto _ : state) {
    start_fresh(state);
    const long before = page_faults();
    FreshBuffer buffer(bytes, huge);
    std::ifstream in(file, std::ios::binary);
    in.read(buffer.data.get(), static_cast<std::streamsize>(bytes));
    if (!in) state.SkipWithError("could not read the checkpoint");
    benchmark::DoNotOptimize(buffer.data.get());
    faults += page_faults() - before;
  }
  report_bytes(state, file, faults);
  if (huge) state.SetLabel(std::string(dtype_name(dtype_of(state))) + ", huge pages");
}

void BM_LoadModel(benchmark::State& state) {
  const std::string folder = checkpoint_folder(dtype_of(state));
  long faults = 0;
  for (auto _ : state) {
    start_fresh(state);
    const long before = page_faults();
    Llama<float> model = Llama<float>::from_pretrained(folder);
    benchmark::DoNotOptimize(model.embed_tokens.weight.data());
    faults += page_faults() - before;
  }
  report_bytes(state, folder + "/model.safetensors", faults);
}

// from_pretrained's steps with the model built zero-filled, as before core/parameter_memory.hpp.
void BM_LoadModelZeroFilled(benchmark::State& state) {
  const std::string folder = checkpoint_folder(dtype_of(state));
  long faults = 0;
  for (auto _ : state) {
    start_fresh(state);
    const long before = page_faults();
    Checkpoint checkpoint(folder);
    const LlamaConfig config = LlamaConfig::from(checkpoint.config());
    checkpoint.check_parameter_count(config.parameter_count());
    Llama<float> model(config);
    model.load(checkpoint);
    benchmark::DoNotOptimize(model.embed_tokens.weight.data());
    faults += page_faults() - before;
  }
  report_bytes(state, folder + "/model.safetensors", faults);
}

void BM_LoadToFirstToken(benchmark::State& state) {
  const std::string folder = checkpoint_folder(dtype_of(state));
  TokenSequence prompt;
  for (TokenId i = 0; i < 16; ++i) prompt.push_back(1 + 37 * i);
  generation::GenerationConfig config;
  config.max_new_tokens = 1;
  long faults = 0;
  for (auto _ : state) {
    start_fresh(state);
    const long before = page_faults();
    Llama<float> model = Llama<float>::from_pretrained(folder);
    const auto result = generation::generate(model, prompt, config);
    benchmark::DoNotOptimize(result.front().tokens.data());
    faults += page_faults() - before;
  }
  report_bytes(state, folder + "/model.safetensors", faults);
}

// Arg bf16 0: the file stores F32; 1: BF16. Real time: reading is I/O, not only CPU.
BENCHMARK(BM_ReadFileOnce)->ArgNames({"bf16", "huge"})->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadModel)->ArgName("bf16")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadModelZeroFilled)->ArgName("bf16")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadToFirstToken)->ArgName("bf16")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
