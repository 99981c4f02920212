// examples/transformer/transformer_config.hpp — the shape of the 2017 Transformer (TransformerConfig) and the blocks
// it picks (stacks()). The model itself, and what each choice means, is transformer.hpp.
#pragma once

#include <eigenformer/eigenformer.hpp>

namespace eigenformer {

struct TransformerConfig {
  Index vocab = 37000;  // the paper's shared English-German byte-pair vocabulary
  Index width = 512;    // C = d_model
  Index heads = 8;      // H
  Index ffn = 2048;     // F = d_ff
  Index layers = 6;     // N, in the encoder and in the decoder
  double eps = 1e-5;    // LayerNorm ε (the paper gives none; PyTorch's default)

  EncoderDecoderConfig stacks() const {
    StackConfig s;
    s.block.attention.width = width;  // C
    s.block.attention.heads = heads;  // H; D = C / H
    s.block.attention.qkv_bias = true;
    s.block.attention.out_bias = true;
    s.block.ffn.hidden = ffn;         // F
    s.block.ffn.activation = Activation::ReLU;
    s.block.ffn.gated = false;
    s.block.ffn.bias = true;
    s.block.norm.kind = NormKind::LayerNorm;
    s.block.norm.eps = eps;
    s.block.norm.bias = true;
    s.block.placement = NormPlacement::Post;
    s.layers = layers;
    EncoderDecoderConfig config;
    config.encoder = s;  // the encoder and the decoder have the same shape (§3.1)
    config.decoder = s;
    return config;
  }
};

}  // namespace eigenformer
