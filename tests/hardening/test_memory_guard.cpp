// The memory guard (core/memory.hpp): a KV cache at full context and a training step's state are computed before
// anything is allocated and refused with a MemoryError naming every factor, the bytes needed and the bytes
// available. The available bytes are injected (ScopedMemoryBudget), so these tests do not depend on the machine;
// the expected sizes are worked out by hand from the fixtures' config.json (llama-gqa-sharded: 2 layers, Hkv 2,
// D 16 / 4 = 4; t5-small-style: 3 decoder layers, H 4, d_kv 4).
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <string>

#include "eigenformer/generation.hpp"
#include "eigenformer/training/footprint.hpp"
#include "llama/llama.hpp"
#include "llama/llama_train.hpp"
#include "support/fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

Llama<float>& guard_llama() {
  static Llama<float> model = Llama<float>::from_pretrained(testing::fixture_path("models/llama-gqa-sharded"));
  return model;
}

T5<float>& guard_t5() {
  static T5<float> model = T5<float>::from_pretrained(testing::fixture_path("models/t5-small-style"));
  return model;
}

}  // namespace

TEST_CASE("memory guard: sizes for people, saturating") {
  CHECK(format_bytes(Count(512)) == "512 bytes");
  CHECK(format_bytes(Count(4096)) == "4.0 KiB");
  CHECK(format_bytes(Count(std::int64_t{64} << 30)) == "64.0 GiB");
  CHECK(format_bytes(Count(Count::kMax)) == "over 4 EiB");
  // The brief's example: 64 layers × 2 × 1 × 8 × 131072 × 128 × 4 bytes = 64 GiB, computed without overflow.
  const Count cache = Count(64) * Count(2) * Count(1) * Count(8) * Count(131072) * Count(128) * Count(4);
  CHECK(cache.value() == std::int64_t{64} << 30);
}

TEST_CASE("memory guard: what is available is the smallest limit, or the injected budget") {
  const AvailableMemory machine = available_memory();
  MESSAGE("available here: " << format_bytes(Count(machine.bytes)) << " (" << std::string(machine.limit) << ")");
  CHECK(machine.bytes > 0);
  {
    ScopedMemoryBudget budget(12345);
    CHECK(available_memory().bytes == 12345);
    CHECK(std::string(available_memory().limit) == "the budget ScopedMemoryBudget set");
  }
  CHECK(available_memory().bytes != 12345);  // the budget ends with its scope
  // RLIMIT_AS (`ulimit -v`): lowered to what is mapped now + 64 MiB, available_memory() reports at most 64 MiB,
  // named RLIMIT_AS; the soft limit is restored at once.
  struct rlimit before {};
  REQUIRE(getrlimit(RLIMIT_AS, &before) == 0);
  char statm[256];
  REQUIRE(detail::read_small_file("/proc/self/statm", statm, sizeof statm) > 0);
  const std::int64_t mapped = std::strtoll(statm, nullptr, 10) * sysconf(_SC_PAGESIZE);
  struct rlimit lowered = before;
  lowered.rlim_cur = static_cast<rlim_t>(mapped + (std::int64_t{64} << 20));
  if (before.rlim_cur != RLIM_INFINITY && before.rlim_cur < lowered.rlim_cur) lowered.rlim_cur = before.rlim_cur;
  REQUIRE(setrlimit(RLIMIT_AS, &lowered) == 0);
  const AvailableMemory limited = available_memory();
  REQUIRE(setrlimit(RLIMIT_AS, &before) == 0);
  CHECK(limited.bytes <= (std::int64_t{64} << 20));
  CHECK(std::string(limited.limit) == "RLIMIT_AS");
}

