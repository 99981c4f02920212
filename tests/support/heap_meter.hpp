// tests/support/heap_meter.hpp — how many heap bytes a piece of code holds at its peak, and its largest block.
//
// Include it in exactly ONE translation unit of an executable: it replaces malloc and its relatives (glibc lets
// a program define them; these count, then call glibc's own __libc_* functions). operator new and delete reach
// them through libstdc++, and Eigen allocates with malloc, so every heap byte of the program passes here. The
// size of a block is glibc's malloc_usable_size (what the block really occupies, a few bytes above the request).
//
//     heap_meter::start();                 // peak := what is live now; largest := 0
//     ... the code measured ...
//     heap_meter::peak_above_start()       // the most bytes live at once during it, beyond those at start()
//     heap_meter::largest_block()          // the largest single block allocated since start()
//
// Used by tests/speed/test_attention_memory.cpp and bench/bench_attention_memory.cpp. Not under the
// sanitizers, whose runtimes replace malloc themselves.
#pragma once

// The system's own declarations first: the definitions below must follow them (GCC rejects a definition that
// comes before a declaration with a different exception specifier, as <mm_malloc.h>'s posix_memalign has).
#include <malloc.h>
#include <stdlib.h>
#if __has_include(<mm_malloc.h>)
#include <mm_malloc.h>
#endif

#include <atomic>
#include <cerrno>
#include <cstddef>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);
}

namespace heap_meter {

inline std::atomic<std::size_t> live{0};        // bytes held now
inline std::atomic<std::size_t> peak{0};        // the most held at once since start()
inline std::atomic<std::size_t> largest{0};     // the largest block since start()
inline std::atomic<std::size_t> at_start{0};    // live at start()

inline void raise_to(std::atomic<std::size_t>& value, std::size_t candidate) {
  std::size_t seen = value.load(std::memory_order_relaxed);
  while (candidate > seen && !value.compare_exchange_weak(seen, candidate, std::memory_order_relaxed)) {
  }
}

inline void* allocated(void* p) {
  if (p != nullptr) {
    const std::size_t size = malloc_usable_size(p);
    raise_to(peak, live.fetch_add(size, std::memory_order_relaxed) + size);
    raise_to(largest, size);
  }
  return p;
}

inline void released(void* p) {
  if (p != nullptr) live.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
}

inline void start() {
  at_start = live.load();
  peak = at_start.load();
  largest = 0;
}

inline std::size_t peak_above_start() { return peak.load() - at_start.load(); }
inline std::size_t largest_block() { return largest.load(); }

}  // namespace heap_meter

extern "C" {
void* malloc(std::size_t size) { return heap_meter::allocated(__libc_malloc(size)); }
void* calloc(std::size_t count, std::size_t size) { return heap_meter::allocated(__libc_calloc(count, size)); }
void* realloc(void* p, std::size_t size) {
  heap_meter::released(p);
  void* q = __libc_realloc(p, size);
  if (q == nullptr && size != 0 && p != nullptr) {  // failed: the old block is still there
    heap_meter::allocated(p);
    return nullptr;
  }
  return heap_meter::allocated(q);
}
void* memalign(std::size_t alignment, std::size_t size) { return heap_meter::allocated(__libc_memalign(alignment, size)); }
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  return heap_meter::allocated(__libc_memalign(alignment, size));
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = heap_meter::allocated(p);
  return 0;
}
void free(void* p) {
  heap_meter::released(p);
  __libc_free(p);
}
}
