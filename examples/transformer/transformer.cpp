// transformer — the 2017 Transformer of "Attention is all you need", built from eigenformer's blocks.
//
// What it teaches: BERT, Llama and T5 are choices within one kit. The original model is post-norm LayerNorm,
// ReLU, biases everywhere, sinusoidal positions and one shared embedding — a config, not new code
// (examples/transformer/transformer.hpp, tested against torch.nn.Transformer's layers in tests/models).
//
// Run:  ./build/release/examples/transformer/transformer
#include "transformer/transformer.hpp"

#include <cstdio>
#include <random>

using namespace eigenformer;

int main() {
  // 1) The paper's base model (C = 512, H = 8, F = 2048, N = 6, a shared 37000-token vocabulary).
  {
    Transformer<float> base{TransformerConfig{}};
    std::printf("base model: %.1fM parameters (Vaswani et al. 2017, Table 3: 65M)\n",
                static_cast<double>(count_parameters(base)) / 1e6);
  }

  // 2) A tiny one with random weights: shapes, and the decoder's causal mask at work.
  TransformerConfig tiny;
  tiny.vocab = 50;
  tiny.width = 32;
  tiny.heads = 4;
  tiny.ffn = 64;
  tiny.layers = 2;
  Transformer<float> model(tiny);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  for (ParameterRef<float>& p : named_parameters(model)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = normal(rng);
  }
  TokenIds source(1, 6), target(1, 4);
  source << 3, 14, 15, 9, 26, 5;
  target << 1, 41, 42, 8;
  Matrix<float> logits, changed;
  model.forward(source, target, logits);
  std::printf("source (1, 6) -> memory (%ld, %ld, %ld); target (1, 4) -> logits (%ld, %ld)\n",
              static_cast<long>(model.memory.dimension(0)), static_cast<long>(model.memory.dimension(1)),
              static_cast<long>(model.memory.dimension(2)), static_cast<long>(logits.rows()), static_cast<long>(logits.cols()));
  target(0, 3) = 17;  // change the last target token: only the last row of logits may move
  model.forward(source, target, changed);
  for (Index t = 0; t < 4; ++t) {
    std::printf("  target position %ld: logits moved by %.2e\n", static_cast<long>(t),
                static_cast<double>((changed.row(t) - logits.row(t)).cwiseAbs().maxCoeff()));
  }
  return 0;
}
