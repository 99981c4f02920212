// bench/keep_memory.cpp — linked into the benchmarks of forward passes, decoding and training (bench/CMakeLists.txt):
// before main() runs, freed memory is kept for reuse (eigenformer::keep_freed_memory, core/allocator.hpp), as the
// programs of examples/ keep it. Without it, on a machine where a page fault costs ~10 µs, the benchmarks time the
// kernel mapping and clearing the pages that glibc handed back after the previous iteration (a 12-layer BERT-base
// stack at B = 1: 1.1 s a pass instead of 0.19 s; docs/performance.md, "Memory given back, and taken again").
// Not in bench_loading and bench_attention_memory, which measure fresh memory and peak memory themselves.
#include "eigenformer/core/allocator.hpp"

namespace {
[[maybe_unused]] const bool kFreedMemoryKept = eigenformer::keep_freed_memory();
}  // namespace