TEST_CASE("memory guard: a decoder's KV cache at full context is refused before the run, naming its factors") {
  Llama<float>& model = guard_llama();  // loaded before any budget: its weights are checked too
  GenerationConfig config;
  config.max_new_tokens = 61;  // prompt 3 + 61 = 64 positions, the fixture's whole context
  // 2 layers × 2 × 1 sequence × 2 heads × 64 positions × 4 dims × 4 bytes = 8192 bytes.
  {
    ScopedMemoryBudget budget(8191);
    CHECK_THROWS_WITH_AS(generate(model, {1, 2, 3}, config),
                         "[KVCache] at full context (3 + max_new_tokens 61 = 64 positions): 2 layers × 2 (keys, values) × "
                         "1 sequences × 2 heads × 64 positions × 4 dims × 4 bytes = 8.0 KiB (8192 bytes); 8.0 KiB (8191 "
                         "bytes) available (the budget ScopedMemoryBudget set)",
                         MemoryError);
  }
  {
    ScopedMemoryBudget budget(8192);  // exactly enough: the run goes ahead
    CHECK(generate(model, {1, 2, 3}, config).front().tokens.size() >= 1);
  }
  // Beam search: 3 sequences, and reorder()'s spare set doubles it: 8192 × 3 × 2 = 49152 bytes.
  config.strategy = Strategy::Beam;
  config.num_beams = 3;
  {
    ScopedMemoryBudget budget(20000);
    CHECK_THROWS_WITH_AS(generate(model, {1, 2, 3}, config),
                         "[KVCache] at full context (3 + max_new_tokens 61 = 64 positions): 2 layers × 2 (keys, values) × "
                         "3 sequences × 2 heads × 64 positions × 4 dims × 4 bytes × 2 (the spare set reorder() copies into, "
                         "for beams or several samples) = 48.0 KiB (49152 bytes); 19.5 KiB (20000 bytes) available (the budget "
                         "ScopedMemoryBudget set)",
                         MemoryError);
  }
  // A normal small model on this machine passes.
  CHECK(generate(model, {1, 2, 3}, config).size() == 1);
}

TEST_CASE("memory guard: an encoder-decoder's cache counts the cross-attention over the source") {
  T5<float>& model = guard_t5();  // loaded before the budget: its weights are checked too
  GenerationConfig config;
  config.max_new_tokens = 11;  // decoder_start + 11 = 12 positions; source of 4
  // self: 3 layers × 2 × 1 × 4 heads × 12 × 4 dims × 4 bytes = 4608; cross: 3 × 2 × 1 × 4 × 4 × 4 × 4 = 1536.
  ScopedMemoryBudget budget(1024);
  CHECK_THROWS_WITH_AS(generate(model, {5, 6, 7, 1}, config),
                       "[KVCache] at full context (1 + max_new_tokens 11 = 12 positions): 3 layers × 2 (keys, values) × "
                       "1 sequences × 4 heads × 12 positions × 4 dims × 4 bytes + cross-attention: 3 × 2 × 1 × 4 × 4 source "
                       "positions × 4 × 4 = 6.0 KiB (6144 bytes); 1.0 KiB (1024 bytes) available (the budget ScopedMemoryBudget set)",
                       MemoryError);
}

TEST_CASE("memory guard: a cache grown lazily is checked where its capacity is chosen (KVCache::reserve)") {
  KVCache<float> cache;
  {
    ScopedMemoryBudget budget(1024);
    CHECK_THROWS_WITH_AS(cache.reserve(1, 1000, 64),
                         "[KVCache::reserve] 2 (keys, values) × 1 sequences × 1000 positions × 64 (Hkv·D) × 4 bytes = "
                         "500.0 KiB (512000 bytes) for one layer; 1.0 KiB (1024 bytes) available (the budget ScopedMemoryBudget set)",
                         MemoryError);
    CHECK(cache.capacity() == 0);  // nothing was allocated
    // append() grows by doubling through reserve(): the growth is refused the same way.
    const Matrix<float> kv = Matrix<float>::Zero(4, 64);
    CHECK_THROWS_WITH_AS(cache.append(kv, kv, 1), doctest::Contains("[KVCache::reserve] 2 (keys, values) × 1 sequences × 4 "
                                                                    "positions × 64 (Hkv·D) × 4 bytes = 2.0 KiB (2048 bytes)"),
                         MemoryError);
  }
  // Without a budget, on any machine: a product past 2^62 saturates (Count) instead of wrapping to a small size.
  CHECK_THROWS_WITH_AS(cache.reserve(1 << 20, Index{1} << 30, 1 << 20), doctest::Contains("= over 4 EiB"), MemoryError);
  cache.reserve(2, 16, 8);  // a small cache passes
  CHECK(cache.capacity() == 16);
}

