// eigenformer/core/json.hpp — a small, strict JSON reader and writer (RFC 8259).
//
// eigenformer reads three kinds of JSON that come from other programs: the safetensors header, a
// checkpoint's config.json, and tokenizer.json. None of them may crash or hang us, whatever they hold, so
// this parser
//   - never trusts a size it read (it has none to read: JSON carries no lengths),
//   - limits nesting depth (a file of 100000 '[' would otherwise overflow the stack),
//   - rejects duplicate object keys (safetensors requires unique tensor names),
//   - validates UTF-8 inside strings and decodes \uXXXX escapes, surrogate pairs included,
//   - reports every error with the source name, line, column and byte offset.
//
// Objects keep their keys in file order (tokenizer.json's "vocab" and "merges" are ordered data).
//
//     json::Value v = json::parse(text, "config.json");
//     std::int64_t layers = v.at("num_hidden_layers").as_int("num_hidden_layers");
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <locale>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/utf8.hpp"

namespace eigenformer::json {

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;  // file order; keys are unique (the parser enforces it)

enum class Type { Null, Bool, Number, String, Array, Object };

inline const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "a boolean";
    case Type::Number: return "a number";
    case Type::String: return "a string";
    case Type::Array: return "an array";
    case Type::Object: return "an object";
  }
  return "?";
}

/// A number as written: its double value, and its exact integer value when the text was an integer
/// that fits in 64 bits (token ids and byte offsets must not round through double).
struct Number {
  double value = 0;
  bool is_integer = false;  // written without '.', 'e' or 'E', and fits in int64
  std::int64_t integer = 0;
};

/// One JSON value. Accessors named as_*() throw FormatError naming `what` when the type is wrong.
class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : data_(b) {}
  Value(int i) : Value(static_cast<std::int64_t>(i)) {}
  Value(std::int64_t i) : data_(Number{static_cast<double>(i), true, i}) {}
  Value(std::uint64_t i) : Value(static_cast<std::int64_t>(i)) {}
  Value(double d) : data_(Number{d, false, 0}) {}
  Value(Number n) : data_(n) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(Array a) : data_(std::make_shared<Array>(std::move(a))) {}
  Value(Object o) : data_(std::make_shared<Object>(std::move(o))) {}

  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_number() const { return type() == Type::Number; }
  bool is_integer() const { return is_number() && std::get<Number>(data_).is_integer; }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }

  bool as_bool(std::string_view what = "value") const { return std::get<bool>(expect(Type::Bool, what)); }
  double as_number(std::string_view what = "value") const {
    return std::get<Number>(expect(Type::Number, what)).value;
  }
  /// The exact integer; a non-integral number (1.5, 1e3) is an error.
  std::int64_t as_int(std::string_view what = "value") const {
    const Number& n = std::get<Number>(expect(Type::Number, what));
    if (!n.is_integer) {
      throw FormatError(detail::cat("[json] ", what, " must be an integer, got ", n.value));
    }
    return n.integer;
  }
  const std::string& as_string(std::string_view what = "value") const {
    return std::get<std::string>(expect(Type::String, what));
  }
  const Array& as_array(std::string_view what = "value") const {
    return *std::get<std::shared_ptr<Array>>(expect(Type::Array, what));
  }
  const Object& as_object(std::string_view what = "value") const {
    return *std::get<std::shared_ptr<Object>>(expect(Type::Object, what));
  }
  Array& as_array(std::string_view what = "value") {
    return *std::get<std::shared_ptr<Array>>(expect(Type::Array, what));
  }
  Object& as_object(std::string_view what = "value") {
    return *std::get<std::shared_ptr<Object>>(expect(Type::Object, what));
  }

  /// Object member lookup; nullptr when absent (or when this is not an object).
  const Value* find(std::string_view key) const {
    if (!is_object()) return nullptr;
    for (const Member& m : as_object()) {
      if (m.first == key) return &m.second;
    }
    return nullptr;
  }
  /// Object member that must exist.
  const Value& at(std::string_view key) const {
    const Value* v = find(key);
    if (v == nullptr) {
      throw FormatError(detail::cat("[json] missing key '", key, "'",
                                    is_object() ? "" : " (the value is not an object)"));
    }
    return *v;
  }
  /// Adds or replaces an object member (for writers).
  Value& set(std::string key, Value v) {
    if (is_null()) data_ = std::make_shared<Object>();
    Object& obj = as_object("object");
    for (Member& m : obj) {
      if (m.first == key) {
        m.second = std::move(v);
        return m.second;
      }
    }
    obj.emplace_back(std::move(key), std::move(v));
    return obj.back().second;
  }

 private:
  using Storage = std::variant<std::nullptr_t, bool, Number, std::string, std::shared_ptr<Array>,
                               std::shared_ptr<Object>>;

  const Storage& expect(Type t, std::string_view what) const {
    if (type() != t) {
      throw FormatError(
          detail::cat("[json] ", what, " must be ", type_name(t), ", got ", type_name(type())));
    }
    return data_;
  }
  Storage& expect(Type t, std::string_view what) {
    return const_cast<Storage&>(static_cast<const Value*>(this)->expect(t, what));
  }

  Storage data_ = nullptr;
};

