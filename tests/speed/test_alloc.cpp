// tests/speed/test_alloc.cpp — after the first decode step, generation allocates nothing on the heap.
//
// A counting allocator: this executable replaces the global operator new/delete and, because Eigen allocates
// with malloc rather than new, malloc and its relatives too (glibc lets a program define them; the
// definitions below count, then call glibc's own __libc_* functions). A model wrapper notes the running
// count when each forward call returns; the allocations of the steps after the first decode step are the
// difference between the count after the last forward call and after the second (the prompt is the first).
// That window holds whole steps: the strategy's choosing, the session's bookkeeping and the model's forward.
//
// Checked for greedy search, sampling (temperature, top-k, top-p, repetition penalty), beam search and a batch of
// prompts (generate_batch), on one and on two threads. Not under the sanitizers (tests/speed/CMakeLists.txt): they replace malloc themselves.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>

#include "eigenformer/eigenformer.hpp"
#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"

// ---- The counting allocator ------------------------------------------------------------------------------
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);
}

namespace {
std::atomic<long> allocations{0};
}

extern "C" {
void* malloc(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
void* memalign(std::size_t alignment, std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = __libc_malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = __libc_memalign(static_cast<std::size_t>(alignment), size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t size, std::align_val_t alignment) { return operator new(size, alignment); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }

using namespace eigenformer;

namespace {

LlamaConfig small_llama() {
  LlamaConfig c;
  c.vocab_size = 2048;  // the LM head (2048, 256) takes the threaded decoding product (layers/linear.hpp)
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 512;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  return c;
}

/// A CausalLM that forwards to a Llama and notes the allocation count when each call returns.
class CountingModel : public CausalLM<float> {
 public:
  explicit CountingModel(Llama<float>& model) : model_(model) { after_call.reserve(4096); }
  Index vocab_size() const override { return model_.vocab_size(); }
  Index max_positions() const override { return model_.max_positions(); }
  const SpecialTokenIds& special_tokens() const override { return model_.special_tokens(); }
  void forward(const TokenIds& ids, DecoderCache<float>& cache, Matrix<float>& logits, bool last_only = false,
               const KeyPadding* padding = nullptr) override {
    model_.forward(ids, cache, logits, last_only, padding);
    after_call.push_back(allocations.load());  // reserved above: noting allocates nothing
  }
  void forward_left_padded(const TokenIds& ids, DecoderCache<float>& cache, Matrix<float>& logits, bool last_only,
                           const KeyPadding& left_padding) override {
    model_.forward_left_padded(ids, cache, logits, last_only, left_padding);
    after_call.push_back(allocations.load());
  }
  /// Allocations from the end of the first decode step (call 2) to the end of the last call.
  long after_first_step() const { return after_call.back() - after_call[1]; }
  std::vector<long> after_call;

 private:
  Llama<float>& model_;
};

Llama<float>& model() {
  static Llama<float> m = [] {
    Llama<float> built(small_llama());
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(-0.08, 0.08);
    for (auto& p : named_parameters(built)) {
      for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = static_cast<float>(u(rng));
    }
    return built;
  }();
  return m;
}

long allocations_after_first_step(const generation::GenerationConfig& config, int threads_to_use,
                                  Llama<float>& decoder = model()) {
  set_threads(threads_to_use);
  CountingModel counting(decoder);
  const TokenSequence prompt = {1, 17, 300, 42, 7, 99};
  const auto result = generation::generate<float>(counting, prompt, config);
  REQUIRE(!result.empty());
  CHECK(result.front().tokens.size() == static_cast<std::size_t>(config.max_new_tokens));  // no EOS: every step ran
  REQUIRE(counting.after_call.size() >= 4);
  INFO("forward calls: ", counting.after_call.size(), ", allocations after the first decode step: ", counting.after_first_step());
  return counting.after_first_step();
}

// What the OpenMP runtime itself allocates for parallel regions once warm: GCC's libgomp nothing, LLVM's libomp
// (clang++, the ci preset) some blocks per region. Our code cannot avoid those, so the two-thread counts are
// checked only where the runtime allocates nothing.
long runtime_allocations_per_region() {
  set_threads(2);
  std::atomic<long> sink{0};
  const auto task = [&](Index i) { sink += i; };
  parallel_for(8, task);  // warm up: the thread team is created here
  const long before = allocations.load();
  for (int r = 0; r < 10; ++r) parallel_for(8, task);
  return (allocations.load() - before) / 10;
}

// The thread counts to check: 1 always; 2 when the OpenMP runtime's own regions allocate nothing.
std::vector<int> thread_counts_to_check() {
  const long runtime = runtime_allocations_per_region();
  if (runtime == 0) return {1, 2};
  MESSAGE("the OpenMP runtime allocates ", runtime, " blocks per parallel region (LLVM's libomp does): the ",
          "two-thread count would be the runtime's, so only one thread is checked in this build");
  return {1};
}

}  // namespace

TEST_CASE("alloc: the counting allocator sees Eigen's and the standard library's allocations") {
  const long before = allocations.load();
  Matrix<float> m(100, 100);
  std::vector<int> v(10);
  CHECK(allocations.load() - before >= 2);
}

// Long enough that attention's single-query path shares its heads out over threads too (B·H·S·D ≥ 2^16 from
// S = 256 keys for greedy search, from S = 86 for three beams).
TEST_CASE("alloc: greedy search allocates nothing after the first decode step") {
  generation::GenerationConfig config;
  config.max_new_tokens = 300;
  for (int n : thread_counts_to_check()) {
    INFO(n, " thread(s)");
    CHECK(allocations_after_first_step(config, n) == 0);
  }
}

TEST_CASE("alloc: sampling allocates nothing after the first decode step") {
  generation::GenerationConfig config;
  config.strategy = generation::Strategy::Sample;
  config.max_new_tokens = 60;
  config.temperature = 0.8;
  config.top_k = 50;
  config.top_p = 0.9;
  config.repetition_penalty = 1.2;
  config.seed = 5;
  for (int n : thread_counts_to_check()) {
    INFO(n, " thread(s)");
    CHECK(allocations_after_first_step(config, n) == 0);
  }
}

TEST_CASE("alloc: beam search allocates nothing after the first decode step") {
  generation::GenerationConfig config;
  config.strategy = generation::Strategy::Beam;
  config.num_beams = 3;
  config.max_new_tokens = 100;
  for (int n : thread_counts_to_check()) {
    INFO(n, " thread(s)");
    CHECK(allocations_after_first_step(config, n) == 0);
  }
}

TEST_CASE("alloc: greedy search with bf16 and int8 weights allocates nothing after the first decode step") {
  // layers/packed_weight.hpp: the int8 product quantises each activation row into buffers that only grow.
  generation::GenerationConfig config;
  config.max_new_tokens = 100;
  for (WeightFormat format : {WeightFormat::BF16, WeightFormat::Q8_0}) {
    Llama<float> packed = model();
    packed.pack_weights(format);
    for (int n : thread_counts_to_check()) {
      INFO(std::string(weight_format_name(format)), ", ", n, " thread(s)");
      CHECK(allocations_after_first_step(config, n, packed) == 0);
    }
  }
}

// A batch of prompts (generate_batch): 8 rows of different lengths, left-padded; every decode step feeds 8 tokens,
// and the projections take the several-row product (layers/linear.hpp), which must allocate nothing either.
TEST_CASE("alloc: a batch of 8 prompts allocates nothing after the first decode step") {
  generation::GenerationConfig config;
  config.max_new_tokens = 100;
  std::vector<TokenSequence> prompts;
  for (int i = 0; i < 8; ++i) prompts.push_back(TokenSequence(static_cast<std::size_t>(2 + (5 * i) % 9), static_cast<TokenId>(3 + i)));
  for (const bool sampling : {false, true}) {
    config.strategy = sampling ? generation::Strategy::Sample : generation::Strategy::Greedy;
    for (int n : thread_counts_to_check()) {
      INFO((sampling ? "sampling, " : "greedy, "), n, " thread(s)");
      set_threads(n);
      CountingModel counting(model());
      const auto results = generation::generate_batch<float>(counting, prompts, config);
      REQUIRE(results.size() == prompts.size());
      for (const auto& r : results) CHECK(r.tokens.size() == static_cast<std::size_t>(config.max_new_tokens));
      REQUIRE(counting.after_call.size() >= 4);
      INFO("forward calls: ", counting.after_call.size(), ", allocations after the first decode step: ", counting.after_first_step());
      CHECK(counting.after_first_step() == 0);
    }
  }
}
