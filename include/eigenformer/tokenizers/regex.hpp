// eigenformer/tokenizers/regex.hpp — a small backtracking regular-expression engine for the split patterns
// that real tokenizer.json files carry.
//
// Hugging Face tokenizers compiles "Split" patterns with Oniguruma (Perl_NT syntax); tiktoken and Python's
// `regex` module give the same answers on these patterns. What they share, and what we implement:
//
//   - leftmost-first alternation: at a position, the *first* alternative that leads to a match wins, not the
//     longest one ("a|ab" on "ab" matches "a");
//   - greedy quantifiers take as much as they can and give back one character at a time when what follows
//     fails; lazy ones (`*?`) take as little as they can; possessive ones (`*+`) never give back;
//   - `\s` is the Unicode White_Space property, `\d` is \p{Nd}, `\w` is UTS #18's word class (Alphabetic,
//     marks, \p{Nd}, \p{Pc}, and the joiners U+200C U+200D: is_word_char() below),
//     `\p{..}`/`\P{..}` are general categories and their unions (L, Lu, Ll, Lt, Lm, Lo, M, Mn, ... Z, C);
//   - classes `[...]`, negated `[^...]`, nested `[a[^b]]`, ranges of any code points (DeepSeek-V3 uses
//     `[一-龥぀-ゟ゠-ヿ]`), `(?i:...)` case-insensitive groups, `(?!...)` `(?=...)` lookahead, `(?>...)`
//     atomic groups, counted repetition `{m,n}`, `.` (anything but \n), `^` `$` `\A` `\z` `\Z` `\b` `\B`
//     (in Perl_NT syntax `^` is the start of the text and `$` its end or just before a final \n).
//
// How it runs. The pattern is parsed into a tree once and compiled into a little program (Pike, Thompson,
// Cox: "Regular Expression Matching: the Virtual Machine Approach", 2009). A match attempt walks the
// program; at every choice (Split) it pushes the alternative it did not take on an explicit stack and, when
// the path fails, pops the newest choice and resumes there — that is backtracking, and popping in that
// order is exactly what makes the first alternative win. The stack lives in a std::vector, so a long input
// never deepens the C++ call stack; only lookaheads call the matcher again, and their nesting is that of
// the pattern (at most kMaxNesting).
//
// A run of one character class (`\s+`, `\p{L}+`, `\p{N}{1,3}`) is one instruction, RepeatClass: it scans
// forward in a tight loop and leaves a single stack entry that remembers how far it got; giving a character
// back just moves that entry one character left. So `\s+(?!\S)` over a megabyte of spaces costs one scan
// and one step back, not a million stack entries, and no pattern of the files goes quadratic on a long run
// of one class (tests/tokenizers/test_regex.cpp times 1 MB inputs).
//
// Speed. Three precomputed answers keep the interpreter's work per character small:
//   - class membership: ASCII from a bitmap, any other character — when the class is made of general
//     categories, \s and ASCII ranges (nearly every class of the split patterns) — from a 64-bit table
//     indexed by its category and White_Space bit, one lookup in the Unicode tables (CharClass);
//   - first sets: what each branch of a split can begin with (FirstSet, with the same 64-bit table for
//     non-ASCII characters). A split whose first branch cannot begin with the character at hand goes straight
//     to the second; one whose second branch cannot begin there pushes no choice; a run gives back only
//     characters where what follows it could begin;
//   - first-character dispatch: a pattern that is an alternation (every split pattern is) tries, at each
//     position, only the alternatives that can begin with its character, from a per-ASCII-character bit
//     mask (attempt()), instead of walking the chain of splits.
// And a few more savings, each explained where it is made: a run that only `match` follows returns at once;
// a greedy run that giving back can never help is compiled possessive (auto-possessification); the dispatch
// visits only the set bits of its candidate mask; ASCII membership from a byte table, a run counting an ASCII
// stretch at once; a jump to `match` is a `match`; 32-byte instructions. With them the split executes
// 1.3-1.7 (clang++) or 1.7-1.9 (g++) times the instructions of the hand-written splitters of gpt2, cl100k
// and o200k, down from 1.7-2.6 (tools/tokenizers/count_split_instructions.sh; docs/tokenizers.md, "How fast").
//
// Not implemented (refused with a RegexError naming the place): backreferences, lookbehind, Unicode
// scripts (\p{Han}: no file uses them; DeepSeek spells the ranges out), POSIX brackets, class
// intersection `&&`, extended mode (?x), conditionals. Case folding is simple, one character to one
// (Oniguruma would also let (?i)ss match ß).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/tokenizers/unicode.hpp"
#include "eigenformer/tokenizers/utf8.hpp"

