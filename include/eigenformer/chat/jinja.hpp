// eigenformer/chat/jinja.hpp — a small Jinja interpreter for the chat templates that checkpoints ship.
//
// Every instruction-tuned checkpoint writes its own prompt format as a Jinja template in
// tokenizer_config.json ("chat_template"). To build the prompt the model was trained on, we run that
// template. This header is the interpreter, in the three classic stages of a language implementation:
//
//     template text ──preprocess──▶ text ──lex──▶ tokens ──parse──▶ syntax tree ──render──▶ prompt text
//
//   1. preprocess: Hugging Face renders with trim_blocks=True and lstrip_blocks=True: the first newline
//      after a block tag `{% ... %}` is dropped, and spaces/tabs before a block tag at the start of a line
//      are dropped. One trailing newline of the template is dropped too (Jinja's keep_trailing_newline=False).
//   2. lex: text outside tags is one Text token; inside `{{ }}` / `{% %}` come names, numbers, strings and
//      operators. `{%-` / `-%}` (and `{{-`, `-}}`, `{#-`, `-#}`) strip the whitespace on that side.
//   3. parse: recursive descent; one function per precedence level, lowest first:
//          a if c else b  <  or  <  and  <  not  <  == != < > <= >= in, not in  <  + - ~  <  * / // %
//          <  **  <  is (tests)  <  | (filters)  <  unary - +  <  x.attr x[i] x[a:b:c] f(...)  <  literals
//   4. render: walk the tree with a chain of scopes; `{{ expr }}` appends the value's text to the output.
//
// Reference: Hugging Face renders chat templates with Python's Jinja2 (transformers) and, in JavaScript,
// with @huggingface/jinja. The tests compare this interpreter byte for byte with @huggingface/jinja on the
// real templates of several model families (tests/chat/, tools/chat/render_references.js). Where the two
// Hugging Face renderers disagree we follow @huggingface/jinja (it is what we can check against), except
// where it silently ignores an argument (see docs/chat_templates.md, "Where we differ").
//
// Safety: templates come from downloaded files. Parsing and rendering never recurse without bound (nesting
// deeper than Limits::max_nesting and macro recursion deeper than Limits::max_call_depth are errors), and
// loops, range() and the output size have budgets. Every error names the template line and column.
//
//     jinja::Template t("{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\n{% endfor %}");
//     jinja::Object context;
//     context.set("messages", jinja::Value::from_json(messages_json));
//     std::string text = t.render(context);
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/tokenizers/unicode.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

namespace eigenformer::chat::jinja {

// ------------------------------------------------------------------------------------------------
// Errors: each names the template (its source name), the line and the column.
// ------------------------------------------------------------------------------------------------

/// Base of the template errors. line() and column() are 1-based positions in the original template text.
class TemplateError : public FormatError {
 public:
  TemplateError(const std::string& message, std::size_t line, std::size_t column)
      : FormatError(message), line_(line), column_(column) {}
  std::size_t line() const noexcept { return line_; }
  std::size_t column() const noexcept { return column_; }

 private:
  std::size_t line_, column_;
};

/// The template text is not valid Jinja (an unclosed tag, an unknown statement, a missing `endfor`).
class TemplateSyntaxError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

/// Rendering failed: an unknown filter, a wrong type for an operator, a budget exceeded.
class TemplateRenderError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

/// The template itself called raise_exception("...") (e.g. "Conversation roles must alternate").
/// reason() is the template's own message.
class TemplateRaisedError : public TemplateRenderError {
 public:
  TemplateRaisedError(const std::string& message, std::string reason, std::size_t line, std::size_t column)
      : TemplateRenderError(message, line, column), reason_(std::move(reason)) {}
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string reason_;
};

/// Budgets that keep a hostile template from exhausting the stack, the time or the memory.
struct Limits {
  int max_nesting = 128;                         // nested blocks/expressions in the parser
  int max_call_depth = 64;                       // macro calls inside macro calls (recursion)
  std::size_t max_output_bytes = 64u << 20;      // 64 MiB of rendered text
  std::size_t max_loop_iterations = 10'000'000;  // all for-loop iterations of one render, together
  std::size_t max_range = 100'000;               // elements of one range(...)
};

// ------------------------------------------------------------------------------------------------
// Values: what a template computes with. The kinds and their printing follow @huggingface/jinja.
// ------------------------------------------------------------------------------------------------

enum class Kind { Undefined, None, Bool, Int, Float, String, Array, Object, Namespace, Function };

inline const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Undefined: return "undefined";
    case Kind::None: return "none";
    case Kind::Bool: return "boolean";
    case Kind::Int: return "integer";
    case Kind::Float: return "float";
    case Kind::String: return "string";
    case Kind::Array: return "list";
    case Kind::Object: return "dict";
    case Kind::Namespace: return "namespace";
    case Kind::Function: return "function";
  }
  return "?";
}

class Value;
class Scope;
using Array = std::vector<Value>;

/// A dict: keys in insertion order (templates print tools and arguments in the order they were written).
class Object {
 public:
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  void set(const std::string& key, Value value);
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }
  std::size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

/// Arguments of a call: positional ones, then keyword ones (name=value), and where the call is written.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  const Value* keyword_arg(std::string_view name) const;
  /// The i-th positional argument, or else the keyword argument `name`, or nullptr.
  const Value* arg(std::size_t i, std::string_view name) const;
};

/// A callable: a builtin (range, namespace, a string's .split) or a template macro. `caller_scope` is the
/// scope of the call site (macros see the caller's variables, as in @huggingface/jinja).
using Function = std::function<Value(CallArgs& args, Scope& caller_scope)>;

class Value {
 public:
  Value() = default;  // undefined
  static Value none() { return Value(Kind::None); }
  static Value boolean(bool b) {
    Value v(Kind::Bool);
    v.bool_ = b;
    return v;
  }
  static Value integer(std::int64_t i) {
    Value v(Kind::Int);
    v.int_ = i;
    return v;
  }
  static Value number(double d) {
    Value v(Kind::Float);
    v.float_ = d;
    return v;
  }
  static Value string(std::string s) {
    Value v(Kind::String);
    v.string_ = std::move(s);
    return v;
  }
  static Value array(Array a = {}) {
    Value v(Kind::Array);
    v.array_ = std::make_shared<Array>(std::move(a));
    return v;
  }
  static Value object(Object o = {}) {
    Value v(Kind::Object);
    v.object_ = std::make_shared<Object>(std::move(o));
    return v;
  }
  /// namespace(...): an object whose attributes `{% set ns.x = ... %}` may change from inside loops.
  static Value namespace_(Object o = {}) {
    Value v(Kind::Namespace);
    v.object_ = std::make_shared<Object>(std::move(o));
    return v;
  }
  static Value function(Function f) {
    Value v(Kind::Function);
    v.function_ = std::make_shared<Function>(std::move(f));
    return v;
  }
  /// JSON → template value. Integral numbers become integers (as JavaScript's Number.isInteger decides).
  static Value from_json(const json::Value& j);

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_numeric() const { return kind_ == Kind::Int || kind_ == Kind::Float; }
  bool is_mapping() const { return kind_ == Kind::Object || kind_ == Kind::Namespace; }

  bool as_bool() const { return bool_; }
  std::int64_t as_int() const { return int_; }
  /// Int, Float or Bool as a double.
  double as_number() const { return kind_ == Kind::Int ? static_cast<double>(int_) : kind_ == Kind::Bool ? (bool_ ? 1.0 : 0.0) : float_; }
  const std::string& as_string() const { return string_; }
  const Array& as_array() const { return *array_; }
  Array& as_array() { return *array_; }
  const Object& as_object() const { return *object_; }
  Object& as_object() { return *object_; }
  const Function& as_function() const { return *function_; }

  /// Python's truthiness: empty strings, lists and dicts, 0, none and undefined are false.
  bool truthy() const {
    switch (kind_) {
      case Kind::Undefined:
      case Kind::None: return false;
      case Kind::Bool: return bool_;
      case Kind::Int: return int_ != 0;
      case Kind::Float: return float_ != 0.0;
      case Kind::String: return !string_.empty();
      case Kind::Array: return !array_->empty();
      case Kind::Object: return object_->size() > 0;
      case Kind::Namespace:
      case Kind::Function: return true;
    }
    return false;
  }

 private:
  explicit Value(Kind k) : kind_(k) {}
  Kind kind_ = Kind::Undefined;
  bool bool_ = false;
  std::int64_t int_ = 0;
  double float_ = 0;
  std::string string_;
  std::shared_ptr<Array> array_;
  std::shared_ptr<Object> object_;  // Object and Namespace
  std::shared_ptr<Function> function_;
};

inline const Value* Object::find(std::string_view key) const {
  for (const auto& kv : items_) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}
inline Value* Object::find(std::string_view key) {
  for (auto& kv : items_) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}
inline void Object::set(const std::string& key, Value value) {
  if (Value* v = find(key)) {
    *v = std::move(value);
  } else {
    items_.emplace_back(key, std::move(value));
  }
}

inline const Value* CallArgs::keyword_arg(std::string_view name) const {
  for (const auto& kv : keyword) {
    if (kv.first == name) return &kv.second;
  }
  return nullptr;
}
inline const Value* CallArgs::arg(std::size_t i, std::string_view name) const {
  if (i < positional.size()) return &positional[i];
  return keyword_arg(name);
}

inline Value Value::from_json(const json::Value& j) {
  switch (j.type()) {
    case json::Type::Null: return none();
    case json::Type::Bool: return boolean(j.as_bool());
    case json::Type::Number: {
      if (j.is_integer()) return integer(j.as_int());
      const double d = j.as_number();
      // JavaScript keeps 3.0 as the integer 3 (Number.isInteger); a JSON 3.0 prints "3" in tojson.
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0) {
        return integer(static_cast<std::int64_t>(d));
      }
      return number(d);
    }
    case json::Type::String: return string(j.as_string());
    case json::Type::Array: {
      Array a;
      for (const json::Value& x : j.as_array()) a.push_back(from_json(x));
      return array(std::move(a));
    }
    case json::Type::Object: {
      Object o;
      for (const json::Member& m : j.as_object()) o.set(m.first, from_json(m.second));
      return object(std::move(o));
    }
  }
  return Value();
}

// ------------------------------------------------------------------------------------------------
// Text helpers: JavaScript's number printing, JSON.stringify, whitespace, code points.
// ------------------------------------------------------------------------------------------------
namespace detail {

/// A double as JavaScript prints it (Number.prototype.toString): the shortest digits that read back to
/// the same double, in fixed notation for 1e-7 < |v| < 1e21 and exponent notation outside.
inline std::string js_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return "0";
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*e", precision - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // buf = [-]d[.ddd]e[+-]XX
  std::string s(buf);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  const std::size_t e = s.find('e');
  std::string digits = s.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int exponent = std::atoi(s.c_str() + e + 1);
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // the decimal point sits after n digits
  std::string out;
  if (k <= n && n <= 21) {
    out = digits + std::string(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out = digits.substr(0, static_cast<std::size_t>(n)) + "." + digits.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out = "0." + std::string(static_cast<std::size_t>(-n), '0') + digits;
  } else {
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return sign + out;
}

/// JSON.stringify of a string: quotes, backslash escapes for " \ and control characters, the rest as is.
inline void json_quote(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80 || c == 0x7F) {
      std::size_t j = i;
      const char32_t cp = tokenizers::next_code_point(s, j);
      if (ensure_ascii) {
        // JavaScript escapes UTF-16 code units: characters beyond U+FFFF become a surrogate pair.
        char hex[16];
        if (cp >= 0x10000) {
          const char32_t u = cp - 0x10000;
          std::snprintf(hex, sizeof hex, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (u >> 10)),
                        static_cast<unsigned>(0xDC00 + (u & 0x3FF)));
        } else {
          std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(cp));
        }
        out += hex;
      } else {
        out.append(s.substr(i, j - i));
      }
      i = j;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(c));
          out += hex;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

/// JavaScript's whitespace (String.prototype.trim, /\s/): ASCII spaces plus the Unicode space separators.
inline bool is_js_space(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

/// Strips characters from the ends of s: whitespace when `chars` is null, else the characters in *chars.
inline std::string strip(std::string_view s, bool left, bool right, const std::string* chars = nullptr) {
  std::vector<char32_t> set;
  if (chars) {
    for (std::size_t i = 0; i < chars->size();) set.push_back(tokenizers::next_code_point(*chars, i));
  }
  const auto strippable = [&](char32_t c) {
    return chars ? std::find(set.begin(), set.end(), c) != set.end() : is_js_space(c);
  };
  std::size_t begin = 0, end = s.size();
  if (left) {
    while (begin < end) {
      std::size_t j = begin;
      if (!strippable(tokenizers::next_code_point(s, j))) break;
      begin = j;
    }
  }
  if (right) {
    while (end > begin) {
      std::size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      std::size_t j = start;
      if (!strippable(tokenizers::next_code_point(s, j))) break;
      end = start;
    }
  }
  return std::string(s.substr(begin, end - begin));
}

/// Splits a UTF-8 string into its characters (Python indexes and slices strings by code point).
inline std::vector<std::string> code_points(std::string_view s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t start = i;
    tokenizers::next_code_point(s, i);
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

/// Lowercase with Unicode's full mapping (the tokenizers' table: É → é, İ → i̇).
inline std::string unicode_lower(std::string_view s) { return tokenizers::unicode::to_lowercase(s); }

/// Uppercase: the lowercase table read backwards (é → É, ж → Ж), plus ß → SS. Other one-to-many
/// uppercase mappings (ŉ, ǰ, ligatures) stay as they are: a documented difference from Python/JavaScript.
inline std::string unicode_upper(std::string_view s) {
  static const std::vector<std::pair<char32_t, char32_t>> table = [] {
    using namespace tokenizers::unicode_data;
    std::vector<std::pair<char32_t, char32_t>> t;  // (lowercase, uppercase), first uppercase wins
    for (const Lowercase& row : kLowercase) {
      if (row.length == 1) t.emplace_back(kLowercaseData[row.offset], row.cp);
    }
    std::stable_sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return t;
  }();
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const char32_t cp = tokenizers::next_code_point(s, i);
    if (cp < 0x80) {
      out += static_cast<char>(cp >= 'a' && cp <= 'z' ? cp - 32 : cp);
      continue;
    }
    if (cp == 0xDF) {  // ß
      out += "SS";
      continue;
    }
    auto it = std::lower_bound(table.begin(), table.end(), cp, [](const auto& row, char32_t c) { return row.first < c; });
    tokenizers::append_utf8(out, it != table.end() && it->first == cp ? it->second : cp);
  }
  return out;
}
inline bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/// The integer result of template arithmetic, or the double when it does not fit in 64 bits (or is not a
/// number): @huggingface/jinja computes with JavaScript numbers, which never overflow (2 ** 63 prints
/// 9223372036854775808). A plain cast would be undefined behaviour (seen while writing fuzz/fuzz_jinja.cpp).
inline Value integral(double r) {
  if (r >= -9223372036854775808.0 && r < 9223372036854775808.0) return Value::integer(static_cast<std::int64_t>(r));
  return Value::number(r);
}

/// x + y, x - y, x · y for template integers: exact when the result fits in 64 bits, else the double.
inline Value integer_arithmetic(char op, std::int64_t x, std::int64_t y) {
  constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min(), hi = std::numeric_limits<std::int64_t>::max();
  const double dx = static_cast<double>(x), dy = static_cast<double>(y);
  if (op == '+') {
    const bool overflow = (y > 0 && x > hi - y) || (y < 0 && x < lo - y);
    return overflow ? Value::number(dx + dy) : Value::integer(x + y);
  }
  if (op == '-') {
    const bool overflow = (y < 0 && x > hi + y) || (y > 0 && x < lo + y);
    return overflow ? Value::number(dx - dy) : Value::integer(x - y);
  }
  // The product overflows exactly when these divisions say so (CERT INT32-C); none of them can overflow itself.
  bool overflow = false;
  if (x != 0 && y != 0) {
    if (x > 0) overflow = y > 0 ? x > hi / y : y < lo / x;
    else overflow = y > 0 ? x < lo / y : y < hi / x;
  }
  return overflow ? Value::number(dx * dy) : Value::integer(x * y);
}

/// Python slicing a[start:stop:step] of n elements: the indices it selects (negative counts from the end).
inline std::vector<std::size_t> slice_indices(std::size_t n, const Value& start_v, const Value& stop_v,
                                              std::int64_t step) {
  const std::int64_t len = static_cast<std::int64_t>(n);
  std::vector<std::size_t> out;
  if (step > 0) {
    std::int64_t start = start_v.is_undefined() ? 0 : start_v.as_int();
    std::int64_t stop = stop_v.is_undefined() ? len : stop_v.as_int();
    start = start < 0 ? std::max<std::int64_t>(len + start, 0) : std::min(start, len);
    stop = stop < 0 ? std::max<std::int64_t>(len + stop, 0) : std::min(stop, len);
    for (std::int64_t i = start; i < stop; i = step > stop - i ? stop : i + step) out.push_back(static_cast<std::size_t>(i));
  } else {
    std::int64_t start = start_v.is_undefined() ? len - 1 : start_v.as_int();
    std::int64_t stop = stop_v.is_undefined() ? -1 : stop_v.as_int();
    start = start < 0 ? std::max<std::int64_t>(len + start, -1) : std::min(start, len - 1);
    if (!stop_v.is_undefined()) stop = stop < 0 ? std::max<std::int64_t>(len + stop, -1) : std::min(stop, len - 1);
    for (std::int64_t i = start; i > stop; i = step < stop - i ? stop : i + step) out.push_back(static_cast<std::size_t>(i));
  }
  return out;
}

}  // namespace detail

