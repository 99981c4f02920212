// eigenformer/training/footprint.hpp — what a training run will hold in memory, checked before it allocates.
//
// Inference holds the weights. Training holds, besides them (Kingma & Ba 2015 for AdamW's moments):
//
//     gradients        P scalars             one per weight (parameters_with_gradients)
//     AdamW moments    2 P scalars           m and v per weight (SGD with momentum: P; plain SGD: 0)
//     activations      what a step's forward keeps for its backward, per micro-batch of B sequences of T positions
//
// The activations, counted from what the blocks keep (blocks/, attention/multi_head_attention.hpp,
// layers/feed_forward.hpp, layers/norm.hpp), in scalars:
//
//     per block          B·T·(7C + 2·H·D + 2·Hkv·D + 4F) + B·H·T·T
//                          7C: the block's input, each norm's x̂ and output (2 norms), the attention's output and
//                              the residual after it; H·D twice: q and the context; Hkv·D twice: k and v;
//                          4F: the FFN's up, gate, act(gate) and hidden; B·H·T·T: the softmax weights
//     per cross-attention  B·T·(3C + 2·H·D) + 2·B·Hkv·S·D + B·H·T·S   (a T5/BART decoder block; S = T here)
//     per step           2·B·T·V + 4·B·T·C  the logits and their gradient; the embedded tokens, the final hidden
//                                            state and their gradients
//     the backward       one block's activations again: its gradient buffers (dq, dk, dv, dcontext, ...) are
//                        one layer's, reused down the stack
//
// This is an estimate from the code's buffers, not a measurement: Eigen's temporaries inside a product and the
// attention's per-thread workspace are left out (a few per cent for the models here). It errs low, so a run it
// refuses would not have fitted.
//
//     bytes = sizeof(Scalar) × (P × (1 + 1 + moments) + activations)      (the weights' P counted once)
//
// check_training_memory compares the part still to be allocated (all of it, or all but the weights when the
// model is loaded already) with the memory available (core/memory.hpp) and throws MemoryError naming each part.
#pragma once

#include <cstdint>
#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/memory.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer::training {

/// The sizes a training step's memory depends on; each family fills it from its config (field by field).
struct TrainingShape {
  Index layers = 0;        // N blocks, every stack together (a T5's encoder and decoder)
  Index cross_layers = 0;  // of them, those with a cross-attention (an encoder-decoder's decoder blocks)
  Index width = 0;         // C
  Index heads = 0;         // H
  Index kv_heads = 0;      // Hkv
  Index head_dim = 0;      // D
  Index ffn = 0;           // F
  Index vocab = 0;         // V
  Index batch = 0;         // B sequences per micro-batch
  Index positions = 0;     // T positions per sequence (an encoder-decoder's source and target alike)
};

/// The parts of a training run's memory, in bytes (each saturating).
struct TrainingFootprint {
  Count weights;
  Count gradients;
  Count moments;
  Count activations;
  Count total() const { return weights + gradients + moments + activations; }
};

/// The estimate of the header's comment: `parameters` weights of Scalar, `moments` optimizer states per weight
/// (2 for AdamW, 1 for SGD with momentum, 0 for plain SGD), a step of `shape`.
template <class Scalar>
TrainingFootprint training_footprint(const TrainingShape& shape, std::int64_t parameters, int moments) {
  const Count s = Count(sizeof(Scalar));
  const Count B = shape.batch, T = shape.positions, C = shape.width, H = shape.heads, D = shape.head_dim;
  const Count HD = H * D, KD = Count(shape.kv_heads) * D, F = shape.ffn, V = shape.vocab;
  const Count block = B * T * (Count(7) * C + Count(2) * HD + Count(2) * KD + Count(4) * F) + B * H * T * T;
  const Count cross = B * T * (Count(3) * C + Count(2) * HD) + Count(2) * B * T * KD + B * H * T * T;
  const Count step = Count(2) * B * T * V + Count(4) * B * T * C;
  TrainingFootprint f;
  f.weights = Count(parameters) * s;
  f.gradients = Count(parameters) * s;
  f.moments = Count(moments) * Count(parameters) * s;
  f.activations = (Count(shape.layers) * block + Count(shape.cross_layers) * cross + step + block) * s;
  return f;
}

/// Refuses a training run that would not fit, before its gradients, moments and activations are allocated:
/// MemoryError "[training] gradients 1.0 GiB + AdamW moments 2.0 GiB + activations (B 16 × T 512 ...) ... = ...;
/// ... available". `weights_loaded`: the model is in memory already, so its weights are named but not counted
/// again against what is available.
template <class Scalar>
void check_training_memory(const TrainingShape& shape, std::int64_t parameters, int moments, bool weights_loaded) {
  const TrainingFootprint f = training_footprint<Scalar>(shape, parameters, moments);
  const Count needed = weights_loaded ? f.gradients + f.moments + f.activations : f.total();
  check_fits(needed, [&] {
    return detail::cat("[training] ", weights_loaded ? "(weights " : "weights ", format_bytes(f.weights),
                       weights_loaded ? ", loaded already) " : " + ", "gradients ", format_bytes(f.gradients), " (", parameters,
                       " parameters × ", sizeof(Scalar), " bytes) + ", moments == 2 ? "AdamW's two moments " : "optimizer moments ",
                       format_bytes(f.moments), " + activations ", format_bytes(f.activations), " (", shape.layers, " layers",
                       shape.cross_layers > 0 ? detail::cat(", ", shape.cross_layers, " with cross-attention") : std::string(),
                       ", B ", shape.batch, " × T ", shape.positions, ", C ", shape.width, ", H ", shape.heads, " × D ",
                       shape.head_dim, ", Hkv ", shape.kv_heads, ", F ", shape.ffn, ", V ", shape.vocab, ")");
  }, " for one training step");
}

}  // namespace eigenformer::training
