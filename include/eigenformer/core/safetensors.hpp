// eigenformer/core/safetensors.hpp — reading and writing .safetensors weight files.
//
// The format (https://github.com/huggingface/safetensors), byte by byte:
//
//   [ 8 bytes ]  N, the header length, unsigned little-endian
//   [ N bytes ]  a UTF-8 JSON object:   { "__metadata__": {"k": "v", ...},            (optional)
//                                         "name": {"dtype": "F32", "shape": [2, 3],
//                                                  "data_offsets": [begin, end]}, ... }
//                (may end in spaces, which writers use to align the data to 8 bytes)
//   [ rest    ]  the data buffer; tensor bytes are [begin, end) relative to its start, row-major,
//                little-endian
//
// Nothing read from the file is trusted. The reader checks, before allocating anything large:
//   - N is at most 100 MB (as the reference implementation) and fits in the file;
//   - the header is a JSON object; names are unique; every entry has a known dtype, a shape of
//     non-negative integers and two data offsets;
//   - end - begin == product(shape) · sizeof(dtype), computed without overflow;
//   - offsets are in bounds, and the tensors, sorted by begin, tile the data buffer exactly:
//     no gap, no overlap, nothing left over.
// Every failure is a FormatError naming the file, the tensor and the problem.
//
// The writer puts tensors in the order they were added, pads the header with spaces to a multiple of
// 8 bytes, and writes atomically (core/atomic_file.hpp): a crash never leaves a half-written file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/dtype.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"

namespace eigenformer {

/// One tensor's entry in a safetensors header.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // [] for a scalar
  std::uint64_t begin = 0;          // byte offsets into the data buffer, [begin, end)
  std::uint64_t end = 0;

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
  }
};

namespace detail {

/// a · b, or nullopt when it overflows 64 bits.
inline bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return true;
  out = a * b;
  return false;
}

}  // namespace detail

/// Reads a .safetensors file: validates the whole header on construction, reads tensors on demand
/// (so a 10 GB checkpoint is never held in memory twice).
class SafeTensorsReader {
 public:
  static constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's cap

  explicit SafeTensorsReader(std::string path) : path_(std::move(path)) {
    file_.open(path_, std::ios::binary);
    if (!file_) throw FileError(detail::cat("[safetensors] cannot open '", path_, "'"));
    file_.seekg(0, std::ios::end);
    const std::streamoff size = file_.tellg();
    if (size < 0) throw FileError(detail::cat("[safetensors] cannot determine the size of '", path_, "'"));
    file_size_ = static_cast<std::uint64_t>(size);
    file_.seekg(0);
    parse_header();
  }

  const std::string& path() const { return path_; }

  /// Every tensor, in the order of its data in the file.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  /// The "__metadata__" map (string → string); empty when absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  bool contains(const std::string& name) const { return index_.count(name) != 0; }

