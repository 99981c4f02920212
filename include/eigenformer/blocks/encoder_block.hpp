// eigenformer/blocks/encoder_block.hpp — the encoder block (BERT, the T5 encoder, the original encoder).
//
//     h = Residual(x, SelfAttention)    bidirectional: every token sees every (non-padding) token
//     y = Residual(h, FFN)
//
// See self_attention_block.hpp for the forward pass; the encoder block is that block in Self mode.
#pragma once

#include "eigenformer/blocks/self_attention_block.hpp"

namespace eigenformer {

template <class Scalar>
class EncoderBlock : public SelfAttentionBlock<Scalar> {
 public:
  EncoderBlock() = default;
  explicit EncoderBlock(const BlockConfig& config) : SelfAttentionBlock<Scalar>(config, AttentionMode::Self) {}
};

}  // namespace eigenformer
