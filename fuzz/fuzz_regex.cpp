// fuzz/fuzz_regex.cpp — the split-pattern regex engine (tokenizers/regex.hpp) on arbitrary patterns and texts.
//
// The input is cut at its first NUL byte: before it is the pattern, after it the text. A pattern the engine
// does not support is a RegexError naming the place; a compiled pattern searches the text (when it is valid
// UTF-8) and reports matches that are in bounds, ordered, on character boundaries, never overlapping.
#include "fuzz_common.hpp"

#include <eigenformer/tokenizers.hpp>

using namespace eigenformer;
using namespace eigenformer::tokenizers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::pair<std::string_view, std::string_view> parts =
      fuzz::split_input(std::string_view(reinterpret_cast<const char*>(data), size), std::string_view("\0", 1));
  const std::string_view pattern = parts.first, text = parts.second;  // (a lambda cannot capture a structured binding)
  fuzz::expect_typed([&] {
    const regex::Regex regex(pattern);
    if (find_invalid_utf8(text) != std::string_view::npos) return;  // the engine reads valid UTF-8 only
    std::size_t previous_end = 0;
    std::size_t matches = 0;
    regex.for_each_match(text, [&](std::size_t begin, std::size_t end) {
      EIGENFORMER_FUZZ_CHECK(previous_end <= begin && begin <= end && end <= text.size());
      EIGENFORMER_FUZZ_CHECK(find_invalid_utf8(text.substr(begin, end - begin)) == std::string_view::npos);
      previous_end = end;
      ++matches;
    });
    EIGENFORMER_FUZZ_CHECK(matches <= text.size() + 1);
    if (!text.empty()) (void)regex.match_at(text, 0);
  });
  return 0;
}
