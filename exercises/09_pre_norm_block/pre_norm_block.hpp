// Exercise 9 — wire a pre-norm block (course chapter 5, blocks and stacks; docs/blocks.md).
//
// A block is two sublayers, each wrapped in a residual connection and a norm. Where the norm sits is the
// difference between the 2017 Transformer (and BERT) and every modern decoder (GPT-2, Llama, Mistral, Qwen):
//
//     post-norm (Vaswani et al. 2017, BERT)        pre-norm (GPT-2, Llama)
//     h = norm1(x + attention(x))                   h = x + attention(norm1(x))
//     y = norm2(h + mlp(h))                         y = h + mlp(norm2(h))
//
// In pre-norm the residual stream x → h → y is never normalised: each sublayer *reads* a normalised copy and
// *adds* its result. A stack of 80 such blocks still passes the gradient straight down the additions, which is
// why deep pre-norm models train without the warm-up tricks post-norm needs (Xiong et al. 2020). A Llama
// applies one more norm after the last block, before the LM head.
//
// The starting point is wired post-norm. Rewire it pre-norm.
// The library's version: SelfAttentionBlock::forward() in include/eigenformer/blocks/self_attention_block.hpp.
// Check: ctest --preset ci -R "exercise.09_pre_norm_block"   (see exercises/README.md)
#pragma once

#include <functional>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// A sublayer or a norm: (T, C) → (T, C).
using Sublayer = std::function<eigenformer::Matrix<double>(const eigenformer::Matrix<double>&)>;

/// x (T, C) → y (T, C), one pre-norm block.
inline eigenformer::Matrix<double> pre_norm_block(const eigenformer::Matrix<double>& x, const Sublayer& norm1,
                                                  const Sublayer& attention, const Sublayer& norm2, const Sublayer& mlp) {
  // TODO: rewire pre-norm. As written: post-norm, the 2017 wiring.
  const eigenformer::Matrix<double> h = norm1(x + attention(x));
  return norm2(h + mlp(h));
}

}  // namespace exercise
