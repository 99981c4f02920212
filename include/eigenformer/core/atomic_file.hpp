// eigenformer/core/atomic_file.hpp — writing a file so that a crash never leaves it half-written.
//
// The bytes go to a temporary file in the same folder ("<path>.tmp-<pid>"), are flushed and fsync'ed,
// and only then renamed over the target. rename() within one file system is atomic on POSIX: a reader —
// or the user after a crash or a full disk — sees either the old file or the complete new one.
//
//     AtomicFile out("model.safetensors", "[safetensors]");
//     out.write(header.data(), header.size());
//     out.write(data.data(), data.size());
//     out.commit();                 // without commit(), the destructor removes the temporary file
#pragma once

#include <cstdio>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // fsync, getpid
#endif

#include "eigenformer/core/error.hpp"

namespace eigenformer {

class AtomicFile {
 public:
  /// Opens the temporary file. `who` prefixes error messages ("[safetensors]").
  AtomicFile(std::string path, std::string who) : path_(std::move(path)), who_(std::move(who)) {
    tmp_ = detail::cat(path_, ".tmp-", process_id());
    file_ = std::fopen(tmp_.c_str(), "wb");
    if (file_ == nullptr) {
      throw FileError(detail::cat(who_, " cannot create '", tmp_, "' (does the folder exist and is it writable?)"));
    }
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  ~AtomicFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!committed_) std::remove(tmp_.c_str());
  }

  void write(const void* data, std::size_t bytes) {
    if (bytes != 0 && std::fwrite(data, 1, bytes, file_) != bytes) ok_ = false;
  }
  void write(const std::string& text) { write(text.data(), text.size()); }

  /// Flushes, syncs and renames the temporary file over the target.
  void commit() {
    ok_ = ok_ && std::fflush(file_) == 0;
#if defined(__unix__) || defined(__APPLE__)
    ok_ = ok_ && ::fsync(::fileno(file_)) == 0;
#endif
    ok_ = (std::fclose(file_) == 0) && ok_;
    file_ = nullptr;
    if (!ok_) {
      throw FileError(detail::cat(who_, " error while writing '", tmp_, "' (disk full?); '", path_, "' is unchanged"));
    }
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      throw FileError(detail::cat(who_, " cannot rename '", tmp_, "' to '", path_, "'; '", path_, "' is unchanged"));
    }
    committed_ = true;
  }

 private:
  static long process_id() {
#if defined(__unix__) || defined(__APPLE__)
    return static_cast<long>(::getpid());
#else
    return 0;
#endif
  }

  std::string path_, who_, tmp_;
  std::FILE* file_ = nullptr;
  bool ok_ = true;
  bool committed_ = false;
};

/// Writes `text` to `path` atomically.
inline void write_file_atomically(const std::string& path, const std::string& text, const std::string& who) {
  AtomicFile out(path, who);
  out.write(text);
  out.commit();
}

}  // namespace eigenformer
