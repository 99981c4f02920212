// examples/common/cli.hpp — the command line of every example program, written once per program as a table.
//
// A program describes its options in one cli::Table: each option's name, the placeholder of its value and its
// help text. From that table come the parser (an unknown option, a missing value, an option given twice are
// usage errors naming the option) and the --help text; nothing about an option is written anywhere else.
//
//     const cli::Table table = ...;                      // name, value placeholder, help — once
//     return cli::run("llama", [&] {
//       const cli::Arguments args(argc, argv, table);    // throws UsageError for a wrong command line
//       if (args.has("--help")) return cli::print_help(table);
//       const std::int64_t n = args.integer_or("--candidates", 1, 1000, 10);
//       ...
//     });
//
// Why our own parser and not CLI11 (Debian's libcli11-dev): the library depends on Eigen alone, and the example
// programs should not add a dependency a student must install to build them; and these ~150 lines are meant to
// be read — a student sees the whole path from argv to a typed value, with errors that name the option.
//
// Every failure ends the program with one line on stderr, "<program>: error: <message>"; the exit code is 1, or
// 2 for a usage mistake (an unknown option, a missing value, a malformed number).
#pragma once

#include <eigenformer/core/allocator.hpp>
#include <eigenformer/core/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <vector>

namespace eigenformer::cli {

/// A mistake in how the program was called: exit code 2.
class UsageError : public ValueError {
 public:
  using ValueError::ValueError;
};

/// One command-line option: the only place its name, its value and its meaning are written.
struct Option {
  std::string name;   // "--model"
  std::string value;  // the placeholder of its value in --help ("DIR"); empty for a flag that takes none
  std::string help;   // what it means; '\n' starts a continuation line
};

/// Options under one heading of --help ("" for the first, unnamed group).
struct Section {
  std::string heading;
  std::vector<Option> options;
};

/// A program's whole command line: what --help prints, and what the parser accepts.
struct Table {
  std::string program;   // "llama"
  std::string usage;     // the synopsis, after "usage: " (may span lines)
  std::string about;     // a paragraph: what the program does
  std::vector<Section> sections;
  std::string epilogue;  // after the options (exit codes, ...)

  /// The option called `name`, or nullptr.
  const Option* find(const std::string& name) const {
    for (const Section& s : sections) {
      for (const Option& o : s.options) {
        if (o.name == name) return &o;
      }
    }
    return nullptr;
  }

  /// The --help text: usage, about, then each section's options in a column, help text beside them.
  std::string help() const {
    std::size_t column = 0;  // the widest "--name VALUE", so that every help text starts in one column
    for (const Section& s : sections) {
      for (const Option& o : s.options) column = std::max(column, label(o).size());
    }
    column += 4;  // two spaces before the label, two after
    std::string out = "usage: " + usage + "\n";
    if (!about.empty()) out += "\n" + about + "\n";
    for (const Section& s : sections) {
      out += "\n";
      if (!s.heading.empty()) out += s.heading + "\n";
      for (const Option& o : s.options) {
        std::string line = "  " + label(o);
        line.resize(column, ' ');
        std::size_t start = 0;
        while (true) {  // the help text, each continuation line indented to the column
          const std::size_t end = std::min(o.help.find('\n', start), o.help.size());
          out += line + o.help.substr(start, end - start) + "\n";
          if (end == o.help.size()) break;
          start = end + 1;
          line = std::string(column, ' ');
        }
      }
    }
    if (!epilogue.empty()) out += "\n" + epilogue + "\n";
    return out;
  }

  /// "--model DIR" or "--double".
  static std::string label(const Option& o) { return o.value.empty() ? o.name : o.name + " " + o.value; }
};

/// Prints the table's --help on stdout; returns 0, the exit code of --help.
inline int print_help(const Table& table) {
  std::fputs(table.help().c_str(), stdout);
  return 0;
}

/// "101, 7592,102" → {"101", "7592", "102"}: the comma-separated items of a list option, spaces trimmed.
inline std::vector<std::string> list_items(const std::string& text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    items.push_back(item);
    start = comma + 1;
  }
  return items;
}

