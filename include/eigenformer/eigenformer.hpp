// eigenformer.hpp — everything, in the order a lecture meets it: one module header per folder, bottom to
// top (docs/design.md draws the layers; tests/layering checks that no folder includes one above it).
#pragma once

#include "eigenformer/core.hpp"        // errors, tensors and their layout, files, named parameters
#include "eigenformer/layers.hpp"      // linear, norms, feed-forward, position schemes
#include "eigenformer/attention.hpp"   // the attention core, the KV cache, multi-head attention
#include "eigenformer/blocks.hpp"      // blocks and stacks, the encoder-decoder
#include "eigenformer/tokenizers.hpp"  // text ↔ token ids (byte-level BPE, WordPiece, Unigram, special tokens)
#include "eigenformer/chat.hpp"        // chat templates: the model's own Jinja template, rendered here
#include "eigenformer/models.hpp"      // config.json, checkpoint folders, the model interfaces
#include "eigenformer/generation.hpp"  // greedy, sampling and beam search until EOS
#include "eigenformer/training.hpp"    // losses and objectives, optimizers, data, progress, checkpoints
#include "eigenformer/inspect.hpp"     // attention pictures, HTML reports, comparing two runs
