// eigenformer/core/allocator.hpp — keeping the memory a program frees, so that the next call reuses it.
//
// Every forward pass allocates its activations, every large matrix product Eigen's packing buffers (up to a few
// MB each, on every call), every decode run its KV cache. glibc's malloc gives large blocks back to the system
// when they are freed:
//     a block above M_MMAP_THRESHOLD comes from mmap and goes back with munmap;
//     the free top of the heap goes back with brk once it exceeds M_TRIM_THRESHOLD.
// The next call gets fresh pages, and its first write to each 4 KiB page is a page fault: the kernel maps the
// page and clears it. On the virtual machines of docs/performance.md ("Memory given back, and taken again") a
// fault costs ~10 µs, and a 12-layer BERT-base stack at B = 1 made ~127,000 of them per forward pass: 1.1 s
// where its arithmetic takes 0.19 s. glibc raises both thresholds by itself as it sees large blocks freed (its
// "dynamic threshold"), but a stack of layers frees many blocks together at the top of the heap and still
// crosses them: 23,474 brk calls in 11 passes.
//
// keep_freed_memory() fixes the two thresholds (mallopt(3)):
//     M_MMAP_THRESHOLD = 32 MiB    blocks up to 32 MiB (glibc's largest setting on 64-bit) come from the heap;
//     M_TRIM_THRESHOLD = keep      the heap hands its free top back only beyond `keep` bytes (default 1 GiB).
// Memory a call frees then stays mapped, already faulted in, and the next call reuses it; blocks above 32 MiB
// still come from mmap each time. The cost: what the process used at its peak stays with it (up to `keep` of
// it free) until it exits, as with PyTorch's and OpenBLAS's own buffer pools.
//
// A setting for the whole process, so the library never makes it on its own: a program chooses it, once, at
// the start, before it allocates much. The programs of examples/ (through cli::run) and the benchmarks of
// bench/ do; so may yours:
//
//     int main() {
//       eigenformer::keep_freed_memory();   // false (and nothing changed) where malloc is not glibc's
//       ...
//     }
//
// Under valgrind or a sanitizer, whose allocators replace glibc's, the call changes nothing.
#pragma once

#include <cstddef>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace eigenformer {

/// The largest M_MMAP_THRESHOLD glibc accepts on 64-bit systems (its HEAP_MAX_SIZE / 2).
inline constexpr std::size_t kLargestHeapBlock = std::size_t(32) << 20;

/// Asks glibc's malloc to keep freed memory for reuse: blocks up to 32 MiB from the heap, and up to `keep` bytes
/// of free memory kept at the heap's top. True when glibc took both settings; false elsewhere (nothing changes).
inline bool keep_freed_memory(std::size_t keep = std::size_t(1) << 30) {
#if defined(__GLIBC__)
  const int keep_bytes = keep > std::size_t(0x7fffffff) ? 0x7fffffff : static_cast<int>(keep);  // mallopt takes an int
  const bool heap = ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(kLargestHeapBlock)) == 1;
  const bool trim = ::mallopt(M_TRIM_THRESHOLD, keep_bytes) == 1;
  return heap && trim;
#else
  (void)keep;
  return false;
#endif
}

}  // namespace eigenformer
