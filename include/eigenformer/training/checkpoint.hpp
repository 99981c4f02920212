// eigenformer/training/checkpoint.hpp — a training checkpoint that a crash cannot corrupt.
//
// A training checkpoint is one folder, "<output>/checkpoint-<step>/", holding
//   config.json, model.safetensors, ...   the model's Hugging Face folder, written by the family's own save
//                                          (a callback: this header knows no model), loadable as is by the
//                                          family programs and by transformers;
//   optimizer.safetensors                 the optimizer's state per parameter name (moments, steps);
//   trainer_state.json                    the manifest, written last: step, seed, data position, the run's
//                                          own fields, and the size of every other file of the folder.
//
// Crash safety. The folder is first written under a temporary name (".checkpoint-<step>.tmp-<pid>"),
// every file and the folder are fsync'ed, and only then is it renamed to "checkpoint-<step>" — one atomic
// rename(2). A process killed at any instant leaves either no new folder (the previous checkpoint is
// still the latest) or a complete one. latest_checkpoint() considers only folders named "checkpoint-<n>"
// whose manifest parses and whose files have the sizes it lists, so even a folder damaged afterwards is
// passed over for the previous one. Temporary folders left by a killed save are removed by the next save.
// Saving a step that already has a checkpoint moves the old folder aside (".checkpoint-<step>.old") for the
// instant between two renames; latest_checkpoint() accepts it there, and the next save puts it back.
// tests/training/test_checkpoint.cpp kills a saving child process with SIGKILL many times and loads.
//
// Randomness. Every random draw of training derives from (seed, epoch) or (seed, step) (data.hpp's
// derive_seed), so the "RNG state" a resumed run needs is the seed, the step and the data position.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#endif

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/training/data.hpp"

