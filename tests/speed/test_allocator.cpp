// tests/speed/test_allocator.cpp — keep_freed_memory (core/allocator.hpp): the memory one call frees is reused by
// the next without new page faults.
//
// The pattern of a forward pass, in small: four blocks of 20 MiB allocated, every page written, all freed — and
// again. By default glibc hands them back (a block this large comes from mmap and goes back with munmap; once its
// dynamic threshold has risen, 80 MiB freed together at the top of the heap is beyond its largest trim threshold,
// 64 MiB), so the second round faults every page in again; after keep_freed_memory() the second round writes
// into the pages the first one left. Counted with getrusage(2)'s minor page faults.
//
// A program of its own (tests/speed/CMakeLists.txt): the first case measures glibc's default behaviour, which no
// other code in the process may have changed; and not under the sanitizers or valgrind, whose allocators replace
// glibc's.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <cstdlib>
#include <vector>

#include "eigenformer/core/allocator.hpp"

namespace {

constexpr std::size_t kBlock = std::size_t(20) << 20;  // 20 MiB: below the 32 MiB that keep_freed_memory lets the heap serve
constexpr std::size_t kBlocks = 4;
constexpr std::size_t kPage = 4096;
constexpr long kPagesWritten = static_cast<long>(kBlocks * kBlock / kPage);  // 20,480

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

/// One round: the blocks allocated, one byte of every page written (volatile: the compiler may not drop the
/// writes, nor the allocations with them), all freed. Returns the minor page faults the round took.
long faults_of_one_round() {
  std::vector<void*> blocks(kBlocks);  // allocated before the count starts
  const long before = minor_faults();
  for (void*& block : blocks) {
    block = std::malloc(kBlock);
    REQUIRE(block != nullptr);
    volatile char* bytes = static_cast<volatile char*>(block);
    for (std::size_t i = 0; i < kBlock; i += kPage) bytes[i] = 1;
  }
  for (void* block : blocks) std::free(block);
  return minor_faults() - before;
}

}  // namespace

#if defined(__GLIBC__)
TEST_CASE("keep_freed_memory: the second round of allocations reuses the first round's pages") {
  // glibc's default: every round faults its pages in again (the measurement sees the faults it is meant to count).
  faults_of_one_round();
  const long by_default = faults_of_one_round();
  INFO("glibc's default thresholds: a round after the first took ", by_default, " faults for ", kPagesWritten, " pages");
  CHECK(by_default >= kPagesWritten * 9 / 10);

  REQUIRE(eigenformer::keep_freed_memory());
  faults_of_one_round();  // the heap grows to hold the blocks: these faults are paid once
  const long kept = faults_of_one_round();
  INFO("keep_freed_memory: a round after the first took ", kept, " faults for ", kPagesWritten, " pages");
  CHECK(kept <= kPagesWritten / 100);
}
#endif

TEST_CASE("keep_freed_memory: on glibc it reports that both settings were taken") {
#if defined(__GLIBC__)
  CHECK(eigenformer::keep_freed_memory());
  CHECK(eigenformer::keep_freed_memory(std::size_t(64) << 20));  // a smaller reserve is a valid setting too
#else
  CHECK_FALSE(eigenformer::keep_freed_memory());
#endif
}
