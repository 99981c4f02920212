// eigenformer.hpp — everything, in the order a lecture meets it.
#pragma once

// Core: errors, tensors and their layout, files.
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/dtype.hpp"
#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/core/parameters.hpp"

// Layers.
#include "eigenformer/layers/linear.hpp"
#include "eigenformer/layers/embedding.hpp"
#include "eigenformer/layers/norm.hpp"
#include "eigenformer/layers/activation.hpp"
#include "eigenformer/layers/feed_forward.hpp"
#include "eigenformer/layers/sinusoidal.hpp"
#include "eigenformer/layers/rope.hpp"
#include "eigenformer/layers/relative_position_bias.hpp"

// The attention core, and multi-head attention around it.
#include "eigenformer/attention/attention.hpp"
#include "eigenformer/attention/kv_cache.hpp"
#include "eigenformer/attention/multi_head_attention.hpp"

// Blocks and stacks.
#include "eigenformer/blocks/block_config.hpp"
#include "eigenformer/blocks/self_attention_block.hpp"
#include "eigenformer/blocks/encoder_block.hpp"
#include "eigenformer/blocks/decoder_block.hpp"
#include "eigenformer/blocks/cross_decoder_block.hpp"
#include "eigenformer/blocks/stack.hpp"
#include "eigenformer/blocks/encoder_decoder.hpp"

// Tokenizers: text ↔ token ids (byte-level BPE, WordPiece, Unigram, special tokens).
#include "eigenformer/tokenizers.hpp"

// Chat templates: the Jinja prompt format a checkpoint ships in tokenizer_config.json.
#include "eigenformer/chat.hpp"

// Models: config.json, checkpoint folders, the model interfaces (the families are assembled in examples/).
#include "eigenformer/models/models.hpp"

// Generation: greedy, sampling and beam search until EOS.
#include "eigenformer/generation.hpp"