namespace eigenformer::tokenizers::regex {

/// A pattern eigenformer cannot compile: the message names the pattern and the character offset.
class RegexError : public ConfigError {
 public:
  explicit RegexError(const std::string& what) : ConfigError(what) {}
};

inline constexpr int kMaxNesting = 100;             // groups inside groups
inline constexpr std::size_t kMaxProgram = 100000;  // instructions, after expanding {m,n}
/// Instructions the compile-time analysis (the first sets below) may visit in all, before the pattern is refused
/// with a RegexError. Each split asks what its branches can begin with, and in nested repetitions of something
/// that can match empty (`r?++++…`, `((a?)+)+`) each question walks most of the program: the work grows with
/// the square of the program's size, which itself doubles with each nesting — a 57-byte pattern found by
/// fuzz/fuzz_regex.cpp ran for minutes. Real split patterns visit a few hundred (GPT-2's 194, cl100k's 147, o200k's
/// 245); refusing a pattern took 26-152 ms at -O1 here (nested and counted repetitions near kMaxProgram), and the
/// fuzz finding 4.7 s in the sanitize preset's -O0 fuzzer on a busy machine.
inline constexpr std::size_t kMaxAnalysisSteps = 4'000'000;
inline constexpr std::uint32_t kInfinite = std::numeric_limits<std::uint32_t>::max();
/// Failed paths one match attempt may back out of before the search gives up with a RegexError: Oniguruma's
/// default retry limit (ONIG_RETRY_LIMIT_IN_MATCH), the engine Hugging Face's tokenizers use, which fails the
/// same way. Without it a pattern that backtracks exponentially — `(a|a)*c` over forty a's: 2^40 paths — would
/// hang the program (seen while writing fuzz/fuzz_regex.cpp). The split patterns of real tokenizers stay far below it
/// (every attempt of cl100k's pattern backs out of a handful of paths).
inline constexpr std::size_t kMaxBacktracks = 10'000'000;

/// Simple case folding (CaseFolding.txt status C+S, one code point to one): 'S' -> 's', 'ſ' (U+017F) -> 's',
/// 'K' (U+212A KELVIN SIGN) -> 'k', 'ς' -> 'σ'. What (?i) compares.
inline char32_t simple_fold(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  // Lowercase letters whose folding is another letter (they have no lowercase mapping of their own).
  static constexpr std::pair<char32_t, char32_t> kFoldsOfLower[] = {
      {0x00B5, 0x03BC}, {0x017F, 's'},    {0x0345, 0x03B9}, {0x03C2, 0x03C3}, {0x03D0, 0x03B2}, {0x03D1, 0x03B8},
      {0x03D5, 0x03C6}, {0x03D6, 0x03C0}, {0x03F0, 0x03BA}, {0x03F1, 0x03C1}, {0x03F5, 0x03B5}, {0x1E9B, 0x1E61},
      {0x1FBE, 0x03B9}};
  for (const auto& [from, to] : kFoldsOfLower) {
    if (cp == from) return to;
  }
  // Otherwise the lowercase mapping when it is one code point (İ U+0130, whose lowercase is two, has none).
  using namespace unicode_data;
  const Lowercase* end = kLowercase + sizeof kLowercase / sizeof kLowercase[0];
  const Lowercase* it =
      std::lower_bound(kLowercase, end, cp, [](const Lowercase& row, char32_t c) { return row.cp < c; });
  if (it == end || it->cp != cp || it->length != 1) return cp;
  return static_cast<char32_t>(kLowercaseData[it->offset]);
}

// ------------------------------------------------------------------------------------------------
// Character classes
// ------------------------------------------------------------------------------------------------

/// Bit k stands for general category k (unicode::Category order).
inline constexpr std::uint32_t category_bit(unicode::Category c) { return 1u << static_cast<unsigned>(c); }

/// One member of a class: a range of code points, a set of general categories, White_Space, or another
/// (nested) class; each may be negated (`\P{L}`, `\S`, `[^...]` inside brackets).
struct ClassItem {
  enum class Kind { range, categories, white_space, word, nested } kind = Kind::range;
  bool negated = false;
  char32_t lo = 0, hi = 0;       // range
  std::uint32_t categories = 0;  // categories: category_bit() union
  std::size_t nested = 0;        // nested: index into the program's classes
};

/// `[...]`: the union of its items, then negated when it starts with ^. Answers come from two tables made
/// at compile time: ASCII from a 128-bit bitmap, and — when the class is made of general categories, \s and
/// ASCII ranges only (most classes of the split patterns: [^\r\n\p{L}\p{N}], \p{N}, \s ...) — any other
/// character from a 64-bit one indexed by its category and White_Space bit (unicode::properties(cp) & 0x3F).
/// Only the other classes (non-ASCII ranges, \w, (?i)) walk their items.
struct CharClass {
  std::vector<ClassItem> items;
  bool negated = false;
  bool fold = false;  // compiled inside (?i): a character matches when it or its folding does
  std::uint64_t ascii[2] = {0, 0};
  bool by_properties = false;      // non-ASCII membership is a function of (category, White_Space) ...
  std::uint64_t properties = 0;    // ... bit (properties(cp) & 0x3F) tells it
  /// The same ASCII answers, one byte each, indexed by any byte of UTF-8 text: byte_member[b] is true when
  /// b < 128 is in the class, and always false for b >= 128 (a byte of a longer character, which the
  /// non-ASCII path decides). The run loop of RepeatClass then needs no `b < 128` test and no shift: one load
  /// per character (the bitmap above costs a shift, a load, a second shift and a mask).
  bool byte_member[256] = {};
};

// ------------------------------------------------------------------------------------------------
// The program
// ------------------------------------------------------------------------------------------------

enum class Op : std::uint8_t {
  character,      // c: the code point (folded when fold)
  any,            // . : anything but \n
  char_class,     // a: class index
  repeat_class,   // a: class index, min..max times; mode greedy / lazy / possessive
  split,          // try a first; on failure resume at b
  jump,           // go to a
  save_position,  // slot a := position (for the empty-loop check)
  check_progress, // fail when position == slot a (a loop body that matched nothing)
  look_start,     // body at pc+1 up to look_end; negated: (?!..) ; then continue at a
  look_end,
  atomic_start,   // (?>...): on atomic_end, forget every choice made inside
  atomic_end,
  assert_begin,       // \A, ^
  assert_end,         // \z
  assert_end_newline, // \Z, $ : the end, or just before a final \n
  assert_word_boundary,
  assert_not_word_boundary,
  match,
};

enum class Mode : std::uint8_t { greedy, lazy, possessive };

/// One instruction of the program: 32 bytes (checked below), a power of two, so program[pc] is a shift of pc,
/// not a multiplication, on every trip round the interpreter's loop.
struct Instruction {
  Op op = Op::match;
  bool tail = false;     // repeat_class: only `match` follows (through jumps): the run returns at once
  bool fold = false;     // character: compare foldings
  bool negated = false;  // look_start
  Mode mode = Mode::greedy;
  char32_t c = 0;
  std::uint32_t a = 0, b = 0;
  std::uint32_t min = 0, max = 0;
  std::uint32_t scan = 0;  // repeat_class: how many characters its first scan takes at most (min when lazy, else max)
};
static_assert(sizeof(Instruction) == 32, "Instruction: keep the size a power of two (see above)");

/// The characters a path through the program can begin with: an ASCII bitmap; for the others, the
/// (category, White_Space) combinations that may (bit properties(cp) & 0x3F, as CharClass::properties) or
/// a conservative "any non-ASCII character may" when a literal or a class that is not made of categories
/// can begin the path; and whether the path can succeed without consuming a character.
struct FirstSet {
  std::uint64_t ascii[2] = {0, 0};
  std::uint64_t properties = 0;
  bool non_ascii = false;
  bool empty = false;
};

namespace detail {

// ---- Parsing ------------------------------------------------------------------------------------------

struct Node {
  enum class Kind { empty, character, any, char_class, concat, alternation, repeat, look, atomic, assertion } kind =
      Kind::empty;
  char32_t c = 0;
  bool fold = false;
  std::size_t cls = 0;
  std::vector<Node> children;
  std::uint32_t min = 0, max = 0;
  Mode mode = Mode::greedy;
  bool negated = false;
  Op assertion = Op::assert_begin;
};

/// General category names, short and long, as Oniguruma accepts them (compared without case, spaces,
/// hyphens and underscores). Returns 0 for an unknown name.
inline std::uint32_t category_mask(std::string name) {
  using C = unicode::Category;
  std::string key;
  for (char ch : name) {
    if (ch == '_' || ch == ' ' || ch == '-') continue;
    key += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
  }
  const auto bits = [](std::initializer_list<C> cs) {
    std::uint32_t m = 0;
    for (C c : cs) m |= category_bit(c);
    return m;
  };
  struct Entry {
    const char* short_name;
    const char* long_name;
    std::uint32_t mask;
  };
  const Entry table[] = {
      {"l", "letter", bits({C::Lu, C::Ll, C::Lt, C::Lm, C::Lo})},
      {"lc", "casedletter", bits({C::Lu, C::Ll, C::Lt})},
      {"l&", "l&", bits({C::Lu, C::Ll, C::Lt})},
      {"lu", "uppercaseletter", bits({C::Lu})},
      {"ll", "lowercaseletter", bits({C::Ll})},
      {"lt", "titlecaseletter", bits({C::Lt})},
      {"lm", "modifierletter", bits({C::Lm})},
      {"lo", "otherletter", bits({C::Lo})},
      {"m", "mark", bits({C::Mn, C::Mc, C::Me})},
      {"mn", "nonspacingmark", bits({C::Mn})},
      {"mc", "spacingmark", bits({C::Mc})},
      {"me", "enclosingmark", bits({C::Me})},
      {"n", "number", bits({C::Nd, C::Nl, C::No})},
      {"nd", "decimalnumber", bits({C::Nd})},
      {"nl", "letternumber", bits({C::Nl})},
      {"no", "othernumber", bits({C::No})},
      {"p", "punctuation", bits({C::Pc, C::Pd, C::Ps, C::Pe, C::Pi, C::Pf, C::Po})},
      {"pc", "connectorpunctuation", bits({C::Pc})},
      {"pd", "dashpunctuation", bits({C::Pd})},
      {"ps", "openpunctuation", bits({C::Ps})},
      {"pe", "closepunctuation", bits({C::Pe})},
      {"pi", "initialpunctuation", bits({C::Pi})},
      {"pf", "finalpunctuation", bits({C::Pf})},
      {"po", "otherpunctuation", bits({C::Po})},
      {"s", "symbol", bits({C::Sm, C::Sc, C::Sk, C::So})},
      {"sm", "mathsymbol", bits({C::Sm})},
      {"sc", "currencysymbol", bits({C::Sc})},
      {"sk", "modifiersymbol", bits({C::Sk})},
      {"so", "othersymbol", bits({C::So})},
      {"z", "separator", bits({C::Zs, C::Zl, C::Zp})},
      {"zs", "spaceseparator", bits({C::Zs})},
      {"zl", "lineseparator", bits({C::Zl})},
      {"zp", "paragraphseparator", bits({C::Zp})},
      {"c", "other", bits({C::Cc, C::Cf, C::Cs, C::Co, C::Cn})},
      {"cc", "control", bits({C::Cc})},
      {"cf", "format", bits({C::Cf})},
      {"cs", "surrogate", bits({C::Cs})},
      {"co", "privateuse", bits({C::Co})},
      {"cn", "unassigned", bits({C::Cn})},
      {"any", "any", 0xFFFFFFFFu},
  };
  for (const Entry& e : table) {
    if (key == e.short_name || key == e.long_name) return e.mask;
  }
  return 0;
}

inline std::uint32_t word_mask() {
  using C = unicode::Category;
  return category_bit(C::Lu) | category_bit(C::Ll) | category_bit(C::Lt) | category_bit(C::Lm) | category_bit(C::Lo) |
         category_bit(C::Mn) | category_bit(C::Mc) | category_bit(C::Me) | category_bit(C::Nd) | category_bit(C::Nl) |
         category_bit(C::Pc);
}

inline ClassItem range_item(char32_t lo, char32_t hi) {
  ClassItem it;
  it.kind = ClassItem::Kind::range;
  it.lo = lo;
  it.hi = hi;
  return it;
}

/// UTS #18's \w, as Oniguruma and Rust's regex crate define it: Alphabetic (letters, \p{Nl}, and the
/// Other_Alphabetic symbols: circled and squared Latin letters), \p{M}, \p{Nd}, \p{Pc}, Join_Control.
inline bool is_word_char(char32_t cp) {
  if (cp < 128) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  if ((word_mask() >> (unicode::properties(cp) & 0x1F)) & 1) return true;
  return cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
         (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189);
}

class Parser {
 public:
  Parser(std::string_view pattern, std::vector<CharClass>& classes) : p_(pattern), classes_(classes) {}