// ------------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------------

struct ParseOptions {
  int max_depth = 256;               // deeper nesting is an error, not a stack overflow
  bool allow_duplicate_keys = false; // RFC 8259 says SHOULD be unique; we require it by default
};

namespace detail {

class Parser {
 public:
  Parser(std::string_view text, std::string_view source, ParseOptions options)
      : text_(text), source_(source), options_(options) {}

  Value parse_document() {
    skip_whitespace();
    Value v = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }

  [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw ParseError(eigenformer::detail::cat("[json] ", source_, ": line ", line, " column ", column,
                                              " (byte ", at, "): ", what),
                     at);
  }

  void skip_whitespace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  Value parse_value(int depth) {
    if (pos_ >= text_.size()) fail("unexpected end of input, expected a value");
    char c = text_[pos_];
    switch (c) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Value(parse_string());
      case 't': expect_word("true"); return Value(true);
      case 'f': expect_word("false"); return Value(false);
      case 'n': expect_word("null"); return Value();
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return Value(parse_number());
        fail(eigenformer::detail::cat("unexpected character '", printable(c), "', expected a value"));
    }
  }

  static std::string printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", u);
    return buf;
  }

  void expect_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      fail(eigenformer::detail::cat("invalid literal, expected '", word, "'"));
    }
    pos_ += word.size();
  }

  void check_depth(int depth) {
    if (depth > options_.max_depth) {
      fail(eigenformer::detail::cat("nesting deeper than ", options_.max_depth, " levels"));
    }
  }

  Value parse_object(int depth) {
    check_depth(depth);
    ++pos_;  // '{'
    Object obj;
    skip_whitespace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return Value(std::move(obj));
    }
    // Duplicate keys: small objects are checked as each key arrives (so the error points at it);
    // large ones (a vocabulary of 100k entries) are checked once at the end by sorting the keys.
    bool check_at_end = false;
    while (true) {
      skip_whitespace();
      if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string key");
      std::size_t key_at = pos_;
      std::string key = parse_string();
      skip_whitespace();
      if (pos_ >= text_.size() || text_[pos_] != ':') fail("expected ':' after an object key");
      ++pos_;
      skip_whitespace();
      Value v = parse_value(depth);
      obj.emplace_back(std::move(key), std::move(v));
      if (!options_.allow_duplicate_keys && obj.size() <= 32) {
        for (std::size_t i = 0; i + 1 < obj.size(); ++i) {
          if (obj[i].first == obj.back().first) {
            fail_at(key_at, eigenformer::detail::cat("duplicate key \"", obj.back().first, "\""));
          }
        }
      } else if (!options_.allow_duplicate_keys) {
        check_at_end = true;
      }
      skip_whitespace();
      if (pos_ >= text_.size()) fail("unexpected end of input inside an object");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == '}') {
        ++pos_;
        break;
      }
      fail("expected ',' or '}' in an object");
    }
    if (check_at_end) check_large_object_duplicates(obj);
    return Value(std::move(obj));
  }

  void check_large_object_duplicates(const Object& obj) const {
    std::vector<const std::string*> keys;
    keys.reserve(obj.size());
    for (const Member& m : obj) keys.push_back(&m.first);
    std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
    for (std::size_t i = 1; i < keys.size(); ++i) {
      if (*keys[i] == *keys[i - 1]) {
        throw ParseError(
            eigenformer::detail::cat("[json] ", source_, ": duplicate key \"", *keys[i], "\""), 0);
      }
    }
  }

  Value parse_array(int depth) {
    check_depth(depth);
    ++pos_;  // '['
    Array arr;
    skip_whitespace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return Value(std::move(arr));
    }
    while (true) {
      skip_whitespace();
      arr.push_back(parse_value(depth));
      skip_whitespace();
      if (pos_ >= text_.size()) fail("unexpected end of input inside an array");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == ']') {
        ++pos_;
        break;
      }
      fail("expected ',' or ']' in an array");
    }
    return Value(std::move(arr));
  }

  std::uint32_t parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else fail_at(pos_ - 1, "invalid hex digit in \\u escape");
    }
    return v;
  }

  // Length of the valid UTF-8 sequence starting at text_[at], or 0 when invalid (overlong forms,
  // surrogates and code points above U+10FFFF are invalid, as in RFC 3629).
  std::size_t utf8_length(std::size_t at) const {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text_[i]); };
    unsigned char b0 = byte(at);
    std::size_t n = text_.size() - at;
    if (b0 < 0x80) return 1;
    if (b0 >= 0xC2 && b0 <= 0xDF) return (n >= 2 && (byte(at + 1) & 0xC0) == 0x80) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
      if (n < 3) return 0;
      unsigned char b1 = byte(at + 1);
      if ((b1 & 0xC0) != 0x80 || (byte(at + 2) & 0xC0) != 0x80) return 0;
      if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
      if (b0 == 0xED && b1 >= 0xA0) return 0;  // UTF-16 surrogate
      return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
      if (n < 4) return 0;
      unsigned char b1 = byte(at + 1);
      if ((b1 & 0xC0) != 0x80 || (byte(at + 2) & 0xC0) != 0x80 || (byte(at + 3) & 0xC0) != 0x80) return 0;
      if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
      if (b0 == 0xF4 && b1 >= 0x90) return 0;  // above U+10FFFF
      return 4;
    }
    return 0;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) fail("unterminated escape");
        char e = text_[pos_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            std::size_t esc_at = pos_ - 2;
            std::uint32_t cp = parse_hex4();
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              // A high surrogate must be followed by \u and a low surrogate.
              if (pos_ + 2 > text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u') {
                fail_at(esc_at, "high surrogate escape without a following low surrogate");
              }
              pos_ += 2;
              std::uint32_t lo = parse_hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) fail_at(esc_at, "high surrogate escape followed by a non-low surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              fail_at(esc_at, "lone low surrogate escape");
            }
            eigenformer::append_utf8(out, static_cast<char32_t>(cp));
            break;
          }
          default: fail_at(pos_ - 1, eigenformer::detail::cat("invalid escape '\\", printable(e), "'"));
        }
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string (must be escaped)");
      std::size_t len = utf8_length(pos_);
      if (len == 0) fail("invalid UTF-8 inside a string");
      out.append(text_.data() + pos_, len);
      pos_ += len;
    }
  }

  Number parse_number() {
    std::size_t start = pos_;
    bool integral = true;
    if (text_[pos_] == '-') ++pos_;
    if (pos_ >= text_.size()) fail("truncated number");
    if (text_[pos_] == '0') {
      ++pos_;
    } else if (text_[pos_] >= '1' && text_[pos_] <= '9') {
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    } else {
      fail("invalid number");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') fail("expected a digit after '.'");
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') fail("expected a digit in the exponent");
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    }
    std::string literal(text_.substr(start, pos_ - start));
    Number n;
    // strtod is locale-dependent for the decimal point; JSON always uses '.', and the "C" locale is the
    // default for programs that never call setlocale. istringstream with the classic locale is safe.
    std::istringstream in(literal);
    in.imbue(std::locale::classic());
    in >> n.value;
    if (in.fail()) {
      // Out of double range ("1e999"). Refused here rather than read as an infinity: JSON has no infinity,
      // so such a value could never be written back, and a file we read must save again unchanged
      // (fuzz_config_t5 found a config.json with "2e606" in an unused field that loaded and then failed to save).
      // Underflow ("1e-999") is fine: it reads as 0 or the nearest subnormal, and writes back.
      const std::string shown = literal.size() > 40 ? literal.substr(0, 40) + "..." : literal;
      fail_at(start, eigenformer::detail::cat("number ", shown, " is outside the range of a double (JSON numbers must be finite)"));
    }
    if (integral) {
      // Exact 64-bit integer when it fits.
      bool neg = literal[0] == '-';
      std::uint64_t mag = 0;
      bool overflow = false;
      for (std::size_t i = neg ? 1 : 0; i < literal.size(); ++i) {
        std::uint64_t d = static_cast<std::uint64_t>(literal[i] - '0');
        if (mag > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
          overflow = true;
          break;
        }
        mag = mag * 10 + d;
      }
      const std::uint64_t limit = neg ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
      if (!overflow && mag <= limit) {
        n.is_integer = true;
        n.integer = neg ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
      }
    }
    return n;
  }

  std::string_view text_;
  std::string_view source_;
  ParseOptions options_;
  std::size_t pos_ = 0;
};

}  // namespace detail