/// tojson, following Python's json.dumps as Hugging Face calls it (ensure_ascii=False): ", " and ": "
/// between items, "," and ": " with an indent, keys in their order. `undefined_as_null` is false when a
/// list is printed with {{ }} (it then shows "undefined", as @huggingface/jinja does).
struct JsonOptions {
  int indent = -1;  // -1: one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_separator, key_separator;  // empty: the defaults above
  bool undefined_as_null = true;
};

inline void to_json(std::string& out, const Value& v, const JsonOptions& o, int depth = 0) {
  const std::string item_sep = !o.item_separator.empty() ? o.item_separator : (o.indent > 0 ? "," : ", ");
  const std::string key_sep = !o.key_separator.empty() ? o.key_separator : ": ";
  switch (v.kind()) {
    case Kind::Undefined: out += o.undefined_as_null ? "null" : "undefined"; return;
    case Kind::None: out += "null"; return;
    case Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Kind::Int: out += std::to_string(v.as_int()); return;
    case Kind::Float: out += std::isfinite(v.as_number()) ? detail::js_number(v.as_number()) : "null"; return;
    case Kind::String: detail::json_quote(out, v.as_string(), o.ensure_ascii); return;
    case Kind::Function: throw ValueError("[jinja] tojson: cannot convert a function to JSON");
    case Kind::Array:
    case Kind::Object:
    case Kind::Namespace: break;
  }
  const std::string unit = o.indent > 0 ? std::string(static_cast<std::size_t>(o.indent), ' ') : "";
  std::string base = "\n";
  for (int i = 0; i < depth; ++i) base += unit;
  const std::string child = base + unit;
  if (v.is(Kind::Array)) {
    const Array& a = v.as_array();
    out += '[';
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i) out += item_sep;
      if (o.indent > 0) out += child;
      to_json(out, a[i], o, depth + 1);
    }
    if (o.indent > 0 && !a.empty()) out += base;
    out += ']';
    return;
  }
  std::vector<const std::pair<std::string, Value>*> items;
  for (const auto& kv : v.as_object().items()) items.push_back(&kv);
  if (o.sort_keys) {
    std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
  }
  out += '{';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += item_sep;
    if (o.indent > 0) out += child;
    detail::json_quote(out, items[i]->first, o.ensure_ascii);
    out += key_sep;
    to_json(out, items[i]->second, o, depth + 1);
  }
  if (o.indent > 0 && !items.empty()) out += base;
  out += '}';
}

/// The text a value prints as in `{{ }}` and `~`: true/false, 3, 3.0, lists and dicts as one-line JSON.
inline std::string to_text(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "";
    case Kind::None: return "null";
    case Kind::Bool: return v.as_bool() ? "true" : "false";
    case Kind::Int: return std::to_string(v.as_int());
    case Kind::Float: {
      const double d = v.as_number();
      if (d == 0 && std::signbit(d)) return "-0.0";
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21) return detail::js_number(d) + ".0";
      return detail::js_number(d);
    }
    case Kind::String: return v.as_string();
    case Kind::Function: return "<function>";
    case Kind::Array:
    case Kind::Object:
    case Kind::Namespace: {
      JsonOptions o;
      o.undefined_as_null = false;
      std::string out;
      to_json(out, v, o);
      return out;
    }
  }
  return "";
}

// ------------------------------------------------------------------------------------------------
// Python's string formatting: 'Hi %s, %d left' % (name, n) and 'Hi {}, {n} left'.format(name, n=n).
// @huggingface/jinja has neither (it raises); Python's Jinja2 hands both to Python, so we follow Python's
// documented rules ("printf-style String Formatting" and "Format Specification Mini-Language") for the
// conversions templates use: s d i f F e E g G x X o c %, flags, width, precision, fill and alignment.
// Anything else (`*` widths, `!r`, nested fields, `,` grouping) is refused with a clear error.
// ------------------------------------------------------------------------------------------------

namespace detail {

/// Python's str() of a value, as '%s' and '{}' print it: None, True and False, and otherwise what {{ }} prints.
inline std::string python_str(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is(Kind::Bool)) return v.as_bool() ? "True" : "False";
  return to_text(v);
}

/// One conversion: [[fill]align][sign][#][0][width][.precision][type].
struct FormatSpec {
  std::string fill = " ";  // one character (UTF-8)
  char align = 0;          // '<' '>' '^' '=' or 0 (strings left, numbers right)
  char sign = '-';         // '-' (only minus), '+', ' '
  bool alternate = false;  // '#': 0x / 0o prefixes
  bool zero = false;       // '0': pad numbers with zeros after the sign
  int width = -1;
  int precision = -1;
  char type = 0;           // 0: as str() (strings) or repr (numbers)
};

/// Formats `v` by `spec`; on a value the conversion does not take, sets `error` and returns "".
inline std::string format_value(const Value& v, const FormatSpec& spec, std::string& error) {
  const char type = spec.type;
  std::string sign, body;
  bool numeric = false;
  const auto with_precision = [&](const char* conversion, double x) {
    char buffer[512];
    const int precision = spec.precision < 0 ? 6 : std::min(spec.precision, 100);
    std::snprintf(buffer, sizeof buffer, (std::string("%.*") + conversion).c_str(), precision, x);
    return std::string(buffer);
  };
  if (type == 's' || (type == 0 && !v.is_numeric())) {
    body = python_str(v);
    if (spec.precision >= 0) {
      const std::vector<std::string> chars = code_points(body);
      body.clear();
      for (std::size_t i = 0; i < chars.size() && i < static_cast<std::size_t>(spec.precision); ++i) body += chars[i];
    }
  } else if (type == 'c') {
    if (v.is_string() && code_points(v.as_string()).size() == 1) {
      body = v.as_string();
    } else if (v.is(Kind::Int) && v.as_int() >= 0 && v.as_int() <= 0x10FFFF) {
      tokenizers::append_utf8(body, static_cast<char32_t>(v.as_int()));
    } else {
      error = "%c needs one character or a code point";
      return "";
    }
  } else {
    if (!(v.is_numeric() || v.is(Kind::Bool))) {
      error = std::string("the conversion '") + (type ? type : ' ') + "' needs a number, got a " + kind_name(v.kind());
      return "";
    }
    numeric = true;
    const double x = v.as_number();
    const bool integral = v.is(Kind::Int) || v.is(Kind::Bool);
    const bool negative = std::signbit(x);
    if (negative) sign = "-";
    else if (spec.sign == '+') sign = "+";
    else if (spec.sign == ' ') sign = " ";
    const double magnitude = std::fabs(x);
    switch (type) {
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o': {
        const std::int64_t i = integral ? v.as_int() : static_cast<std::int64_t>(x);  // '%d' % 3.7 is '3'
        const unsigned long long m = i < 0 ? 0ull - static_cast<unsigned long long>(i) : static_cast<unsigned long long>(i);
        if (i >= 0) sign = spec.sign == '+' ? "+" : spec.sign == ' ' ? " " : "";
        char buffer[32];
        const char* conversion = type == 'x' ? "%llx" : type == 'X' ? "%llX" : type == 'o' ? "%llo" : "%llu";
        std::snprintf(buffer, sizeof buffer, conversion, m);
        body = buffer;
        if (spec.alternate && type != 'd' && type != 'i') body = (type == 'o' ? "0o" : type == 'x' ? "0x" : "0X") + body;
        break;
      }
      case 'f':
      case 'F': body = with_precision(type == 'f' ? "f" : "F", magnitude); break;
      case 'e':
      case 'E': body = with_precision(type == 'e' ? "e" : "E", magnitude); break;
      case 'g':
      case 'G': body = with_precision(type == 'g' ? "g" : "G", magnitude); break;
      case '%': body = with_precision("f", magnitude * 100) + "%"; break;
      case 0:
        if (spec.precision >= 0 && !integral) {
          body = with_precision("g", magnitude);
        } else {
          body = python_str(v);
          if (!body.empty() && body[0] == '-') body.erase(0, 1);
        }
        break;
      default:
        error = std::string("the conversion '") + type + "' is not supported";
        return "";
    }
  }
  // Padding to the width, in characters.
  const std::size_t length = code_points(sign + body).size();
  if (spec.width < 0 || length >= static_cast<std::size_t>(spec.width)) return sign + body;
  const std::size_t pad = static_cast<std::size_t>(spec.width) - length;
  const auto fill = [&](std::size_t n, const std::string& with) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += with;
    return out;
  };
  char align = spec.align;
  std::string with = spec.fill;
  if (align == 0) {
    if (numeric && spec.zero) {
      align = '=';
      with = "0";
    } else {
      align = numeric ? '>' : '<';
    }
  }
  switch (align) {
    case '<': return sign + body + fill(pad, with);
    case '^': return fill(pad / 2, with) + sign + body + fill(pad - pad / 2, with);
    case '=': return sign + fill(pad, with) + body;
    default: return fill(pad, with) + sign + body;
  }
}

/// 'format' % args, Python's printf-style formatting. `args` is one value, a list (a tuple in Python) of
/// them, or a dict for %(name)s. Throws ValueError naming what is wrong.
inline std::string percent_format(const std::string& format, const Value& args) {
  const bool many = args.is(Kind::Array);
  std::size_t next = 0;
  bool used_mapping = false;
  std::string out;
  const auto bad = [&](const std::string& what) { throw ValueError("string formatting ('...' % ...): " + what); };
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) bad("the format ends with a lone '%'");
    if (format[i] == '%') {
      out += '%';
      continue;
    }
    const Value* value = nullptr;
    if (format[i] == '(') {
      const std::size_t close = format.find(')', i);
      if (close == std::string::npos) bad("unterminated %(name)");
      if (!args.is_mapping()) bad("%(name)s needs a dict on the right of %");
      value = args.as_object().find(format.substr(i + 1, close - i - 1));
      if (value == nullptr) bad("the dict has no key '" + format.substr(i + 1, close - i - 1) + "'");
      used_mapping = true;
      i = close + 1;
    }
    FormatSpec spec;
    for (; i < format.size() && std::string("-+ #0").find(format[i]) != std::string::npos; ++i) {
      if (format[i] == '-') spec.align = '<';
      else if (format[i] == '+') spec.sign = '+';
      else if (format[i] == ' ' && spec.sign != '+') spec.sign = ' ';
      else if (format[i] == '#') spec.alternate = true;
      else if (format[i] == '0') spec.zero = true;
    }
    if (spec.align == '<') spec.zero = false;
    if (i < format.size() && format[i] == '*') bad("'*' widths are not supported");
    for (; i < format.size() && format[i] >= '0' && format[i] <= '9'; ++i) spec.width = std::max(spec.width, 0) * 10 + (format[i] - '0');
    if (i < format.size() && format[i] == '.') {
      spec.precision = 0;
      for (++i; i < format.size() && format[i] >= '0' && format[i] <= '9'; ++i) spec.precision = spec.precision * 10 + (format[i] - '0');
    }
    if (i >= format.size()) bad("the format ends inside a conversion");
    spec.type = format[i];
    if (std::string("sdifFeEgGxXoc").find(spec.type) == std::string::npos) {
      bad(std::string("the conversion '%") + spec.type + "' is not supported");
    }
    if (spec.type == 'i') spec.type = 'd';
    // printf-style: right-aligned unless '-'; '0' pads numbers only.
    if (spec.align == 0 && !(spec.zero && spec.type != 's' && spec.type != 'c')) spec.align = '>';
    if (value == nullptr) {
      if (many) {
        if (next >= args.as_array().size()) bad("not enough arguments for the format string");
        value = &args.as_array()[next++];
      } else {
        if (next++ > 0) bad("not enough arguments for the format string");
        value = &args;
      }
    }
    std::string error;
    out += format_value(*value, spec, error);
    if (!error.empty()) bad(error);
  }
  if (!used_mapping && ((many && next < args.as_array().size()) || (!many && next == 0 && !args.is_mapping()))) {
    bad("not all arguments converted during string formatting");
  }
  return out;
}

