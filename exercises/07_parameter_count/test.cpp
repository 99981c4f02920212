// The check for exercise 7: the parameter counts published for real checkpoints (the sum of the sizes of
// every tensor in their model.safetensors, as Hugging Face's model pages show it), and a hand-worked toy.
#include <cstdint>

#include <doctest/doctest.h>

#include <parameter_count.hpp>  // the starting point or the solution: the build chooses (exercises/CMakeLists.txt)

namespace {

exercise::LlamaShape shape(std::int64_t V, std::int64_t C, std::int64_t L, std::int64_t H, std::int64_t Hkv, std::int64_t D,
                           std::int64_t F, bool tied) {
  exercise::LlamaShape s;
  s.vocab_size = V;
  s.hidden_size = C;
  s.num_hidden_layers = L;
  s.num_attention_heads = H;
  s.num_key_value_heads = Hkv;
  s.head_dim = D;
  s.intermediate_size = F;
  s.tie_word_embeddings = tied;
  return s;
}

}  // namespace

TEST_CASE("a toy worked by hand") {
  // V = 10, C = 4, L = 1, H = 2, Hkv = 1, D = 2, F = 6, untied:
  //   embedding 40; q 16, k 8, v 8, o 16; MLP 3·24 = 72; norms 8; final norm 4; head 40  →  212
  CHECK(exercise::parameter_count(shape(10, 4, 1, 2, 1, 2, 6, false)) == 212);
  CHECK(exercise::parameter_count(shape(10, 4, 1, 2, 1, 2, 6, true)) == 172);
}

TEST_CASE("Llama 2 7B (meta-llama/Llama-2-7b-hf): 6 738 415 616") {
  CHECK(exercise::parameter_count(shape(32000, 4096, 32, 32, 32, 128, 11008, false)) == 6738415616LL);
}

TEST_CASE("Llama 3 8B (meta-llama/Meta-Llama-3-8B): 8 030 261 248 — grouped-query attention, 8 kv heads") {
  CHECK(exercise::parameter_count(shape(128256, 4096, 32, 32, 8, 128, 14336, false)) == 8030261248LL);
}

TEST_CASE("TinyLlama 1.1B: 1 100 048 384") {
  CHECK(exercise::parameter_count(shape(32000, 2048, 22, 32, 4, 64, 5632, false)) == 1100048384LL);
}

TEST_CASE("Llama 3.2 1B and 3B: tied embeddings, 1 235 814 400 and 3 212 749 824") {
  CHECK(exercise::parameter_count(shape(128256, 2048, 16, 32, 8, 64, 8192, true)) == 1235814400LL);
  CHECK(exercise::parameter_count(shape(128256, 3072, 28, 24, 8, 128, 8192, true)) == 3212749824LL);
}

TEST_CASE("tying the head saves exactly one V×C matrix") {
  const std::int64_t untied = exercise::parameter_count(shape(32000, 288, 6, 6, 6, 48, 768, false));
  const std::int64_t tied = exercise::parameter_count(shape(32000, 288, 6, 6, 6, 48, 768, true));
  CHECK(untied - tied == 32000LL * 288);
  CHECK(tied == 15191712);  // llama2.c's stories15M: "15M"
}