namespace eigenformer::training {

/// Where training stands: what a resumed run needs besides the weights and the optimizer.
struct TrainerState {
  std::int64_t step = 0;  // optimizer steps completed
  std::uint64_t seed = 0; // the run's seed; every random draw derives from it (data.hpp's derive_seed)
  DataPosition data;      // the training loader's position after `step` steps
  json::Value extra;      // the program's own fields (its flags, the loss history, the best validation loss)
};

namespace checkpoint_detail {

namespace fs = std::filesystem;

/// fsync a file or a folder by path, so its contents (or its entries) are on disk before we go on.
inline void sync_path(const fs::path& p) {
#if defined(__unix__) || defined(__APPLE__)
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) throw FileError(detail::cat("[checkpoint] cannot open '", p.string(), "' to sync it"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw FileError(detail::cat("[checkpoint] fsync of '", p.string(), "' failed"));
#else
  (void)p;
#endif
}

/// The step of a folder named "checkpoint-<n>", or nullopt.
inline std::optional<std::int64_t> step_of(const std::string& name) {
  const std::string prefix = "checkpoint-";
  if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size()) return std::nullopt;
  std::int64_t n = 0;
  for (std::size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || n > (INT64_MAX - 9) / 10) return std::nullopt;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

/// The step of a folder named ".checkpoint-<n>.old" (a checkpoint of the same step being replaced), or nullopt.
inline std::optional<std::int64_t> step_of_old(const std::string& name) {
  const std::string suffix = ".old";
  if (name.size() < 1 + suffix.size() || name[0] != '.' || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  return step_of(name.substr(1, name.size() - 1 - suffix.size()));
}

}  // namespace checkpoint_detail

/// The manifest's name inside a checkpoint folder.
inline const char* trainer_state_file() { return "trainer_state.json"; }

/// Reads and verifies a checkpoint folder's manifest: FormatError when it is missing, malformed, or a file
/// it lists is missing or has another size.
inline TrainerState load_trainer_state(const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path manifest = fs::path(folder) / trainer_state_file();
  if (!fs::exists(manifest)) throw FormatError(detail::cat("[checkpoint] '", folder, "' has no ", trainer_state_file()));
  const json::Value v = json::parse_file(manifest.string());
  TrainerState s;
  s.step = v.at("step").as_int("step");
  const std::string& seed = v.at("seed").as_string("seed");  // a string: JSON numbers lose bits above 2⁵³
  if (seed.empty() || seed.size() > 20 || seed.find_first_not_of("0123456789") != std::string::npos) {
    throw FormatError(detail::cat("[checkpoint] ", manifest.string(), ": seed '", seed, "' is not an unsigned integer"));
  }
  s.seed = static_cast<std::uint64_t>(std::stoull(seed));
  s.data.epoch = v.at("data").at("epoch").as_int("data.epoch");
  s.data.cursor = v.at("data").at("cursor").as_int("data.cursor");
  if (const json::Value* extra = v.find("extra")) s.extra = *extra;
  for (const json::Member& f : v.at("files").as_object("files")) {
    const fs::path p = fs::path(folder) / f.first;
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(p, ec);
    if (ec || static_cast<std::int64_t>(size) != f.second.as_int("file size")) {
      throw FormatError(detail::cat("[checkpoint] '", folder, "': file '", f.first, "' is missing or does not have the ",
                                    f.second.as_int("file size"), " bytes the manifest lists"));
    }
  }
  return s;
}

/// The newest complete checkpoint folder under `output_dir` (highest step whose manifest verifies), or
/// nullopt when there is none.
inline std::optional<std::string> latest_checkpoint(const std::string& output_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return std::nullopt;
  std::vector<std::pair<std::int64_t, std::string>> found;
  for (const fs::directory_entry& e : fs::directory_iterator(output_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (const auto step = checkpoint_detail::step_of(name); step && e.is_directory()) {
      found.emplace_back(*step, e.path().string());
    } else if (const auto old = checkpoint_detail::step_of_old(name);
               old && e.is_directory() && !fs::exists(fs::path(output_dir) / detail::cat("checkpoint-", *old))) {
      found.emplace_back(*old, e.path().string());  // killed while replacing a checkpoint of the same step
    }
  }
  std::sort(found.rbegin(), found.rend());
  for (const auto& f : found) {
    try {
      load_trainer_state(f.second);
      return f.second;
    } catch (const Error&) {
      // damaged: fall back to the one before
    }
  }
  return std::nullopt;
}

/// What a checkpoint is made of; the callbacks write into `folder`, which exists and is empty.
struct CheckpointContents {
  /// Writes the model's Hugging Face folder (config.json, model.safetensors, tokenizer files, ...).
  std::function<void(const std::string& folder)> save_model;
  /// Adds the optimizer's state (the optimizer's save_state); stored as optimizer.safetensors.
  std::function<void(SafeTensorsWriter& out)> save_optimizer;
};

/// Writes "<output_dir>/checkpoint-<step>/" atomically (see the top of this file) and keeps only the newest
/// `keep_last` checkpoints (0 keeps all). Returns the folder's path. A checkpoint of the same step that
/// already exists is replaced (the newer one wins).
inline std::string save_checkpoint(const std::string& output_dir, const TrainerState& state, const CheckpointContents& contents,
                                   int keep_last = 2) {
  namespace fs = std::filesystem;
  if (state.step < 0) throw ValueError(detail::cat("[checkpoint] step must be >= 0, got ", state.step));
  fs::create_directories(output_dir);
  // 1) Leftovers of killed saves: temporary folders are never anybody's checkpoint; a replaced checkpoint
  //    (".old") whose replacement never arrived goes back to its name.
  std::vector<fs::path> leftovers;
  for (const fs::directory_entry& e : fs::directory_iterator(output_dir)) {
    if (e.path().filename().string().compare(0, 12, ".checkpoint-") == 0) leftovers.push_back(e.path());
  }
  for (const fs::path& p : leftovers) {
    const auto old = checkpoint_detail::step_of_old(p.filename().string());
    const fs::path original = fs::path(output_dir) / detail::cat("checkpoint-", old ? *old : 0);
    if (old && !fs::exists(original)) {
      fs::rename(p, original);
    } else {
      fs::remove_all(p);
    }
  }
  const fs::path final_dir = fs::path(output_dir) / detail::cat("checkpoint-", state.step);
  const fs::path tmp = fs::path(output_dir) / detail::cat(".checkpoint-", state.step, ".tmp-",
#if defined(__unix__) || defined(__APPLE__)
                                                        static_cast<long>(::getpid())
#else
                                                        0
#endif
                                                        );
  fs::create_directory(tmp);

  // 2) The model, the optimizer; then the manifest, which lists (and so vouches for) all the others.
  if (contents.save_model) contents.save_model(tmp.string());
  if (contents.save_optimizer) {
    SafeTensorsWriter optimizer;
    contents.save_optimizer(optimizer);
    optimizer.write((tmp / "optimizer.safetensors").string());
  }
  json::Object files;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(tmp)) {
    if (!e.is_regular_file()) continue;
    checkpoint_detail::sync_path(e.path());  // files written by the callback may not have been synced
    files.emplace_back(fs::relative(e.path(), tmp).generic_string(), json::Value(static_cast<std::int64_t>(e.file_size())));
  }
  json::Value data;
  data.set("epoch", json::Value(state.data.epoch));
  data.set("cursor", json::Value(state.data.cursor));
  json::Value manifest;
  manifest.set("step", json::Value(state.step));
  manifest.set("seed", json::Value(std::to_string(state.seed)));
  manifest.set("data", data);
  if (!state.extra.is_null()) manifest.set("extra", state.extra);
  manifest.set("files", json::Value(files));
  write_file_atomically((tmp / trainer_state_file()).string(), json::dump(manifest, 2) + "\n", "[checkpoint]");
  checkpoint_detail::sync_path(tmp);

  // 3) The atomic step: the complete folder takes its name. (Same step saved again: the old one steps aside.)
  std::error_code ec;
  fs::path old;
  if (fs::exists(final_dir)) {
    old = fs::path(output_dir) / detail::cat(".checkpoint-", state.step, ".old");
    fs::rename(final_dir, old);
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) throw FileError(detail::cat("[checkpoint] cannot rename '", tmp.string(), "' to '", final_dir.string(), "': ", ec.message()));
  checkpoint_detail::sync_path(output_dir);
  if (!old.empty()) fs::remove_all(old);

  // 4) Only now may old checkpoints go.
  if (keep_last > 0) {
    std::vector<std::pair<std::int64_t, fs::path>> all;
    for (const fs::directory_entry& e : fs::directory_iterator(output_dir)) {
      if (const auto step = checkpoint_detail::step_of(e.path().filename().string()); step && e.is_directory()) all.emplace_back(*step, e.path());
    }
    std::sort(all.rbegin(), all.rend());
    for (std::size_t i = static_cast<std::size_t>(keep_last); i < all.size(); ++i) fs::remove_all(all[i].second);
  }
  return final_dir.string();
}

/// Loads the optimizer state of a checkpoint folder into anything with load_state(SafeTensorsReader&).
template <class Optimizer>
void load_optimizer_state(const std::string& folder, Optimizer& optimizer) {
  SafeTensorsReader in((std::filesystem::path(folder) / "optimizer.safetensors").string());
  optimizer.load_state(in);
}

}  // namespace eigenformer::training
