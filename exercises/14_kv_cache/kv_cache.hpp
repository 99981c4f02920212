// Exercise 14 — decode with a KV cache (course chapter 12, speed; docs/attention.md, "The KV cache", and
// docs/generation.md, "Speed").
//
// Generating token n with causal attention needs the keys and values of every earlier position. Recomputing
// them from scratch at each step costs O(n) projections per step, O(n²) over a reply; but causal attention
// never changes the past (position s sees only positions ≤ s), so each key and value can be computed once
// and kept. A decode step then takes the new token's q, k, v (D each), appends k and v to the cache, and lets
// the one query attend over the S cached positions:
//
//     keys ← [keys; kᵀ]   values ← [values; vᵀ]                     (S, D) each, S grows by one per step
//     context = softmax(q Kᵀ / √D) V                                 (D)
//
// The result must equal row S − 1 of full causal attention over all S positions — the cache changes the cost,
// never the answer. (A real model keeps one cache per layer and per key/value head; RoPE is applied before a
// key enters it.)
//
// The starting point forgets the past: it attends to the new token alone and keeps nothing.
// The library's version: KVCache in include/eigenformer/attention/kv_cache.hpp and the single-query path of
// the core in include/eigenformer/attention/attention.hpp.
// Check: ctest --preset ci -R "exercise.14_kv_cache"   (see exercises/README.md)
#pragma once

#include <cmath>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

/// The keys and values of every position so far, one row each: (S, D).
struct KVCache {
  eigenformer::Matrix<double> keys;
  eigenformer::Matrix<double> values;
};

/// q, k, v (1, D) of the new token → its context (1, D); appends k and v to the cache.
inline eigenformer::RowVector<double> decode_step(KVCache& cache, const eigenformer::RowVector<double>& q,
                                                  const eigenformer::RowVector<double>& k,
                                                  const eigenformer::RowVector<double>& v) {
  // TODO: append k and v, then attend over every cached position. As written: one key, the new token's own,
  // whose softmax weight is 1 — the context is just v.
  (void)cache;
  (void)q;
  (void)k;
  return v;
}

}  // namespace exercise
