// eigenformer/blocks.hpp — blocks and stacks (blocks/): attention + feed-forward with residuals and norms,
// N of them in a stack, and the encoder-decoder.
#pragma once

#include "eigenformer/blocks/block_config.hpp"
#include "eigenformer/blocks/self_attention_block.hpp"
#include "eigenformer/blocks/encoder_block.hpp"
#include "eigenformer/blocks/decoder_block.hpp"
#include "eigenformer/blocks/cross_decoder_block.hpp"
#include "eigenformer/blocks/stack.hpp"
#include "eigenformer/blocks/encoder_decoder.hpp"