  Node parse() {
    require_utf8(p_, "[regex] pattern");
    Node n = alternation(0, false);
    if (i_ < p_.size()) fail("unbalanced ')'");
    return n;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw RegexError(eigenformer::detail::cat("[regex] pattern '", p_, "' at byte ", i_, ": ", what));
  }
  bool done() const { return i_ >= p_.size(); }
  char peek() const { return done() ? '\0' : p_[i_]; }
  bool eat(char c) {
    if (peek() != c || done()) return false;
    ++i_;
    return true;
  }
  char32_t next_char() {
    if (done()) fail("unexpected end of pattern");
    return next_code_point(p_, i_);
  }

  // `fold` may be switched by a bare (?i) inside; it then holds to the end of the group, across '|'.
  Node alternation(int depth, bool fold) {
    if (depth > kMaxNesting) fail("groups nested too deeply");
    Node alt;
    alt.kind = Node::Kind::alternation;
    alt.children.push_back(concat(depth, fold));
    while (eat('|')) alt.children.push_back(concat(depth, fold));
    if (alt.children.size() == 1) return std::move(alt.children[0]);
    return alt;
  }

  Node concat(int depth, bool& fold_in_out) {
    Node seq;
    seq.kind = Node::Kind::concat;
    while (!done() && peek() != '|' && peek() != ')') {
      // (?i) with no colon: the flag holds for the rest of the enclosing group.
      if (p_.compare(i_, 4, "(?i)") == 0) {
        i_ += 4;
        fold_in_out = true;
        continue;
      }
      if (p_.compare(i_, 5, "(?-i)") == 0) {
        i_ += 5;
        fold_in_out = false;
        continue;
      }
      Node atom_node = atom(depth, fold_in_out);
      quantify(atom_node);
      seq.children.push_back(std::move(atom_node));
    }
    if (seq.children.size() == 1) return std::move(seq.children[0]);
    return seq;
  }

  /// Reads a quantifier after an atom, if there is one.
  void quantify(Node& atom_node) {
    while (true) {
      std::uint32_t min = 0, max = 0;
      const std::size_t at = i_;
      if (eat('*')) {
        min = 0, max = kInfinite;
      } else if (eat('+')) {
        min = 1, max = kInfinite;
      } else if (eat('?')) {
        min = 0, max = 1;
      } else if (peek() == '{' && counted(min, max)) {
        // counted() consumed "{m,n}"
      } else {
        return;
      }
      if (atom_node.kind == Node::Kind::assertion || atom_node.kind == Node::Kind::look) {
        i_ = at;
        fail("a quantifier needs something to repeat");
      }
      Mode mode = Mode::greedy;
      if (eat('?')) mode = Mode::lazy;
      else if (eat('+')) mode = Mode::possessive;
      Node r;
      r.kind = Node::Kind::repeat;
      r.min = min;
      r.max = max;
      r.mode = mode;
      r.children.push_back(std::move(atom_node));
      atom_node = std::move(r);
    }
  }

  /// "{m}", "{m,}", "{m,n}", "{,n}" at i_; false (nothing consumed) when the brace is a literal.
  bool counted(std::uint32_t& min, std::uint32_t& max) {
    std::size_t k = i_ + 1;
    const auto number = [&](std::uint32_t& out) {
      const std::size_t start = k;
      std::uint64_t v = 0;
      while (k < p_.size() && p_[k] >= '0' && p_[k] <= '9') {
        v = v * 10 + static_cast<std::uint64_t>(p_[k] - '0');
        if (v > 100000) return false;
        ++k;
      }
      out = static_cast<std::uint32_t>(v);
      return k > start;
    };
    const bool has_min = number(min);
    if (!has_min) min = 0;
    if (k < p_.size() && p_[k] == '}') {
      if (!has_min) return false;
      max = min;
    } else if (k < p_.size() && p_[k] == ',') {
      ++k;
      if (!number(max)) max = kInfinite;
      if (!has_min && max == kInfinite) return false;
      if (k >= p_.size() || p_[k] != '}') return false;
    } else {
      return false;
    }
    if (max < min) fail("{m,n} with n < m");
    i_ = k + 1;
    return true;
  }

  Node atom(int depth, bool fold) {
    const std::size_t at = i_;
    const char32_t c = next_char();
    Node n;
    switch (c) {
      case '(': return group(depth, fold);
      case '[': {
        n.kind = Node::Kind::char_class;
        n.cls = bracket_class(fold, depth);
        return n;
      }
      case '.': n.kind = Node::Kind::any; return n;
      case '^': return assertion(Op::assert_begin);
      case '$': return assertion(Op::assert_end_newline);
      case '*':
      case '+':
      case '?':
        i_ = at;
        fail("a quantifier needs something to repeat");
      case '\\': return escape(fold);
      default: return literal(c, fold);
    }
  }

  static Node assertion(Op op) {
    Node n;
    n.kind = Node::Kind::assertion;
    n.assertion = op;
    return n;
  }

  Node literal(char32_t c, bool fold) const {
    Node n;
    n.kind = Node::Kind::character;
    // Under (?i) a cased character is compared by its folding; '\'' or '中' stays a plain comparison.
    const unicode::Category cat = unicode::category(c);
    const bool cased = cat == unicode::Category::Lu || cat == unicode::Category::Ll || cat == unicode::Category::Lt;
    n.fold = fold && (cased || simple_fold(c) != c);
    n.c = n.fold ? simple_fold(c) : c;
    return n;
  }

