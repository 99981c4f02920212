// eigenformer/training/progress.hpp — watching a run: a progress line, and the log of every step.
//
// On a terminal the bar redraws one line in place:
//     [########··········]  step 120/1000  loss 2.3456  1,234 tok/s  ETA 3m12s
// When stderr is a file or a pipe (a CI log, `2> train.log`), carriage returns would make a mess: every
// `plain_every` steps a plain line is printed instead ("step 120/1000 loss 2.3456 1234 tok/s ETA 3m12s").
//
// TrainingLog keeps every step's numbers and every validation, writes them as CSV (atomically, so a
// crash never leaves half a log) and reads them back when a run resumes, dropping the rows after the
// resumed step: the log of a resumed run is the log of the uninterrupted one.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // isatty
#endif

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/error.hpp"

namespace eigenformer::training {

/// "3m12s", "1h04m", "45s".
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

/// One progress line (without the bar when `bar_width` is 0). Pure: the tests call it directly.
inline std::string format_progress(std::int64_t step, std::int64_t total, double loss, double tokens_per_second,
                                   double eta_seconds, int bar_width) {
  std::string out;
  if (bar_width > 0) {
    const double done = total > 0 ? std::min(1.0, static_cast<double>(step) / static_cast<double>(total)) : 0.0;
    const int filled = static_cast<int>(done * bar_width);
    out += '[';
    for (int i = 0; i < bar_width; ++i) out += i < filled ? "#" : "\xC2\xB7";  // '#' done, '·' to do
    out += "]  ";
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "step %lld/%lld  loss %.4f  %.0f tok/s  ETA %s", static_cast<long long>(step),
                static_cast<long long>(total), loss, tokens_per_second, format_duration(eta_seconds).c_str());
  return out + buf;
}

/// The progress display of one run. `first_step` is where a resumed run starts (speed and ETA count from it).
class Progress {
 public:
  /// `terminal`: -1 asks isatty(out), 0 forces plain lines, 1 forces the in-place bar.
  Progress(std::int64_t total_steps, std::int64_t first_step = 0, std::FILE* out = stderr, int terminal = -1,
           std::int64_t plain_every = 10)
      : total_(total_steps), first_(first_step), out_(out), plain_every_(plain_every < 1 ? 1 : plain_every),
        start_(std::chrono::steady_clock::now()) {
#if defined(__unix__) || defined(__APPLE__)
    terminal_ = terminal < 0 ? ::isatty(::fileno(out)) != 0 : terminal == 1;
#else
    terminal_ = terminal == 1;
#endif
  }

  /// After step `step` (1-based: steps completed) with its loss and the tokens it consumed.
  void update(std::int64_t step, double loss, std::int64_t tokens) {
    tokens_ += tokens;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::int64_t done = step - first_;
    const double tps = elapsed > 0 ? static_cast<double>(tokens_) / elapsed : 0.0;
    const double eta = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - step) : NAN;
    if (terminal_) {
      std::fprintf(out_, "\r%s\x1b[K", format_progress(step, total_, loss, tps, eta, 24).c_str());
      bar_shown_ = true;
    } else if (step % plain_every_ == 0 || step == total_) {
      std::fprintf(out_, "%s\n", format_progress(step, total_, loss, tps, eta, 0).c_str());
    }
    std::fflush(out_);
  }

  /// A line of its own (a validation result, a saved checkpoint), printed above the bar.
  void message(const std::string& text) {
    if (terminal_ && bar_shown_) std::fprintf(out_, "\r\x1b[K");
    std::fprintf(out_, "%s\n", text.c_str());
    bar_shown_ = false;
    std::fflush(out_);
  }

  /// Ends the bar's line.
  void finish() {
    if (terminal_ && bar_shown_) std::fprintf(out_, "\n");
    bar_shown_ = false;
    std::fflush(out_);
  }

  bool terminal() const { return terminal_; }

 private:
  std::int64_t total_, first_;
  std::FILE* out_;
  std::int64_t plain_every_;
  std::chrono::steady_clock::time_point start_;
  std::int64_t tokens_ = 0;
  bool terminal_ = false, bar_shown_ = false;
};

/// One training step's numbers.
struct StepRecord {
  std::int64_t step = 0;          // 1-based: steps completed
  double loss = 0;                // the step's training loss (mean over its counted tokens)
  double learning_rate = 0;
  double grad_norm = 0;           // before clipping
  double tokens_per_second = 0;
};

/// One evaluation on the held-out data.
struct ValidationRecord {
  std::int64_t step = 0;
  double loss = 0;
};

/// Everything a run measured, as CSV:
///     step,loss,learning_rate,grad_norm,tokens_per_second,validation_loss
/// one row per step; validation_loss is empty except at the steps where the held-out data was evaluated.
struct TrainingLog {
  std::vector<StepRecord> steps;
  std::vector<ValidationRecord> validations;

  /// Forgets everything after `step` (a run resumed from the checkpoint of that step).
  void truncate_after(std::int64_t step) {
    while (!steps.empty() && steps.back().step > step) steps.pop_back();
    while (!validations.empty() && validations.back().step > step) validations.pop_back();
  }

  std::string to_csv() const {
    std::ostringstream out;
    out.precision(17);  // max_digits10 of a double: a value read back is the same value (exact resume)
    out << "step,loss,learning_rate,grad_norm,tokens_per_second,validation_loss\n";
    std::size_t v = 0;
    for (const StepRecord& r : steps) {
      out << r.step << ',' << r.loss << ',' << r.learning_rate << ',' << r.grad_norm << ',' << r.tokens_per_second << ',';
      while (v < validations.size() && validations[v].step < r.step) ++v;
      if (v < validations.size() && validations[v].step == r.step) out << validations[v].loss;
      out << '\n';
    }
    return out.str();
  }

  /// Writes the CSV to `path` atomically (core/atomic_file.hpp).
  void write_csv(const std::string& path) const { write_file_atomically(path, to_csv(), "[training log]"); }

  /// Reads a CSV written by write_csv. FileError when unreadable, ParseError naming the line when malformed.
  static TrainingLog read_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw FileError(detail::cat("[training log] cannot open '", path, "'"));
    TrainingLog log;
    std::string line;
    std::size_t offset = 0, number = 0;
    while (std::getline(in, line)) {
      ++number;
      const std::size_t line_offset = offset;
      offset += line.size() + 1;
      if (number == 1 || line.empty()) continue;
      std::vector<std::string> fields;
      std::stringstream cells(line);
      std::string cell;
      while (std::getline(cells, cell, ',')) fields.push_back(cell);
      if (line.back() == ',') fields.emplace_back();
      try {
        if (fields.size() != 6) throw std::invalid_argument("columns");
        StepRecord r;
        r.step = std::stoll(fields[0]);
        r.loss = std::stod(fields[1]);
        r.learning_rate = std::stod(fields[2]);
        r.grad_norm = std::stod(fields[3]);
        r.tokens_per_second = std::stod(fields[4]);
        log.steps.push_back(r);
        if (!fields[5].empty()) log.validations.push_back({r.step, std::stod(fields[5])});
      } catch (const std::exception&) {
        throw ParseError(detail::cat("[training log] ", path, ": line ", number, " is not 6 numbers: '", line, "'"), line_offset);
      }
    }
    return log;
  }
};

}  // namespace eigenformer::training