TEST_CASE("memory guard: a training step's gradients, AdamW moments and activations are refused before allocating") {
  training::TrainingShape shape;
  shape.layers = 2;
  shape.width = 16;
  shape.heads = 4;
  shape.kv_heads = 2;
  shape.head_dim = 4;
  shape.ffn = 32;
  shape.vocab = 71;
  shape.batch = 2;
  shape.positions = 8;
  // By hand, in scalars: a block B·T·(7C + 2HD + 2·Hkv·D + 4F) + B·H·T² = 16·288 + 512 = 5120; the step
  // 2·B·T·V + 4·B·T·C = 2272 + 1024 = 3296; activations (2 blocks + the step + one block for the backward) × 4 bytes
  // = 74624; gradients 1000 × 4 = 4000; AdamW 2 × 4000 = 8000. Needed (weights loaded): 86624 bytes.
  const training::TrainingFootprint f = training::training_footprint<float>(shape, 1000, 2);
  CHECK(f.activations.value() == 74624);
  CHECK(f.gradients.value() == 4000);
  CHECK(f.moments.value() == 8000);
  CHECK(f.weights.value() == 4000);
  {
    ScopedMemoryBudget budget(50000);
    CHECK_THROWS_WITH_AS(training::check_training_memory<float>(shape, 1000, 2, true),
                         "[training] (weights 3.9 KiB, loaded already) gradients 3.9 KiB (1000 parameters × 4 bytes) + "
                         "AdamW's two moments 7.8 KiB + activations 72.9 KiB (2 layers, B 2 × T 8, C 16, H 4 × D 4, Hkv 2, "
                         "F 32, V 71) = 84.6 KiB (86624 bytes) for one training step; 48.8 KiB (50000 bytes) available (the budget "
                         "ScopedMemoryBudget set)",
                         MemoryError);
  }
  {
    ScopedMemoryBudget budget(86624);
    CHECK_NOTHROW(training::check_training_memory<float>(shape, 1000, 2, true));
    // Not loaded yet: the weights count too, 4000 bytes more.
    CHECK_THROWS_WITH_AS(training::check_training_memory<float>(shape, 1000, 2, false),
                         doctest::Contains("[training] weights 3.9 KiB + gradients 3.9 KiB"), MemoryError);
  }
  // The llama program's guard (examples/llama/llama_train.hpp) on the fixture, on this machine: it fits.
  const training::TrainingShape fixture = llama_training::training_shape(guard_llama().config(), 16, 64);
  CHECK(fixture.kv_heads == 2);
  CHECK(fixture.head_dim == 4);
  CHECK_NOTHROW(training::check_training_memory<float>(fixture, count_parameters(guard_llama()), 2, true));
  // A hostile size saturates and is refused on any machine.
  training::TrainingShape huge = fixture;
  huge.batch = Index{1} << 24;
  huge.positions = Index{1} << 24;
  CHECK_THROWS_WITH_AS(training::check_training_memory<float>(huge, count_parameters(guard_llama()), 2, true),
                       doctest::Contains("activations over 4 EiB"), MemoryError);
}

TEST_CASE("memory guard: a checkpoint's weights that would not fit are refused before the model is built") {
  // llama-gqa-sharded by hand: E and W_lm 71 × 16 each; per layer q 256, k 128, v 128, o 256, the FFN 3 × 16 × 28,
  // two norms 32 (2144); the final norm 16: 2 × 1136 + 2 × 2144 + 16 = 6576 parameters, 26304 bytes in float (the
  // index's total_size, 26320, adds the 16 bytes of the two rotary_emb.inv_freq buffers).
  const std::string folder = testing::fixture_path("models/llama-gqa-sharded");
  ScopedMemoryBudget budget(1000);
  CHECK_THROWS_WITH_AS(Llama<float>::from_pretrained(folder),
                       ("[checkpoint] " + folder + ": the weights, 6576 parameters × 4 bytes = 25.7 KiB (26304 bytes); 1000 "
                        "bytes available (the budget ScopedMemoryBudget set)")
                           .c_str(),
                       MemoryError);
  CHECK_THROWS_WITH_AS(Llama<double>::from_pretrained(folder),
                       doctest::Contains("the weights, 6576 parameters × 8 bytes = 51.4 KiB (52608 bytes)"), MemoryError);
}