  Node group(int depth, bool fold) {
    if (depth + 1 > kMaxNesting) fail("groups nested too deeply");
    Node n;
    if (eat('?')) {
      const std::size_t at = i_;
      if (eat(':')) {
        n = alternation(depth + 1, fold);
      } else if (eat('=') || eat('!')) {
        n.kind = Node::Kind::look;
        n.negated = p_[at] == '!';
        n.children.push_back(alternation(depth + 1, fold));
      } else if (eat('>')) {
        n.kind = Node::Kind::atomic;
        n.children.push_back(alternation(depth + 1, fold));
      } else if (peek() == '<' && (p_.compare(i_, 2, "<=") == 0 || p_.compare(i_, 2, "<!") == 0)) {
        fail("lookbehind (?<=...) / (?<!...) is not supported");
      } else if (eat('<') || eat('P') || eat('\'')) {  // (?<name>...), (?P<name>...), (?'name'...)
        if (p_[i_ - 1] == 'P' && !eat('<')) fail("expected (?P<name>...)");
        const char close = p_[i_ - 1] == '\'' ? '\'' : '>';
        while (!done() && peek() != close) ++i_;
        if (!eat(close)) fail("unterminated group name");
        n = alternation(depth + 1, fold);
      } else {
        // Flag groups: (?i:...), (?-i:...), (?i-m:...) — only i changes what matches here; m and s are
        // accepted where they do not change anything we implement.
        bool on = true, f = fold;
        while (!done() && peek() != ':' && peek() != ')') {
          const char flag = p_[i_++];
          if (flag == '-') on = false;
          else if (flag == 'i') f = on;
          else if (flag == 'x') fail("extended mode (?x) is not supported");
          else if (flag == 'm' || flag == 's') {
            // Oniguruma's Ruby-style m (dot matches newline) would change '.'; refuse rather than guess.
            fail("the (?m) / (?s) flags are not supported");
          } else {
            fail(eigenformer::detail::cat("unknown group flag '", std::string(1, flag), "'"));
          }
        }
        if (!eat(':')) fail("expected ':' in a flag group");
        n = alternation(depth + 1, f);
      }
    } else {
      n = alternation(depth + 1, fold);  // a capturing group: we only need the whole match
    }
    if (!eat(')')) fail("missing ')'");
    return n;
  }

  std::size_t new_class(CharClass cc) {
    classes_.push_back(std::move(cc));
    return classes_.size() - 1;
  }

  static ClassItem category_item(std::uint32_t mask, bool negated) {
    ClassItem it;
    it.kind = ClassItem::Kind::categories;
    it.categories = mask;
    it.negated = negated;
    return it;
  }

  /// After a backslash: \p{..} \P{..} \pL. Returns the item.
  ClassItem property(bool negated) {
    const std::size_t start = i_ - 2;  // the backslash
    std::string name;
    if (eat('{')) {
      if (eat('^')) negated = !negated;
      while (!done() && peek() != '}') name += p_[i_++];
      if (!eat('}')) fail("unterminated \\p{...}");
    } else {
      if (done()) fail("\\p needs a name");
      name = std::string(1, p_[i_++]);
    }
    const std::uint32_t mask = category_mask(name);
    if (mask == 0) {
      i_ = start;
      fail(eigenformer::detail::cat("unknown property \\p{", name,
                                    "}: general categories (L, Lu, N, P, S, M, Z, C, ...) are supported; Unicode "
                                    "scripts and binary properties are not"));
    }
    return category_item(mask, negated);
  }

  /// Escapes that stand for a class (\d \s \w \h \p); nullopt for the others.
  std::optional<ClassItem> class_escape(char e) {
    ClassItem it;
    switch (e) {
      case 'd':
      case 'D': return category_item(category_bit(unicode::Category::Nd), e == 'D');
      case 'w':
      case 'W':
        it.kind = ClassItem::Kind::word;
        it.negated = e == 'W';
        return it;
      case 's':
      case 'S':
        it.kind = ClassItem::Kind::white_space;
        it.negated = e == 'S';
        return it;
      case 'h':
      case 'H': {  // Oniguruma: hexadecimal digit
        CharClass hex;
        hex.items = {range_item('0', '9'), range_item('a', 'f'), range_item('A', 'F')};
        it.kind = ClassItem::Kind::nested;
        it.nested = new_class(std::move(hex));
        it.negated = e == 'H';
        return it;
      }
      case 'p':
      case 'P': return property(e == 'P');
      default: return std::nullopt;
    }
  }

  /// A character escape (\n, \x41, \u00e9, \., ...). i_ is just after the escaped character `e`.
  char32_t char_escape(char32_t e) {
    const auto hex = [&](std::size_t max_digits, bool braced) {
      std::uint32_t v = 0;
      std::size_t n = 0;
      while (!done() && n < max_digits && std::isxdigit(static_cast<unsigned char>(peek()))) {
        const char h = p_[i_++];
        v = v * 16 + static_cast<std::uint32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        ++n;
      }
      if (n == 0) fail("expected hexadecimal digits");
      if (braced && !eat('}')) fail("unterminated \\x{...}");
      if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) fail("escape is not a Unicode scalar value");
      return static_cast<char32_t>(v);
    };
    switch (e) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'f': return '\f';
      case 'v': return '\v';
      case 'a': return '\a';
      case 'e': return 0x1B;
      case '0': return 0;
      case 'x': return eat('{') ? hex(8, true) : hex(2, false);
      case 'u': return hex(4, false);
      default: break;
    }
    if (e < 0x80 && std::isalnum(static_cast<int>(e))) {
      fail(eigenformer::detail::cat("the escape \\", std::string(1, static_cast<char>(e)), " is not supported"));
    }
    return e;  // \. \\ \[ \- \' ... : the character itself
  }

  Node escape(bool fold) {
    if (done()) fail("pattern ends with a backslash");
    const char32_t e = next_char();
    Node n;
    if (e < 0x80) {
      if (std::optional<ClassItem> item = class_escape(static_cast<char>(e))) {
        CharClass cc;
        cc.items.push_back(*item);
        cc.fold = fold;
        n.kind = Node::Kind::char_class;
        n.cls = new_class(std::move(cc));
        return n;
      }
      switch (e) {
        case 'A': return assertion(Op::assert_begin);
        case 'z': return assertion(Op::assert_end);
        case 'Z': return assertion(Op::assert_end_newline);
        case 'b': return assertion(Op::assert_word_boundary);
        case 'B': return assertion(Op::assert_not_word_boundary);
        case 'G': fail("\\G is not supported");
        default: break;
      }
      if (e >= '1' && e <= '9') fail("backreferences are not supported");
      if (e == 'k' || e == 'g') fail("named backreferences and subexpression calls are not supported");
      if (e == 'R' || e == 'X' || e == 'K' || e == 'N' || e == 'O' || e == 'y' || e == 'Y') {
        fail(eigenformer::detail::cat("the escape \\", std::string(1, static_cast<char>(e)), " is not supported"));
      }
    }
    return literal(char_escape(e), fold);
  }

