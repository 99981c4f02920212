// eigenformer/training/loss_curve.hpp — the loss curve of a run as an SVG picture.
//
// Training loss per step (a thin line; its smoothed trend thicker) and validation loss at each evaluation
// (dots joined by a line), against the step, with labelled axes. SVG is text: no plotting library, and any
// browser shows it. Written at the end of a run (atomically: core/atomic_file.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/training/progress.hpp"

namespace eigenformer::training {

namespace curve_detail {

/// A "nice" tick spacing (1, 2 or 5 × 10ⁿ) giving about `count` ticks over `range`.
inline double tick_step(double range, int count) {
  const double raw = range / std::max(1, count);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / magnitude;
  return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * magnitude;
}

inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace curve_detail

struct LossCurveOptions {
  int width = 720, height = 400;
  std::string title = "loss";
  double smoothing = 0.8;  // the trend line: exponential moving average of the training loss, in [0, 1) (0 = none)
};

/// The SVG text of the curve of `log`. Non-finite losses are left out (they would have stopped the run).
inline std::string loss_curve_svg(const TrainingLog& log, const LossCurveOptions& options = {}) {
  using curve_detail::number;
  if (!(options.smoothing >= 0 && options.smoothing < 1) || options.width < 200 || options.height < 150) {
    throw ValueError(detail::cat("[loss_curve_svg] smoothing ", options.smoothing, " must be in [0, 1) and the size ",
                                 options.width, "x", options.height, " at least 200x150"));
  }
  const double W = options.width, H = options.height;
  const double left = 64, right = 20, top = 36, bottom = 48;
  // 1) The data's range.
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  auto extend = [&](double x, double y) {
    if (!std::isfinite(y)) return;
    x_min = std::min(x_min, x);
    x_max = std::max(x_max, x);
    y_min = std::min(y_min, y);
    y_max = std::max(y_max, y);
  };
  for (const StepRecord& r : log.steps) extend(static_cast<double>(r.step), r.loss);
  for (const ValidationRecord& r : log.validations) extend(static_cast<double>(r.step), r.loss);
  if (!(x_min <= x_max)) { x_min = 0; x_max = 1; y_min = 0; y_max = 1; }
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) { y_max += 0.5; y_min -= 0.5; }
  const double pad = 0.05 * (y_max - y_min);
  y_min -= pad;
  y_max += pad;
  auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * (W - left - right); };
  auto py = [&](double y) { return top + (y_max - y) / (y_max - y_min) * (H - top - bottom); };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + number(W) + "\" height=\"" + number(H) +
                    "\" viewBox=\"0 0 " + number(W) + " " + number(H) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + number(W / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + options.title + "</text>\n";
  // 2) Axes, ticks and grid.
  const double ys = curve_detail::tick_step(y_max - y_min, 6), xs = curve_detail::tick_step(x_max - x_min, 8);
  for (double y = std::ceil(y_min / ys) * ys; y <= y_max; y += ys) {
    svg += "<line x1=\"" + number(left) + "\" x2=\"" + number(W - right) + "\" y1=\"" + number(py(y)) + "\" y2=\"" +
           number(py(y)) + "\" stroke=\"#e4e4e4\"/>\n";
    svg += "<text x=\"" + number(left - 6) + "\" y=\"" + number(py(y) + 4) + "\" text-anchor=\"end\">" + number(y) + "</text>\n";
  }
  for (double x = std::ceil(x_min / xs) * xs; x <= x_max; x += xs) {
    svg += "<text x=\"" + number(px(x)) + "\" y=\"" + number(H - bottom + 16) + "\" text-anchor=\"middle\">" + number(x) + "</text>\n";
  }
  svg += "<line x1=\"" + number(left) + "\" x2=\"" + number(left) + "\" y1=\"" + number(top) + "\" y2=\"" + number(H - bottom) +
         "\" stroke=\"black\"/>\n";
  svg += "<line x1=\"" + number(left) + "\" x2=\"" + number(W - right) + "\" y1=\"" + number(H - bottom) + "\" y2=\"" +
         number(H - bottom) + "\" stroke=\"black\"/>\n";
  svg += "<text x=\"" + number((left + W - right) / 2) + "\" y=\"" + number(H - 10) + "\" text-anchor=\"middle\">step</text>\n";
  svg += "<text x=\"16\" y=\"" + number((top + H - bottom) / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
         number((top + H - bottom) / 2) + ")\">cross-entropy (nats)</text>\n";
  // 3) The series.
  auto polyline = [&](const std::vector<std::pair<double, double>>& points, const char* style) {
    std::string s = std::string("<polyline fill=\"none\" ") + style + " points=\"";
    for (const auto& p : points) s += number(px(p.first)) + "," + number(py(p.second)) + " ";
    return s + "\"/>\n";
  };
  std::vector<std::pair<double, double>> train, trend, validation;
  // The trend: ema ← s·ema + (1 − s)·loss from ema = 0, divided by 1 − sᵏ after k points so that the zero
  // start does not drag the first points down (TensorBoard's debiased smoothing, Adam's bias correction).
  double ema = 0, weight = 1;
  for (const StepRecord& r : log.steps) {
    if (!std::isfinite(r.loss)) continue;
    train.emplace_back(static_cast<double>(r.step), r.loss);
    ema = options.smoothing * ema + (1 - options.smoothing) * r.loss;
    weight *= options.smoothing;
    trend.emplace_back(static_cast<double>(r.step), ema / (1 - weight));
  }
  for (const ValidationRecord& r : log.validations) {
    if (std::isfinite(r.loss)) validation.emplace_back(static_cast<double>(r.step), r.loss);
  }
  if (!train.empty()) {
    svg += polyline(train, "stroke=\"#9ecae1\" stroke-width=\"1\" class=\"train\"");
    if (options.smoothing > 0) svg += polyline(trend, "stroke=\"#1f77b4\" stroke-width=\"2\" class=\"train-trend\"");
  }
  if (!validation.empty()) {
    svg += polyline(validation, "stroke=\"#ff7f0e\" stroke-width=\"2\" class=\"validation\"");
    for (const auto& p : validation) {
      svg += "<circle cx=\"" + number(px(p.first)) + "\" cy=\"" + number(py(p.second)) + "\" r=\"3\" fill=\"#ff7f0e\"/>\n";
    }
  }
  // 4) The legend.
  const double lx = W - right - 150;
  svg += "<line x1=\"" + number(lx) + "\" x2=\"" + number(lx + 24) + "\" y1=\"" + number(top + 10) + "\" y2=\"" + number(top + 10) +
         "\" stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"" + number(lx + 30) + "\" y=\"" + number(top + 14) + "\">training</text>\n";
  svg += "<line x1=\"" + number(lx) + "\" x2=\"" + number(lx + 24) + "\" y1=\"" + number(top + 28) + "\" y2=\"" + number(top + 28) +
         "\" stroke=\"#ff7f0e\" stroke-width=\"2\"/><text x=\"" + number(lx + 30) + "\" y=\"" + number(top + 32) + "\">validation</text>\n";
  return svg + "</svg>\n";
}

/// Writes the curve to `path` atomically.
inline void write_loss_curve(const std::string& path, const TrainingLog& log, const LossCurveOptions& options = {}) {
  write_file_atomically(path, loss_curve_svg(log, options), "[loss curve]");
}

}  // namespace eigenformer::training
