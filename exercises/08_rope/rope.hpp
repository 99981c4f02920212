// Exercise 8 — rotate a query or key by its position: RoPE (course chapter 3, embeddings and positions;
// docs/positions.md, "RoPE").
//
// Llama does not add a position vector to the token. It *turns* each query and key: the D features of a head
// form D/2 pairs, and pair i of the vector at position p rotates by the angle p·θ_i,
//
//     θ_i = base^(−2i/D)                    i = 0 .. D/2 − 1     (base = "rope_theta": 10000, Llama 3 500000)
//     (x, y) ↦ (x cos pθ_i − y sin pθ_i,  x sin pθ_i + y cos pθ_i)
//
// Pair i is (v[i], v[i + D/2]) — the "half-split" layout of Hugging Face checkpoints (transformers'
// rotate_half). Pair 0 turns fastest (θ_0 = 1 radian per position); the last pair barely moves, so it can
// tell apart positions thousands of tokens away. Because rotations compose, q(m)·k(n) depends only on m − n.
//
// The library's version: RotaryEmbedding::rotate() in include/eigenformer/layers/rope.hpp.
// Check: ctest --preset ci -R "exercise.08_rope"   (see exercises/README.md)
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace exercise {

/// v (D, even) at position p → v rotated by RoPE, half-split pairs (v[i], v[i + D/2]).
inline std::vector<double> rope_rotate(std::vector<double> v, std::int64_t position, double base = 10000.0) {
  // TODO: turn each pair by position · θ_i. As written, no position is added: every position looks alike.
  (void)position;
  (void)base;
  return v;
}

}  // namespace exercise
