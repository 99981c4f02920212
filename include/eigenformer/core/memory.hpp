// eigenformer/core/memory.hpp — refusing an allocation that cannot fit, before making it.
//
// A config.json may describe a model, a KV cache or a training run far larger than the machine: 64 layers of
// keys and values at 131072 positions is 64 GiB. Allocating it would fail late (std::bad_alloc, outside
// eigenformer's error hierarchy) or, worse, succeed lazily and get the process killed by the kernel when the
// pages are first written. So the places that choose a size compute it first — saturating, with Count — and
// compare it with what is available:
//
//     available = min( MemAvailable            /proc/meminfo: free + reclaimable page cache, per the kernel
//                      RLIMIT_AS − VmSize      `ulimit -v`: the address space this process may still map
//                      memory.max − current    the cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes) )
//
// and a size above it throws MemoryError naming what would be allocated as the product of its dimensions:
//
//     [KVCache] at full context (5 + max_new_tokens 131067 = 131072 positions): 64 layers × 2 (keys, values) ×
//     1 sequences × 8 heads × 131072 positions × 128 dims × 4 bytes = 64.0 GiB (68719476736 bytes);
//     21.3 GiB (22870700032 bytes) available (MemAvailable)
//
// The check reads /proc with plain open/read into stack buffers: no heap allocation (tests/speed/test_alloc.cpp
// counts them in the generation loop), a few microseconds, and only where a size is chosen — never per token.
// Tests inject the budget (ScopedMemoryBudget) so that they do not depend on the machine.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "eigenformer/core/error.hpp"

namespace eigenformer {

/// A number of elements or bytes computed from sizes a file chose, saturating instead of overflowing. Each size
/// may reach ModelConfig::kMaxDimension (2^24), so a product of three or four of them passes 2^63: in std::int64_t
/// that is signed overflow (undefined behaviour; in practice a wrapped, often negative, count that slips past a
/// guard and lets the model allocate). Found by fuzz/fuzz_config.cpp; the regression test is
/// tests/hardening/test_fuzz_regressions.cpp. Past kMax (2^62) a Count stays at kMax, which every guard
/// (Checkpoint::check_parameter_count, check_fits) refuses. Sizes are non-negative; a negative operand counts as 0.
class Count {
 public:
  static constexpr std::int64_t kMax = std::int64_t{1} << 62;

  Count(std::int64_t n = 0) : n_(n < 0 ? 0 : (n > kMax ? kMax : n)) {}  // NOLINT: implicit, so `2 * C` reads as math
  std::int64_t value() const { return n_; }

  friend Count operator+(Count a, Count b) { return a.n_ > kMax - b.n_ ? Count(kMax) : Count(a.n_ + b.n_); }
  friend Count operator*(Count a, Count b) {
    if (a.n_ == 0 || b.n_ == 0) return Count(0);
    return a.n_ > kMax / b.n_ ? Count(kMax) : Count(a.n_ * b.n_);
  }
  Count& operator+=(Count b) { return *this = *this + b; }

 private:
  std::int64_t n_;
};

/// What a process may still allocate, and which limit says so.
struct AvailableMemory {
  std::int64_t bytes = Count::kMax;        // the smallest limit that is set (kMax: none known)
  const char* limit = "no limit known";    // "MemAvailable", "RLIMIT_AS", "cgroup memory.max", ...
};

namespace detail {

/// Reads at most size − 1 bytes of a small file (/proc, /sys) into `buffer`, NUL-terminated; the length, or −1
/// when it cannot be read. No heap allocation.
inline long read_small_file(const char* path, char* buffer, std::size_t size) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  std::size_t used = 0;
  while (used + 1 < size) {
    const ssize_t n = ::read(fd, buffer + used, size - 1 - used);
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buffer[used] = '\0';
  return static_cast<long>(used);
}

/// The first integer of `text` after `key` (e.g. "MemAvailable:"), or −1.
inline std::int64_t integer_after(const char* text, const char* key) {
  const char* at = std::strstr(text, key);
  if (at == nullptr) return -1;
  at += std::strlen(key);
  while (*at == ' ' || *at == '\t') ++at;
  if (*at < '0' || *at > '9') return -1;
  return static_cast<std::int64_t>(std::strtoll(at, nullptr, 10));
}

/// A file holding one number ("max" or a number past 2^62 means no limit: −1).
inline std::int64_t number_in_file(const char* path) {
  char buffer[64];
  if (read_small_file(path, buffer, sizeof buffer) <= 0 || buffer[0] < '0' || buffer[0] > '9') return -1;
  const long long n = std::strtoll(buffer, nullptr, 10);
  return n < 0 || n >= Count::kMax ? -1 : static_cast<std::int64_t>(n);
}

/// MemAvailable of /proc/meminfo in bytes, or −1.
inline std::int64_t meminfo_available() {
  char buffer[4096];
  if (read_small_file("/proc/meminfo", buffer, sizeof buffer) <= 0) return -1;
  const std::int64_t kib = integer_after(buffer, "MemAvailable:");
  return kib < 0 ? -1 : kib * 1024;
}

/// RLIMIT_AS (`ulimit -v`) minus the address space already mapped (VmSize, /proc/self/statm's first field in
/// pages), or −1 when there is no limit.
inline std::int64_t address_space_left() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return -1;
  const std::int64_t cap = limit.rlim_cur >= static_cast<rlim_t>(Count::kMax) ? Count::kMax : static_cast<std::int64_t>(limit.rlim_cur);
  char buffer[256];
  std::int64_t mapped = 0;
  if (read_small_file("/proc/self/statm", buffer, sizeof buffer) > 0) {
    mapped = static_cast<std::int64_t>(std::strtoll(buffer, nullptr, 10)) * static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE));
  }
  return cap > mapped ? cap - mapped : 0;
}

