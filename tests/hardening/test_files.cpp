// Files the library writes (checkpoints, dumps, traces, reports, rank files) all go through core/atomic_file.hpp:
// a temporary beside the target, flushed, fsync'ed, then renamed over it. Here the text path that every writer but
// SafeTensorsWriter takes (write_file_atomically: traces, reports, SVGs, training logs, config.json, vocabularies,
// tiktoken rank files) is attacked the two ways issue 14 names — a full disk and a writer killed at random points —
// and the previous file must stay intact. (SafeTensorsWriter: tests/core/test_safetensors.cpp; checkpoints killed
// mid-save: tests/training/test_checkpoint.cpp.)
#include <doctest/doctest.h>

#if defined(__unix__)
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "eigenformer/core/atomic_file.hpp"

namespace fs = std::filesystem;
using namespace eigenformer;

namespace {

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("eigenformer-hardening-files-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<fs::path> temporaries_of(const fs::path& target) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(target.parent_path())) {
    if (entry.path().filename().string().rfind(target.filename().string() + ".tmp-", 0) == 0) found.push_back(entry.path());
  }
  return found;
}

}  // namespace

TEST_CASE("files: a full disk while writing gives a FileError naming the file, and the old file stays") {
  const fs::path dir = scratch("full");
  const fs::path path = dir / "trace.json";
  write_file_atomically(path.string(), "{\"old\": true}\n", "[generation trace]");
  const std::string old_bytes = bytes_of(path);

  // The child may write 64 KiB per file (RLIMIT_FSIZE), as if the disk were full, and ignores SIGXFSZ so that
  // the write fails with EFBIG instead of killing it. It sends the error's kind and message up a pipe.
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    ::rlimit limit{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::signal(SIGXFSZ, SIG_IGN);
    std::string what = "no error";
    try {
      write_file_atomically(path.string(), std::string(1 << 20, 'x'), "[generation trace]");
    } catch (const FileError& e) {
      what = std::string("FileError: ") + e.what();
    } catch (const std::exception& e) {
      what = std::string("another exception: ") + e.what();
    }
    const ssize_t written = ::write(pipe_fds[1], what.data(), what.size());
    ::_exit(written == static_cast<ssize_t>(what.size()) ? 0 : 5);
  }
  ::close(pipe_fds[1]);
  std::string reported;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) reported.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  const std::string tmp = path.string() + ".tmp-" + std::to_string(child);
  CHECK(reported == "FileError: [generation trace] error while writing '" + tmp + "' (disk full?); '" + path.string() +
                        "' is unchanged");
  CHECK(bytes_of(path) == old_bytes);
  CHECK(temporaries_of(path).empty());  // the writer removed its partial temporary

  // A folder that does not exist: FileError naming the temporary it could not create.
  const std::string nowhere = (dir / "no-such-folder" / "report.html").string();
  CHECK_THROWS_WITH_AS(write_file_atomically(nowhere, "<html>", "[report]"),
                       ("[report] cannot create '" + nowhere + ".tmp-" + std::to_string(::getpid()) +
                        "' (does the folder exist and is it writable?)").c_str(),
                       FileError);
  fs::remove_all(dir);
}

TEST_CASE("files: a writer killed (SIGKILL) at random points, 30 times, never leaves a torn or missing file") {
  const fs::path dir = scratch("killed");
  const fs::path path = dir / "log.csv";
  // Generation g writes 1 MiB of the digit g % 10 and a last line naming g: a torn file would mix digits, end
  // early or lose its last line.
  constexpr std::size_t size = 1u << 20;
  const auto contents = [](long g) {
    std::string text(size, static_cast<char>('0' + g % 10));
    return text + "\ngeneration " + std::to_string(g) + "\n";
  };
  const auto generation_of = [&](const std::string& bytes) -> long {
    const std::size_t line = bytes.rfind("\ngeneration ", bytes.size() - 2);
    if (line != size) return -1;
    const long g = std::stol(bytes.substr(line + 12));
    return bytes == contents(g) ? g : -1;
  };
  write_file_atomically(path.string(), contents(0), "[training log]");
  const auto t0 = std::chrono::steady_clock::now();
  write_file_atomically(path.string(), contents(0), "[training log]");
  const double write_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();

  std::mt19937 delays(2024);
  long highest = 0;
  int kills = 0, left_temporaries = 0;
  for (int round = 0; round < 30; ++round) {
    // The child writes one generation whole (a forked process first pays for copying the pages it touches — many
    // for a sanitized one), says so, then writes generation after generation; the kill lands anywhere within about
    // two writes from there.
    int started[2];
    REQUIRE(::pipe(started) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(started[0]);
      write_file_atomically(path.string(), contents(highest + 1), "[training log]");
      const char go = 'g';
      if (::write(started[1], &go, 1) != 1) ::_exit(5);
      for (long g = highest + 2;; ++g) write_file_atomically(path.string(), contents(g), "[training log]");
    }
    ::close(started[1]);
    char go = 0;
    REQUIRE(::read(started[0], &go, 1) == 1);
    ::close(started[0]);
    ::usleep(static_cast<useconds_t>(std::uniform_real_distribution<double>(0.0, 2.0 * write_us)(delays)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status));
    ++kills;
    const std::vector<fs::path> temporaries = temporaries_of(path);
    left_temporaries += static_cast<int>(!temporaries.empty());
    for (const fs::path& t : temporaries) fs::remove(t);  // a later writer has another pid: it never reuses them

    const long g = generation_of(bytes_of(path));
    CHECK(g >= highest);  // whole, and never older than what was there before the kill
    highest = g;
  }
  MESSAGE("one write takes " << write_us / 1000 << " ms; " << kills << " writers killed, " << left_temporaries
                             << " of them mid-write (a temporary left behind); the file was whole every time (generation "
                             << highest << ")");
  CHECK(highest > 0);
  CHECK(left_temporaries > 0);  // some kills landed inside a write: the case this test is about
  fs::remove_all(dir);
}
#endif
