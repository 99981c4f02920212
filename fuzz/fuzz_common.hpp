// fuzz/fuzz_common.hpp — what every libFuzzer target of eigenformer shares.
//
// The contract a target checks: whatever bytes come in, the library either succeeds or throws a typed
// eigenformer::Error (core/error.hpp) with a non-empty message. Anything else is a finding:
//   - a crash, an out-of-bounds read or write, a leak, undefined behaviour (the fuzz preset builds with
//     AddressSanitizer and UndefinedBehaviorSanitizer, which abort on the first report);
//   - an exception that is not an eigenformer::Error (std::out_of_range, std::bad_alloc, ...): it escapes
//     LLVMFuzzerTestOneInput, std::terminate aborts, and libFuzzer saves the input as crash-<sha1>;
//   - a hang (libFuzzer's -timeout) or a run that needs more memory than -rss_limit_mb.
// A target may also check a property (a round trip, ids inside the vocabulary) with EIGENFORMER_FUZZ_CHECK,
// which aborts with the failed condition.
#pragma once

#include <eigenformer/core/error.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <unistd.h>

namespace eigenformer::fuzz {

/// Runs f(); returns true when it succeeded, false when it threw an eigenformer::Error (the expected answer
/// to bad input). An error with an empty message is a finding too: every message must name the culprit.
template <class F>
bool expect_typed(F&& f) {
  try {
    f();
    return true;
  } catch (const eigenformer::Error& e) {
    if (std::string_view(e.what()).empty()) {
      std::fprintf(stderr, "eigenformer fuzz: an eigenformer::Error with an empty message\n");
      std::abort();
    }
    return false;
  }
}

#define EIGENFORMER_FUZZ_CHECK(condition)                                                            \
  do {                                                                                               \
    if (!(condition)) {                                                                              \
      std::fprintf(stderr, "eigenformer fuzz: %s:%d: property failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                                  \
    }                                                                                                \
  } while (0)

/// A private scratch folder for this process (parsers that read only files get the input through it):
/// $TMPDIR/eigenformer-fuzz-<pid>, created on first use.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string d = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/eigenformer-fuzz-" +
                    std::to_string(static_cast<long>(getpid()));
    std::error_code ec;
    std::filesystem::create_directories(d, ec);
    if (ec) {
      std::fprintf(stderr, "eigenformer fuzz: cannot create %s: %s\n", d.c_str(), ec.message().c_str());
      std::abort();
    }
    return d;
  }();
  return dir;
}

/// Writes `bytes` to scratch_dir()/name and returns the path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "eigenformer fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

/// Splits a fuzz input in two at the first occurrence of `separator` (for targets that read two things:
/// a pattern and a text, a vocab.json and a merges.txt). No separator: everything is the first part.
inline std::pair<std::string_view, std::string_view> split_input(std::string_view data, std::string_view separator) {
  const std::size_t at = data.find(separator);
  if (at == std::string_view::npos) return {data, std::string_view()};
  return {data.substr(0, at), data.substr(at + separator.size())};
}

}  // namespace eigenformer::fuzz