/// The cgroup's limit minus its usage: v2 (the "0::<path>" line of /proc/self/cgroup; memory.max, memory.current)
/// or v1 (the "memory:<path>" line; memory.limit_in_bytes, memory.usage_in_bytes, or the root of the mounted
/// hierarchy inside a container). −1 when no limit is set.
inline std::int64_t cgroup_left() {
  char groups[4096];
  if (read_small_file("/proc/self/cgroup", groups, sizeof groups) <= 0) return -1;
  char path[1024];
  const auto left = [](std::int64_t max, std::int64_t current) -> std::int64_t {
    if (max < 0) return -1;
    return current > 0 && current < max ? max - current : (current >= max ? 0 : max);
  };
  // One line at a time, in place: "<id>:<controllers>:<path>".
  for (char* line = groups; line != nullptr && *line != '\0';) {
    char* end = std::strchr(line, '\n');
    if (end != nullptr) *end = '\0';
    const bool v2 = std::strncmp(line, "0::", 3) == 0;
    const char* v1 = std::strstr(line, ":memory:");
    const char* group = v2 ? line + 3 : (v1 != nullptr ? v1 + 8 : nullptr);
    if (group != nullptr) {
      const char* base = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
      const char* max_file = v2 ? "memory.max" : "memory.limit_in_bytes";
      const char* use_file = v2 ? "memory.current" : "memory.usage_in_bytes";
      for (const char* dir : {group, "/"}) {  // the process's group, else the namespace's root (containers)
        std::snprintf(path, sizeof path, "%s%s/%s", base, dir, max_file);
        const std::int64_t max = number_in_file(path);
        if (max < 0) continue;
        std::snprintf(path, sizeof path, "%s%s/%s", base, dir, use_file);
        return left(max, number_in_file(path));
      }
    }
    line = end != nullptr ? end + 1 : nullptr;
  }
  return -1;
}

/// The budget a ScopedMemoryBudget set, or −1.
inline std::atomic<std::int64_t>& memory_budget() {
  static std::atomic<std::int64_t> budget{-1};
  return budget;
}

}  // namespace detail

/// The memory this process may still allocate: the smallest of MemAvailable, RLIMIT_AS − VmSize and the cgroup's
/// memory.max − usage (each when known), or a ScopedMemoryBudget's while one lives. No heap allocation.
inline AvailableMemory available_memory() {
  AvailableMemory a;
  const std::int64_t budget = detail::memory_budget().load();
  if (budget >= 0) {
    a.bytes = budget;
    a.limit = "the budget ScopedMemoryBudget set";
    return a;
  }
  const auto consider = [&a](std::int64_t bytes, const char* limit) {
    if (bytes >= 0 && bytes < a.bytes) {
      a.bytes = bytes;
      a.limit = limit;
    }
  };
  consider(detail::meminfo_available(), "MemAvailable");
  consider(detail::address_space_left(), "RLIMIT_AS");
  consider(detail::cgroup_left(), "cgroup memory.max");
  return a;
}

/// Replaces available_memory()'s answer with `bytes` while it lives (process-wide), so that a test of a guard
/// does not depend on the machine: `ScopedMemoryBudget budget(1 << 20);` and a 2 MiB cache is refused.
class ScopedMemoryBudget {
 public:
  explicit ScopedMemoryBudget(std::int64_t bytes) : previous_(detail::memory_budget().exchange(bytes < 0 ? 0 : bytes)) {}
  ~ScopedMemoryBudget() { detail::memory_budget().store(previous_); }
  ScopedMemoryBudget(const ScopedMemoryBudget&) = delete;
  ScopedMemoryBudget& operator=(const ScopedMemoryBudget&) = delete;

 private:
  std::int64_t previous_;
};

/// A size for people: "512 bytes", "3.5 KiB", "64.0 GiB" (binary units, one decimal).
inline std::string format_bytes(Count bytes) {
  const std::int64_t n = bytes.value();
  if (n >= Count::kMax) return "over 4 EiB";
  if (n < 1024) return detail::cat(n, " bytes");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double x = static_cast<double>(n) / 1024.0;
  int unit = 0;
  while (x >= 1024.0 && unit < 5) {
    x /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f %s", x, units[unit]);
  return buffer;
}

/// format_bytes, with the exact count behind a rounded one: "4.0 KiB (4095 bytes)", "512 bytes", "over 4 EiB".
inline std::string format_bytes_exactly(Count bytes) {
  const std::int64_t n = bytes.value();
  if (n < 1024 || n >= Count::kMax) return format_bytes(bytes);
  return detail::cat(format_bytes(bytes), " (", n, " bytes)");
}

/// Throws MemoryError when `bytes` exceed available_memory(). The message is
///     "<describe()> = <size> (<bytes> bytes)<after>; <available> (<bytes> bytes) available (<limit>)"
/// where describe() names what would be allocated as the product of its dimensions ("[KVCache] 64 layers × 2
/// (keys, values) × ..."); it is called only when refusing, so a passing check builds no string.
template <class Describe>
void check_fits(Count bytes, Describe describe, const char* after = "") {
  const AvailableMemory available = available_memory();
  if (bytes.value() <= available.bytes) return;
  throw MemoryError(detail::cat(describe(), " = ", format_bytes_exactly(bytes), after, "; ",
                                format_bytes_exactly(Count(available.bytes)), " available (", available.limit, ")"));
}

}  // namespace eigenformer