/// 'format'.format(*positional, **keyword), Python's str.format: {} {0} {name} {0[1]} {m[role]}, each with
/// an optional :spec; {{ and }} are braces. Throws ValueError naming what is wrong.
inline std::string brace_format(const std::string& format, const std::vector<Value>& positional,
                                const std::vector<std::pair<std::string, Value>>& keyword) {
  const auto bad = [&](const std::string& what) { throw ValueError("str.format: " + what); };
  std::string out;
  std::size_t automatic = 0;
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      bad("a single '}' in the format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const std::size_t close = format.find('}', i);
    if (close == std::string::npos) bad("a '{' is never closed");
    const std::string field = format.substr(i + 1, close - i - 1);
    if (field.find('{') != std::string::npos) bad("nested replacement fields are not supported");
    const std::size_t colon = field.find(':');
    std::string name = field.substr(0, colon);
    const std::string spec_text = colon == std::string::npos ? "" : field.substr(colon + 1);
    if (name.find('!') != std::string::npos) bad("conversions (!r, !s, !a) are not supported");
    // The argument: {} the next one, {0} by position, {name} by keyword; then .attr and [key] steps.
    std::size_t end = 0;
    while (end < name.size() && name[end] != '.' && name[end] != '[') ++end;
    const std::string head = name.substr(0, end);
    Value v;
    if (head.empty() || head.find_first_not_of("0123456789") == std::string::npos) {
      const std::size_t k = head.empty() ? automatic++ : static_cast<std::size_t>(std::stoul(head));
      if (k >= positional.size()) bad("replacement index " + std::to_string(k) + " out of range");
      v = positional[k];
    } else {
      bool found = false;
      for (const auto& kv : keyword) {
        if (kv.first == head) {
          v = kv.second;
          found = true;
        }
      }
      if (!found) bad("no keyword argument '" + head + "'");
    }
    while (end < name.size()) {
      std::string key;
      if (name[end] == '.') {  // Python: a dict has no attributes ('{m.role}' raises); {m[role]} indexes it
        bad("'{" + name + "}': use [key] to index a dict or list ('{m[role]}')");
      } else {
        const std::size_t e = name.find(']', end);
        if (e == std::string::npos) bad("a '[' in a field is never closed");
        key = name.substr(end + 1, e - end - 1);
        end = e + 1;
      }
      if (v.is(Kind::Array) && !key.empty() && key.find_first_not_of("0123456789") == std::string::npos) {
        const std::size_t k = static_cast<std::size_t>(std::stoul(key));
        if (k >= v.as_array().size()) bad("index " + key + " out of range");
        v = v.as_array()[k];
      } else if (v.is_mapping() && v.as_object().find(key) != nullptr) {
        v = *v.as_object().find(key);
      } else {
        bad("'" + name + "' does not name a value");
      }
    }
    // The spec: [[fill]align][sign][#][0][width][.precision][type].
    FormatSpec spec;
    std::size_t p = 0;
    const std::vector<std::string> chars = code_points(spec_text);
    const auto is_align = [](const std::string& ch) { return ch == "<" || ch == ">" || ch == "^" || ch == "="; };
    if (chars.size() >= 2 && is_align(chars[1])) {
      spec.fill = chars[0];
      spec.align = chars[1][0];
      p = chars[0].size() + 1;
    } else if (!chars.empty() && is_align(chars[0])) {
      spec.align = chars[0][0];
      p = 1;
    }
    if (p < spec_text.size() && (spec_text[p] == '+' || spec_text[p] == '-' || spec_text[p] == ' ')) spec.sign = spec_text[p++];
    if (p < spec_text.size() && spec_text[p] == '#') {
      spec.alternate = true;
      ++p;
    }
    if (p < spec_text.size() && spec_text[p] == '0') {
      spec.zero = true;
      ++p;
    }
    for (; p < spec_text.size() && spec_text[p] >= '0' && spec_text[p] <= '9'; ++p) spec.width = std::max(spec.width, 0) * 10 + (spec_text[p] - '0');
    if (p < spec_text.size() && (spec_text[p] == ',' || spec_text[p] == '_')) bad("digit grouping (, _) is not supported");
    if (p < spec_text.size() && spec_text[p] == '.') {
      spec.precision = 0;
      for (++p; p < spec_text.size() && spec_text[p] >= '0' && spec_text[p] <= '9'; ++p) spec.precision = spec.precision * 10 + (spec_text[p] - '0');
    }
    if (p < spec_text.size()) spec.type = spec_text[p++];
    if (p < spec_text.size()) bad("invalid format spec '" + spec_text + "'");
    if (spec.type != 0 && std::string("sdfFeEgGxXoc%").find(spec.type) == std::string::npos) {
      bad(std::string("unknown format code '") + spec.type + "'");
    }
    if (spec.type == 'd' && !(v.is(Kind::Int) || v.is(Kind::Bool))) bad("format code 'd' needs an integer");
    if (spec.type == 's' && !v.is_string()) bad("format code 's' needs a string");
    if (spec.zero && spec.align == 0 && !v.is_numeric()) {
      spec.fill = "0";
      spec.align = '<';  // Python: '{:05}'.format('ab') pads on the right with zeros
    }
    std::string error;
    out += format_value(v, spec, error);
    if (!error.empty()) bad(error);
    i = close;
  }
  return out;
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// 1. Preprocessing (trim_blocks, lstrip_blocks), keeping each character's offset in the original text.
// ------------------------------------------------------------------------------------------------

/// Text after preprocessing, and for each of its bytes the byte offset in the template as written
/// (so errors point at the line and column a person sees).
struct Source {
  std::string text;
  std::vector<std::size_t> origin;  // origin[i]: offset of text[i] in the original; origin.back() = end
};

namespace detail {

/// A `{% raw %}` (word "raw") or `{% endraw %}` tag starting at t[i]: the index just after its `%}`, or npos.
/// `minus_before`/`minus_after` tell whether it is written `{%-` / `-%}`.
inline std::size_t raw_tag_end(std::string_view t, std::size_t i, std::string_view word, bool& minus_before, bool& minus_after) {
  if (t.compare(i, 2, "{%") != 0) return std::string_view::npos;
  std::size_t j = i + 2;
  minus_before = j < t.size() && t[j] == '-';
  if (minus_before) ++j;
  while (j < t.size() && (t[j] == ' ' || t[j] == '\t' || t[j] == '\n' || t[j] == '\r')) ++j;
  if (t.compare(j, word.size(), word) != 0) return std::string_view::npos;
  j += word.size();
  while (j < t.size() && (t[j] == ' ' || t[j] == '\t' || t[j] == '\n' || t[j] == '\r')) ++j;
  minus_after = j < t.size() && t[j] == '-';
  if (minus_after) ++j;
  if (t.compare(j, 2, "%}") != 0) return std::string_view::npos;
  return j + 2;
}

/// The verbatim parts of a template: for each `{% raw %}...{% endraw %}`, the byte range of what lies between
/// the two tags (in the template as written). Preprocessing leaves those bytes alone.
inline std::vector<std::pair<std::size_t, std::size_t>> raw_ranges(std::string_view t) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  bool before = false, after = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const std::size_t open_end = raw_tag_end(t, i, "raw", before, after);
    if (open_end == std::string_view::npos) continue;
    std::size_t close = open_end;
    while (close < t.size() && raw_tag_end(t, close, "endraw", before, after) == std::string_view::npos) ++close;
    // lstrip_blocks still takes the spaces before {% endraw %} on its own line (Jinja's OptionalLStrip).
    std::size_t end = close;
    while (end > open_end && (t[end - 1] == ' ' || t[end - 1] == '\t')) --end;
    if (!(end == open_end || t[end - 1] == '\n')) end = close;
    out.emplace_back(open_end, end);  // an unclosed raw block is the lexer's error to report
    i = close;
  }
  return out;
}

