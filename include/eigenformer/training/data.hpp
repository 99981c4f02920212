// eigenformer/training/data.hpp — token ids in, batches out: windows and padded batches, a held-out
// split, a per-epoch shuffle that a seed reproduces, and a cache so a corpus is tokenized only once.
//
// Shape legend: B sequences per batch, T positions per sequence.
//
// Two ways to cut a corpus into training examples:
//   - WindowLoader: the whole corpus as one long stream of ids, cut into windows of T ids (pretraining a
//     causal LM: every position of every window is a prediction, nothing is padded);
//   - SequenceLoader: one example per record (a poem, a fortune, a prompt+answer), padded to the longest
//     in the batch with an attention mask (masked LM, classification, fine-tuning).
// Each epoch visits every example once in an order drawn from the seed and the epoch number, so where the
// loader stands is two integers (DataPosition) and a resumed run sees exactly the batches the
// uninterrupted run would have seen (training/checkpoint.hpp saves them).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/generation/sampling.hpp"

namespace eigenformer::training {

/// Where a loader stands: `cursor` examples of epoch `epoch` have been served.
struct DataPosition {
  std::int64_t epoch = 0;
  std::int64_t cursor = 0;
  bool operator==(const DataPosition& o) const { return epoch == o.epoch && cursor == o.cursor; }
};

/// One batch.
struct Batch {
  TokenIds ids;                       // (B, T); padding positions hold the pad id
  TokenIds attention_mask;            // (B, T): 1 for a real token, 0 for padding
  std::vector<Index> lengths;         // (B) real tokens per sequence
  std::vector<std::int64_t> examples; // (B) which window / record each row is (for labels kept elsewhere)
};

/// A 64-bit seed for stream `stream` of a run seeded with `seed` (SplitMix64's finaliser over both): each
/// epoch's shuffle, each step's masking draws from its own Rng(derive_seed(seed, k)), so any of them can
/// be recreated from the two numbers without replaying the ones before.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// The order in which epoch `epoch` visits n examples: a Fisher–Yates shuffle drawn from
/// generation::Rng(derive_seed(seed, epoch)).
inline std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  generation::Rng rng(derive_seed(seed, static_cast<std::uint64_t>(epoch)));
  for (std::int64_t i = n - 1; i > 0; --i) {
    const std::int64_t j = std::min<std::int64_t>(i, static_cast<std::int64_t>(rng.uniform() * static_cast<double>(i + 1)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

namespace data_detail {

/// Serves `batch` examples at a time from an epoch's shuffled order; drops the incomplete tail of each epoch
/// (as PyTorch's DataLoader(drop_last=True)) so every batch has the same size.
class EpochCursor {
 public:
  EpochCursor(std::int64_t examples, Index batch, std::uint64_t seed, const char* who)
      : n_(examples), batch_(batch), seed_(seed) {
    if (batch <= 0 || examples < batch) {
      throw ValueError(eigenformer::detail::cat("[", who, "] ", examples, " examples cannot fill one batch of ", batch));
    }
    order_ = epoch_order(n_, seed_, 0);
  }

  std::vector<std::int64_t> next() {
    if (position_.cursor + batch_ > n_) seek({position_.epoch + 1, 0});
    std::vector<std::int64_t> out(order_.begin() + position_.cursor, order_.begin() + position_.cursor + batch_);
    position_.cursor += batch_;
    return out;
  }

  DataPosition position() const { return position_; }

  void seek(const DataPosition& p) {
    if (p.epoch < 0 || p.cursor < 0 || p.cursor > n_) {
      throw ValueError(eigenformer::detail::cat("[data] position (epoch ", p.epoch, ", cursor ", p.cursor,
                                                ") is outside a loader of ", n_, " examples"));
    }
    if (p.epoch != position_.epoch) order_ = epoch_order(n_, seed_, p.epoch);
    position_ = p;
  }

  std::int64_t batches_per_epoch() const { return n_ / batch_; }

 private:
  std::int64_t n_;
  Index batch_;
  std::uint64_t seed_;
  DataPosition position_;
  std::vector<std::int64_t> order_;
};

}  // namespace data_detail

// ---------------------------------------------------------------------------------------------------------
// Splits.
// ---------------------------------------------------------------------------------------------------------

/// A stream cut into training and held-out parts: the last `fraction` of the ids is held out. The cut is
/// contiguous, so no held-out text ever appears inside a training window.
struct StreamSplit {
  TokenSequence train, validation;
};

inline StreamSplit split_stream(const TokenSequence& ids, double fraction) {
  if (!(fraction >= 0 && fraction < 1)) throw ValueError(eigenformer::detail::cat("[split_stream] fraction ", fraction, " is not in [0, 1)"));
  const std::size_t held = static_cast<std::size_t>(static_cast<double>(ids.size()) * fraction);
  StreamSplit s;
  s.train.assign(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(held));
  s.validation.assign(ids.end() - static_cast<std::ptrdiff_t>(held), ids.end());
  return s;
}

/// Records split at random (by `seed`) into training and held-out sets; `fraction` of them are held out.
/// Each part keeps the corpus order.
template <class Record>
std::pair<std::vector<Record>, std::vector<Record>> split_records(const std::vector<Record>& records, double fraction,
                                                                  std::uint64_t seed) {
  if (!(fraction >= 0 && fraction < 1)) throw ValueError(eigenformer::detail::cat("[split_records] fraction ", fraction, " is not in [0, 1)"));
  const std::int64_t n = static_cast<std::int64_t>(records.size());
  const std::int64_t held = static_cast<std::int64_t>(static_cast<double>(n) * fraction);
  std::vector<std::int64_t> order = epoch_order(n, derive_seed(seed, 0x5EED5EED), 0);
  std::vector<bool> is_held(static_cast<std::size_t>(n), false);
  for (std::int64_t i = 0; i < held; ++i) is_held[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = true;
  std::pair<std::vector<Record>, std::vector<Record>> out;
  for (std::int64_t i = 0; i < n; ++i) (is_held[static_cast<std::size_t>(i)] ? out.second : out.first).push_back(records[static_cast<std::size_t>(i)]);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Loaders.
// ---------------------------------------------------------------------------------------------------------

/// Fixed-length windows over one stream: window i is ids[i·T, (i+1)·T). No padding; every mask entry is 1.

namespace data_detail {
/// Examples first .. first+count−1 (an evaluation batch in corpus order), checked against the `available`
/// examples; `what` names the loader and its examples in the error.
inline std::vector<std::int64_t> consecutive(std::int64_t first, Index count, std::int64_t available, const char* what) {
  if (first < 0 || count <= 0 || first + count > available) {
    throw ValueError(eigenformer::detail::cat(what, first, "..", first + count - 1, " but there are ", available));
  }
  std::vector<std::int64_t> which(static_cast<std::size_t>(count));
  for (Index i = 0; i < count; ++i) which[static_cast<std::size_t>(i)] = first + i;
  return which;
}
}  // namespace data_detail

/// With labels = ids, a causal LM learns T − 1 next-token predictions per window (objectives.hpp).
class WindowLoader {
 public:
  WindowLoader(TokenSequence stream, Index window, Index batch, std::uint64_t seed)
      : stream_(std::move(stream)), window_(window),
        cursor_(window > 0 ? static_cast<std::int64_t>(stream_.size()) / window : 0, batch, seed, "WindowLoader") {}

  /// Number of windows in the stream (the examples of one epoch).
  std::int64_t windows() const { return static_cast<std::int64_t>(stream_.size()) / window_; }
  std::int64_t batches_per_epoch() const { return cursor_.batches_per_epoch(); }

  /// The next B windows of this epoch's order (the next epoch starts, reshuffled, when too few are left).
  Batch next() { return make(cursor_.next()); }

  /// Windows first .. first+count−1 in stream order (evaluation: no shuffle, no state).
  Batch in_order(std::int64_t first, Index count) const {
    return make(data_detail::consecutive(first, count, windows(), "[WindowLoader::in_order] windows "));
  }

  DataPosition position() const { return cursor_.position(); }
  void seek(const DataPosition& p) { cursor_.seek(p); }

 private:
  Batch make(const std::vector<std::int64_t>& which) const {
    const Index B = static_cast<Index>(which.size()), T = window_;
    Batch out;
    out.ids.resize(B, T);
    out.attention_mask = TokenIds::Ones(B, T);
    out.lengths.assign(static_cast<std::size_t>(B), T);
    out.examples = which;
    for (Index b = 0; b < B; ++b) {
      const TokenId* start = stream_.data() + which[static_cast<std::size_t>(b)] * T;
      for (Index t = 0; t < T; ++t) out.ids(b, t) = start[t];
    }
    return out;
  }

  TokenSequence stream_;
  Index window_;
  data_detail::EpochCursor cursor_;
};

/// One example per record, padded on the right to the longest of the batch (at most `max_length`: longer
/// records are cut), with attention_mask 0 on the padding.
class SequenceLoader {
 public:
  SequenceLoader(std::vector<TokenSequence> records, Index batch, TokenId pad_id, Index max_length, std::uint64_t seed)
      : records_(std::move(records)), pad_(pad_id), max_length_(max_length),
        cursor_(static_cast<std::int64_t>(records_.size()), batch, seed, "SequenceLoader") {
    if (max_length <= 0) throw ValueError(eigenformer::detail::cat("[SequenceLoader] max_length must be > 0, got ", max_length));
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (records_[i].empty()) throw ValueError(eigenformer::detail::cat("[SequenceLoader] record ", i, " is empty"));
    }
  }

  std::int64_t records() const { return static_cast<std::int64_t>(records_.size()); }
  std::int64_t batches_per_epoch() const { return cursor_.batches_per_epoch(); }

  Batch next() { return make(cursor_.next()); }

  /// Records first .. first+count−1 in corpus order (evaluation).
  Batch in_order(std::int64_t first, Index count) const {
    return make(data_detail::consecutive(first, count, records(), "[SequenceLoader::in_order] records "));
  }

  DataPosition position() const { return cursor_.position(); }
  void seek(const DataPosition& p) { cursor_.seek(p); }

 private:
  Batch make(const std::vector<std::int64_t>& which) const {
    const Index B = static_cast<Index>(which.size());
    Index T = 1;
    for (std::int64_t r : which) T = std::max<Index>(T, std::min<Index>(max_length_, static_cast<Index>(records_[static_cast<std::size_t>(r)].size())));
    Batch out;
    out.ids = TokenIds::Constant(B, T, pad_);
    out.attention_mask = TokenIds::Zero(B, T);
    out.examples = which;
    for (Index b = 0; b < B; ++b) {
      const TokenSequence& r = records_[static_cast<std::size_t>(which[static_cast<std::size_t>(b)])];
      const Index n = std::min<Index>(T, static_cast<Index>(r.size()));
      for (Index t = 0; t < n; ++t) {
        out.ids(b, t) = r[static_cast<std::size_t>(t)];
        out.attention_mask(b, t) = 1;
      }
      out.lengths.push_back(n);
    }
    return out;
  }

  std::vector<TokenSequence> records_;
  TokenId pad_;
  Index max_length_;
  data_detail::EpochCursor cursor_;
};

// ---------------------------------------------------------------------------------------------------------
// Tokenize once: the cache.
// ---------------------------------------------------------------------------------------------------------

/// FNV-1a 64 of some bytes, continuing from `h` (for cache keys: not a cryptographic hash).
inline std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// The cache key of a corpus tokenized by a tokenizer: a hash of the corpus's bytes and of a string that
/// identifies the tokenizer (its tokenizer.json text, or a character vocabulary's tokens).
inline std::uint64_t cache_key(std::string_view corpus, std::string_view tokenizer_identity) {
  return fnv1a(tokenizer_identity, fnv1a("\x1f", fnv1a(corpus)));
}

namespace data_detail {

constexpr char kCacheMagic[8] = {'E', 'F', 'I', 'D', 'S', '0', '0', '1'};

inline void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

inline std::uint64_t get_u64(const std::string& in, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)])) << (8 * i);
  return v;
}

}  // namespace data_detail

/// Writes tokenized records as the cache file `path` (atomically). Layout, little-endian:
///   "EFIDS001"  key (u64)  record count R (u64)  R lengths (u64)  all ids (i32)  FNV-1a of everything before (u64)
inline void write_token_cache(const std::string& path, std::uint64_t key, const std::vector<TokenSequence>& records) {
  std::string bytes(data_detail::kCacheMagic, 8);
  data_detail::put_u64(bytes, key);
  data_detail::put_u64(bytes, records.size());
  for (const TokenSequence& r : records) data_detail::put_u64(bytes, r.size());
  for (const TokenSequence& r : records) {
    for (TokenId id : r) {
      const std::uint32_t u = static_cast<std::uint32_t>(id);
      for (int i = 0; i < 4; ++i) bytes += static_cast<char>((u >> (8 * i)) & 0xFF);
    }
  }
  data_detail::put_u64(bytes, fnv1a(bytes));
  write_file_atomically(path, bytes, "[token cache]");
}

/// Reads a cache file; false (and `records` untouched) when it is missing, for another key, or damaged.
inline bool read_token_cache(const std::string& path, std::uint64_t key, std::vector<TokenSequence>& records) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 32 || std::memcmp(bytes.data(), data_detail::kCacheMagic, 8) != 0) return false;
  if (data_detail::get_u64(bytes, bytes.size() - 8) != fnv1a(std::string_view(bytes).substr(0, bytes.size() - 8))) return false;
  if (data_detail::get_u64(bytes, 8) != key) return false;
  const std::uint64_t count = data_detail::get_u64(bytes, 16);
  if (count > (bytes.size() - 32) / 8) return false;
  std::size_t at = 24 + 8 * count;
  std::vector<TokenSequence> out(count);
  std::uint64_t total = 0;
  for (std::uint64_t r = 0; r < count; ++r) total += data_detail::get_u64(bytes, 24 + 8 * r);
  if (at + 4 * total + 8 != bytes.size()) return false;
  for (std::uint64_t r = 0; r < count; ++r) {
    out[r].resize(data_detail::get_u64(bytes, 24 + 8 * r));
    for (TokenId& id : out[r]) {
      std::uint32_t u = 0;
      for (int i = 0; i < 4; ++i) u |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at++])) << (8 * i);
      id = static_cast<TokenId>(u);
    }
  }
  records = std::move(out);
  return true;
}

