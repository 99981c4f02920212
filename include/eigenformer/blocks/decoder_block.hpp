// eigenformer/blocks/decoder_block.hpp — the decoder-only block (Llama, GPT).
//
//     h = Residual(x, CausalSelfAttention)   token t sees tokens 0..t only: the model may not peek at
//                                            the token it is learning to predict
//     y = Residual(h, FFN)
//
// With a KV cache in the options, x holds only the new positions and attention runs over every cached
// position plus these. See self_attention_block.hpp for the forward pass; this is that block in Causal mode.
#pragma once

#include "eigenformer/blocks/self_attention_block.hpp"

namespace eigenformer {

template <class Scalar>
class DecoderBlock : public SelfAttentionBlock<Scalar> {
 public:
  DecoderBlock() = default;
  explicit DecoderBlock(const BlockConfig& config) : SelfAttentionBlock<Scalar>(config, AttentionMode::Causal) {}
};

}  // namespace eigenformer