  /// `[...]` after the '['; returns the class index.
  std::size_t bracket_class(bool fold, int depth) {
    if (depth > kMaxNesting) fail("classes nested too deeply");
    if (p_.compare(i_, 1, ":") == 0 && p_.find(":]", i_) != std::string_view::npos) {
      fail("POSIX bracket classes [:alpha:] are not supported");
    }
    CharClass cc;
    cc.fold = fold;
    cc.negated = eat('^');
    bool first = true;
    while (true) {
      if (done()) fail("unterminated character class");
      if (peek() == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (p_.compare(i_, 2, "&&") == 0) fail("class intersection && is not supported");
      if (eat('[')) {
        ClassItem it;
        it.kind = ClassItem::Kind::nested;
        it.nested = bracket_class(fold, depth + 1);
        cc.items.push_back(it);
        continue;
      }
      // One character or a class escape, possibly the start of a range.
      char32_t lo = 0;
      if (eat('\\')) {
        const char32_t e = next_char();
        if (e < 0x80) {
          if (std::optional<ClassItem> item = class_escape(static_cast<char>(e))) {
            cc.items.push_back(*item);
            continue;
          }
          if (e == 'b') {
            lo = '\b';  // inside a class \b is backspace
          } else {
            lo = char_escape(e);
          }
        } else {
          lo = e;
        }
      } else {
        lo = next_char();
      }
      char32_t hi = lo;
      if (peek() == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
        ++i_;
        if (eat('\\')) {
          const char32_t e = next_char();
          if (e < 0x80 && class_escape(static_cast<char>(e))) fail("a range cannot end in a class escape");
          hi = char_escape(e);
        } else if (peek() == '[') {
          fail("a range cannot end in a class");
        } else {
          hi = next_char();
        }
        if (hi < lo) fail("a range whose end is before its start");
      }
      cc.items.push_back(range_item(lo, hi));
    }
    return new_class(std::move(cc));
  }

  std::string_view p_;
  std::size_t i_ = 0;
  std::vector<CharClass>& classes_;
};

/// Can `n` match the empty string? (A loop over such a body needs the progress check.)
inline bool can_be_empty(const Node& n) {
  switch (n.kind) {
    case Node::Kind::empty:
    case Node::Kind::look:
    case Node::Kind::assertion: return true;
    case Node::Kind::character:
    case Node::Kind::any:
    case Node::Kind::char_class: return false;
    case Node::Kind::concat:
      return std::all_of(n.children.begin(), n.children.end(), [](const Node& c) { return can_be_empty(c); });
    case Node::Kind::alternation:
      return std::any_of(n.children.begin(), n.children.end(), [](const Node& c) { return can_be_empty(c); });
    case Node::Kind::repeat: return n.min == 0 || can_be_empty(n.children[0]);
    case Node::Kind::atomic: return can_be_empty(n.children[0]);
  }
  return true;
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// The compiled regex
// ------------------------------------------------------------------------------------------------

/// A compiled pattern. Thread-safe to share: matching keeps its state on the caller's stack.
class Regex {
 public:
  /// Compiles `pattern`; throws RegexError naming the place of anything unsupported or malformed.
  explicit Regex(std::string_view pattern) : pattern_(pattern) {
    detail::Parser parser(pattern_, classes_);
    const detail::Node root = parser.parse();
    emit(root, &alternatives_);
    add(Instruction{});  // match
    // A jump that leads (through other jumps) to `match` is itself a match: every alternative of a split
    // pattern ends with `jump end; end: match`, so this saves one trip round the interpreter's loop per match.
    // Nothing is lost: a jump consumes nothing and pushes nothing, and the match would return the same position.
    for (Instruction& in : program_) {
      if (in.op != Op::jump) continue;
      std::uint32_t target = in.a;
      while (program_[target].op == Op::jump) target = program_[target].a;
      if (program_[target].op == Op::match) in = Instruction{};
    }
    for (CharClass& cc : classes_) {
      fill_ascii(cc);
      cc.by_properties = properties_table(cc, cc.properties);
    }
    // What each alternative can start with: a split whose first branch cannot begin with the character at
    // hand skips it without pushing a choice (most alternatives of a split pattern fail on their first
    // character), and the search skips positions where no match can begin.
    for (Instruction& in : program_) {
      if (in.op != Op::repeat_class) continue;
      std::uint32_t next = static_cast<std::uint32_t>(&in - program_.data()) + 1;
      while (program_[next].op == Op::jump) next = program_[next].a;
      in.tail = program_[next].op == Op::match;
    }
    first_.resize(program_.size());
    second_.resize(program_.size());
    Analysis analysis;
    analysis.seen.assign(program_.size(), 0);
    for (std::uint32_t pc = 0; pc < program_.size(); ++pc) {
      if (program_[pc].op == Op::split) {
        first_[pc] = first_set(program_[pc].a, analysis);
        second_[pc] = first_set(program_[pc].b, analysis);
      }
      if (program_[pc].op == Op::repeat_class) first_[pc] = first_set(pc + 1, analysis);  // what may follow the run
    }
    // Auto-possessification (PCRE2 does the same): a greedy run gives characters back only so that what
    // follows can begin at one of them — every such character is a member of the run's class. When what
    // follows can begin with no member of the class and cannot match empty, giving back can never lead to a
    // match, and the run may as well be possessive: it leaves no choice on the stack. In cl100k's
    // `[^\r\n\p{L}\p{N}]?\p{L}+` and ` ?[^\s\p{L}\p{N}]+` the optional character is such a run. (First sets
    // are never smaller than the truth, so the test errs only towards keeping the choice.)
    for (std::uint32_t pc = 0; pc < program_.size(); ++pc) {
      Instruction& in = program_[pc];
      if (in.op == Op::repeat_class && in.mode == Mode::greedy && !in.tail &&
          cannot_begin_with_member(first_[pc], classes_[in.a])) {
        in.mode = Mode::possessive;
      }
    }
    start_ = first_set(0, analysis);
    for (std::uint32_t pc : alternatives_) alternative_first_.push_back(first_set(pc, analysis));
    if (!alternatives_.empty() && alternatives_.size() <= 64) {
      ascii_alternatives_.assign(128, 0);
      for (unsigned c = 0; c < 128; ++c) {
        const char byte = static_cast<char>(c);
        for (std::size_t k = 0; k < alternatives_.size(); ++k) {
          if (can_start(alternative_first_[k], std::string_view(&byte, 1), 0)) ascii_alternatives_[c] |= std::uint64_t{1} << k;
        }
      }
    }
  }

  const std::string& pattern() const { return pattern_; }
  const std::vector<Instruction>& program() const { return program_; }

  /// A match that starts exactly at byte `start` of `text` (valid UTF-8): its end, or nullopt.
  std::optional<std::size_t> match_at(std::string_view text, std::size_t start) const {
    Stack stack;  // one attempt: its backtrack count starts at 0
    std::vector<std::size_t> slots(slot_count_, kNoPosition);
    const std::size_t end = attempt(text, start, stack, slots);
    if (end == kNoPosition) return std::nullopt;
    return end;
  }

  /// Calls f(begin, end) for each match, left to right, as Oniguruma's search loop (and Hugging Face's
  /// find_matches) sees them: the leftmost-first match at or after the previous end; after an empty match
  /// the search moves on one character, and an empty match right where the previous match ended is skipped.
  template <class F>
  void for_each_match(std::string_view text, F&& f) const {
    Stack stack;
    std::vector<std::size_t> slots(slot_count_, kNoPosition);
    std::size_t from = 0;
    std::size_t last_end = kNoPosition;
    while (from <= text.size()) {
      std::size_t begin = from, end = kNoPosition;
      for (; begin <= text.size(); begin = begin < text.size() ? next_boundary(text, begin) : begin + 1) {
        if (!may_start(text, begin)) continue;
        stack.backtracks = 0;  // the limit is per attempt, as Oniguruma's
        end = attempt(text, begin, stack, slots);
        if (end != kNoPosition) break;
      }
      if (end == kNoPosition) return;
      if (begin == end) {
        if (last_end != begin) f(begin, end);
        from = begin < text.size() ? next_boundary(text, begin) : begin + 1;
      } else {
        f(begin, end);
        from = end;
      }
      last_end = end;
    }
  }

  /// Does `cp` belong to class `index` of this program? (Exposed for tests.)
  bool class_contains(std::size_t index, char32_t cp) const { return contains(classes_[index], cp); }

 private:
  static constexpr std::size_t kNoPosition = std::numeric_limits<std::size_t>::max();

  // A choice point on the backtracking stack.
  struct Frame {
    enum class Kind : std::uint8_t { alternative, greedy_run, lazy_run, barrier, restore } kind;
    std::uint32_t pc;      // alternative: where to resume; runs: the repeat_class instruction; restore: slot
    std::uint32_t count;   // runs: characters taken so far
    std::size_t position;  // alternative/runs: text position; restore: the slot's old value
  };
  /// The backtracking stack: frames[0, top). Grows by doubling; never shrinks during a search.
  struct Stack {
    std::vector<Frame> frames;
    std::size_t top = 0;
    std::size_t backtracks = 0;  // failed paths in this match attempt (kMaxBacktracks)
    void push(const Frame& f) {
      if (top == frames.size()) grow();
      frames[top++] = f;
    }
    void grow() { frames.resize(frames.size() * 2 + 64); }
  };

  std::size_t add(Instruction in) {
    if (program_.size() >= kMaxProgram) {
      throw RegexError(eigenformer::detail::cat("[regex] pattern '", pattern_, "' compiles to more than ", kMaxProgram,
                                                " instructions (a large {m,n}?)"));
    }
    program_.push_back(in);
    return program_.size() - 1;
  }
  static Instruction op(Op o, std::uint32_t a = 0, std::uint32_t b = 0) {
    Instruction in;
    in.op = o;
    in.a = a;
    in.b = b;
    return in;
  }
  std::uint32_t here() const { return static_cast<std::uint32_t>(program_.size()); }

  /// The class a single-character node stands for (to run it as one repeat_class instruction).
  std::optional<std::size_t> single_class(const detail::Node& n) {
    using K = detail::Node::Kind;
    if (n.kind == K::char_class) return n.cls;
    CharClass cc;
    if (n.kind == K::any) {
      cc.negated = true;
      cc.items.push_back(detail::range_item('\n', '\n'));
    } else if (n.kind == K::character) {
      cc.items.push_back(detail::range_item(n.c, n.c));
      cc.fold = n.fold;
    } else {
      return std::nullopt;
    }
    classes_.push_back(std::move(cc));
    return classes_.size() - 1;
  }

  /// Appends the instructions of `n`. When `starts` is given and `n` is an alternation, the first instruction
  /// of each alternative is recorded there (the top-level alternatives that attempt() dispatches on).
  void emit(const detail::Node& n, std::vector<std::uint32_t>* starts = nullptr) {
    using K = detail::Node::Kind;
    switch (n.kind) {
      case K::empty: return;
      case K::character: {
        Instruction in = op(Op::character);
        in.c = n.c;
        in.fold = n.fold;
        add(in);
        return;
      }
      case K::any: add(op(Op::any)); return;
      case K::char_class: add(op(Op::char_class, static_cast<std::uint32_t>(n.cls))); return;
      case K::assertion: add(op(n.assertion)); return;
      case K::concat:
        for (const detail::Node& c : n.children) emit(c);
        return;
      case K::alternation: {
        // split L1, next; L1: alt1; jump end; next: split L2, next2; ... last alternative
        std::vector<std::size_t> jumps;
        for (std::size_t k = 0; k + 1 < n.children.size(); ++k) {
          const std::size_t split = add(op(Op::split));
          program_[split].a = here();
          if (starts != nullptr) starts->push_back(here());
          emit(n.children[k]);
          jumps.push_back(add(op(Op::jump)));
          program_[split].b = here();
        }
        if (starts != nullptr) starts->push_back(here());
        emit(n.children.back());
        for (std::size_t j : jumps) program_[j].a = here();
        return;
      }
      case K::look: {
        Instruction in = op(Op::look_start);
        in.negated = n.negated;
        const std::size_t start = add(in);
        emit(n.children[0]);
        add(op(Op::look_end));
        program_[start].a = here();
        return;
      }
      case K::atomic:
        add(op(Op::atomic_start));
        emit(n.children[0]);
        add(op(Op::atomic_end));
        return;
      case K::repeat: emit_repeat(n); return;
    }
  }

  void emit_repeat(const detail::Node& n) {
    const detail::Node& body = n.children[0];
    if (const std::optional<std::size_t> cls = single_class(body)) {
      Instruction in = op(Op::repeat_class, static_cast<std::uint32_t>(*cls));
      in.min = n.min;
      in.max = n.max;
      in.mode = n.mode;
      in.scan = n.mode == Mode::lazy ? n.min : n.max;
      add(in);
      return;
    }
    if (n.mode == Mode::possessive) add(op(Op::atomic_start));
    for (std::uint32_t k = 0; k < n.min; ++k) emit(body);
    const bool lazy = n.mode == Mode::lazy;
    if (n.max == kInfinite) {
      // loop: split body, out (greedy) | split out, body (lazy); body: [save] body [check]; jump loop
      const std::uint32_t slot = slot_count_++;
      const bool check = detail::can_be_empty(body);
      const std::size_t loop = add(op(Op::split));
      const std::uint32_t body_pc = here();
      if (check) add(op(Op::save_position, slot));
      emit(body);
      if (check) add(op(Op::check_progress, slot));
      add(op(Op::jump, static_cast<std::uint32_t>(loop)));
      program_[loop].a = lazy ? here() : body_pc;
      program_[loop].b = lazy ? body_pc : here();
    } else {
      std::vector<std::size_t> splits;
      for (std::uint32_t k = n.min; k < n.max; ++k) {
        splits.push_back(add(op(Op::split)));
        program_[splits.back()].a = here();
        emit(body);
      }
      for (std::size_t s : splits) {
        // greedy: take the body (a), skip to the end (b); lazy: the other way round.
        program_[s].b = here();
        if (lazy) std::swap(program_[s].a, program_[s].b);
      }
    }
    if (n.mode == Mode::possessive) add(op(Op::atomic_end));
  }

  bool contains_slow(const CharClass& cc, char32_t cp) const {
    const std::uint16_t props = unicode::properties(cp);
    const std::uint32_t cat = 1u << (props & 0x1F);
    const bool white = (props >> 5) & 1;
    bool in = false;
    for (const ClassItem& it : cc.items) {
      bool hit = false;
      switch (it.kind) {
        case ClassItem::Kind::range: hit = cp >= it.lo && cp <= it.hi; break;
        case ClassItem::Kind::categories: hit = (it.categories & cat) != 0; break;
        case ClassItem::Kind::white_space: hit = white; break;
        case ClassItem::Kind::word: hit = detail::is_word_char(cp); break;
        case ClassItem::Kind::nested: hit = contains(classes_[it.nested], cp); break;
      }
      if (hit != it.negated) {
        in = true;
        break;
      }
    }
    return in != cc.negated;
  }

  bool contains(const CharClass& cc, char32_t cp) const {
    if (cp < 128) return (cc.ascii[cp >> 6] >> (cp & 63)) & 1;
    if (cc.by_properties) return (cc.properties >> (unicode::properties(cp) & 0x3F)) & 1;
    if (!cc.fold) return contains_slow(cc, cp);
    // (?i): the character, its folding, or (for a folded ASCII letter) its capital.
    const char32_t f = simple_fold(cp);
    if (contains_slow(cc, cp) || (f != cp && contains_slow(cc, f))) return true;
    return f < 128 && f >= 'a' && f <= 'z' && contains_slow(cc, f - 32);
  }

  /// Whether `cc`'s answer for a non-ASCII character depends only on its category and White_Space bit, and
  /// if so the answers: bit (white << 5 | category) of `table`. (Ranges that end below 128 never match a
  /// non-ASCII character; any other range, \w and (?i) depend on more than that.)
  bool properties_table(const CharClass& cc, std::uint64_t& table) const {
    if (cc.fold) return false;
    table = 0;
    for (const ClassItem& it : cc.items) {
      std::uint64_t hit = 0;  // bit k: does the item match a character of properties k?
      switch (it.kind) {
        case ClassItem::Kind::range:
          if (it.hi >= 128) return false;
          break;
        case ClassItem::Kind::categories:
          for (unsigned k = 0; k < 64; ++k) hit |= std::uint64_t{(it.categories >> (k & 0x1F)) & 1u} << k;
          break;
        case ClassItem::Kind::white_space: hit = ~std::uint64_t{0} << 32; break;  // bit 5 set: k >= 32
        case ClassItem::Kind::word: return false;
        case ClassItem::Kind::nested:
          if (!properties_table(classes_[it.nested], hit)) return false;
          break;
      }
      table |= it.negated ? ~hit : hit;
    }
    if (cc.negated) table = ~table;
    return true;
  }

  void fill_ascii(CharClass& cc) const {
    for (char32_t cp = 0; cp < 128; ++cp) {
      bool in = contains_slow(cc, cp);
      if (!in && cc.fold) {
        const char32_t f = simple_fold(cp);
        in = contains_slow(cc, f) || (f >= 'a' && f <= 'z' && contains_slow(cc, f - 32)) ||
             (f == 's' && contains_slow(cc, 0x17F)) || (f == 'k' && contains_slow(cc, 0x212A));
      }
      if (in) cc.ascii[cp >> 6] |= std::uint64_t{1} << (cp & 63);
      cc.byte_member[cp] = in;
    }
  }

  static std::size_t next_boundary(std::string_view text, std::size_t i) {
    return i + utf8_length_from_lead(static_cast<unsigned char>(text[i]));
  }
  static std::size_t previous_boundary(std::string_view text, std::size_t i) {
    --i;
    while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
    return i;
  }
  static char32_t at(std::string_view text, std::size_t i) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) return b;
    return next_code_point(text, i);
  }
  static bool is_word(char32_t cp) { return detail::is_word_char(cp); }