/// The records of a corpus as ids, tokenized by `tokenize` only when `cache_dir` holds no valid cache for
/// `key` (cache_key()): the file is "<cache_dir>/ids-<key in hex>.bin". An empty cache_dir disables caching.
inline std::vector<TokenSequence> cached_token_ids(const std::string& cache_dir, std::uint64_t key,
                                                   const std::function<std::vector<TokenSequence>()>& tokenize) {
  if (cache_dir.empty()) return tokenize();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key));
  const std::string path = cache_dir + "/ids-" + hex + ".bin";
  std::vector<TokenSequence> records;
  if (read_token_cache(path, key, records)) return records;
  records = tokenize();
  write_token_cache(path, key, records);
  return records;
}

/// Encodes every record with anything that has `TokenSequence encode(std::string_view) const`: a
/// tokenizers::Tokenizer, or a CharVocabulary (training/corpus.hpp).
template <class Encoder>
std::vector<TokenSequence> encode_records(const std::vector<std::string>& records, const Encoder& encoder) {
  std::vector<TokenSequence> out;
  out.reserve(records.size());
  for (const std::string& r : records) out.push_back(encoder.encode(r));
  return out;
}

/// The records joined into one stream, `separator` (e.g. an EOS id; none when < 0) after each.
inline TokenSequence concatenate(const std::vector<TokenSequence>& records, TokenId separator = -1) {
  TokenSequence out;
  for (const TokenSequence& r : records) {
    out.insert(out.end(), r.begin(), r.end());
    if (separator >= 0) out.push_back(separator);
  }
  return out;
}

}  // namespace eigenformer::training