/// Parses one JSON document. `source` names the text in error messages (a file name, "safetensors header").
inline Value parse(std::string_view text, std::string_view source = "<json>", ParseOptions options = {}) {
  return detail::Parser(text, source, options).parse_document();
}

/// Reads and parses a JSON file. Throws FileError when it cannot be read, ParseError when malformed.
inline Value parse_file(const std::string& path, ParseOptions options = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(eigenformer::detail::cat("[json] cannot open '", path, "'"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw FileError(eigenformer::detail::cat("[json] error while reading '", path, "'"));
  return parse(buffer.str(), path, options);
}

// ------------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------------

namespace detail {

inline void write_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;  // UTF-8 passes through unchanged
        }
    }
  }
  out += '"';
}

inline void write_number(std::string& out, const Number& n) {
  if (n.is_integer) {
    out += std::to_string(n.integer);
    return;
  }
  if (!std::isfinite(n.value)) {
    throw ValueError("[json] cannot write a non-finite number (JSON has no NaN or Infinity)");
  }
  // Shortest text that reads back to the same double: try increasing precision.
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, n.value);
    if (std::strtod(buf, nullptr) == n.value) break;
  }
  std::string s = buf;
  // "%g" may write "1e+20" or "3": both are valid JSON. Keep a decimal point for integral doubles so
  // they read back as floating point ("1.0" stays a float in config.json).
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  out += s;
}

