// special_tokens.hpp and the encode policy: refused by default, allowed per token, or plain text.
#include <doctest/doctest.h>

#include "eigenformer/tokenizers.hpp"
#include "references.hpp"

using namespace eigenformer;
using namespace eigenformer::tokenizers;
using tokenizer_tests::reference_dir;

namespace {
Tokenizer lesson_tokenizer() {
  BpeTrainerOptions o;
  o.vocab_size = 300;
  o.special_tokens = {"<|endoftext|>", "<|eot_id|>"};
  return train_bpe("some text to learn a few merges from, some text", o).tokenizer();
}
}  // namespace

TEST_CASE("special tokens: refused by default with the byte offset") {
  const Tokenizer tok = lesson_tokenizer();
  try {
    tok.encode("abc <|endoftext|>");
    FAIL("no exception");
  } catch (const SpecialTokenError& e) {
    CHECK(e.byte_offset() == 4);
    CHECK(std::string(e.what()).find("<|endoftext|>") != std::string::npos);
  }
  CHECK_THROWS_AS(tok.encode("<|eot_id|>"), ValueError);
}

TEST_CASE("special tokens: allowed per token, all, or encoded as plain text") {
  const Tokenizer tok = lesson_tokenizer();
  const TokenId eot = *tok.token_to_id("<|endoftext|>");
  const TokenSequence allowed = tok.encode("a<|endoftext|>b", EncodeOptions{}.allow("<|endoftext|>"));
  CHECK(allowed.size() >= 3);
  CHECK(std::count(allowed.begin(), allowed.end(), eot) == 1);
  // Allowing one token does not allow the other.
  CHECK_THROWS_AS(tok.encode("<|endoftext|><|eot_id|>", EncodeOptions{}.allow("<|endoftext|>")), SpecialTokenError);
  CHECK(tok.encode("<|endoftext|><|eot_id|>", EncodeOptions{}.allow_all()).size() == 2);
  // As text: no special id, and the same ids as the plain pieces would give.
  const TokenSequence plain = tok.encode("a<|endoftext|>b", EncodeOptions{}.as_text());
  CHECK(std::count(plain.begin(), plain.end(), eot) == 0);
  CHECK(tok.decode(plain) == "a<|endoftext|>b");
  // Decoding may skip special tokens.
  CHECK(tok.decode(allowed, DecodeOptions{true}) == "ab");
}

TEST_CASE("special tokens: family presets give fixed ids and roles") {
  SpecialTokens reg;
  for (const SpecialTokenSpec& s : family_special_tokens(Family::llama3)) {
    reg.add(AddedToken{s.content, *s.id, true, false, false, false, false});
    if (s.role) reg.assign(*s.role, *s.id);
  }
  CHECK(reg.all().size() == 256);
  CHECK(reg.id(Role::bos) == 128000);
  CHECK(reg.ids(Role::eos) == std::vector<TokenId>{128001, 128008, 128009});
  CHECK(reg.find("<|start_header_id|>")->id == 128006);
  CHECK(reg.find("<|reserved_special_token_247|>")->id == 128255);
  CHECK(family_special_tokens(Family::t5).size() == 103);
  CHECK(family_special_tokens(Family::deepseek_r1)[1].content == "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
}

TEST_CASE("special tokens: read from a checkpoint folder (tokenizer.json + tokenizer_config.json + generation_config.json)") {
  REQUIRE_REFERENCES();
  const Tokenizer tok = load_tokenizer(reference_dir() + "/llama3");
  const SpecialTokens& s = tok.special_tokens();
  CHECK(s.id(Role::bos) == 128000);
  CHECK(s.id(Role::eos) == 128009);  // tokenizer_config.json: eos_token <|eot_id|>
  CHECK(s.ids(Role::eos) == std::vector<TokenId>{128009, 128001, 128008});  // + generation_config.json
  CHECK(tok.token_to_id("<|start_header_id|>") == 128006);
  const TokenSequence chat = tok.encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
                                        EncodeOptions{}.allow_all().with_special_tokens());
  CHECK(chat.front() == 128000);
  CHECK(chat[1] == 128006);
  CHECK(chat.back() == 128009);

  const Tokenizer bert = load_tokenizer(reference_dir() + "/bert-uncased");
  CHECK(bert.special_tokens().id(Role::cls) == 2);
  CHECK(bert.special_tokens().id(Role::mask) == 4);
  // Fill-mask input: [CLS] ... [MASK] ... [SEP], with [MASK] allowed and nothing else.
  const TokenSequence ids = bert.encode("the cat sat on the [MASK].", EncodeOptions{}.allow("[MASK]").with_special_tokens());
  CHECK(ids.front() == 2);
  CHECK(ids.back() == 3);
  CHECK(std::count(ids.begin(), ids.end(), 4) == 1);
  CHECK_THROWS_AS(bert.encode("[CLS] x", EncodeOptions{}.allow("[MASK]")), SpecialTokenError);

  const Tokenizer t5 = load_tokenizer(reference_dir() + "/t5/tokenizer.json");
  CHECK(t5.special_tokens().id(Role::eos) == 1);
  CHECK(t5.special_tokens().id(Role::pad) == 0);
  CHECK(t5.special_tokens().id(Role::unk) == 2);
}
