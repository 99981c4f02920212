// Watching a run: the progress line (terminal and plain), the CSV log (round trip, resume truncation),
// the loss-curve SVG.
#include "training_fixture.hpp"

#include <cstdio>
#include <filesystem>
#include <regex>

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace progress_test {

using namespace eigenformer;
using namespace eigenformer::training;

namespace {
std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string s;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}
std::string scratch_file(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(EIGENFORMER_SOURCE_DIR) / "build" / "test_training_scratch";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}
}  // namespace

TEST_CASE("progress lines: durations, the bar, plain lines when not a terminal") {
  CHECK(format_duration(45) == "45s");
  CHECK(format_duration(192) == "3m12s");
  CHECK(format_duration(3840) == "1h04m");
  CHECK(format_duration(NAN) == "?");
  CHECK(format_progress(120, 1000, 2.34564, 1234.4, 192, 0) == "step 120/1000  loss 2.3456  1234 tok/s  ETA 3m12s");
  const std::string bar = format_progress(5, 10, 1, 1, 1, 4);
  CHECK(bar.rfind("[##\xC2\xB7\xC2\xB7]  step 5/10", 0) == 0);

  std::FILE* plain = std::tmpfile();
  {
    Progress p(25, 0, plain, 0, 10);
    CHECK_FALSE(p.terminal());
    for (int s = 1; s <= 25; ++s) p.update(s, 3.0 - 0.1 * s, 64);
    p.message("validation loss 2.0");
    p.finish();
  }
  const std::string text = read_all(plain);
  std::fclose(plain);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find("\x1b") == std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 4);  // steps 10, 20, 25 and the message
  CHECK(text.find("step 25/25  loss 0.5000") != std::string::npos);

  std::FILE* tty = std::tmpfile();
  {
    Progress p(3, 0, tty, 1);
    p.update(1, 2.0, 10);
    p.message("saved checkpoint-1");
    p.update(2, 1.5, 10);
    p.finish();
  }
  const std::string drawn = read_all(tty);
  std::fclose(tty);
  CHECK(drawn.rfind("\r[", 0) == 0);
  CHECK(drawn.find("\r\x1b[Ksaved checkpoint-1\n") != std::string::npos);
  CHECK(drawn.back() == '\n');
}

TEST_CASE("TrainingLog: CSV round trip, validation column, truncation for a resumed run, errors") {
  TrainingLog log;
  for (int s = 1; s <= 6; ++s) log.steps.push_back({s, 3.0 / s, 1e-3 * s, 0.5 + s, 1000.0 * s});
  log.validations.push_back({3, 1.25});
  log.validations.push_back({6, 0.75});
  const std::string path = scratch_file("log.csv");
  log.write_csv(path);
  const TrainingLog back = TrainingLog::read_csv(path);
  REQUIRE(back.steps.size() == 6);
  CHECK(back.steps[2].loss == doctest::Approx(1.0));
  CHECK(back.steps[5].tokens_per_second == doctest::Approx(6000));
  REQUIRE(back.validations.size() == 2);
  CHECK(back.validations[1].step == 6);
  CHECK(back.to_csv() == log.to_csv());
  TrainingLog resumed = back;
  resumed.truncate_after(4);
  CHECK(resumed.steps.size() == 4);
  CHECK(resumed.validations.size() == 1);
  write_file_atomically(path, "step,loss,learning_rate,grad_norm,tokens_per_second,validation_loss\n1,2,3\n", "[test]");
  CHECK_THROWS_AS(TrainingLog::read_csv(path), ParseError);
  CHECK_THROWS_AS(TrainingLog::read_csv(path + ".missing"), FileError);
}

TEST_CASE("loss curve SVG: one point per step and per validation, all inside the picture — written atomically") {
  TrainingLog log;
  for (int s = 1; s <= 50; ++s) log.steps.push_back({s, 4.0 * std::exp(-s / 20.0) + 0.1 * std::sin(s), 1e-3, 1, 1});
  log.steps.push_back({51, NAN, 1e-3, 1, 1});  // left out
  for (int s = 10; s <= 50; s += 10) log.validations.push_back({s, 4.2 * std::exp(-s / 22.0)});
  const std::string svg = loss_curve_svg(log);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  const std::regex train_re("<polyline[^>]*class=\"train\" points=\"([^\"]*)\"");
  std::smatch m;
  REQUIRE(std::regex_search(svg, m, train_re));
  const std::string points = m[1];
  CHECK(std::count(points.begin(), points.end(), ',') == 50);
  const std::regex point_re("([-0-9.e]+),([-0-9.e]+)");
  for (std::sregex_iterator it(points.begin(), points.end(), point_re), end; it != end; ++it) {
    const double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
    CHECK((x >= 0 && x <= 720 && y >= 0 && y <= 400));
  }
  std::size_t circles = 0;
  for (std::size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  CHECK(circles == 5);
  CHECK(svg.find("nan") == std::string::npos);
  const std::string path = scratch_file("curve.svg");
  write_loss_curve(path, log);
  CHECK(std::filesystem::file_size(path) == svg.size());
  CHECK(loss_curve_svg(TrainingLog{}).find("</svg>") != std::string::npos);  // an empty run still draws axes
  LossCurveOptions bad;
  bad.smoothing = 1.0;
  CHECK_THROWS_AS(loss_curve_svg(log, bad), ValueError);
}

}  // namespace progress_test
