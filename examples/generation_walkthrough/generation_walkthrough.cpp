// generation_walkthrough — the generation loop on a language model small enough to read.
//
// What it teaches: a language model only ever does one thing — score every token of its vocabulary as the
// next one. Generation is a loop around that: pick a token (greedy, sampling or beam search), append it,
// score again, until the end-of-sequence (EOS) token comes. And the prompt steers: the same model continues
// "the cat" and "the dog" differently.
//
// The model is a real eigenformer Llama (embedding, one decoder block, final RMSNorm, LM head), wired by hand
// so that its scores are a *bigram* table counted from a six-sentence corpus: the score of word w after word
// u is log P(w | u). Its attention and feed-forward weights are zero, so each position's vector is just its
// own word, and the LM head reads the table row. Every number it produces can be checked against the corpus.
// Such a model sees only the last word, so here it is the prompt's last word that steers; a trained model
// reads the whole prompt through attention (run the llama program on a real checkpoint with --prompt).
// Tokens are whole words here (a real model uses sub-word tokens; see the tokenize example), and "." is EOS.
//
// Run: ./build/release/examples/generation_walkthrough/generation_walkthrough
#include <eigenformer/eigenformer.hpp>
#include <eigenformer/generation.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "llama/llama.hpp"

using namespace eigenformer;
using namespace eigenformer::generation;

namespace {

const std::vector<std::string> kWords = {".", "the", "cat", "dog", "sat", "ran", "on", "to", "mat", "park", "in", "sun", "a", "and"};
const char* kCorpus[] = {
    "the cat sat on the mat .",  "the dog ran to the park .",  "the cat sat in the sun .",
    "a dog ran in the park .",   "the cat and a dog sat on the mat .", "a cat sat in the sun .",
};

TokenId id_of(const std::string& word) {
  for (std::size_t i = 0; i < kWords.size(); ++i) {
    if (kWords[i] == word) return static_cast<TokenId>(i);
  }
  std::fprintf(stderr, "unknown word '%s'\n", word.c_str());
  std::exit(1);
}

TokenSequence words(const std::string& text) {
  TokenSequence ids;
  std::istringstream in(text);
  for (std::string w; in >> w;) ids.push_back(id_of(w));
  return ids;
}

std::string text_of(const TokenSequence& ids) {
  std::string out;
  for (TokenId id : ids) out += (out.empty() ? "" : " ") + kWords[static_cast<std::size_t>(id)];
  return out;
}

// The model: a Llama whose scores are log P(next word | this word), counted from the corpus.
Llama<float> bigram_model() {
  const Index V = static_cast<Index>(kWords.size());
  LlamaConfig c;
  c.vocab_size = V;
  c.hidden_size = V;  // one feature per word: the vector of word i is the unit vector e_i
  c.intermediate_size = 4;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 1;
  c.head_dim = V;
  c.num_key_value_heads = 1;
  c.max_position_embeddings = 64;
  c.special_tokens.eos = {id_of(".")};
  Llama<float> model(c);
  for (auto& p : named_parameters(model)) std::fill(p.data, p.data + p.numel(), 0.0f);  // attention and FFN add 0

  // 1) Count bigrams (with add-0.1 smoothing, so that no continuation is impossible).
  Matrix<double> counts = Matrix<double>::Constant(V, V, 0.1);  // counts(u, w): w after u
  for (const char* sentence : kCorpus) {
    const TokenSequence ids = words(sentence);
    for (std::size_t t = 0; t + 1 < ids.size(); ++t) counts(ids[t], ids[t + 1]) += 1;
  }
  // 2) Embeddings: word i ↦ e_i. RMSNorm turns e_i into √V · e_i (its root-mean-square is 1/√V).
  model.embed_tokens.weight.setIdentity();
  model.decoder.final_norm->weight.setOnes();
  for (auto& layer : model.decoder.layers) {
    layer.attention_residual.norm.weight.setOnes();
    layer.ffn_residual.norm.weight.setOnes();
  }
  // 3) LM head: logits_w = Σ_u W(w, u) h_u with h = √V e_u, so W(w, u) = log P(w | u) / √V.
  for (Index u = 0; u < V; ++u) {
    const double total = counts.row(u).sum();
    for (Index w = 0; w < V; ++w) {
      model.lm_head.weight(w, u) = static_cast<float>(std::log(counts(u, w) / total) / std::sqrt(static_cast<double>(V)));
    }
  }
  return model;
}

std::string spell(TokenId id) { return kWords[static_cast<std::size_t>(id)]; }

}  // namespace

