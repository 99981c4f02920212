// eigenformer/generation/stopping.hpp — why a sequence stopped, and stop strings across token boundaries.
//
// A sequence ends for exactly one of these reasons, and every result says which:
//   EndOfSequence   the model emitted one of the EOS ids (which one is recorded: Llama 3 has two)
//   StopString      the generated text now contains a stop string (which one is recorded)
//   MaxNewTokens    max_new_tokens were generated
//   ContextFull     the model's context (max_position_embeddings) is full
//
// Stop strings are matched in the *text*, not in the ids: "\n\nUser:" may arrive as "\n", "\nUser" and
// ":" — or inside one token with more text after it. After each token, the newly completed text is
// appended and searched, starting far enough back that a stop string spanning earlier tokens is found.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "eigenformer/core/types.hpp"

namespace eigenformer::generation {

enum class StopReason { EndOfSequence, StopString, MaxNewTokens, ContextFull };

inline const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::EndOfSequence: return "end of sequence";
    case StopReason::StopString: return "stop string";
    case StopReason::MaxNewTokens: return "max_new_tokens";
    case StopReason::ContextFull: return "context full";
  }
  return "?";
}

/// Watches the generated text of one sequence for any of the stop strings.
class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
    for (const std::string& s : stops_) longest_ = std::max(longest_, s.size());
  }

  bool empty() const { return stops_.empty(); }

  /// Appends newly completed text; returns the stop string it completes, if any. A stop string counts
  /// when its occurrence ends inside the new text (earlier occurrences were reported before).
  std::optional<std::string> append(const std::string& text) {
    if (stops_.empty() || text.empty()) return std::nullopt;
    const std::size_t old_size = text_.size();
    text_ += text;
    const std::size_t from = old_size >= longest_ ? old_size - longest_ + 1 : 0;
    std::optional<std::string> found;
    std::size_t found_end = std::string::npos;
    for (const std::string& s : stops_) {
      // The first occurrence that ends inside the new text (one ending earlier was already reported).
      std::size_t at = text_.find(s, from);
      while (at != std::string::npos && at + s.size() <= old_size) at = text_.find(s, at + 1);
      if (at == std::string::npos) continue;
      if (at + s.size() < found_end) {  // of several stop strings, the one that completes first wins
        found_end = at + s.size();
        found = s;
      }
    }
    return found;
  }

  const std::string& text() const { return text_; }

 private:
  std::vector<std::string> stops_;
  std::size_t longest_ = 0;
  std::string text_;
};

}  // namespace eigenformer::generation