  /// The scratch of the first-set analysis, shared by all its questions: `seen[p] == round` marks instruction p
  /// visited in the current question (a new round needs no clearing, so a question costs what it visits, not the
  /// program's size), and `steps` counts the visits of all questions against kMaxAnalysisSteps.
  struct Analysis {
    std::vector<std::uint32_t> seen;
    std::vector<std::uint32_t> todo;
    std::uint32_t round = 0;
    std::size_t steps = 0;
  };

  /// The FirstSet of the paths that start at `pc` (a union over every branch; lookaheads and anchors are
  /// passed through, which can only make the set larger, never wrong).
  FirstSet first_set(std::uint32_t pc, Analysis& analysis) const {
    FirstSet f;
    const std::uint32_t round = ++analysis.round;
    std::vector<std::uint32_t>& todo = analysis.todo;
    todo.assign(1, pc);
    const auto add_ascii = [&](char32_t c) { f.ascii[c >> 6] |= std::uint64_t{1} << (c & 63); };
    while (!todo.empty()) {
      const std::uint32_t p = todo.back();
      todo.pop_back();
      if (analysis.seen[p] == round) continue;
      analysis.seen[p] = round;
      if (++analysis.steps > kMaxAnalysisSteps) {
        throw RegexError(eigenformer::detail::cat("[regex] pattern '", pattern_, "' is too complex to compile: its analysis",
                                                  " visited more than ", kMaxAnalysisSteps, " instructions of ",
                                                  program_.size(), " (long or nested repetitions of something that can match empty?)"));
      }
      const Instruction& in = program_[p];
      switch (in.op) {
        case Op::character:
          if (in.c < 128) add_ascii(in.c);
          else f.non_ascii = true;
          if (in.fold) {
            f.non_ascii = true;  // e.g. U+017F for s, U+212A for k
            if (in.c >= 'a' && in.c <= 'z') add_ascii(in.c - 32);
          }
          break;
        case Op::any:
          f.ascii[0] |= ~(std::uint64_t{1} << '\n');
          f.ascii[1] = ~std::uint64_t{0};
          f.non_ascii = true;
          break;
        case Op::char_class:
        case Op::repeat_class: {
          const CharClass& cc = classes_[in.a];
          f.ascii[0] |= cc.ascii[0];
          f.ascii[1] |= cc.ascii[1];
          if (cc.by_properties) f.properties |= cc.properties;
          else f.non_ascii = true;
          if (in.op == Op::repeat_class && in.min == 0) todo.push_back(p + 1);
          break;
        }
        case Op::split:
          todo.push_back(in.a);
          todo.push_back(in.b);
          break;
        case Op::jump: todo.push_back(in.a); break;
        case Op::look_start: todo.push_back(in.a); break;
        case Op::match:
        case Op::look_end: f.empty = true; break;
        default: todo.push_back(p + 1); break;  // save/check, atomic, anchors: consume nothing
      }
    }
    return f;
  }