inline void write_value(std::string& out, const Value& v, int indent, int level) {
  const auto newline = [&](int lvl) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent * lvl), ' ');
  };
  switch (v.type()) {
    case Type::Null: out += "null"; break;
    case Type::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Type::Number: {
      Number n;
      n.value = v.as_number();
      n.is_integer = v.is_integer();
      if (n.is_integer) n.integer = v.as_int();
      write_number(out, n);
      break;
    }
    case Type::String: write_string(out, v.as_string()); break;
    case Type::Array: {
      const Array& a = v.as_array();
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        newline(level + 1);
        write_value(out, a[i], indent, level + 1);
      }
      if (!a.empty()) newline(level);
      out += ']';
      break;
    }
    case Type::Object: {
      const Object& o = v.as_object();
      out += '{';
      for (std::size_t i = 0; i < o.size(); ++i) {
        if (i) out += ',';
        newline(level + 1);
        write_string(out, o[i].first);
        out += indent < 0 ? ":" : ": ";
        write_value(out, o[i].second, indent, level + 1);
      }
      if (!o.empty()) newline(level);
      out += '}';
      break;
    }
  }
}

}  // namespace detail

/// Serializes a value. indent < 0: compact, one line; indent >= 0: pretty, that many spaces per level.
inline std::string dump(const Value& v, int indent = -1) {
  std::string out;
  detail::write_value(out, v, indent, 0);
  return out;
}

}  // namespace eigenformer::json
