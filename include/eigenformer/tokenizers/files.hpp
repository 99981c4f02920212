// eigenformer/tokenizers/files.hpp — reading a vocabulary file whole, and cutting text into numbered lines.
//
// Vocabulary files are read into memory at once (the largest, Llama 3's tokenizer.json, is 9 MB). Errors
// say which file: "cannot open" is a FileError (the operating system said no); what is inside is checked by
// each parser, which names the file and the line.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "eigenformer/core/error.hpp"

namespace eigenformer::tokenizers {

/// The bytes of the file at `path`. Throws FileError naming `who` and the path when it cannot be read.
inline std::string read_file_bytes(const std::string& path, std::string_view who) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(eigenformer::detail::cat("[", who, "] cannot open '", path, "'"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw FileError(eigenformer::detail::cat("[", who, "] error while reading '", path, "'"));
  return buffer.str();
}

/// Calls fn(line, line_number) for each line of `text` (1-based numbers; "\n" or "\r\n" endings removed;
/// a final line without "\n" counts, an empty text has no lines).
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  std::size_t start = 0;
  std::size_t number = 1;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line, number);
    ++number;
    start = end + 1;
  }
}

}  // namespace eigenformer::tokenizers