/// `text` as an integer in [min, max]. UsageError naming `what` (the option) and the text otherwise: the one
/// integer parser of the programs — no sign unless min < 0, no spaces, no "1e3", no overflow.
inline std::int64_t parse_integer(const std::string& text, const std::string& what, std::int64_t min, std::int64_t max) {
  const std::size_t digits_from = !text.empty() && text[0] == '-' && min < 0 ? 1 : 0;
  const bool digits = text.size() > digits_from && text.find_first_not_of("0123456789", digits_from) == std::string::npos;
  if (!digits) {
    const std::string kind = min == 0 ? "a non-negative integer" : min == 1 ? "a positive integer" : "an integer";
    throw UsageError(detail::cat(what, " needs ", kind, ", got '", text, "'"));
  }
  errno = 0;
  const long long value = std::strtoll(text.c_str(), nullptr, 10);
  if (errno == ERANGE || value < min || value > max) {
    throw UsageError(detail::cat(what, " must lie in [", min, ", ", max, "], got '", text, "'"));
  }
  return value;
}

/// `text` as a finite or infinite decimal number (strtod's syntax, the whole text). UsageError naming `what`.
inline double parse_number(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) {
    throw UsageError(detail::cat(what, " needs a number, got '", text, "'"));
  }
  return value;
}

/// The parsed command line: only the table's options, each at most once, each value present.
class Arguments {
 public:
  Arguments(int argc, char** argv, const Table& table) : table_(&table) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const Option* option = table.find(arg);
      if (option == nullptr) throw UsageError(detail::cat("unknown argument '", arg, "' (see --help)"));
      if (values_.count(arg) != 0) throw UsageError(detail::cat(arg, " is given twice"));
      if (!option->value.empty()) {
        if (i + 1 >= argc) throw UsageError(detail::cat(arg, " needs a value: ", Table::label(*option), " (see --help)"));
        values_[arg] = argv[++i];
      } else {
        values_[arg] = "";
      }
    }
  }

  /// Whether this program's table has `option` at all (shared code asks before reading an optional feature).
  bool accepts(const std::string& option) const { return table_->find(option) != nullptr; }

  bool has(const std::string& option) const {
    check_known(option);
    return values_.count(option) != 0;
  }

  /// The value of a required option (UsageError when it was not given).
  const std::string& value(const std::string& option) const {
    check_known(option);
    auto it = values_.find(option);
    if (it == values_.end()) throw UsageError(detail::cat(option, " is required (see --help)"));
    return it->second;
  }

  /// The value of a required integer option, in [min, max] (parse_integer above).
  std::int64_t integer(const std::string& option, std::int64_t min, std::int64_t max) const {
    return parse_integer(value(option), option, min, max);
  }
  /// The same, or `fallback` when the option is absent.
  std::int64_t integer_or(const std::string& option, std::int64_t min, std::int64_t max, std::int64_t fallback) const {
    return has(option) ? integer(option, min, max) : fallback;
  }

  /// The value of a required number option.
  double number(const std::string& option) const { return parse_number(value(option), option); }

  /// Whether any option of the section headed `heading` was given (e.g. the generation options).
  bool any_in(const std::string& heading) const {
    for (const Section& s : table_->sections) {
      if (s.heading != heading) continue;
      for (const Option& o : s.options) {
        if (values_.count(o.name) != 0) return true;
      }
    }
    return false;
  }

 private:
  // A program asking for an option its table lacks is a bug in the program, not in the command line.
  void check_known(const std::string& option) const {
    if (table_->find(option) == nullptr) {
      throw Error(detail::cat("[cli] the program asks for ", option, ", which its option table lacks"));
    }
  }

  const Table* table_;
  std::map<std::string, std::string> values_;
};

/// Runs a program's body, with freed memory kept for reuse (keep_freed_memory); every exception becomes one line
/// on stderr and exit code 1 (2 for usage errors).
inline int run(const char* program, const std::function<int()>& body) {
  const auto report = [program](std::string message, int code) {
    std::replace(message.begin(), message.end(), '\n', ' ');  // one line, whatever the message holds
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", program, message.c_str());
    return code;
  };
  // Freed memory kept for the next call instead of handed back to the system and faulted in again
  // (core/allocator.hpp): a program's choice, and every program here makes it.
  keep_freed_memory();
  try {
    return body();
  } catch (const UsageError& e) {
    return report(e.what(), 2);
  } catch (const std::bad_alloc&) {
    return report("out of memory (is the model larger than this machine's memory?)", 1);
  } catch (const std::exception& e) {
    return report(e.what(), 1);
  }
}

}  // namespace eigenformer::cli