  /// True when no path with FirstSet f can begin with a member of cc (nor match empty). Non-ASCII members are
  /// compared only when both sides are tables of (category, White_Space) bits; otherwise we answer false.
  static bool cannot_begin_with_member(const FirstSet& f, const CharClass& cc) {
    if (f.empty || (f.ascii[0] & cc.ascii[0]) != 0 || (f.ascii[1] & cc.ascii[1]) != 0) return false;
    if (cc.by_properties) return !f.non_ascii && (f.properties & cc.properties) == 0;
    return false;
  }

  /// Can a path with FirstSet f begin at byte i? (Called at every split: the ASCII answer is one bit.)
  static bool can_start(const FirstSet& f, std::string_view text, std::size_t i) {
    if (f.empty) return true;
    if (i >= text.size()) return false;
    const unsigned char b = static_cast<unsigned char>(text[i]);
    if (b < 128) return (f.ascii[b >> 6] >> (b & 63)) & 1;
    return f.non_ascii || can_start_non_ascii(f, text, i);
  }
  static bool can_start_non_ascii(const FirstSet& f, std::string_view text, std::size_t i) {
    return f.properties != 0 && ((f.properties >> (unicode::properties(at(text, i)) & 0x3F)) & 1);
  }

  bool may_start(std::string_view text, std::size_t i) const { return can_start(start_, text, i); }