inline Source preprocess(std::string_view tpl, bool trim_blocks = true, bool lstrip_blocks = true) {
  Source s;
  for (std::size_t i = 0; i < tpl.size(); ++i) {
    s.text += tpl[i];
    s.origin.push_back(i);
  }
  // Jinja drops one newline at the very end of a template.
  if (!s.text.empty() && s.text.back() == '\n') {
    s.text.pop_back();
    s.origin.pop_back();
  }
  // Inside {% raw %} ... {% endraw %} nothing is stripped (Jinja's lexer takes it verbatim).
  const std::vector<std::pair<std::size_t, std::size_t>> verbatim = raw_ranges(tpl);
  const auto rebuild = [&verbatim](const Source& in, const std::vector<bool>& keep) {
    Source out;
    for (std::size_t i = 0; i < in.text.size(); ++i) {
      bool raw = false;
      for (const auto& r : verbatim) raw = raw || (in.origin[i] >= r.first && in.origin[i] < r.second);
      if (keep[i] || raw) {
        out.text += in.text[i];
        out.origin.push_back(in.origin[i]);
      }
    }
    return out;
  };
  // lstrip_blocks: spaces and tabs between a line start and "{%" / "{#" go.
  if (lstrip_blocks) {
    std::vector<bool> keep(s.text.size(), true);
    std::size_t i = 0;
    while (i < s.text.size()) {
      const bool line_start = i == 0 || s.text[i - 1] == '\n' || s.text[i - 1] == '\r';
      if (line_start) {
        std::size_t j = i;
        while (j < s.text.size() && (s.text[j] == ' ' || s.text[j] == '\t')) ++j;
        if (j > i && j + 1 < s.text.size() && s.text[j] == '{' &&
            (s.text[j + 1] == '%' || s.text[j + 1] == '#' || s.text[j + 1] == '-')) {
          for (std::size_t k = i; k < j; ++k) keep[k] = false;
        }
        i = std::max(j, i + 1);
      } else {
        ++i;
      }
    }
    s = rebuild(s, keep);
  }
  // trim_blocks: the newline right after "%}" or "#}" goes.
  if (trim_blocks) {
    std::vector<bool> keep(s.text.size(), true);
    for (std::size_t i = 2; i < s.text.size(); ++i) {
      const char a = s.text[i - 2];
      if (s.text[i] == '\n' && s.text[i - 1] == '}' && (a == '#' || a == '%' || a == '-')) keep[i] = false;
    }
    s = rebuild(s, keep);
  }
  // {% generation %} / {% endgeneration %} (marks assistant text for training masks) render as nothing.
  {
    std::vector<bool> keep(s.text.size(), true);
    const std::string& t = s.text;
    for (std::size_t i = 0; i + 1 < t.size(); ++i) {
      if (t[i] != '{' || t[i + 1] != '%') continue;
      std::size_t j = i + 2;
      const bool lstrip = j < t.size() && t[j] == '-';
      if (lstrip) ++j;
      while (j < t.size() && is_js_space(static_cast<unsigned char>(t[j]))) ++j;
      std::size_t word = j;
      if (t.compare(word, 3, "end") == 0) word += 3;
      if (t.compare(word, 10, "generation") != 0) continue;
      j = word + 10;
      while (j < t.size() && is_js_space(static_cast<unsigned char>(t[j]))) ++j;
      const bool rstrip = j < t.size() && t[j] == '-';
      if (rstrip) ++j;
      if (t.compare(j, 2, "%}") != 0) continue;
      std::size_t from = i, to = j + 2;
      if (lstrip) {
        while (from > 0 && keep[from - 1] && is_js_space(static_cast<unsigned char>(t[from - 1]))) --from;
      }
      if (rstrip) {
        while (to < t.size() && is_js_space(static_cast<unsigned char>(t[to]))) ++to;
      }
      for (std::size_t k = from; k < to; ++k) keep[k] = false;
      i = to - 1;
    }
    s = rebuild(s, keep);
  }
  s.origin.push_back(tpl.size());
  return s;
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// 2. Lexing
// ------------------------------------------------------------------------------------------------

enum class Tok {
  Text, Comment, OpenStatement, CloseStatement, OpenExpression, CloseExpression,
  OpenParen, CloseParen, OpenCurly, CloseCurly, OpenSquare, CloseSquare,
  Comma, Dot, Colon, Pipe, Equals,
  Compare,         // == != < > <= >=
  Additive,        // + - ~
  Multiplicative,  // * / // %
  Power,           // **
  Unary,           // a sign before something that is not a number: -x
  String, Number, Identifier
};

struct Token {
  Tok type;
  std::string value;
  std::size_t offset;  // in the original template text
};

namespace detail {

/// Line and column (1-based, columns counted in bytes) of a byte offset.
inline std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

class Lexer {
 public:
  Lexer(const Source& src, std::string_view original, std::string_view name)
      : src_(src), t_(src.text), original_(original), name_(name) {}

  std::vector<Token> run() {
    while (pos_ < t_.size()) {
      const Tok* last = tokens_.empty() ? nullptr : &tokens_.back().type;
      if (last == nullptr || *last == Tok::CloseStatement || *last == Tok::CloseExpression || *last == Tok::Comment ||
          *last == Tok::Text) {
        const std::size_t start = pos_;
        while (pos_ < t_.size() && !(t_[pos_] == '{' && pos_ + 1 < t_.size() &&
                                     (t_[pos_ + 1] == '%' || t_[pos_ + 1] == '{' || t_[pos_ + 1] == '#'))) {
          ++pos_;
        }
        if (pos_ > start) {
          push(Tok::Text, t_.substr(start, pos_ - start), start);
          continue;
        }
      }
      if (starts("{#")) {
        lex_comment();
        continue;
      }
      if (lex_raw()) continue;
      if (starts("{%-")) {
        strip_trailing_whitespace();
        push(Tok::OpenStatement, "{%", pos_);
        pos_ += 3;
        continue;
      }
      if (starts("{{-")) {
        strip_trailing_whitespace();
        push(Tok::OpenExpression, "{{", pos_);
        curly_depth_ = 0;
        pos_ += 3;
        continue;
      }
      skip_spaces();
      if (pos_ >= t_.size()) break;
      if (starts("-%}")) {
        push(Tok::CloseStatement, "%}", pos_);
        pos_ += 3;
        skip_spaces();
        continue;
      }
      if (starts("-}}")) {
        push(Tok::CloseExpression, "}}", pos_);
        pos_ += 3;
        skip_spaces();
        continue;
      }
      lex_in_tag();
    }
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(const std::string& what, std::size_t at) const {
    const std::size_t offset = src_.origin[std::min(at, src_.origin.size() - 1)];
    const auto [line, column] = line_column(original_, offset);
    throw TemplateSyntaxError(eigenformer::detail::cat("[jinja] ", name_, ":", line, ":", column, ": ", what), line, column);
  }
  bool starts(std::string_view s) const { return t_.compare(pos_, s.size(), s) == 0; }
  void push(Tok type, std::string value, std::size_t at) { tokens_.push_back(Token{type, std::move(value), src_.origin[at]}); }
  bool space_at(std::size_t i) const {
    if (i >= t_.size()) return false;
    std::size_t j = i;
    return is_js_space(tokenizers::next_code_point(t_, j));
  }
  void skip_spaces() {
    while (space_at(pos_)) tokenizers::next_code_point(t_, pos_);
  }
  // `{%-`, `{{-`, `{#-`: the whitespace at the end of the text before goes.
  void strip_trailing_whitespace() {
    if (!tokens_.empty() && tokens_.back().type == Tok::Text) {
      tokens_.back().value = strip(tokens_.back().value, false, true);
      if (tokens_.back().value.empty()) tokens_.pop_back();
    }
  }
  void lex_comment() {
    const std::size_t start = pos_;
    pos_ += 2;
    const bool strip_before = pos_ < t_.size() && t_[pos_] == '-';
    if (strip_before) ++pos_;
    const std::size_t end = t_.find("#}", pos_);
    if (end == std::string::npos) fail("the comment {# ... is never closed with #}", start);
    const bool strip_after = end > pos_ && t_[end - 1] == '-';
    if (strip_before) strip_trailing_whitespace();
    push(Tok::Comment, "", start);
    pos_ = end + 2;
    if (strip_after) skip_spaces();
  }
  // `{% raw %}...{% endraw %}`: what lies between is one Text token, taken verbatim ({{ and {% included).
  bool lex_raw() {
    bool strip_before = false, strip_inside_start = false;
    const std::size_t open_end = raw_tag_end(t_, pos_, "raw", strip_before, strip_inside_start);
    if (open_end == std::string::npos) return false;
    const std::size_t start = pos_;
    std::size_t close = open_end, close_end = std::string::npos;
    bool strip_inside_end = false, strip_after = false;
    for (; close < t_.size(); ++close) {
      close_end = raw_tag_end(t_, close, "endraw", strip_inside_end, strip_after);
      if (close_end != std::string::npos) break;
    }
    if (close_end == std::string::npos) fail("{% raw %} is never closed with {% endraw %}", start);
    if (strip_before) strip_trailing_whitespace();
    std::string body = t_.substr(open_end, close - open_end);
    if (strip_inside_start) body = strip(body, true, false);
    if (strip_inside_end) body = strip(body, false, true);
    push(Tok::Text, body, open_end < t_.size() ? open_end : start);
    pos_ = close_end;
    if (strip_after) skip_spaces();
    return true;
  }
  void lex_in_tag() {
    const std::size_t start = pos_;
    const char c = t_[pos_];
    // A sign: binary after an operand, otherwise part of a negative number or a unary operator.
    if (c == '-' || c == '+') {
      const Tok* last = tokens_.empty() ? nullptr : &tokens_.back().type;
      if (last == nullptr || *last == Tok::Text) fail(std::string("unexpected '") + c + "'", pos_);
      const bool after_operand = *last == Tok::Identifier || *last == Tok::Number || *last == Tok::String ||
                                 *last == Tok::CloseParen || *last == Tok::CloseSquare;
      if (!after_operand) {
        ++pos_;
        std::string num = digits();
        if (!num.empty() && pos_ + 1 < t_.size() && t_[pos_] == '.' && is_digit(t_[pos_ + 1])) {
          ++pos_;
          num += "." + digits();
        }
        if (num.empty()) {
          push(Tok::Unary, std::string(1, c), start);
        } else {
          push(Tok::Number, std::string(1, c) + num, start);
        }
        return;
      }
    }
    static const std::pair<const char*, Tok> table[] = {
        {"{%", Tok::OpenStatement}, {"%}", Tok::CloseStatement}, {"{{", Tok::OpenExpression},
        {"}}", Tok::CloseExpression}, {"(", Tok::OpenParen}, {")", Tok::CloseParen}, {"{", Tok::OpenCurly},
        {"}", Tok::CloseCurly}, {"[", Tok::OpenSquare}, {"]", Tok::CloseSquare}, {",", Tok::Comma},
        {".", Tok::Dot}, {":", Tok::Colon}, {"|", Tok::Pipe}, {"<=", Tok::Compare}, {">=", Tok::Compare},
        {"==", Tok::Compare}, {"!=", Tok::Compare}, {"<", Tok::Compare}, {">", Tok::Compare},
        {"+", Tok::Additive}, {"-", Tok::Additive}, {"~", Tok::Additive}, {"**", Tok::Power},
        {"*", Tok::Multiplicative}, {"//", Tok::Multiplicative}, {"/", Tok::Multiplicative},
        {"%", Tok::Multiplicative}, {"=", Tok::Equals}};
    for (const auto& [seq, type] : table) {
      if (type == Tok::CloseExpression && curly_depth_ > 0) continue;  // "}}" closing a dict inside {{ }}
      if (!starts(seq)) continue;
      push(type, seq, start);
      if (type == Tok::OpenExpression) curly_depth_ = 0;
      if (type == Tok::OpenCurly) ++curly_depth_;
      if (type == Tok::CloseCurly) --curly_depth_;
      pos_ += std::string_view(seq).size();
      return;
    }
    if (c == '\'' || c == '"') {
      ++pos_;
      push(Tok::String, string_body(c, start), start);
      return;
    }
    if (is_digit(c)) {
      std::string num = digits();
      const bool after_dot = !tokens_.empty() && tokens_.back().type == Tok::Dot;
      if (!after_dot && pos_ + 1 < t_.size() && t_[pos_] == '.' && is_digit(t_[pos_ + 1])) {
        ++pos_;
        num += "." + digits();
      }
      push(Tok::Number, num, start);
      return;
    }
    if (is_word_char(c)) {
      while (pos_ < t_.size() && is_word_char(t_[pos_])) ++pos_;
      push(Tok::Identifier, t_.substr(start, pos_ - start), start);
      return;
    }
    fail(std::string("unexpected character '") + c + "'", pos_);
  }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  std::string digits() {
    const std::size_t start = pos_;
    while (pos_ < t_.size() && is_digit(t_[pos_])) ++pos_;
    return t_.substr(start, pos_ - start);
  }
  // A quoted string after its opening quote; escapes \n \t \r \b \f \v \' \" \\ \xHH \uHHHH.
  std::string string_body(char quote, std::size_t start) {
    std::string out;
    while (true) {
      if (pos_ >= t_.size()) fail("the string is never closed", start);
      const char c = t_[pos_];
      if (c == quote) {
        ++pos_;
        return out;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (++pos_ >= t_.size()) fail("the string ends in a lone backslash", start);
      const char e = t_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case 'x':
        case 'u': {
          const std::size_t n = e == 'x' ? 2 : 4;
          const std::string hex = t_.substr(pos_, n);
          if (hex.size() != n || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
            fail("invalid escape \\" + std::string(1, e) + hex, pos_ - 2);
          }
          const char32_t cp = static_cast<char32_t>(std::strtoul(hex.c_str(), nullptr, 16));
          if (cp >= 0xD800 && cp <= 0xDFFF) fail("the escape \\u" + hex + " is a lone surrogate", pos_ - 2);
          tokenizers::append_utf8(out, cp);
          pos_ += n;
          break;
        }
        default: fail(std::string("unknown escape \\") + e, pos_ - 2);
      }
    }
  }

  const Source& src_;
  const std::string& t_;
  std::string_view original_, name_;
  std::size_t pos_ = 0;
  int curly_depth_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// 3. The syntax tree and the parser
// ------------------------------------------------------------------------------------------------

struct Node;
using NodePtr = std::shared_ptr<const Node>;

/// One node of the syntax tree. Which members a node uses depends on its kind (listed beside each kind).
struct Node {
  enum class Kind {
    // statements
    Text,        // name: the text
    Output,      // a: the expression of {{ a }}
    If,          // a: test; body; alternate (the else/elif branch)
    For,         // a: loop target (Identifier or Tuple); b: iterable; c: the `if` filter or null; body; alternate
    Set,         // a: target (Identifier, Tuple or Member); b: value, or null for a {% set %}...{% endset %} body
    Macro,       // name; args: parameters (Identifier or KeywordArg with its default); body
    CallBlock,   // a: the Call node; args: the caller's parameters; body
    FilterBlock, // a: the filter (Identifier or Call); body
    Break, Continue,
    // expressions
    Literal,     // value
    Identifier,  // name
    Tuple,       // args
    List,        // args
    Dict,        // args: key, value, key, value, ...
    Member,      // a: object; b: the key expression (computed) or null with name = the attribute
    Slice,       // a: object; args: start, stop, step (each may be null)
    Call,        // a: callee; args (KeywordArg nodes for name=value)
    KeywordArg,  // name; a: value
    Filter,      // a: operand; name; args (arguments after the filter name, if any)
    Test,        // a: operand; name; negate; args
    Unary,       // name: "not", "-" or "+"; a
    Binary,      // name: the operator; a, b
    Ternary,     // a: value if true; b: condition; c: value if false
    Select,      // a: value; b: condition (`a if b` without else: undefined when b is false)
  };
  Kind kind;
  std::size_t offset = 0;  // where it starts in the template
  std::string name;
  Value value;
  NodePtr a, b, c;
  std::vector<NodePtr> args, body, alternate;
  bool negate = false;
};

namespace detail {

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::string_view original, std::string_view name, int max_nesting)
      : tokens_(std::move(tokens)), original_(original), name_(name), max_nesting_(max_nesting) {}

  std::vector<NodePtr> run() {
    std::vector<NodePtr> program;
    while (i_ < tokens_.size()) {
      if (NodePtr n = parse_any()) program.push_back(n);
    }
    return program;
  }

 private:
  // -- helpers ---------------------------------------------------------------------------------
  [[noreturn]] void fail(const std::string& what) const {
    fail_at(i_ < tokens_.size() ? tokens_[i_].offset : original_.size(), what);
  }
  [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
    const auto [line, column] = line_column(original_, offset);
    throw TemplateSyntaxError(eigenformer::detail::cat("[jinja] ", name_, ":", line, ":", column, ": ", what), line, column);
  }
  std::string describe() const {
    if (i_ >= tokens_.size()) return "the end of the template";
    const Token& t = tokens_[i_];
    return t.type == Tok::Text ? "text" : "'" + t.value + "'";
  }
  bool is(Tok t, std::size_t ahead = 0) const { return i_ + ahead < tokens_.size() && tokens_[i_ + ahead].type == t; }
  bool is_name(std::string_view n, std::size_t ahead = 0) const {
    return is(Tok::Identifier, ahead) && tokens_[i_ + ahead].value == n;
  }
  bool is_statement(std::initializer_list<std::string_view> names) const {
    if (!is(Tok::OpenStatement) || !is(Tok::Identifier, 1)) return false;
    for (std::string_view n : names) {
      if (tokens_[i_ + 1].value == n) return true;
    }
    return false;
  }
  const Token& expect(Tok t, const char* what) {
    if (!is(t)) fail(eigenformer::detail::cat("expected ", what, ", found ", describe()));
    return tokens_[i_++];
  }
  void expect_name(std::string_view n) {
    if (!is_name(n)) fail(eigenformer::detail::cat("expected '", n, "', found ", describe()));
    ++i_;
  }
  std::shared_ptr<Node> make(Node::Kind k, std::size_t offset) {
    auto n = std::make_shared<Node>();
    n->kind = k;
    n->offset = offset;
    return n;
  }
  std::size_t here() const { return i_ < tokens_.size() ? tokens_[i_].offset : original_.size(); }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.max_nesting_) {
        p.fail(eigenformer::detail::cat("nesting deeper than ", p.max_nesting_, " levels"));
      }
    }
    ~DepthGuard() { --p.depth_; }
  };

  /// Parses statements until one of the named block tags (not consumed); fails at the end of the input.
  /// `opened_at`: where the block's tag starts, named when the block is never closed.
  std::vector<NodePtr> parse_until(std::initializer_list<std::string_view> enders, const char* block, std::size_t opened_at) {
    std::vector<NodePtr> body;
    while (!is_statement(enders)) {
      if (i_ >= tokens_.size()) fail_at(opened_at, eigenformer::detail::cat("the ", block, " block is never closed"));
      if (NodePtr n = parse_any()) body.push_back(n);
    }
    return body;
  }
  void expect_end(std::string_view word) {
    expect(Tok::OpenStatement, "'{%'");
    expect_name(word);
    expect(Tok::CloseStatement, "'%}'");
  }

  // -- statements ------------------------------------------------------------------------------
  NodePtr parse_any() {
    DepthGuard guard(*this);
    const Token& t = tokens_[i_];
    switch (t.type) {
      case Tok::Comment: ++i_; return nullptr;
      case Tok::Text: {
        auto n = make(Node::Kind::Text, t.offset);
        n->name = t.value;
        ++i_;
        return n;
      }
      case Tok::OpenExpression: {
        ++i_;
        auto n = make(Node::Kind::Output, t.offset);
        n->a = parse_expression();
        expect(Tok::CloseExpression, "'}}'");
        return n;
      }
      case Tok::OpenStatement: return parse_statement();
      default: fail("unexpected " + describe());
    }
  }

  NodePtr parse_statement() {
    expect(Tok::OpenStatement, "'{%'");
    if (!is(Tok::Identifier)) fail("expected a statement name after '{%', found " + describe());
    const Token& word = tokens_[i_++];
    const std::string& w = word.value;
    if (w == "set") return parse_set(word.offset);
    if (w == "if") {
      NodePtr n = parse_if(word.offset);
      expect_end("endif");
      return n;
    }
    if (w == "for") {
      NodePtr n = parse_for(word.offset);
      expect_end("endfor");
      return n;
    }
    if (w == "macro") {
      auto n = make(Node::Kind::Macro, word.offset);
      n->name = expect(Tok::Identifier, "a macro name").value;
      n->args = parse_arguments(true);
      expect(Tok::CloseStatement, "'%}'");
      n->body = parse_until({"endmacro"}, "macro", word.offset);
      expect_end("endmacro");
      return n;
    }
    if (w == "call") {
      auto n = make(Node::Kind::CallBlock, word.offset);
      if (is(Tok::OpenParen)) n->args = parse_arguments(true);
      auto call = make(Node::Kind::Call, here());
      auto callee = make(Node::Kind::Identifier, here());
      callee->name = expect(Tok::Identifier, "the name of the macro to call").value;
      call->a = callee;
      call->args = parse_arguments(false);
      n->a = call;
      expect(Tok::CloseStatement, "'%}'");
      n->body = parse_until({"endcall"}, "call", word.offset);
      expect_end("endcall");
      return n;
    }
    if (w == "filter") {
      auto n = make(Node::Kind::FilterBlock, word.offset);
      n->a = parse_filter_name();
      expect(Tok::CloseStatement, "'%}'");
      n->body = parse_until({"endfilter"}, "filter", word.offset);
      expect_end("endfilter");
      return n;
    }
    if (w == "break" || w == "continue") {
      expect(Tok::CloseStatement, "'%}'");
      return make(w == "break" ? Node::Kind::Break : Node::Kind::Continue, word.offset);
    }
    --i_;
    if (w == "include" || w == "extends" || w == "import" || w == "from") {
      fail("'{% " + w + " %}' loads another template file: a chat template is one string with no other templates "
           "beside it, so include, extends and import are not supported");
    }
    fail("unknown statement '" + w + "'");
  }

  NodePtr parse_set(std::size_t offset) {
    auto n = make(Node::Kind::Set, offset);
    n->a = parse_sequence(false);
    if (is(Tok::Equals)) {
      ++i_;
      n->b = parse_sequence(false);
    } else {
      expect(Tok::CloseStatement, "'=' or '%}'");
      n->body = parse_until({"endset"}, "set", offset);
      expect(Tok::OpenStatement, "'{%'");
      expect_name("endset");
    }
    expect(Tok::CloseStatement, "'%}'");
    return n;
  }

  NodePtr parse_if(std::size_t offset) {
    auto n = make(Node::Kind::If, offset);
    n->a = parse_expression();
    expect(Tok::CloseStatement, "'%}'");
    n->body = parse_until({"elif", "else", "endif"}, "if", offset);
    if (is_statement({"elif"})) {
      i_ += 2;
      n->alternate.push_back(parse_if(tokens_[i_ - 1].offset));
    } else if (is_statement({"else"})) {
      i_ += 2;
      expect(Tok::CloseStatement, "'%}'");
      n->alternate = parse_until({"endif"}, "if", offset);
    }
    return n;
  }

  NodePtr parse_for(std::size_t offset) {
    auto n = make(Node::Kind::For, offset);
    n->a = parse_sequence(true);
    if (n->a->kind != Node::Kind::Identifier && n->a->kind != Node::Kind::Tuple) fail("expected a loop variable");
    expect_name("in");
    NodePtr iterable = parse_expression();
    if (iterable->kind == Node::Kind::Select) {  // for x in xs if cond
      n->b = iterable->a;
      n->c = iterable->b;
    } else {
      n->b = iterable;
    }
    expect(Tok::CloseStatement, "'%}'");
    n->body = parse_until({"endfor", "else"}, "for", offset);
    if (is_statement({"else"})) {
      i_ += 2;
      expect(Tok::CloseStatement, "'%}'");
      n->alternate = parse_until({"endfor"}, "for", offset);
    }
    return n;
  }

  // `a, b` (a tuple) or a single expression. primary: only names (loop targets).
  NodePtr parse_sequence(bool primary) {
    const std::size_t offset = here();
    NodePtr first = primary ? parse_primary() : parse_expression();
    if (!is(Tok::Comma)) return first;
    auto t = make(Node::Kind::Tuple, offset);
    t->args.push_back(first);
    while (is(Tok::Comma)) {
      ++i_;
      t->args.push_back(primary ? parse_primary() : parse_expression());
    }
    return t;
  }

  // (a, b=1, ...) for calls; for parameters (macro definitions) only names and name=default.
  std::vector<NodePtr> parse_arguments(bool parameters) {
    expect(Tok::OpenParen, "'('");
    std::vector<NodePtr> args;
    bool saw_keyword = false;
    while (!is(Tok::CloseParen)) {
      if (i_ >= tokens_.size()) fail("the argument list is never closed with ')'");
      NodePtr arg = parse_expression();
      if (is(Tok::Equals)) {
        if (arg->kind != Node::Kind::Identifier) fail("expected a name before '='");
        ++i_;
        auto kw = make(Node::Kind::KeywordArg, arg->offset);
        kw->name = arg->name;
        kw->a = parse_expression();
        arg = kw;
        saw_keyword = true;
      } else if (saw_keyword) {
        fail(parameters ? "a parameter without a default follows one with a default"
                        : "a positional argument follows a keyword argument");
      }
      if (parameters && arg->kind != Node::Kind::Identifier && arg->kind != Node::Kind::KeywordArg) {
        fail("expected a parameter name");
      }
      args.push_back(arg);
      if (is(Tok::Comma)) {
        ++i_;
      } else if (!is(Tok::CloseParen)) {
        fail("expected ',' or ')' in the argument list, found " + describe());
      }
    }
    ++i_;
    return args;
  }

  // -- expressions, lowest precedence first --------------------------------------------------------
  NodePtr parse_expression() {
    DepthGuard guard(*this);
    const std::size_t offset = here();
    NodePtr value = parse_or();
    if (!is_name("if")) return value;
    ++i_;
    NodePtr test = parse_or();
    if (is_name("else")) {
      ++i_;
      auto n = make(Node::Kind::Ternary, offset);
      n->a = value;
      n->b = test;
      n->c = parse_expression();
      return n;
    }
    auto n = make(Node::Kind::Select, offset);
    n->a = value;
    n->b = test;
    return n;
  }
  NodePtr binary(const std::string& op, NodePtr left, NodePtr right, std::size_t offset) {
    auto n = make(Node::Kind::Binary, offset);
    n->name = op;
    n->a = std::move(left);
    n->b = std::move(right);
    return n;
  }
  NodePtr parse_or() {
    NodePtr left = parse_and();
    while (is_name("or")) {
      const std::size_t offset = tokens_[i_++].offset;
      left = binary("or", left, parse_and(), offset);
    }
    return left;
  }
  NodePtr parse_and() {
    NodePtr left = parse_not();
    while (is_name("and")) {
      const std::size_t offset = tokens_[i_++].offset;
      left = binary("and", left, parse_not(), offset);
    }
    return left;
  }
  NodePtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto n = make(Node::Kind::Unary, tokens_[i_++].offset);
      n->name = "not";
      n->a = parse_not();
      return n;
    }
    return parse_comparison();
  }
  NodePtr parse_comparison() {
    NodePtr left = parse_additive();
    while (true) {
      std::string op;
      const std::size_t offset = here();
      if (is_name("not") && is_name("in", 1)) {
        op = "not in";
        i_ += 2;
      } else if (is_name("in")) {
        op = "in";
        ++i_;
      } else if (is(Tok::Compare)) {
        op = tokens_[i_++].value;
      } else {
        return left;
      }
      left = binary(op, left, parse_additive(), offset);
    }
  }
  NodePtr parse_additive() {
    NodePtr left = parse_multiplicative();
    while (is(Tok::Additive)) {
      const Token& t = tokens_[i_++];
      left = binary(t.value, left, parse_multiplicative(), t.offset);
    }
    return left;
  }
  NodePtr parse_multiplicative() {
    NodePtr left = parse_power();
    while (is(Tok::Multiplicative)) {
      const Token& t = tokens_[i_++];
      left = binary(t.value, left, parse_power(), t.offset);
    }
    return left;
  }
  NodePtr parse_power() {
    NodePtr left = parse_test();
    while (is(Tok::Power)) {
      const Token& t = tokens_[i_++];
      left = binary("**", left, parse_test(), t.offset);
    }
    return left;
  }
  NodePtr parse_test() {
    NodePtr operand = parse_filter();
    while (is_name("is")) {
      auto n = make(Node::Kind::Test, tokens_[i_++].offset);
      if (is_name("not")) {
        n->negate = true;
        ++i_;
      }
      n->name = expect(Tok::Identifier, "a test name after 'is'").value;
      if (is(Tok::OpenParen)) n->args = parse_arguments(false);
      n->a = operand;
      operand = n;
    }
    return operand;
  }
  NodePtr parse_filter_name() {
    auto n = make(Node::Kind::Filter, here());
    n->name = expect(Tok::Identifier, "a filter name").value;
    if (is(Tok::OpenParen)) n->args = parse_arguments(false);
    return n;
  }
  NodePtr parse_filter() {
    NodePtr operand = parse_unary();
    while (is(Tok::Pipe)) {
      ++i_;
      auto n = std::const_pointer_cast<Node>(parse_filter_name());
      n->a = operand;
      operand = n;
    }
    return operand;
  }
  NodePtr parse_unary() {
    if ((is(Tok::Unary) || is(Tok::Additive)) && (tokens_[i_].value == "-" || tokens_[i_].value == "+")) {
      DepthGuard guard(*this);
      auto n = make(Node::Kind::Unary, tokens_[i_].offset);
      n->name = tokens_[i_++].value;
      n->a = parse_unary();
      return n;
    }
    return parse_postfix(parse_primary());
  }
  // x.attr, x[key], x[a:b:c], f(args) — any number of them, left to right.
  NodePtr parse_postfix(NodePtr object) {
    while (true) {
      if (is(Tok::Dot)) {
        auto n = make(Node::Kind::Member, tokens_[i_++].offset);
        n->a = object;
        if (is(Tok::Identifier)) {
          n->name = tokens_[i_++].value;
        } else if (is(Tok::Number) && tokens_[i_].value.find('.') == std::string::npos) {
          auto key = make(Node::Kind::Literal, here());
          errno = 0;
          const long long index = std::strtoll(tokens_[i_].value.c_str(), nullptr, 10);
          if (errno == ERANGE) fail("the integer " + tokens_[i_].value + " does not fit in 64 bits");
          ++i_;
          key->value = Value::integer(index);
          n->b = key;
        } else {
          fail("expected an attribute name after '.', found " + describe());
        }
        object = n;
      } else if (is(Tok::OpenSquare)) {
        const std::size_t offset = tokens_[i_++].offset;
        std::vector<NodePtr> parts;
        bool is_slice = false;
        while (!is(Tok::CloseSquare)) {
          if (i_ >= tokens_.size()) fail("'[' is never closed with ']'");
          if (is(Tok::Colon)) {
            parts.push_back(nullptr);
            ++i_;
            is_slice = true;
          } else {
            parts.push_back(parse_expression());
            if (is(Tok::Colon)) {
              ++i_;
              is_slice = true;
            } else if (!is(Tok::CloseSquare)) {
              fail("expected ':' or ']', found " + describe());
            }
          }
        }
        ++i_;
        if (parts.empty()) fail("expected an index or a slice inside '[]'");
        if (is_slice) {
          // parts holds start, stop, step in order; a trailing ':' adds no element.
          if (parts.size() > 3) fail("a slice has at most three parts: [start:stop:step]");
          auto n = make(Node::Kind::Slice, offset);
          n->a = object;
          n->args = parts;
          n->args.resize(3);
          object = n;
        } else {
          auto n = make(Node::Kind::Member, offset);
          n->a = object;
          n->b = parts[0];
          object = n;
        }
      } else if (is(Tok::OpenParen)) {
        auto n = make(Node::Kind::Call, here());
        n->a = object;
        n->args = parse_arguments(false);
        object = n;
      } else {
        return object;
      }
    }
  }
  NodePtr parse_primary() {
    if (i_ >= tokens_.size()) fail("expected an expression, found the end of the template");
    const Token& t = tokens_[i_++];
    switch (t.type) {
      case Tok::Number: {
        auto n = make(Node::Kind::Literal, t.offset);
        if (t.value.find('.') != std::string::npos) {
          n->value = Value::number(std::strtod(t.value.c_str(), nullptr));
        } else {
          errno = 0;
          const long long v = std::strtoll(t.value.c_str(), nullptr, 10);
          if (errno == ERANGE) {
            --i_;
            fail("the integer " + t.value + " does not fit in 64 bits");
          }
          n->value = Value::integer(v);
        }
        return n;
      }
      case Tok::String: {
        auto n = make(Node::Kind::Literal, t.offset);
        std::string s = t.value;
        while (is(Tok::String)) s += tokens_[i_++].value;  // "a" "b" is "ab", as in Python
        n->value = Value::string(std::move(s));
        return n;
      }
      case Tok::Identifier: {
        auto n = make(Node::Kind::Identifier, t.offset);
        n->name = t.value;
        return n;
      }
      case Tok::OpenParen: {
        NodePtr inner = parse_sequence(false);
        expect(Tok::CloseParen, "')'");
        return inner;
      }
      case Tok::OpenSquare: {
        auto n = make(Node::Kind::List, t.offset);
        while (!is(Tok::CloseSquare)) {
          if (i_ >= tokens_.size()) fail("'[' is never closed with ']'");
          n->args.push_back(parse_expression());
          if (is(Tok::Comma)) {
            ++i_;
          } else if (!is(Tok::CloseSquare)) {
            fail("expected ',' or ']' in a list, found " + describe());
          }
        }
        ++i_;
        return n;
      }
      case Tok::OpenCurly: {
        auto n = make(Node::Kind::Dict, t.offset);
        while (!is(Tok::CloseCurly)) {
          if (i_ >= tokens_.size()) fail("'{' is never closed with '}'");
          n->args.push_back(parse_expression());
          expect(Tok::Colon, "':' between a key and its value");
          n->args.push_back(parse_expression());
          if (is(Tok::Comma)) {
            ++i_;
          } else if (!is(Tok::CloseCurly)) {
            fail("expected ',' or '}' in a dict, found " + describe());
          }
        }
        ++i_;
        return n;
      }
      default:
        --i_;
        fail("expected an expression, found " + describe());
    }
  }

  std::vector<Token> tokens_;
  std::string_view original_, name_;
  int max_nesting_;
  int depth_ = 0;
  std::size_t i_ = 0;
};

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// 4. Rendering
// ------------------------------------------------------------------------------------------------

