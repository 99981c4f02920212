// Instantiates every class template of eigenformer — the library, the model assemblies of examples/ and the
// generation sessions — for float and double, so that all of it is compiled (and checked for warnings) even
// where no test happens to use a member.
#include "eigenformer/eigenformer.hpp"
#include "eigenformer/generation.hpp"
#include "eigenformer/models.hpp"
#include "eigenformer/tokenizers.hpp"

#include <cstdio>
#include <string>

#include "bart/bart.hpp"
#include "bert/bert.hpp"
#include "gpt2/gpt2.hpp"
#include "llama/llama.hpp"
#include "t5/t5.hpp"
#include "transformer/transformer.hpp"

namespace eigenformer {
#define EIGENFORMER_INSTANTIATE(T)                      \
  template class Linear<T>;                             \
  template class Embedding<T>;                          \
  template class LearnedPositions<T>;                   \
  template class Norm<T>;                               \
  template class FeedForward<T>;                        \
  template class RotaryEmbedding<T>;                    \
  template class RelativePositionBias<T>;               \
  template class KVCache<T>;                            \
  template struct DecoderCache<T>;                      \
  template struct Capture<T>;                           \
  template class MultiHeadAttention<T>;                 \
  template class Residual<T>;                           \
  template class SelfAttentionBlock<T>;                 \
  template class EncoderBlock<T>;                       \
  template class DecoderBlock<T>;                       \
  template class CrossDecoderBlock<T>;                  \
  template class Stack<T, EncoderBlock<T>>;             \
  template class Stack<T, DecoderBlock<T>>;             \
  template class Stack<T, CrossDecoderBlock<T>>;        \
  template class EncoderDecoder<T>;                     \
  template class Bert<T>;                               \
  template class Llama<T>;                              \
  template class T5<T>;                                 \
  template class Transformer<T>;                        \
  template class GPT2<T>;                               \
  template class Bart<T>;                               \
  template class generation::CausalSession<T>;          \
  template class generation::Seq2SeqSession<T>;         \
  template class training::Sgd<T>;                      \
  template class training::AdamW<T>;
EIGENFORMER_INSTANTIATE(float)
EIGENFORMER_INSTANTIATE(double)
#undef EIGENFORMER_INSTANTIATE
}  // namespace eigenformer

// Run by ctest as `instantiate_all <tests/fixtures>`: the instantiated Llama and T5, each loaded from the
// fixture checkpoints in float and in double, greedy-decode through the instantiated sessions exactly the
// sequences of the PyTorch reference (generation/reference_sequences.json, cases "<checkpoint>/greedy").
// Without an argument it does nothing (the program's first job is to compile).
namespace {

template <class Model>
bool greedy_matches(const std::string& fixtures, const eigenformer::json::Value& c, const char* scalar) {
  using namespace eigenformer;
  Model model = Model::from_pretrained(fixtures + "/models/" + c.at("checkpoint").as_string());
  generation::GenerationConfig config;
  config.max_new_tokens = c.at("settings").at("max_new_tokens").as_int();
  for (const json::Value& id : c.at("settings").at("eos_token_ids").as_array()) {
    config.eos_token_ids.push_back(static_cast<TokenId>(id.as_int()));
  }
  TokenSequence prompt, expected;
  for (const json::Value& id : c.at("prompt").as_array()) prompt.push_back(static_cast<TokenId>(id.as_int()));
  for (const json::Value& id : c.at("expected").as_array()[0].at("tokens").as_array()) {
    expected.push_back(static_cast<TokenId>(id.as_int()));
  }
  const TokenSequence got = generation::generate(model, prompt, config).front().tokens;
  std::printf("%-32s %-6s %s\n", c.at("name").as_string().c_str(), scalar, got == expected ? "same tokens as PyTorch" : "DIFFERENT");
  return got == expected;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace eigenformer;
  if (argc < 2) return 0;
  const std::string fixtures = argv[1];
  const json::Value file = json::parse_file(fixtures + "/generation/reference_sequences.json");
  int compared = 0, failed = 0;
  for (const json::Value& c : file.at("cases").as_array()) {
    const std::string name = c.at("name").as_string();
    if (name.size() < 7 || name.compare(name.size() - 7, 7, "/greedy") != 0) continue;
    const bool llama = c.at("family").as_string() == "llama";
    failed += !(llama ? greedy_matches<Llama<float>>(fixtures, c, "float") : greedy_matches<T5<float>>(fixtures, c, "float"));
    failed += !(llama ? greedy_matches<Llama<double>>(fixtures, c, "double") : greedy_matches<T5<double>>(fixtures, c, "double"));
    compared += 2;
  }
  std::printf("%d runs, %d different\n", compared, failed);
  return compared == 10 && failed == 0 ? 0 : 1;
}
