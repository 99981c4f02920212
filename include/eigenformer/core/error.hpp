// eigenformer/core/error.hpp — the one exception hierarchy.
//
// Every failure that a user can cause (a wrong shape, a bad file, a token id outside the vocabulary)
// throws a type derived from eigenformer::Error. The message names *where* (the function, the file, the
// tensor, the token id) and *what was expected*, e.g.
//
//     [attention] keys have 7 positions but the key mask has 9
//     [safetensors] model.safetensors: tensor 'wte.weight': data_offsets [0, 12) hold 12 bytes, but
//         shape [2, 3] of F32 needs 24
//
// Internal invariants (things only a bug in eigenformer can break) use assert() instead.
//
//     Error                      catch this to catch everything eigenformer throws
//     ├── ShapeError             tensor shapes that do not fit together
//     ├── ValueError             a value outside its allowed range (token id, temperature, eps, ...)
//     ├── ConfigError            config.json / generation_config.json: missing, mistyped, inconsistent
//     ├── FileError              a file cannot be opened, read or written (the operating system said no)
//     ├── MemoryError            what would be allocated exceeds the memory available: refused before allocating
//     └── FormatError            a file was read but its contents are malformed (JSON, safetensors, vocab)
//         └── ParseError         ... with a byte offset (and line/column for text formats)
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace eigenformer {

/// Base of every exception eigenformer throws on bad input.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Tensor shapes that do not fit together, at a public entry point.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A value outside its allowed range: a token id >= vocabulary size, a negative temperature, ...
class ValueError : public Error {
 public:
  using Error::Error;
};

/// A model configuration (config.json and friends) that is missing fields, mistyped or inconsistent.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// The operating system refused: a file that cannot be opened, read, written or renamed.
class FileError : public Error {
 public:
  using Error::Error;
};

/// Tensors (weights, a KV cache, a training state) that would need more memory than is available, refused
/// before anything is allocated; the message names what, its size as a product of its dimensions, and what is
/// available (core/memory.hpp).
class MemoryError : public Error {
 public:
  using Error::Error;
};

/// A file (or buffer) whose contents are malformed: bad JSON, a safetensors header that lies, ...
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A FormatError that knows the byte offset where parsing failed.
class ParseError : public FormatError {
 public:
  ParseError(const std::string& message, std::size_t byte_offset)
      : FormatError(message), byte_offset_(byte_offset) {}
  /// Byte offset (from the start of the parsed text) of the first byte that could not be accepted.
  std::size_t byte_offset() const noexcept { return byte_offset_; }

 private:
  std::size_t byte_offset_;
};

namespace detail {

/// Concatenates anything printable into one string: cat("[linear] x has ", n, " columns").
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

/// Formats a shape the way PyTorch prints it: [2, 5, 768].
template <class Int>
std::string shape_str(const std::vector<Int>& shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

inline std::string shape_str(std::initializer_list<std::int64_t> shape) {
  return shape_str(std::vector<std::int64_t>(shape));
}

}  // namespace detail
}  // namespace eigenformer