/// Variables by name, with a parent: a for loop or a macro call opens a child scope, so what it sets
/// stays inside (which is why templates use namespace() to carry values out of a loop).
class Scope {
 public:
  explicit Scope(Scope* parent = nullptr) : parent_(parent) {}
  const Value* lookup(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent_) {
      auto it = s->vars_.find(name);
      if (it != s->vars_.end()) return &it->second;
    }
    return nullptr;
  }
  void set(const std::string& name, Value v) { vars_[name] = std::move(v); }

 private:
  Scope* parent_;
  std::unordered_map<std::string, Value> vars_;
};

class Template;

namespace detail {

class Renderer {
 public:
  Renderer(const Template& tpl, const Limits& limits) : tpl_(tpl), limits_(limits) {}

  enum class Flow { Normal, Break, Continue };

  Flow exec_block(const std::vector<NodePtr>& body, Scope& scope, std::string& out) {
    for (const NodePtr& n : body) {
      const Flow f = exec(*n, scope, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  [[noreturn]] void fail(const Node& at, const std::string& what) const;
  [[noreturn]] void raise(const Node& at, const std::string& reason) const;

  Flow exec(const Node& n, Scope& scope, std::string& out) {
    switch (n.kind) {
      case Node::Kind::Text: emit(n, out, n.name); return Flow::Normal;
      case Node::Kind::Output: {
        const Value v = eval(*n.a, scope);
        if (!v.is_undefined() && !v.is_none()) emit(n, out, to_text(v));
        return Flow::Normal;
      }
      case Node::Kind::If:
        return exec_block(eval(*n.a, scope).truthy() ? n.body : n.alternate, scope, out);
      case Node::Kind::For: exec_for(n, scope, out); return Flow::Normal;
      case Node::Kind::Set: {
        Value v;
        if (n.b) {
          v = eval(*n.b, scope);
        } else {
          std::string text;
          exec_block(n.body, scope, text);
          v = Value::string(std::move(text));
        }
        assign(*n.a, std::move(v), scope);
        return Flow::Normal;
      }
      case Node::Kind::Macro: scope.set(n.name, make_macro(n, n.name)); return Flow::Normal;
      case Node::Kind::CallBlock: {
        // {% call m(args) %}body{% endcall %}: m runs with `caller()` bound to render the body.
        const Node& call = *n.a;
        Value callee = eval(*call.a, scope);
        if (!callee.is(Kind::Function)) fail(call, "'" + call.a->name + "' is not a macro");
        CallArgs args = eval_args(call.args, scope);
        Scope call_scope(&scope);
        call_scope.set("caller", make_macro(n, "caller", &scope));
        const Value v = invoke(call, callee, args, call_scope);
        emit(n, out, to_text(v));
        return Flow::Normal;
      }
      case Node::Kind::FilterBlock: {
        std::string text;
        exec_block(n.body, scope, text);
        emit(n, out, to_text(apply_filter(*n.a, Value::string(std::move(text)), scope)));
        return Flow::Normal;
      }
      case Node::Kind::Break: return Flow::Break;
      case Node::Kind::Continue: return Flow::Continue;
      default: {
        const Value v = eval(n, scope);
        if (!v.is_undefined() && !v.is_none()) emit(n, out, to_text(v));
        return Flow::Normal;
      }
    }
  }

  Value eval(const Node& n, Scope& scope);

 private:
  void emit(const Node& at, std::string& out, const std::string& text) {
    out += text;
    if (out.size() > limits_.max_output_bytes) {
      fail(at, eigenformer::detail::cat("the output is larger than ", limits_.max_output_bytes, " bytes"));
    }
  }

  void assign(const Node& target, Value v, Scope& scope) {
    switch (target.kind) {
      case Node::Kind::Identifier: scope.set(target.name, std::move(v)); return;
      case Node::Kind::Tuple: {
        if (!v.is(Kind::Array)) fail(target, std::string("cannot unpack a ") + kind_name(v.kind()));
        const Array& items = v.as_array();
        if (items.size() != target.args.size()) {
          fail(target, eigenformer::detail::cat("cannot unpack ", items.size(), " values into ", target.args.size(), " names"));
        }
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (target.args[i]->kind != Node::Kind::Identifier) fail(*target.args[i], "can only unpack into names");
          scope.set(target.args[i]->name, items[i]);
        }
        return;
      }
      case Node::Kind::Member: {
        Value object = eval(*target.a, scope);
        if (!object.is(Kind::Namespace)) fail(target, "only a namespace() takes attribute assignments (set ns.x = ...)");
        if (target.b) fail(target, "assign to ns.name, not ns[...]");
        object.as_object().set(target.name, std::move(v));
        return;
      }
      default: fail(target, "cannot assign to this expression");
    }
  }

  void exec_for(const Node& n, Scope& scope, std::string& out) {
    Scope loop_scope(&scope);
    Value iterable = eval(*n.b, loop_scope);
    Array items;
    if (iterable.is(Kind::Array)) {
      items = iterable.as_array();
    } else if (iterable.is_mapping()) {
      for (const auto& kv : iterable.as_object().items()) items.push_back(Value::string(kv.first));
    } else if (iterable.is_string()) {
      for (std::string& c : code_points(iterable.as_string())) items.push_back(Value::string(std::move(c)));
    } else {
      fail(*n.b, std::string("cannot loop over a ") + kind_name(iterable.kind()));
    }
    if (n.c) {  // for x in xs if cond: the condition picks the items before loop.* is counted
      Array kept;
      for (const Value& item : items) {
        Scope test_scope(&loop_scope);
        assign(*n.a, item, test_scope);
        if (eval(*n.c, test_scope).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const std::int64_t count = static_cast<std::int64_t>(items.size());
    for (std::int64_t i = 0; i < count; ++i) {
      if (++iterations_ > limits_.max_loop_iterations) {
        fail(n, eigenformer::detail::cat("more than ", limits_.max_loop_iterations, " loop iterations"));
      }
      Object loop;
      loop.set("index", Value::integer(i + 1));
      loop.set("index0", Value::integer(i));
      loop.set("revindex", Value::integer(count - i));
      loop.set("revindex0", Value::integer(count - i - 1));
      loop.set("first", Value::boolean(i == 0));
      loop.set("last", Value::boolean(i == count - 1));
      loop.set("length", Value::integer(count));
      loop.set("previtem", i > 0 ? items[static_cast<std::size_t>(i - 1)] : Value());
      loop.set("nextitem", i + 1 < count ? items[static_cast<std::size_t>(i + 1)] : Value());
      loop_scope.set("loop", Value::object(std::move(loop)));
      assign(*n.a, items[static_cast<std::size_t>(i)], loop_scope);
      if (exec_block(n.body, loop_scope, out) == Flow::Break) break;
    }
    if (count == 0) exec_block(n.alternate, loop_scope, out);
  }

  Value make_macro(const Node& def, const std::string& name, Scope* defining_scope = nullptr);
  Value invoke(const Node& at, const Value& callee, CallArgs& args, Scope& scope);
  CallArgs eval_args(const std::vector<NodePtr>& nodes, Scope& scope) {
    CallArgs args;
    for (const NodePtr& a : nodes) {
      if (a->kind == Node::Kind::KeywordArg) {
        for (const auto& kv : args.keyword) {
          if (kv.first == a->name) fail(*a, "the keyword argument '" + a->name + "' is given twice");
        }
        args.keyword.emplace_back(a->name, eval(*a->a, scope));
      } else {
        args.positional.push_back(eval(*a, scope));
      }
    }
    return args;
  }
  Value eval_binary(const Node& n, Scope& scope);
  Value member(const Node& at, const Value& object, const Value& key);
  Value method(const Node& at, const Value& object, const std::string& name);
  Value apply_filter(const Node& filter, const Value& operand, Scope& scope);
  bool apply_test(const Node& at, const std::string& name, const Value& operand, const std::vector<Value>& args);
  Value builtin_global(const Node& at, const std::string& name);

  const Template& tpl_;
  const Limits& limits_;
  std::size_t iterations_ = 0;
  int call_depth_ = 0;
};

}  // namespace detail

/// A parsed template: parse once, render many times (each render is independent).
class Template {
 public:
  /// Parses `text`. `name` names the template in error messages (e.g. "tokenizer_config.json").
  /// Throws TemplateSyntaxError with the line and column of the first problem.
  explicit Template(std::string text, std::string name = "chat_template", Limits limits = {})
      : text_(std::move(text)), name_(std::move(name)), limits_(limits) {
    tokenizers::require_utf8(text_, "jinja");
    const Source src = detail::preprocess(text_);
    std::vector<Token> tokens = detail::Lexer(src, text_, name_).run();
    program_ = detail::Parser(std::move(tokens), text_, name_, limits_.max_nesting).run();
  }

  /// Renders with the given variables (messages, bos_token, add_generation_prompt, ...).
  /// Throws TemplateRenderError (TemplateRaisedError for raise_exception) naming the line and column.
  std::string render(const Object& variables) const {
    Scope globals;
    for (const auto& kv : variables.items()) globals.set(kv.first, kv.second);
    Scope scope(&globals);
    detail::Renderer renderer(*this, limits_);
    std::string out;
    renderer.exec_block(program_, scope, out);
    return out;
  }

  const std::string& text() const { return text_; }
  const std::string& name() const { return name_; }
  /// Where a byte offset of the template is, as "name:line:column".
  std::string where(std::size_t offset) const {
    const auto [line, column] = detail::line_column(text_, offset);
    return eigenformer::detail::cat(name_, ":", line, ":", column);
  }

 private:
  std::string text_, name_;
  Limits limits_;
  std::vector<NodePtr> program_;
};

// ------------------------------------------------------------------------------------------------
// The renderer's pieces: errors, expressions, calls, members and methods, filters, tests.
// ------------------------------------------------------------------------------------------------
namespace detail {

inline void Renderer::fail(const Node& at, const std::string& what) const {
  const auto [line, column] = line_column(tpl_.text(), at.offset);
  throw TemplateRenderError(eigenformer::detail::cat("[jinja] ", tpl_.name(), ":", line, ":", column, ": ", what), line, column);
}

inline void Renderer::raise(const Node& at, const std::string& reason) const {
  const auto [line, column] = line_column(tpl_.text(), at.offset);
  throw TemplateRaisedError(
      eigenformer::detail::cat("[jinja] ", tpl_.name(), ":", line, ":", column, ": the template raised an exception: ", reason),
      reason, line, column);
}

inline Value Renderer::eval(const Node& n, Scope& scope) {
  switch (n.kind) {
    case Node::Kind::Literal: return n.value;
    case Node::Kind::Identifier: {
      if (const Value* v = scope.lookup(n.name)) return *v;
      return builtin_global(n, n.name);
    }
    case Node::Kind::Tuple:
    case Node::Kind::List: {
      Array a;
      for (const NodePtr& x : n.args) a.push_back(eval(*x, scope));
      return Value::array(std::move(a));
    }
    case Node::Kind::Dict: {
      Object o;
      for (std::size_t i = 0; i + 1 < n.args.size(); i += 2) {
        const Value key = eval(*n.args[i], scope);
        if (!key.is_string()) fail(*n.args[i], std::string("dict keys must be strings, got a ") + kind_name(key.kind()));
        o.set(key.as_string(), eval(*n.args[i + 1], scope));
      }
      return Value::object(std::move(o));
    }
    case Node::Kind::Member: {
      const Value object = eval(*n.a, scope);
      if (!n.b) return member(n, object, Value::string(n.name));
      return member(n, object, eval(*n.b, scope));
    }
    case Node::Kind::Slice: {
      const Value object = eval(*n.a, scope);
      Value part[3];
      for (int k = 0; k < 3; ++k) {
        if (n.args[static_cast<std::size_t>(k)]) {
          part[k] = eval(*n.args[static_cast<std::size_t>(k)], scope);
          if (!part[k].is(Kind::Int) && !part[k].is_undefined() && !part[k].is_none()) {
            fail(n, "slice bounds must be integers");
          }
          if (part[k].is_none()) part[k] = Value();
        }
      }
      const std::int64_t step = part[2].is_undefined() ? 1 : part[2].as_int();
      if (step == 0) fail(n, "the slice step cannot be zero");
      if (object.is(Kind::Array)) {
        const Array& a = object.as_array();
        Array out;
        for (std::size_t i : slice_indices(a.size(), part[0], part[1], step)) out.push_back(a[i]);
        return Value::array(std::move(out));
      }
      if (object.is_string()) {
        const std::vector<std::string> chars = code_points(object.as_string());
        std::string out;
        for (std::size_t i : slice_indices(chars.size(), part[0], part[1], step)) out += chars[i];
        return Value::string(std::move(out));
      }
      fail(n, std::string("cannot slice a ") + kind_name(object.kind()));
    }
    case Node::Kind::Call: {
      CallArgs args = eval_args(n.args, scope);
      const Value callee = eval(*n.a, scope);
      if (!callee.is(Kind::Function)) {
        fail(n, std::string("cannot call a ") + kind_name(callee.kind()) +
                    (n.a->kind == Node::Kind::Identifier ? " ('" + n.a->name + "' is not a function)" : ""));
      }
      return invoke(n, callee, args, scope);
    }
    case Node::Kind::Filter: return apply_filter(n, eval(*n.a, scope), scope);
    case Node::Kind::Test: {
      const Value operand = eval(*n.a, scope);
      std::vector<Value> args;
      for (const NodePtr& x : n.args) args.push_back(eval(*x, scope));
      const bool r = apply_test(n, n.name, operand, args);
      return Value::boolean(n.negate ? !r : r);
    }
    case Node::Kind::Unary: {
      const Value v = eval(*n.a, scope);
      if (n.name == "not") return Value::boolean(!v.truthy());
      const int sign = n.name == "-" ? -1 : 1;
      if (v.is(Kind::Float)) return Value::number(sign * v.as_number());
      if (v.is(Kind::Int)) return integer_arithmetic('*', sign, v.as_int());  // -(-2^63) does not fit
      if (v.is(Kind::Bool)) return Value::integer(sign * (v.as_bool() ? 1 : 0));
      fail(n, "unary " + n.name + " needs a number, got a " + kind_name(v.kind()));
    }
    case Node::Kind::Binary: return eval_binary(n, scope);
    case Node::Kind::Ternary: return eval(*n.b, scope).truthy() ? eval(*n.a, scope) : eval(*n.c, scope);
    case Node::Kind::Select: return eval(*n.b, scope).truthy() ? eval(*n.a, scope) : Value();
    default: fail(n, "a statement cannot be used as a value");
  }
}

/// Equality as templates mean it: numbers (and booleans) by value, strings by content, lists and dicts
/// element by element; none equals none (and, as in JavaScript's ==, undefined).
inline bool equal(const Value& a, const Value& b) {
  const bool an = a.is_numeric() || a.is(Kind::Bool), bn = b.is_numeric() || b.is(Kind::Bool);
  if (an && bn) return a.as_number() == b.as_number();
  if ((a.is_none() || a.is_undefined()) && (b.is_none() || b.is_undefined())) return true;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::String: return a.as_string() == b.as_string();
    case Kind::Array: {
      const Array &x = a.as_array(), &y = b.as_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!equal(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::Object: {
      const Object &x = a.as_object(), &y = b.as_object();
      if (x.size() != y.size()) return false;
      for (const auto& kv : x.items()) {
        const Value* other = y.find(kv.first);
        if (!other || !equal(kv.second, *other)) return false;
      }
      return true;
    }
    case Kind::Namespace: return &a.as_object() == &b.as_object();
    default: return false;
  }
}

/// Order for sort and dictsort: numbers by value, strings (lowercased unless case_sensitive) by bytes.
inline int compare(const Value& a, const Value& b, bool case_sensitive, const std::function<void(const std::string&)>& fail) {
  const bool an = a.is_numeric() || a.is(Kind::Bool), bn = b.is_numeric() || b.is(Kind::Bool);
  if (an && bn) return a.as_number() < b.as_number() ? -1 : a.as_number() > b.as_number() ? 1 : 0;
  if (a.is_string() && b.is_string()) {
    const std::string x = case_sensitive ? a.as_string() : unicode_lower(a.as_string());
    const std::string y = case_sensitive ? b.as_string() : unicode_lower(b.as_string());
    return x < y ? -1 : x > y ? 1 : 0;
  }
  fail(std::string("cannot compare a ") + kind_name(a.kind()) + " with a " + kind_name(b.kind()));
  return 0;
}

inline bool contains(const Value& container, const Value& item) {
  if (container.is(Kind::Array)) {
    for (const Value& x : container.as_array()) {
      if (equal(x, item)) return true;
    }
    return false;
  }
  if (container.is_string() && item.is_string()) return container.as_string().find(item.as_string()) != std::string::npos;
  if (container.is_mapping() && item.is_string()) return container.as_object().find(item.as_string()) != nullptr;
  return false;
}

inline Value Renderer::eval_binary(const Node& n, Scope& scope) {
  const std::string& op = n.name;
  const Value left = eval(*n.a, scope);
  // and/or short-circuit and return an operand, as in Python: `x or 'default'`.
  if (op == "and") return left.truthy() ? eval(*n.b, scope) : left;
  if (op == "or") return left.truthy() ? left : eval(*n.b, scope);
  const Value right = eval(*n.b, scope);
  if (op == "==") return Value::boolean(equal(left, right));
  if (op == "!=") return Value::boolean(!equal(left, right));
  if (op == "in" || op == "not in") {
    if (right.is_undefined()) return Value::boolean(op == "not in");
    if (!(right.is(Kind::Array) || right.is_mapping() || (right.is_string() && left.is_string()))) {
      fail(n, std::string("'") + op + "' needs a list, dict or string on the right, got a " + kind_name(right.kind()));
    }
    const bool found = contains(right, left);
    return Value::boolean(op == "in" ? found : !found);
  }
  if (op == "%" && left.is_string() && !right.is_undefined()) {  // 'Hi %s' % name: Python's formatting
    try {
      return Value::string(percent_format(left.as_string(), right));
    } catch (const ValueError& e) {
      fail(n, e.what());
    }
  }
  if (left.is_undefined() || right.is_undefined()) {
    const Node& side = left.is_undefined() ? *n.a : *n.b;
    fail(n, "cannot apply '" + op + "' to an undefined value" +
                (side.kind == Node::Kind::Identifier ? " ('" + side.name + "' is not defined)" : ""));
  }
  if (left.is_none() || right.is_none()) fail(n, "cannot apply '" + op + "' to none");
  if (op == "~") return Value::string(to_text(left) + to_text(right));
  const bool ln = left.is_numeric() || left.is(Kind::Bool), rn = right.is_numeric() || right.is(Kind::Bool);
  if (op == "**" && ln && rn) {
    const double a = left.as_number(), b = right.as_number();
    if (a == 0 && b < 0) fail(n, "0 cannot be raised to a negative power");
    const double r = std::pow(a, b);
    if (!std::isfinite(r)) fail(n, "the power is not a finite number");
    const bool is_float = left.is(Kind::Float) || right.is(Kind::Float) || b < 0;
    return is_float ? Value::number(r) : integral(r);
  }
  if (left.is_numeric() && right.is_numeric()) {
    const bool is_float = left.is(Kind::Float) || right.is(Kind::Float);
    const double a = left.as_number(), b = right.as_number();
    if (op == "+" || op == "-" || op == "*") {
      if (!is_float) {
        return integer_arithmetic(op[0], left.as_int(), right.as_int());
      }
      return Value::number(op == "+" ? a + b : op == "-" ? a - b : a * b);
    }
    if (op == "/") {
      if (b == 0) fail(n, "division by zero");
      return Value::number(a / b);
    }
    if (op == "//") {
      if (b == 0) fail(n, "division by zero");
      const double r = std::floor(a / b);
      return is_float ? Value::number(r) : integral(r);
    }
    if (op == "%") {
      if (b == 0) fail(n, "modulo by zero");
      if (!is_float && right.as_int() == -1) return Value::integer(0);  // (-2^63) % -1 would trap
      if (!is_float) return Value::integer(left.as_int() % right.as_int());  // JavaScript's sign rule
      return Value::number(std::fmod(a, b));
    }
    if (op == "<") return Value::boolean(a < b);
    if (op == ">") return Value::boolean(a > b);
    if (op == "<=") return Value::boolean(a <= b);
    if (op == ">=") return Value::boolean(a >= b);
  }
  if (left.is(Kind::Array) && right.is(Kind::Array) && op == "+") {
    Array out = left.as_array();
    out.insert(out.end(), right.as_array().begin(), right.as_array().end());
    return Value::array(std::move(out));
  }
  if (op == "+" && (left.is_string() || right.is_string())) {
    // A string plus a number or boolean concatenates their text (as @huggingface/jinja does); a string plus
    // a list or dict is an error, as in Python (JavaScript would print "[object Map]").
    const Value& other = left.is_string() ? right : left;
    if (other.is(Kind::Array) || other.is_mapping()) {
      fail(n, std::string("cannot add a string and a ") + kind_name(other.kind()) + " (use ~ or |tojson)");
    }
    return Value::string(to_text(left) + to_text(right));
  }
  if (left.is_string() && right.is_string()) {
    const int c = left.as_string().compare(right.as_string());
    if (op == "<") return Value::boolean(c < 0);
    if (op == ">") return Value::boolean(c > 0);
    if (op == "<=") return Value::boolean(c <= 0);
    if (op == ">=") return Value::boolean(c >= 0);
  }
  if (op == "*" && left.is_string() && right.is(Kind::Int)) {
    if (left.as_string().empty()) return Value::string("");  // "" * 10**15 must not loop 10**15 times
    std::string out;
    for (std::int64_t i = 0; i < right.as_int(); ++i) {
      out += left.as_string();
      if (out.size() > limits_.max_output_bytes) fail(n, "the repeated string is too large");
    }
    return Value::string(std::move(out));
  }
  fail(n, "cannot apply '" + op + "' to a " + kind_name(left.kind()) + " and a " + kind_name(right.kind()));
}

inline Value Renderer::make_macro(const Node& def, const std::string& name, Scope* defining_scope) {
  const Node* node = &def;
  return Value::function([this, node, name, defining_scope](CallArgs& args, Scope& caller_scope) -> Value {
    if (++call_depth_ > limits_.max_call_depth) {
      --call_depth_;
      fail(*node, eigenformer::detail::cat("macro '", name, "' calls nested deeper than ", limits_.max_call_depth,
                                           " (runaway recursion?)"));
    }
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{call_depth_};
    Scope scope(defining_scope ? defining_scope : &caller_scope);
    // Bind parameters: positional first, then by name; the rest go to varargs / kwargs.
    std::vector<std::pair<std::string, Value>> keyword = args.keyword;
    std::vector<const Node*> pending_defaults;
    for (std::size_t i = 0; i < node->args.size(); ++i) {
      const Node& p = *node->args[i];
      Value v;
      bool bound = false;
      if (i < args.positional.size()) {
        v = args.positional[i];
        bound = true;
      } else {
        for (auto it = keyword.begin(); it != keyword.end(); ++it) {
          if (it->first == p.name) {
            v = it->second;
            keyword.erase(it);
            bound = true;
            break;
          }
        }
      }
      if (!bound && p.kind == Node::Kind::KeywordArg) pending_defaults.push_back(&p);
      scope.set(p.name, v);
    }
    Array varargs;
    for (std::size_t i = node->args.size(); i < args.positional.size(); ++i) varargs.push_back(args.positional[i]);
    Object kwargs;
    for (auto& kv : keyword) kwargs.set(kv.first, kv.second);
    scope.set("varargs", Value::array(std::move(varargs)));
    scope.set("kwargs", Value::object(std::move(kwargs)));
    for (const Node* p : pending_defaults) scope.set(p->name, eval(*p->a, scope));
    std::string out;
    exec_block(node->body, scope, out);
    return Value::string(std::move(out));
  });
}

inline Value Renderer::invoke(const Node& at, const Value& callee, CallArgs& args, Scope& scope) {
  try {
    return callee.as_function()(args, scope);
  } catch (const TemplateError&) {
    throw;
  } catch (const Error& e) {
    fail(at, e.what());
  }
}

inline Value Renderer::builtin_global(const Node& at, const std::string& name) {
  if (name == "true" || name == "True") return Value::boolean(true);
  if (name == "false" || name == "False") return Value::boolean(false);
  if (name == "none" || name == "None") return Value::none();
  const Node* node = &at;
  if (name == "raise_exception") {
    return Value::function([this, node](CallArgs& args, Scope&) -> Value {
      raise(*node, args.positional.empty() ? std::string() : to_text(args.positional[0]));
    });
  }
  if (name == "range") {
    return Value::function([this, node](CallArgs& args, Scope&) -> Value {
      std::int64_t v[3] = {0, 0, 1};
      const std::size_t n = args.positional.size();
      if (n < 1 || n > 3) fail(*node, "range() takes 1 to 3 integers");
      for (std::size_t i = 0; i < n; ++i) {
        if (!args.positional[i].is(Kind::Int)) fail(*node, "range() takes integers");
      }
      if (n == 1) {
        v[1] = args.positional[0].as_int();
      } else {
        v[0] = args.positional[0].as_int();
        v[1] = args.positional[1].as_int();
        if (n == 3) v[2] = args.positional[2].as_int();
      }
      if (v[2] == 0) fail(*node, "range() step must not be zero");
      Array out;
      for (std::int64_t i = v[0]; v[2] > 0 ? i < v[1] : i > v[1];) {
        if (out.size() >= limits_.max_range) fail(*node, eigenformer::detail::cat("range() longer than ", limits_.max_range));
        out.push_back(Value::integer(i));
        constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min(), hi = std::numeric_limits<std::int64_t>::max();
        if (v[2] > 0 ? i > hi - v[2] : i < lo - v[2]) break;  // the next would overflow: it lies past the end anyway
        i += v[2];
      }
      return Value::array(std::move(out));
    });
  }
  if (name == "namespace" || name == "dict") {
    const bool ns = name == "namespace";
    return Value::function([this, node, ns](CallArgs& args, Scope&) -> Value {
      Object o;
      if (args.positional.size() > 1) fail(*node, "namespace()/dict() take at most one positional argument");
      if (!args.positional.empty()) {
        const Value& src = args.positional[0];
        if (!src.is_mapping()) fail(*node, "namespace()/dict() take a dict as positional argument");
        for (const auto& kv : src.as_object().items()) o.set(kv.first, kv.second);
      }
      for (auto& kv : args.keyword) o.set(kv.first, kv.second);
      return ns ? Value::namespace_(std::move(o)) : Value::object(std::move(o));
    });
  }
  if (name == "strftime_now") {
    return Value::function([this, node](CallArgs& args, Scope&) -> Value {
      if (args.positional.empty() || !args.positional[0].is_string()) fail(*node, "strftime_now() takes a format string");
      // Local time, as Python's datetime.now().strftime and @huggingface/jinja do.
      const std::time_t now = std::time(nullptr);
      std::tm local{};
#if defined(_WIN32)
      localtime_s(&local, &now);
#else
      localtime_r(&now, &local);
#endif
      char buf[512];
      const std::size_t n = std::strftime(buf, sizeof buf, args.positional[0].as_string().c_str(), &local);
      if (n == 0 && !args.positional[0].as_string().empty()) fail(*node, "strftime_now(): the formatted date is too long");
      return Value::string(std::string(buf, n));
    });
  }
  return Value();  // undefined: `x is defined` is false, {{ x }} prints nothing
}

inline Value Renderer::member(const Node& at, const Value& object, const Value& key) {
  if (object.is_mapping()) {
    if (!key.is_string()) fail(at, std::string("dict keys are strings, got a ") + kind_name(key.kind()));
    if (const Value* v = object.as_object().find(key.as_string())) return *v;
    return object.is(Kind::Object) ? method(at, object, key.as_string()) : Value();
  }
  if (object.is(Kind::Array) || object.is_string()) {
    if (key.is(Kind::Int)) {
      std::int64_t i = key.as_int();
      if (object.is(Kind::Array)) {
        const Array& a = object.as_array();
        if (i < 0) i += static_cast<std::int64_t>(a.size());
        return i >= 0 && i < static_cast<std::int64_t>(a.size()) ? a[static_cast<std::size_t>(i)] : Value();
      }
      const std::vector<std::string> chars = code_points(object.as_string());
      if (i < 0) i += static_cast<std::int64_t>(chars.size());
      return i >= 0 && i < static_cast<std::int64_t>(chars.size()) ? Value::string(chars[static_cast<std::size_t>(i)]) : Value();
    }
    if (key.is_string()) return method(at, object, key.as_string());
    fail(at, std::string("a list or string is indexed by an integer, got a ") + kind_name(key.kind()));
  }
  if (key.is_string()) return method(at, object, key.as_string());
  return Value();  // attributes of undefined/none are undefined (as in @huggingface/jinja)
}

/// Methods: s.strip(), s.split(','), d.items(), d.get('k', default), ... as bound functions.
inline Value Renderer::method(const Node& at, const Value& self, const std::string& name) {
  const Node* node = &at;
  const auto fn = [](auto f) { return Value::function(std::move(f)); };
  if (self.is_string()) {
    const std::string s = self.as_string();
    if (name == "length") return Value::integer(static_cast<std::int64_t>(code_points(s).size()));
    if (name == "upper") return fn([s](CallArgs&, Scope&) { return Value::string(unicode_upper(s)); });
    if (name == "lower") return fn([s](CallArgs&, Scope&) { return Value::string(unicode_lower(s)); });
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const bool left = name != "rstrip", right = name != "lstrip";
      return fn([this, node, s, left, right](CallArgs& a, Scope&) {
        const Value* chars = a.arg(0, "chars");
        if (chars && !chars->is_none() && !chars->is_string()) fail(*node, "strip() takes a string of characters");
        return Value::string(strip(s, left, right, chars && chars->is_string() ? &chars->as_string() : nullptr));
      });
    }
    if (name == "title") {
      return fn([s](CallArgs&, Scope&) {
        std::string out = s;
        for (std::size_t i = 0; i < out.size(); ++i) {
          if (is_word_char(out[i]) && (i == 0 || !is_word_char(out[i - 1])) && out[i] >= 'a' && out[i] <= 'z') {
            out[i] = static_cast<char>(out[i] - 'a' + 'A');
          }
        }
        return Value::string(out);
      });
    }
    if (name == "capitalize") {
      return fn([s](CallArgs&, Scope&) {
        if (s.empty()) return Value::string("");
        std::size_t first = 0;
        tokenizers::next_code_point(s, first);
        return Value::string(unicode_upper(s.substr(0, first)) + s.substr(first));
      });
    }
    if (name == "startswith" || name == "endswith") {
      const bool start = name == "startswith";
      return fn([this, node, s, start](CallArgs& a, Scope&) {
        if (a.positional.empty()) fail(*node, "startswith()/endswith() need an argument");
        const auto test = [&](const Value& p) {
          if (!p.is_string()) fail(*node, "startswith()/endswith() take a string or a tuple of strings");
          const std::string& x = p.as_string();
          if (x.size() > s.size()) return false;
          return start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
        };
        const Value& p = a.positional[0];
        if (p.is(Kind::Array)) {
          for (const Value& x : p.as_array()) {
            if (test(x)) return Value::boolean(true);
          }
          return Value::boolean(false);
        }
        return Value::boolean(test(p));
      });
    }
    if (name == "split" || name == "rsplit") {
      const bool from_right = name == "rsplit";
      return fn([this, node, s, from_right](CallArgs& a, Scope&) {
        const Value* sep = a.arg(0, "sep");
        const Value* maxsplit_v = a.arg(1, "maxsplit");
        const std::int64_t maxsplit = maxsplit_v && maxsplit_v->is(Kind::Int) ? maxsplit_v->as_int() : -1;
        Array parts;
        if (!sep || sep->is_none()) {
          // Python's split(): runs of whitespace separate, ends are ignored.
          std::vector<std::pair<std::size_t, std::size_t>> words;
          for (std::size_t i = 0; i < s.size();) {
            std::size_t j = i;
            const bool space = is_js_space(tokenizers::next_code_point(s, j));
            if (space) {
              i = j;
              continue;
            }
            std::size_t end = i;
            while (end < s.size()) {
              std::size_t k = end;
              if (is_js_space(tokenizers::next_code_point(s, k))) break;
              end = k;
            }
            words.emplace_back(i, end);
            i = end;
          }
          const std::size_t n = words.size();
          if (maxsplit < 0 || static_cast<std::size_t>(maxsplit) + 1 >= n) {
            for (auto& w : words) parts.push_back(Value::string(s.substr(w.first, w.second - w.first)));
          } else if (!from_right) {
            for (std::size_t k = 0; k < static_cast<std::size_t>(maxsplit); ++k) {
              parts.push_back(Value::string(s.substr(words[k].first, words[k].second - words[k].first)));
            }
            parts.push_back(Value::string(strip(s.substr(words[static_cast<std::size_t>(maxsplit)].first), false, true)));
          } else {
            const std::size_t first = n - static_cast<std::size_t>(maxsplit);
            parts.push_back(Value::string(strip(s.substr(0, words[first - 1].second), true, false)));
            for (std::size_t k = first; k < n; ++k) {
              parts.push_back(Value::string(s.substr(words[k].first, words[k].second - words[k].first)));
            }
          }
          return Value::array(std::move(parts));
        }
        if (!sep->is_string()) fail(*node, "split() takes a string separator");
        const std::string& d = sep->as_string();
        if (d.empty()) fail(*node, "split(): empty separator");
        std::vector<std::string> pieces;
        for (std::size_t start = 0;;) {
          const std::size_t at = s.find(d, start);
          if (at == std::string::npos) {
            pieces.push_back(s.substr(start));
            break;
          }
          pieces.push_back(s.substr(start, at - start));
          start = at + d.size();
        }
        if (maxsplit >= 0 && pieces.size() > static_cast<std::size_t>(maxsplit) + 1) {
          const std::size_t m = static_cast<std::size_t>(maxsplit);
          std::vector<std::string> merged;
          if (!from_right) {
            merged.assign(pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(m));
            std::string rest = pieces[m];
            for (std::size_t k = m + 1; k < pieces.size(); ++k) rest += d + pieces[k];
            merged.push_back(rest);
          } else {
            const std::size_t keep_from = pieces.size() - m;
            std::string rest = pieces[0];
            for (std::size_t k = 1; k < keep_from; ++k) rest += d + pieces[k];
            merged.push_back(rest);
            merged.insert(merged.end(), pieces.begin() + static_cast<std::ptrdiff_t>(keep_from), pieces.end());
          }
          pieces = std::move(merged);
        }
        for (std::string& p : pieces) parts.push_back(Value::string(std::move(p)));
        return Value::array(std::move(parts));
      });
    }
    if (name == "replace") {
      return fn([this, node, s](CallArgs& a, Scope&) {
        const Value* old_v = a.arg(0, "old");
        const Value* new_v = a.arg(1, "new");
        const Value* count_v = a.arg(2, "count");
        if (!old_v || !new_v || !old_v->is_string() || !new_v->is_string()) fail(*node, "replace() takes two strings");
        std::int64_t count = count_v && count_v->is(Kind::Int) ? count_v->as_int() : -1;
        const std::string &from = old_v->as_string(), &to = new_v->as_string();
        std::string out;
        if (from.empty()) {
          // Python inserts `to` before every character and at the end.
          const std::vector<std::string> chars = code_points(s);
          for (const std::string& c : chars) {
            if (count != 0) {
              out += to;
              --count;
            }
            out += c;
          }
          if (count != 0) out += to;
          return Value::string(out);
        }
        std::size_t start = 0;
        while (count != 0) {
          const std::size_t at = s.find(from, start);
          if (at == std::string::npos) break;
          out.append(s, start, at - start);
          out += to;
          start = at + from.size();
          --count;
        }
        out.append(s, start, std::string::npos);
        return Value::string(out);
      });
    }
    if (name == "find" || name == "count") {
      const bool find = name == "find";
      return fn([this, node, s, find](CallArgs& a, Scope&) {
        if (a.positional.empty() || !a.positional[0].is_string()) fail(*node, "find()/count() take a string");
        const std::string& sub = a.positional[0].as_string();
        if (find) {
          const std::size_t at = s.find(sub);
          if (at == std::string::npos) return Value::integer(-1);
          return Value::integer(static_cast<std::int64_t>(code_points(s.substr(0, at)).size()));
        }
        std::int64_t n = 0;
        if (sub.empty()) return Value::integer(static_cast<std::int64_t>(code_points(s).size()) + 1);
        for (std::size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
        return Value::integer(n);
      });
    }
    if (name == "format") {  // 'Hi {}, {n} left'.format(name, n=3): Python's str.format
      return fn([this, node, s](CallArgs& a, Scope&) {
        try {
          return Value::string(brace_format(s, a.positional, a.keyword));
        } catch (const ValueError& e) {
          fail(*node, e.what());
        }
      });
    }
    if (name == "join") {
      return fn([this, node, s](CallArgs& a, Scope&) {
        if (a.positional.empty() || !a.positional[0].is(Kind::Array)) fail(*node, "join() takes a list");
        std::string out;
        bool first = true;
        for (const Value& x : a.positional[0].as_array()) {
          if (!first) out += s;
          out += to_text(x);
          first = false;
        }
        return Value::string(out);
      });
    }
    return Value();
  }
  if (self.is(Kind::Array)) {
    if (name == "length") return Value::integer(static_cast<std::int64_t>(self.as_array().size()));
    return Value();
  }
  if (self.is(Kind::Object)) {
    const Value obj = self;
    if (name == "get") {
      return fn([this, node, obj](CallArgs& a, Scope&) {
        if (a.positional.empty() || !a.positional[0].is_string()) fail(*node, "get() takes a string key");
        if (const Value* v = obj.as_object().find(a.positional[0].as_string())) return *v;
        return a.positional.size() > 1 ? a.positional[1] : Value::none();
      });
    }
    if (name == "items" || name == "keys" || name == "values") {
      const int what = name == "items" ? 0 : name == "keys" ? 1 : 2;
      return fn([obj, what](CallArgs&, Scope&) {
        Array out;
        for (const auto& kv : obj.as_object().items()) {
          if (what == 0) out.push_back(Value::array({Value::string(kv.first), kv.second}));
          if (what == 1) out.push_back(Value::string(kv.first));
          if (what == 2) out.push_back(kv.second);
        }
        return Value::array(std::move(out));
      });
    }
    return Value();
  }
  return Value();
}

/// Attribute of each item for selectattr/map/sort: "a.b.0" walks dicts and list indices.
inline Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v.is_mapping()) {
      const Value* x = v.as_object().find(part);
      v = x ? *x : Value();
    } else if (v.is(Kind::Array) && !part.empty() && part.find_first_not_of("0123456789") == std::string::npos) {
      const std::size_t i = static_cast<std::size_t>(std::stoull(part));
      v = i < v.as_array().size() ? v.as_array()[i] : Value();
    } else {
      return Value();
    }
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

inline Value Renderer::apply_filter(const Node& f, const Value& x, Scope& scope) {
  const std::string& name = f.name;
  CallArgs a = eval_args(f.args, scope);
  const auto bad = [&](const char* what) -> Value {
    fail(f, eigenformer::detail::cat("the filter '", name, "' ", what, " (got a ", kind_name(x.kind()), ")"));
  };
  const auto bool_arg = [&](std::size_t i, const char* key, bool fallback) {
    const Value* v = a.arg(i, key);
    return v ? v->truthy() : fallback;
  };
  if (name == "safe") return x;
  if (name == "tojson") {
    JsonOptions o;
    if (const Value* v = a.keyword_arg("indent")) {
      if (!v->is(Kind::Int) && !v->is_none()) bad("takes an integer indent");
      if (v->is(Kind::Int)) o.indent = static_cast<int>(v->as_int());
    }
    o.ensure_ascii = bool_arg(SIZE_MAX, "ensure_ascii", false);
    o.sort_keys = bool_arg(SIZE_MAX, "sort_keys", false);
    if (const Value* v = a.keyword_arg("separators")) {
      if (v->is(Kind::Array) && v->as_array().size() == 2 && v->as_array()[0].is_string() && v->as_array()[1].is_string()) {
        o.item_separator = v->as_array()[0].as_string();
        o.key_separator = v->as_array()[1].as_string();
      } else if (!v->is_none()) {
        bad("takes separators as a pair of strings");
      }
    }
    std::string out;
    try {
      to_json(out, x, o);
    } catch (const ValueError& e) {
      fail(f, e.what());
    }
    return Value::string(out);
  }
  if (name == "default" || name == "d") {
    const Value* fallback = a.arg(0, "default_value");
    const bool boolean = bool_arg(1, "boolean", false);
    if (x.is_undefined() || (boolean && !x.truthy())) return fallback ? *fallback : Value::string("");
    return x;
  }
  if (name == "length" || name == "count") {
    if (x.is_string()) return Value::integer(static_cast<std::int64_t>(code_points(x.as_string()).size()));
    if (x.is(Kind::Array)) return Value::integer(static_cast<std::int64_t>(x.as_array().size()));
    if (x.is_mapping()) return Value::integer(static_cast<std::int64_t>(x.as_object().size()));
    return bad("needs a string, list or dict");
  }
  if (name == "string") return Value::string(to_text(x));
  if (name == "list") {
    if (x.is(Kind::Array)) return x;
    if (x.is_string()) {
      Array out;
      for (std::string& c : code_points(x.as_string())) out.push_back(Value::string(std::move(c)));
      return Value::array(std::move(out));
    }
    if (x.is_mapping()) {
      Array out;
      for (const auto& kv : x.as_object().items()) out.push_back(Value::string(kv.first));
      return Value::array(std::move(out));
    }
    return bad("needs a list, string or dict");
  }
  if (name == "int" || name == "float") {
    const bool to_int = name == "int";
    const Value* fallback = a.arg(0, "default");
    const Value zero = to_int ? Value::integer(0) : Value::number(0);
    if (x.is_string()) {
      const std::string t = strip(x.as_string(), true, false);
      char* end = nullptr;
      if (to_int) {
        const long long v = std::strtoll(t.c_str(), &end, 10);
        if (end == t.c_str()) return fallback ? *fallback : zero;
        return Value::integer(v);
      }
      const double v = std::strtod(t.c_str(), &end);
      if (end == t.c_str()) return fallback ? *fallback : zero;
      return Value::number(v);
    }
    if (x.is(Kind::Bool)) return to_int ? Value::integer(x.as_bool() ? 1 : 0) : Value::number(x.as_bool() ? 1 : 0);
    if (x.is(Kind::Int)) return to_int ? x : Value::number(x.as_number());
    if (x.is(Kind::Float)) return to_int ? integral(std::floor(x.as_number())) : x;
    return bad("needs a string or a number");
  }
  if (name == "abs") {
    if (x.is(Kind::Int)) return x.as_int() < 0 ? integer_arithmetic('*', -1, x.as_int()) : x;
    if (x.is(Kind::Float)) return Value::number(std::fabs(x.as_number()));
    return bad("needs a number");
  }
  if (name == "bool") return Value::boolean(x.truthy());
  if (name == "round") {
    // Jinja2: round(value, precision=0, method='common'|'ceil'|'floor'). 'common' is Python's round():
    // halves go to the even neighbour (2.5 → 2.0), and the decimal digits are those of the exact binary
    // value (2.675 → 2.67); a float stays a float, an integer with method 'common' stays an integer.
    if (!(x.is_numeric() || x.is(Kind::Bool))) return bad("needs a number");
    const Value* p = a.arg(0, "precision");
    if (p && !p->is(Kind::Int)) bad("takes an integer precision");
    const std::int64_t precision = p ? p->as_int() : 0;
    if (precision < 0 || precision > 15) bad("takes a precision between 0 and 15");
    const Value* m = a.arg(1, "method");
    const std::string method_name = m && m->is_string() ? m->as_string() : "common";
    if (method_name != "common" && method_name != "ceil" && method_name != "floor") bad("takes method 'common', 'ceil' or 'floor'");
    if (method_name == "common") {
      if (x.is(Kind::Int) || x.is(Kind::Bool)) return Value::integer(x.as_int());
      char buffer[512];
      std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(precision), x.as_number());  // exact, ties to even
      return Value::number(std::strtod(buffer, nullptr));
    }
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double scaled = x.as_number() * scale;
    return Value::number((method_name == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
  }
  if (x.is_string() && name == "format") {  // "%s - %s"|format(a, b): Python's printf-style formatting
    try {
      Value args = Value::array(a.positional);
      if (!a.keyword.empty()) {  // format(name='x') fills %(name)s
        Object o;
        for (const auto& kv : a.keyword) o.set(kv.first, kv.second);
        args = Value::object(std::move(o));
      }
      return Value::string(percent_format(x.as_string(), args));
    } catch (const ValueError& e) {
      fail(f, e.what());
    }
  }
  if (x.is_string()) {
    const std::string& s = x.as_string();
    if (name == "trim") {
      const Value* chars = a.arg(0, "chars");
      return Value::string(strip(s, true, true, chars && chars->is_string() ? &chars->as_string() : nullptr));
    }
    if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
      Value m = method(f, x, name);
      CallArgs none;
      return m.as_function()(none, scope);
    }
    if (name == "replace") {
      Value m = method(f, x, "replace");
      return m.as_function()(a, scope);
    }
    if (name == "join") return x;
    if (name == "first") return s.empty() ? Value() : Value::string(code_points(s).front());
    if (name == "last") return s.empty() ? Value() : Value::string(code_points(s).back());
    if (name == "reverse") {
      std::vector<std::string> chars = code_points(s);
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
      return Value::string(out);
    }
    if (name == "indent") {
      // indent(width=4, first=False, blank=False): every line but the first (and blank ones) gets spaces.
      const Value* w = a.arg(0, "width");
      std::string pad;
      if (w && w->is_string()) {
        pad = w->as_string();
      } else {
        const std::int64_t width = w && w->is(Kind::Int) ? w->as_int() : 4;
        pad = std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, std::min<std::int64_t>(width, 1024))), ' ');
      }
      const bool first = bool_arg(1, "first", false), blank = bool_arg(2, "blank", false);
      std::string out;
      std::size_t start = 0, line = 0;
      while (true) {
        const std::size_t nl = s.find('\n', start);
        const std::string piece = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if ((line > 0 || first) && (blank || !piece.empty())) out += pad;
        out += piece;
        if (nl == std::string::npos) break;
        out += '\n';
        start = nl + 1;
        ++line;
      }
      return Value::string(out);
    }
    if (name == "wordcount") {
      Value m = method(f, x, "split");
      CallArgs none;
      return Value::integer(static_cast<std::int64_t>(m.as_function()(none, scope).as_array().size()));
    }
  }
  if (x.is(Kind::Array)) {
    const Array& items = x.as_array();
    if (name == "first") return items.empty() ? Value() : items.front();
    if (name == "last") return items.empty() ? Value() : items.back();
    if (name == "reverse") return Value::array(Array(items.rbegin(), items.rend()));
    if (name == "join") {
      const Value* sep = a.arg(0, "d");
      if (sep && !sep->is_string()) bad("takes a string separator");
      const Value* attribute = a.keyword_arg("attribute");
      std::string out;
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i && sep) out += sep->as_string();
        out += to_text(attribute && attribute->is_string() ? attribute_path(items[i], attribute->as_string()) : items[i]);
      }
      return Value::string(out);
    }
    if (name == "unique") {
      Array out;
      for (const Value& v : items) {
        bool seen = false;
        for (const Value& u : out) seen = seen || equal(u, v);
        if (!seen) out.push_back(v);
      }
      return Value::array(std::move(out));
    }
    if (name == "sort") {
      const bool reverse = bool_arg(0, "reverse", false);
      const bool case_sensitive = bool_arg(1, "case_sensitive", false);
      const Value* attribute = a.arg(2, "attribute");
      Array out = items;
      const auto fail_fn = [&](const std::string& what) { fail(f, what); };
      const auto key = [&](const Value& v) {
        if (!attribute || attribute->is_none()) return v;
        return attribute_path(v, attribute->is(Kind::Int) ? std::to_string(attribute->as_int()) : to_text(*attribute));
      };
      std::stable_sort(out.begin(), out.end(), [&](const Value& p, const Value& q) {
        const int c = compare(key(p), key(q), case_sensitive, fail_fn);
        return reverse ? c > 0 : c < 0;
      });
      return Value::array(std::move(out));
    }
    if (name == "selectattr" || name == "rejectattr") {
      // selectattr('name') keeps items whose attribute is truthy; selectattr('name', 'test', arg) applies a test.
      const bool select = name == "selectattr";
      if (a.positional.empty() || !a.positional[0].is_string()) bad("takes an attribute name");
      Array out;
      for (const Value& item : items) {
        if (!item.is_mapping()) bad("works on a list of dicts");
        const Value attr = attribute_path(item, a.positional[0].as_string());
        bool r;
        if (a.positional.size() > 1) {
          if (!a.positional[1].is_string()) bad("takes the test's name as a string");
          std::vector<Value> test_args(a.positional.begin() + 2, a.positional.end());
          r = apply_test(f, a.positional[1].as_string(), attr, test_args);
        } else {
          r = attr.truthy();
        }
        if (r == select) out.push_back(item);
      }
      return Value::array(std::move(out));
    }
    if (name == "map") {
      const Value* attribute = a.keyword_arg("attribute");
      if (attribute) {
        if (!attribute->is_string()) bad("takes attribute= as a string");
        const Value* fallback = a.keyword_arg("default");
        Array out;
        for (const Value& item : items) {
          Value v = attribute_path(item, attribute->as_string());
          out.push_back(v.is_undefined() && fallback ? *fallback : v);
        }
        return Value::array(std::move(out));
      }
      if (a.positional.empty() || !a.positional[0].is_string()) bad("takes attribute=... or a filter name");
      // map('filter', args...): applies a named filter to each item.
      auto inner = std::make_shared<Node>();
      inner->kind = Node::Kind::Filter;
      inner->offset = f.offset;
      inner->name = a.positional[0].as_string();
      for (std::size_t i = 1; i < f.args.size(); ++i) inner->args.push_back(f.args[i]);
      Array out;
      for (const Value& item : items) out.push_back(apply_filter(*inner, item, scope));
      return Value::array(std::move(out));
    }
    if (name == "select" || name == "reject") {
      // select('odd'), select('gt', 2), select(): the items for which the test (or truthiness) holds.
      const bool keep = name == "select";
      if (!a.positional.empty() && !a.positional[0].is_string()) bad("takes the test's name as a string");
      const std::vector<Value> test_args(a.positional.empty() ? a.positional.end() : a.positional.begin() + 1,
                                         a.positional.end());
      Array out;
      for (const Value& item : items) {
        const bool r = a.positional.empty() ? item.truthy() : apply_test(f, a.positional[0].as_string(), item, test_args);
        if (r == keep) out.push_back(item);
      }
      return Value::array(std::move(out));
    }
    if (name == "sum") {
      // sum(attribute=None, start=0): integers stay integers; one float makes the sum a float.
      const Value* attribute = a.arg(0, "attribute");
      const Value* start = a.arg(1, "start");
      Value total = start ? *start : Value::integer(0);
      for (const Value& item : items) {
        const Value v = attribute && attribute->is_string() ? attribute_path(item, attribute->as_string()) : item;
        const bool vn = v.is_numeric() || v.is(Kind::Bool), tn = total.is_numeric() || total.is(Kind::Bool);
        if (!vn || !tn) bad("adds numbers only");
        if ((v.is(Kind::Float) || total.is(Kind::Float))) total = Value::number(total.as_number() + v.as_number());
        else total = Value::integer(total.as_int() + v.as_int());
      }
      return total;
    }
    if (name == "min" || name == "max") {
      // min(case_sensitive=False, attribute=None): the first smallest (largest) item; undefined when empty.
      const bool case_sensitive = bool_arg(0, "case_sensitive", false);
      const Value* attribute = a.arg(1, "attribute");
      const auto key = [&](const Value& v) {
        return attribute && attribute->is_string() ? attribute_path(v, attribute->as_string()) : v;
      };
      const auto fail_fn = [&](const std::string& what) { fail(f, what); };
      const Value* best = nullptr;
      for (const Value& item : items) {
        if (best == nullptr) {
          best = &item;
          continue;
        }
        const int c = compare(key(item), key(*best), case_sensitive, fail_fn);
        if (name == "min" ? c < 0 : c > 0) best = &item;
      }
      return best ? *best : Value();
    }
    if (name == "batch" || name == "slice") {
      // batch(n, fill_with=None): rows of n items, the last one filled up when fill_with is given.
      // slice(n, fill_with=None): n columns, the first len % n of them one item longer (Jinja2's split).
      const Value* count = a.arg(0, name == "batch" ? "linecount" : "slices");
      if (!count || !count->is(Kind::Int) || count->as_int() < 1) bad("takes a positive integer count");
      const Value* fill_with = a.arg(1, "fill_with");
      const bool filled = fill_with && !fill_with->is_none();
      const std::size_t n = static_cast<std::size_t>(std::min<std::int64_t>(count->as_int(), 1 << 20));
      Array out;
      if (name == "batch") {
        for (std::size_t i = 0; i < items.size(); i += n) {
          Array row(items.begin() + static_cast<std::ptrdiff_t>(i), items.begin() + static_cast<std::ptrdiff_t>(std::min(i + n, items.size())));
          while (filled && row.size() < n) row.push_back(*fill_with);
          out.push_back(Value::array(std::move(row)));
        }
      } else {
        const std::size_t per = items.size() / n, extra = items.size() % n;
        std::size_t offset = 0;
        for (std::size_t k = 0; k < n; ++k) {
          const std::size_t begin = offset + k * per;
          if (k < extra) ++offset;
          const std::size_t end = offset + (k + 1) * per;
          Array column(items.begin() + static_cast<std::ptrdiff_t>(begin), items.begin() + static_cast<std::ptrdiff_t>(end));
          if (filled && k >= extra) column.push_back(*fill_with);
          out.push_back(Value::array(std::move(column)));
        }
      }
      return Value::array(std::move(out));
    }
  }
  if (x.is_mapping()) {
    if (name == "items") {
      Array out;
      for (const auto& kv : x.as_object().items()) out.push_back(Value::array({Value::string(kv.first), kv.second}));
      return Value::array(std::move(out));
    }
    if (name == "dictsort") {
      const bool case_sensitive = bool_arg(0, "case_sensitive", false);
      const Value* by = a.arg(1, "by");
      const bool by_value = by && by->is_string() && by->as_string() == "value";
      const bool reverse = bool_arg(2, "reverse", false);
      Array out;
      for (const auto& kv : x.as_object().items()) out.push_back(Value::array({Value::string(kv.first), kv.second}));
      const auto fail_fn = [&](const std::string& what) { fail(f, what); };
      std::stable_sort(out.begin(), out.end(), [&](const Value& p, const Value& q) {
        const std::size_t k = by_value ? 1 : 0;
        const int c = compare(p.as_array()[k], q.as_array()[k], case_sensitive, fail_fn);
        return reverse ? c > 0 : c < 0;
      });
      return Value::array(std::move(out));
    }
  }
  static const char* known[] = {"trim", "upper", "lower", "title", "capitalize", "replace", "indent", "join",
                                "first", "last", "reverse", "unique", "sort", "selectattr", "rejectattr", "map",
                                "items", "dictsort", "wordcount", "select", "reject", "sum", "min", "max",
                                "batch", "slice", "format"};
  for (const char* k : known) {
    if (name == k) return bad("does not apply to this type");
  }
  fail(f, "unknown filter '" + name + "'");
}

inline bool Renderer::apply_test(const Node& at, const std::string& name, const Value& v, const std::vector<Value>& args) {
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is(Kind::Bool);
  if (name == "true") return v.is(Kind::Bool) && v.as_bool();
  if (name == "false") return v.is(Kind::Bool) && !v.as_bool();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_numeric();
  if (name == "integer") return v.is(Kind::Int);
  if (name == "float") return v.is(Kind::Float);
  if (name == "mapping") return v.is(Kind::Object);
  if (name == "iterable") return v.is(Kind::Array) || v.is_string();
  if (name == "sequence") return v.is(Kind::Array) || v.is_string() || v.is(Kind::Object);
  if (name == "callable") return v.is(Kind::Function);
  if (name == "lower") return v.is_string() && unicode_lower(v.as_string()) == v.as_string();
  if (name == "upper") return v.is_string() && unicode_upper(v.as_string()) == v.as_string();
  if (name == "odd" || name == "even") {
    if (!v.is(Kind::Int)) fail(at, "the test '" + name + "' needs an integer");
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "equalto" || name == "eq" || name == "sameas") {
    if (args.empty()) fail(at, "the test '" + name + "' needs a value to compare with");
    return equal(v, args[0]);
  }
  if (name == "ne") return args.empty() ? true : !equal(v, args[0]);
  if (name == "gt" || name == "greaterthan" || name == "ge" || name == "lt" || name == "lessthan" || name == "le") {
    if (args.empty()) fail(at, "the test '" + name + "' needs a value to compare with");
    const int c = compare(v, args[0], true, [&](const std::string& what) { fail(at, what); });
    if (name == "gt" || name == "greaterthan") return c > 0;
    if (name == "ge") return c >= 0;
    if (name == "lt" || name == "lessthan") return c < 0;
    return c <= 0;
  }
  if (name == "divisibleby") {
    if (args.empty() || !args[0].is(Kind::Int) || args[0].as_int() == 0 || !v.is(Kind::Int)) {
      fail(at, "the test 'divisibleby' needs an integer and a non-zero integer divisor");
    }
    return v.as_int() % args[0].as_int() == 0;
  }
  if (name == "in") return !args.empty() && contains(args[0], v);
  fail(at, "unknown test '" + name + "'");
}

}  // namespace detail
}  // namespace eigenformer::chat::jinja