  /// The entry for `name`, or nullptr.
  const TensorInfo* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }

  /// The entry for `name`; FormatError naming the file when absent.
  const TensorInfo& info(const std::string& name) const {
    const TensorInfo* t = find(name);
    if (t == nullptr) {
      throw FormatError(detail::cat("[safetensors] ", path_, ": no tensor named '", name, "'"));
    }
    return *t;
  }

  /// Bytes of a stored tensor read at once before they are converted (other dtypes than Scalar's): small enough
  /// to stay in the CPU's cache between the read and the conversion, large enough that each read is one call.
  static constexpr std::size_t kConversionChunkBytes = std::size_t(1) << 20;

  /// Reads tensor `name` converted to Scalar into dst, which must hold numel() elements. A tensor stored as Scalar
  /// itself (F32 into float, F64 into double) is read straight into dst: loading costs one copy out of the page
  /// cache, like reading the file once. Other dtypes are read a chunk at a time into a small reused buffer and
  /// converted from it into dst: one copy and one conversion per value, and no second buffer the size of the tensor.
  template <class Scalar>
  void read_into(const TensorInfo& t, Scalar* dst) {
    const std::uint64_t bytes = t.end - t.begin;
    if (stored_as<Scalar>(t.dtype)) {
      read_bytes(t, 0, reinterpret_cast<char*>(dst), bytes);
      return;
    }
    const std::size_t stored = dtype_size(t.dtype);
    const std::size_t count = static_cast<std::size_t>(t.numel());
    const std::size_t per_chunk = kConversionChunkBytes / stored;  // values per chunk
    raw_.resize(std::min(count, per_chunk) * stored);
    for (std::size_t first = 0; first < count; first += per_chunk) {
      const std::size_t n = std::min(per_chunk, count - first);
      read_bytes(t, first * stored, reinterpret_cast<char*>(raw_.data()), n * stored);
      convert_from(t.dtype, raw_.data(), n, dst + first);
    }
  }

  /// Reads tensor `name` converted to T, row-major.
  template <class Scalar>
  std::vector<Scalar> read(const std::string& name) {
    const TensorInfo& t = info(name);
    std::vector<Scalar> out(static_cast<std::size_t>(t.numel()));
    read_into(t, out.data());
    return out;
  }

 private:
  /// `bytes` bytes of tensor t's data from byte `skip` of it on, into `out`; FileError when the file ends early or
  /// cannot be read.
  void read_bytes(const TensorInfo& t, std::uint64_t skip, char* out, std::uint64_t bytes) {
    if (bytes == 0) return;
    const std::uint64_t offset = data_start_ + t.begin + skip;
    file_.clear();
    file_.seekg(static_cast<std::streamoff>(offset));
    file_.read(out, static_cast<std::streamsize>(bytes));
    if (!file_) {
      throw FileError(detail::cat("[safetensors] ", path_, ": tensor '", t.name, "': could not read ", bytes,
                                  " bytes at offset ", offset));
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(detail::cat("[safetensors] ", path_, ": ", what));
  }

  void parse_header() {
    // 1) The 8-byte header length.
    if (file_size_ < 8) fail(detail::cat("file is ", file_size_, " bytes, too short for the 8-byte header length"));
    unsigned char len_bytes[8];
    file_.read(reinterpret_cast<char*>(len_bytes), 8);
    if (!file_) throw FileError(detail::cat("[safetensors] ", path_, ": cannot read the header length"));
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
    if (n > kMaxHeaderBytes) fail(detail::cat("header length ", n, " exceeds the ", kMaxHeaderBytes, "-byte limit"));
    if (n > file_size_ - 8) {
      fail(detail::cat("header length ", n, " runs past the end of the file (", file_size_, " bytes)"));
    }
    if (n < 2) fail(detail::cat("header length ", n, " is too short for a JSON object"));

    // 2) The JSON header.
    std::string text(static_cast<std::size_t>(n), '\0');
    file_.read(text.data(), static_cast<std::streamsize>(n));
    if (!file_) throw FileError(detail::cat("[safetensors] ", path_, ": cannot read the ", n, "-byte header"));
    data_start_ = 8 + n;
    const std::uint64_t data_size = file_size_ - data_start_;

    json::Value header;
    try {
      // Duplicate keys are allowed through the JSON parser so that the error below can call them what
      // they are here: duplicate tensor names.
      json::ParseOptions options;
      options.allow_duplicate_keys = true;
      header = json::parse(text, path_ + " (safetensors header)", options);
    } catch (const ParseError& e) {
      fail(detail::cat("malformed header: ", e.what()));
    }
    if (!header.is_object()) fail("header is not a JSON object");

    // 3) Each entry.
    bool seen_metadata = false;
    for (const json::Member& m : header.as_object()) {
      if (index_.count(m.first) != 0 || (m.first == "__metadata__" && seen_metadata)) {
        fail(detail::cat("duplicate tensor name '", m.first, "'"));
      }
      if (m.first == "__metadata__") {
        seen_metadata = true;
        if (!m.second.is_object()) fail("__metadata__ is not an object");
        for (const json::Member& kv : m.second.as_object()) {
          if (!kv.second.is_string()) fail(detail::cat("__metadata__ value for '", kv.first, "' is not a string"));
          metadata_[kv.first] = kv.second.as_string();
        }
        continue;
      }
      index_[m.first] = tensors_.size();
      tensors_.push_back(parse_entry(m.first, m.second, data_size));
    }

    // 4) The tensors must tile the data buffer exactly: sorted by offset, each starts where the
    //    previous ended, the first at 0 and the last at the end of the file.
    std::sort(tensors_.begin(), tensors_.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
    std::uint64_t expected = 0;
    for (const TensorInfo& t : tensors_) {
      if (t.begin < expected) {
        fail(detail::cat("tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end,
                         ") overlap the previous tensor, which ends at ", expected));
      }
      if (t.begin > expected) {
        fail(detail::cat("tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end,
                         ") leave a gap: the previous tensor ends at ", expected));
      }
      expected = t.end;
    }
    if (expected != data_size) {
      fail(detail::cat("the tensors cover ", expected, " bytes of data but the file holds ", data_size,
                       " bytes after the header"));
    }
    index_.clear();  // positions changed with the sort
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  }

  TensorInfo parse_entry(const std::string& name, const json::Value& v, std::uint64_t data_size) const {
    const auto bad = [&](const std::string& what) { fail(detail::cat("tensor '", name, "': ", what)); };
    if (!v.is_object()) bad("entry is not an object");
    TensorInfo t;
    t.name = name;

    const json::Value* dtype = v.find("dtype");
    if (dtype == nullptr || !dtype->is_string()) bad("missing or non-string \"dtype\"");
    std::optional<DType> dt = dtype_from_name(dtype->as_string());
    if (!dt) bad(detail::cat("unknown dtype \"", dtype->as_string(), "\""));
    t.dtype = *dt;

    const json::Value* shape = v.find("shape");
    if (shape == nullptr || !shape->is_array()) bad("missing or non-array \"shape\"");
    std::uint64_t numel = 1;
    for (const json::Value& d : shape->as_array()) {
      if (!d.is_integer() || d.as_int() < 0) bad("\"shape\" must hold non-negative integers");
      t.shape.push_back(d.as_int());
      if (detail::mul_overflows(numel, static_cast<std::uint64_t>(d.as_int()), numel)) {
        bad(detail::cat("shape ", detail::shape_str(t.shape), "... overflows 64 bits"));
      }
    }

    const json::Value* offsets = v.find("data_offsets");
    if (offsets == nullptr || !offsets->is_array() || offsets->as_array().size() != 2) {
      bad("\"data_offsets\" must be an array of two integers");
    }
    const json::Value& b = offsets->as_array()[0];
    const json::Value& e = offsets->as_array()[1];
    if (!b.is_integer() || !e.is_integer() || b.as_int() < 0 || e.as_int() < 0) {
      bad("\"data_offsets\" must be two non-negative integers");
    }
    t.begin = static_cast<std::uint64_t>(b.as_int());
    t.end = static_cast<std::uint64_t>(e.as_int());
    if (t.begin > t.end) bad(detail::cat("data_offsets [", t.begin, ", ", t.end, ") end before they begin"));
    if (t.end > data_size) {
      bad(detail::cat("data_offsets [", t.begin, ", ", t.end, ") run past the data buffer (", data_size, " bytes)"));
    }
    std::uint64_t nbytes = 0;
    if (detail::mul_overflows(numel, dtype_size(t.dtype), nbytes) || nbytes != t.end - t.begin) {
      bad(detail::cat("data_offsets [", t.begin, ", ", t.end, ") hold ", t.end - t.begin, " bytes, but shape ",
                      detail::shape_str(t.shape), " of ", dtype_name(t.dtype), " needs ", numel, " x ",
                      dtype_size(t.dtype)));
    }
    return t;
  }

  std::string path_;
  std::ifstream file_;
  std::uint64_t file_size_ = 0;
  std::uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::vector<unsigned char> raw_;  // a chunk of stored values on their way to conversion (read_into), reused
};

/// Collects tensors, then writes them as one .safetensors file, atomically.
class SafeTensorsWriter {
 public:
  /// Adds a tensor converted from Scalar to `dtype` (F32, F64, F16 or BF16; I32/I64 for integer data).
  /// `data` holds product(shape) elements, row-major. Names must be unique.
  template <class Scalar>
  void add(const std::string& name, const std::vector<std::int64_t>& shape, const Scalar* data,
           DType dtype = DType::F32) {
    if (name.empty()) throw ValueError("[safetensors] tensor names must not be empty");
    if (name == "__metadata__") throw ValueError("[safetensors] '__metadata__' is reserved and cannot name a tensor");
    for (const Entry& e : entries_) {
      if (e.info.name == name) throw ValueError(detail::cat("[safetensors] duplicate tensor name '", name, "'"));
    }
    Entry e;
    e.info.name = name;
    e.info.dtype = dtype;
    e.info.shape = shape;
    for (std::int64_t d : shape) {
      if (d < 0) throw ShapeError(detail::cat("[safetensors] tensor '", name, "': negative dimension in ", detail::shape_str(shape)));
    }
    const std::size_t count = static_cast<std::size_t>(e.info.numel());
    e.bytes.resize(count * dtype_size(dtype));
    convert_to(dtype, data, count, e.bytes.data());
    entries_.push_back(std::move(e));
  }

  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  std::size_t size() const { return entries_.size(); }

  /// Writes the file: to "<path>.tmp-<pid>", fsync, then rename over `path`.
  void write(const std::string& path) const {
    // 1) The header, with offsets assigned in insertion order.
    json::Value header;
    if (!metadata_.empty()) {
      json::Value meta;
      for (const auto& kv : metadata_) meta.set(kv.first, kv.second);
      header.set("__metadata__", meta);
    }
    std::uint64_t offset = 0;
    for (const Entry& e : entries_) {
      json::Array shape;
      for (std::int64_t d : e.info.shape) shape.emplace_back(d);
      json::Value entry;
      entry.set("dtype", dtype_name(e.info.dtype));
      entry.set("shape", json::Value(shape));
      entry.set("data_offsets", json::Value(json::Array{json::Value(static_cast<std::int64_t>(offset)),
                                                        json::Value(static_cast<std::int64_t>(offset + e.bytes.size()))}));
      header.set(e.info.name, entry);
      offset += e.bytes.size();
    }
    std::string text = entries_.empty() && metadata_.empty() ? std::string("{}") : json::dump(header);
    while ((8 + text.size()) % 8 != 0) text += ' ';

    // 2) Everything to a temporary file next to the target, then renamed over it (atomic_file.hpp).
    AtomicFile out(path, "[safetensors]");
    unsigned char len[8];
    const std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xFF);
    out.write(len, 8);
    out.write(text);
    for (const Entry& e : entries_) out.write(e.bytes.data(), e.bytes.size());
    out.commit();
  }

 private:
  struct Entry {
    TensorInfo info;
    std::vector<unsigned char> bytes;
  };

  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace eigenformer