  /// The index of the lowest set bit of x != 0 (std::countr_zero in C++20).
  static unsigned trailing_zeros(std::uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctzll(x));
#else
    unsigned k = 0;
    while (((x >> k) & 1) == 0) ++k;
    return k;
#endif
  }

  /// The first match (in priority order) that starts at `position`: its end, or kNoPosition.
  /// First-character dispatch: when the pattern is an alternation (every split pattern is), its alternatives
  /// are tried here one after the other, skipping those that cannot begin with the character at hand — the
  /// same order the program's chain of splits would try them in, without walking the chain or pushing a
  /// choice for each alternative.
  std::size_t attempt(std::string_view text, std::size_t position, Stack& stack, std::vector<std::size_t>& slots) const {
    if (alternatives_.empty()) return run(text, 0, position, stack, slots);
    const unsigned char b = position < text.size() ? static_cast<unsigned char>(text[position]) : 0xFF;
    if (b < 128 && !ascii_alternatives_.empty()) {  // an ASCII character: the candidates are one table entry
      // Visit the set bits only, lowest first: k is the number of trailing zeros; `candidates &= candidates - 1`
      // clears the lowest set bit. (Walking k over every bit costs a test per alternative that cannot begin.)
      for (std::uint64_t candidates = ascii_alternatives_[b]; candidates != 0; candidates &= candidates - 1) {
        const std::size_t end = run(text, alternatives_[trailing_zeros(candidates)], position, stack, slots);
        if (end != kNoPosition) return end;
      }
      return kNoPosition;
    }
    for (std::size_t k = 0; k < alternatives_.size(); ++k) {
      if (!can_start(alternative_first_[k], text, position)) continue;
      const std::size_t end = run(text, alternatives_[k], position, stack, slots);
      if (end != kNoPosition) return end;
    }
    return kNoPosition;
  }

  /// Runs the program from `pc` at `position`; returns the end of the first match in priority order, or
  /// kNoPosition. The frames it pushes stay above the stack's size at entry and are gone on return.
  std::size_t run(std::string_view text, std::uint32_t pc, std::size_t position, Stack& stack,
                  std::vector<std::size_t>& slots) const {
    const std::size_t base = stack.top;
    const std::size_t n = text.size();
    const Instruction* const program = program_.data();
    const CharClass* const classes = classes_.data();
    const FirstSet* const first = first_.data();
    const FirstSet* const second = second_.data();
    while (true) {
      const Instruction& in = program[pc];
      bool ok = true;
      switch (in.op) {
        case Op::character:
          if (position < n) {
            const char32_t cp = at(text, position);
            if (cp == in.c || (in.fold && simple_fold(cp) == in.c)) {
              position = next_boundary(text, position);
              ++pc;
              continue;
            }
          }
          ok = false;
          break;
        case Op::any:
          if (position < n && text[position] != '\n') {
            position = next_boundary(text, position);
            ++pc;
            continue;
          }
          ok = false;
          break;
        case Op::char_class:
          if (position < n && contains(classes[in.a], at(text, position))) {
            position = next_boundary(text, position);
            ++pc;
            continue;
          }
          ok = false;
          break;
        case Op::repeat_class: {
          const CharClass& cc = classes[in.a];
          std::uint32_t count = 0;
          std::size_t p = position;
          const std::uint32_t want = in.scan;  // lazy: the minimum; greedy/possessive: as many as allowed
          while (count < want && p < n) {
            // The hot loop, over a stretch of ASCII members. An ASCII character is one byte, so the stretch
            // may take at most want - count bytes: `limit` folds both bounds (the count and the end of the
            // text) into one comparison, and the count is brought up to date once, after the stretch, instead
            // of once per character. byte_member[] is false for bytes >= 128, so the stretch also stops at
            // the first byte of a longer character. (Written as p + min(n - p, ...): nothing can overflow.)
            const std::size_t stretch = p;
            const std::size_t limit = p + std::min<std::size_t>(n - p, want - count);
            while (p < limit && cc.byte_member[static_cast<unsigned char>(text[p])]) ++p;
            count += static_cast<std::uint32_t>(p - stretch);
            if (p == limit || static_cast<unsigned char>(text[p]) < 128) break;  // the bound, or an ASCII non-member
            // A longer character: one lookup in the Unicode tables when the class is made of categories.
            std::size_t q = p;
            const char32_t cp = next_code_point(text, q);
            const bool in_class = cc.by_properties ? (cc.properties >> (unicode::properties(cp) & 0x3F)) & 1
                                                   : contains(cc, cp);
            if (!in_class) break;
            p = q;
            ++count;
          }
          if (count < in.min) {
            ok = false;
            break;
          }
          // Nothing but `match` follows (the run ends an alternative: \p{L}+, \p{N}{1,3}, \s+): the match is
          // found, and no choice needs remembering — the `match` instruction would return this same position.
          if (in.tail) {
            stack.top = base;
            return p;
          }
          if (in.mode == Mode::greedy && count > in.min &&
              // One character to give back (the `x?` case): only worth a frame if what follows the run
              // could start there. When the run took one character, that character began where the run
              // began: no walk back over continuation bytes.
              (count - in.min > 1 || can_start(first[pc], text, count == 1 ? position : previous_boundary(text, p)))) {
            stack.push(Frame{Frame::Kind::greedy_run, pc, count, p});
          } else if (in.mode == Mode::lazy && count < in.max) {
            stack.push(Frame{Frame::Kind::lazy_run, pc, count, p});
          }
          position = p;
          ++pc;
          continue;
        }
        case Op::split:
          if (!can_start(first[pc], text, position)) {  // the first branch cannot match here
            pc = in.b;
            continue;
          }
          // Remember the second branch only if it could match here (most alternatives of a split pattern
          // fail on their first character: then there is nothing to come back to).
          if (can_start(second[pc], text, position)) stack.push(Frame{Frame::Kind::alternative, in.b, 0, position});
          pc = in.a;
          continue;
        case Op::jump: pc = in.a; continue;
        case Op::save_position:
          stack.push(Frame{Frame::Kind::restore, in.a, 0, slots[in.a]});
          slots[in.a] = position;
          ++pc;
          continue;
        case Op::check_progress:
          if (slots[in.a] == position) {
            ok = false;
            break;
          }
          ++pc;
          continue;
        case Op::look_start: {
          // The body runs as its own match (a lookahead is atomic: its choices are forgotten after it).
          const bool found = run(text, pc + 1, position, stack, slots) != kNoPosition;
          if (found == in.negated) {
            ok = false;
            break;
          }
          pc = in.a;
          continue;
        }
        case Op::atomic_start:
          stack.push(Frame{Frame::Kind::barrier, pc, 0, position});
          ++pc;
          continue;
        case Op::atomic_end: {
          // Drop the choices made since the barrier, keeping the slot restores (their order is kept).
          std::vector<Frame>& frames = stack.frames;
          std::size_t k = stack.top;
          while (k > base && frames[k - 1].kind != Frame::Kind::barrier) --k;
          if (k > base) {
            std::size_t out = k - 1;
            for (std::size_t j = k; j < stack.top; ++j) {
              if (frames[j].kind == Frame::Kind::restore) frames[out++] = frames[j];
            }
            stack.top = out;
          }
          ++pc;
          continue;
        }
        case Op::assert_begin: ok = position == 0; break;
        case Op::assert_end: ok = position == n; break;
        case Op::assert_end_newline: ok = position == n || (position + 1 == n && text[position] == '\n'); break;
        case Op::assert_word_boundary:
        case Op::assert_not_word_boundary: {
          const bool before = position > 0 && is_word(at(text, previous_boundary(text, position)));
          const bool after = position < n && is_word(at(text, position));
          ok = (before != after) == (in.op == Op::assert_word_boundary);
          break;
        }
        case Op::look_end:
        case Op::match: stack.top = base; return position;
      }
      if (ok) {
        ++pc;
        continue;
      }
      // Backtrack: resume at the newest choice.
      if (++stack.backtracks > kMaxBacktracks) {
        throw RegexError(eigenformer::detail::cat("[regex] pattern '", pattern_, "' backed out of more than ", kMaxBacktracks,
                                                  " paths in one match attempt (at byte ", position, " of a ", n,
                                                  "-byte text): it backtracks exponentially on this text"));
      }
      bool resumed = false;
      while (!resumed && stack.top > base) {
        Frame& f = stack.frames[stack.top - 1];
        switch (f.kind) {
          case Frame::Kind::alternative:
            pc = f.pc;
            position = f.position;
            --stack.top;
            resumed = true;
            break;
          case Frame::Kind::restore:
            slots[f.pc] = f.position;
            --stack.top;
            break;
          case Frame::Kind::barrier: --stack.top; break;
          case Frame::Kind::greedy_run: {
            // Give back one character — or more, past those where what follows the run cannot start.
            const Instruction& rep = program_[f.pc];
            do {
              f.position = previous_boundary(text, f.position);
              --f.count;
            } while (f.count > rep.min && !can_start(first[f.pc], text, f.position));
            pc = f.pc + 1;
            position = f.position;
            if (f.count == rep.min) --stack.top;
            resumed = true;
            break;
          }
          case Frame::Kind::lazy_run: {
            // Take one more character, if the class allows it.
            const Instruction& rep = program_[f.pc];
            if (f.position < n && contains(classes_[rep.a], at(text, f.position))) {
              f.position = next_boundary(text, f.position);
              ++f.count;
              pc = f.pc + 1;
              position = f.position;
              if (f.count == rep.max) --stack.top;
              resumed = true;
            } else {
              --stack.top;
            }
            break;
          }
        }
      }
      if (!resumed) return kNoPosition;
    }
  }

  std::string pattern_;
  std::vector<CharClass> classes_;
  std::vector<Instruction> program_;
  std::vector<FirstSet> first_;   // for each split: what its first branch can begin with
  std::vector<FirstSet> second_;  // for each split: what its second branch can begin with
  FirstSet start_;               // what a match can begin with
  std::vector<std::uint32_t> alternatives_;  // a top-level alternation: where each alternative begins
  std::vector<FirstSet> alternative_first_;  // ... and what it can begin with
  std::vector<std::uint64_t> ascii_alternatives_;  // for each ASCII character, bit k: alternative k can begin with it
  std::uint32_t slot_count_ = 0;
};

}  // namespace eigenformer::tokenizers::regex