int main() {
  Llama<float> model = bigram_model();

  // 1) One step by hand: the model's scores for the word after "the cat".
  const TokenSequence prompt = words("the cat");
  DecoderCache<float> cache;
  TokenIds ids(1, static_cast<Index>(prompt.size()));
  for (std::size_t t = 0; t < prompt.size(); ++t) ids(0, static_cast<Index>(t)) = prompt[t];
  Matrix<float> logits;
  model.forward(ids, cache, logits, /*last_only=*/true);
  const Scores z(logits.data(), logits.data() + logits.size());
  const std::vector<double> p = softmax(z);
  std::printf("The model scores every word as the next one after \"the cat\":\n");
  for (std::size_t w = 0; w < kWords.size(); ++w) {
    std::printf("  %-6s score %6.2f   p = %.3f  %s\n", kWords[w].c_str(), z[w], p[w], std::string(static_cast<std::size_t>(p[w] * 40), '#').c_str());
  }

  // 2) Greedy search: always the best word, until "." (EOS).
  GenerationConfig greedy;
  greedy.max_new_tokens = 12;
  std::printf("\nGreedy search — the prompt steers the continuation:\n");
  for (const char* start : {"the cat", "the dog", "in the sun"}) {
    const GeneratedSequence r = generate(model, words(start), greedy).front();
    std::printf("  %-10s → %-36s (stopped: %s, log p = %.2f)\n", start, text_of(r.tokens).c_str(),
                to_string(r.stop_reason), r.log_probability);
  }
  // Greedy search loops as soon as it revisits a word. Forbidding any repeated word pair breaks the loop.
  GenerationConfig no_repeat = greedy;
  no_repeat.no_repeat_ngram_size = 2;
  const GeneratedSequence unlooped = generate(model, words("the cat"), no_repeat).front();
  std::printf("  %-10s → %-36s (no_repeat_ngram_size = 2)\n", "the cat", text_of(unlooped.tokens).c_str());

  // 3) Sampling: draw from the distribution instead. Temperature reshapes it; a seed reproduces a run.
  std::printf("\nSampling \"the dog ...\" (top-k off, three seeds per temperature):\n");
  GenerationConfig sample = greedy;
  sample.strategy = Strategy::Sample;
  sample.top_k = 0;
  for (double temperature : {0.5, 1.0, 2.0}) {
    sample.temperature = temperature;
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      sample.seed = seed;
      std::printf("  T = %.1f seed %llu → %s\n", temperature, static_cast<unsigned long long>(seed),
                  text_of(generate(model, words("the dog"), sample).front().tokens).c_str());
    }
  }

  // 4) What each filter does to the distribution, for one step (the trace of a sampling run).
  Trace trace;
  trace.top_n = 4;
  GenerationIO io;
  io.trace = &trace;
  sample.temperature = 0.7;
  sample.top_k = 3;
  sample.top_p = 0.9;
  sample.max_new_tokens = 1;
  generate(model, words("the"), sample, io);
  std::printf("\nOne sampling step after \"the\", filter by filter (temperature 0.7, top-k 3, top-p 0.9):\n%s",
              trace.to_text(spell).c_str());

  // 5) Beam search: keep the 3 best partial sentences, not just 1.
  GenerationConfig beam = greedy;
  beam.strategy = Strategy::Beam;
  beam.num_beams = 3;
  beam.num_return_sequences = 3;
  beam.max_new_tokens = 6;
  Trace beams;
  io.trace = &beams;
  const auto best = generate(model, words("the cat"), beam, io);
  std::printf("\nBeam search (3 beams) after \"the cat\" — the best finished sentences, score = log p / length:\n");
  for (const GeneratedSequence& r : best) std::printf("  %-28s score %.3f\n", text_of(r.tokens).c_str(), r.score);
  std::printf("\nThe beams, step by step (which beam each candidate extends, and what became of it):\n%s",
              beams.to_text(spell).c_str());
  return 0;
}
