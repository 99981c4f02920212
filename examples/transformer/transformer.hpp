// examples/transformer/transformer.hpp — the Transformer of "Attention is all you need" (Vaswani et al. 2017),
// assembled from the same blocks as BERT, Llama and T5.
//
//   embedding   one table E (V, C) shared by source, target and output (§3.4), multiplied by √C, plus the
//               fixed sinusoidal positions (§3.5)
//   encoder     N × EncoderBlock, post-norm: LayerNorm(x + Sublayer(x)) (§3.1), biases everywhere,
//               FFN(x) = ReLU(x W_1 + b_1) W_2 + b_2 (§3.3)
//   decoder     N × CrossDecoderBlock: masked self-attention, attention over the encoder output, FFN
//   output      logits = h Eᵀ ("the pre-softmax linear transformation" shares E)
//
// The paper's base model is C = 512, H = 8, F = 2048, N = 6.
// Shapes: B batch, S source positions, T target positions, C width, V vocabulary.
#pragma once

#include <eigenformer/eigenformer.hpp>

#include "transformer_config.hpp"

#include <cmath>
#include <string>

namespace eigenformer {

// TransformerConfig — config.json read and checked, and the blocks this family picks: transformer_config.hpp.

template <class Scalar>
class Transformer {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  explicit Transformer(const TransformerConfig& config)
      : config_(config), embedding(config.vocab, config.width), model(config.stacks()) {}

  /// source (B, S), target (B, T) → logits (B·T, V): the score of every next target token.
  void forward(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits) {
    // 1) Source: E[source]·√C + PE, then the encoder.                    memory (B, S, C)
    embed(source, x);
    model.encode(x, memory);
    // 2) Target: E[target]·√C + PE, then the decoder reading the memory.  h (B, T, C)
    embed(target, y);
    model.decode(y, memory, h);
    // 3) Output: logits = h Eᵀ.                                            (B·T, V)
    logits.noalias() = as_matrix(h) * embedding.weight.transpose();
  }

  /// Names: embedding.weight, encoder.*, decoder.*
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    embedding.collect_parameters(prefix + "embedding.", out);
    model.collect_parameters(prefix, out);
  }

 private:
  void embed(const TokenIds& ids, Tensor3<Scalar>& out) const {
    embedding.forward(ids, out);
    as_matrix(out) *= std::sqrt(static_cast<Scalar>(config_.width));
    add_sinusoidal_positions(out);
  }

  TransformerConfig config_;

 public:
  Embedding<Scalar> embedding;   // E (V, C)
  EncoderDecoder<Scalar> model;  // encoder and decoder stacks
  Tensor3<Scalar> x, memory;     // (B, S, C) the embedded source, the encoder output
  Tensor3<Scalar> y, h;          // (B, T, C) the embedded target, the decoder output
};

}  // namespace eigenformer
