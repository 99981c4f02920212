// The data pipeline: windows and padded batches, per-epoch shuffles reproduced from a seed and a position,
// held-out splits, and the token cache (atomic, keyed, damage detected).
#include "training_fixture.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace data_test {

using namespace eigenformer;
using namespace eigenformer::training;

namespace {
TokenSequence counting(TokenId n) {
  TokenSequence s;
  for (TokenId i = 0; i < n; ++i) s.push_back(i);
  return s;
}
std::string scratch_dir() { return eigenformer::testing::training_scratch_dir(); }
}  // namespace

TEST_CASE("WindowLoader: windows of T ids, every window once per epoch, reshuffled each epoch, seekable") {
  WindowLoader loader(counting(100), 7, 3, 1234);
  CHECK(loader.windows() == 14);
  CHECK(loader.batches_per_epoch() == 4);
  std::set<std::int64_t> seen;
  std::vector<std::int64_t> epoch0;
  for (int k = 0; k < 4; ++k) {
    const Batch b = loader.next();
    REQUIRE(b.ids.rows() == 3);
    REQUIRE(b.ids.cols() == 7);
    for (Index r = 0; r < 3; ++r) {
      const std::int64_t w = b.examples[static_cast<std::size_t>(r)];
      seen.insert(w);
      epoch0.push_back(w);
      for (Index t = 0; t < 7; ++t) CHECK(b.ids(r, t) == TokenId(w * 7 + t));
      CHECK(b.lengths[static_cast<std::size_t>(r)] == 7);
    }
    CHECK(b.attention_mask.minCoeff() == 1);
  }
  CHECK(seen.size() == 12);  // 14 windows, 4 batches of 3: the tail of 2 is dropped
  CHECK(loader.position() == DataPosition{0, 12});
  const DataPosition before = loader.position();
  const Batch a = loader.next();  // epoch 1 starts: a new order
  CHECK(loader.position() == DataPosition{1, 3});
  const Batch a2 = loader.next();

  // The same seed and position give the same batches; a fresh loader seeked there agrees.
  WindowLoader other(counting(100), 7, 3, 1234);
  other.seek(before);
  CHECK(other.next().ids == a.ids);
  CHECK(other.next().ids == a2.ids);
  // A different seed gives a different first epoch.
  WindowLoader different(counting(100), 7, 3, 99);
  std::vector<std::int64_t> d0;
  for (int k = 0; k < 4; ++k) for (std::int64_t w : different.next().examples) d0.push_back(w);
  CHECK(d0 != epoch0);
  CHECK(epoch_order(14, 1234, 0) != epoch_order(14, 1234, 1));
  CHECK(loader.in_order(2, 2).ids(1, 0) == 21);
  CHECK_THROWS_AS(loader.in_order(13, 2), ValueError);
  CHECK_THROWS_AS(WindowLoader(counting(10), 7, 3, 1), ValueError);
  CHECK_THROWS_AS(loader.seek({0, 15}), ValueError);
}

TEST_CASE("SequenceLoader: right padding to the longest (at most max_length), attention mask and lengths") {
  std::vector<TokenSequence> records{{5, 6}, {7, 8, 9, 10, 11, 12}, {13}, {14, 15, 16}};
  SequenceLoader loader(records, 4, 0, 5, 7);
  const Batch b = loader.next();
  CHECK(b.ids.cols() == 5);
  for (Index r = 0; r < 4; ++r) {
    const TokenSequence& rec = records[static_cast<std::size_t>(b.examples[static_cast<std::size_t>(r)])];
    const Index n = std::min<Index>(5, static_cast<Index>(rec.size()));
    CHECK(b.lengths[static_cast<std::size_t>(r)] == n);
    for (Index t = 0; t < 5; ++t) {
      CHECK(b.attention_mask(r, t) == (t < n ? 1 : 0));
      CHECK(b.ids(r, t) == (t < n ? rec[static_cast<std::size_t>(t)] : 0));
    }
  }
  const Batch in_order = loader.in_order(2, 2);
  CHECK(in_order.ids.cols() == 3);
  CHECK(in_order.ids(0, 1) == 0);
  CHECK_THROWS_AS(SequenceLoader({{1}, {}}, 1, 0, 4, 1), ValueError);
}

TEST_CASE("held-out splits: a contiguous tail for streams, a seeded choice for records — disjoint and complete") {
  const StreamSplit s = split_stream(counting(1000), 0.1);
  CHECK(s.train.size() == 900);
  CHECK(s.validation.front() == 900);
  CHECK_THROWS_AS(split_stream(counting(10), 1.0), ValueError);
  std::vector<int> records;
  for (int i = 0; i < 200; ++i) records.push_back(i);
  const auto [train, held] = split_records(records, 0.25, 5);
  CHECK(held.size() == 50);
  CHECK(train.size() == 150);
  std::set<int> all(train.begin(), train.end());
  for (int h : held) CHECK(all.insert(h).second);
  CHECK(all.size() == 200);
  CHECK(split_records(records, 0.25, 5).second == held);
  CHECK(split_records(records, 0.25, 6).second != held);
}

TEST_CASE("token cache: tokenizes once, reloads the same ids, ignores another key and a damaged file") {
  const std::string dir = scratch_dir();
  const std::uint64_t key = cache_key("some corpus text", "chars:v1");
  CHECK(key != cache_key("some corpus text", "chars:v2"));
  CHECK(key != cache_key("some corpus tex", "tchars:v1"));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key));
  const std::string path = dir + "/ids-" + hex + ".bin";
  std::remove(path.c_str());
  int calls = 0;
  const std::vector<TokenSequence> records{{1, 2, 3}, {}, {70000, -5, 0}};
  auto tokenize = [&] {
    ++calls;
    return records;
  };
  CHECK(cached_token_ids(dir, key, tokenize) == records);
  CHECK(cached_token_ids(dir, key, tokenize) == records);
  CHECK(calls == 1);
  std::vector<TokenSequence> out;
  CHECK_FALSE(read_token_cache(path, key + 1, out));
  {  // flip one byte of the ids: the checksum notices, the cache is rebuilt
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(24 + 3 * 8 + 4);
    f.put('\x7f');
  }
  CHECK_FALSE(read_token_cache(path, key, out));
  CHECK(cached_token_ids(dir, key, tokenize) == records);
  CHECK(calls == 2);
  CHECK(concatenate(records, 9) == TokenSequence{1, 2, 3, 9, 9, 70000, -5, 0, 9});
  std::remove(path.c_str());
}

TEST_CASE("any tokenizer the library loads feeds the pipeline: encode_records, cache keyed by tokenizer.json") {
  const std::string json_path = std::string(EIGENFORMER_SOURCE_DIR) + "/tests/tokenizers/tiny_wordpiece.json";
  const tokenizers::Tokenizer tokenizer = tokenizers::load_tokenizer_json(json_path);
  const std::vector<std::string> records{"hello world", "the world"};
  std::ifstream in(json_path);
  const std::string identity((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string corpus;
  for (const std::string& r : records) corpus += r + '\n';
  const std::uint64_t key = cache_key(corpus, identity);
  int calls = 0;
  auto tokenize = [&] {
    ++calls;
    return encode_records(records, tokenizer);
  };
  const std::vector<TokenSequence> ids = cached_token_ids(scratch_dir(), key, tokenize);
  CHECK(ids == cached_token_ids(scratch_dir(), key, tokenize));
  CHECK(calls <= 1);  // a previous run of this test may have left the cache: then it is not called at all
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] == tokenizer.encode("hello world"));
}

}  // namespace data_test
