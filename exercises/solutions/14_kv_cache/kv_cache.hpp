// Exercise 14 — a decode step with a KV cache: a solution. (The text: exercises/14_kv_cache/kv_cache.hpp.)
#pragma once

#include <cmath>

#include <eigenformer/core/tensor.hpp>

namespace exercise {

struct KVCache {
  eigenformer::Matrix<double> keys;
  eigenformer::Matrix<double> values;
};

inline eigenformer::RowVector<double> decode_step(KVCache& cache, const eigenformer::RowVector<double>& q,
                                                  const eigenformer::RowVector<double>& k,
                                                  const eigenformer::RowVector<double>& v) {
  const eigenformer::Index S = cache.keys.rows() + 1, D = q.cols();
  // 1) Append the new key and value: the cache now holds S positions.
  cache.keys.conservativeResize(S, D);
  cache.values.conservativeResize(S, D);
  cache.keys.row(S - 1) = k;
  cache.values.row(S - 1) = v;
  // 2) One query against S keys: scores (1, S) = q Kᵀ / √D. No mask is needed — the cache holds only the
  //    past and the present, which is exactly what the newest position may see.
  const eigenformer::RowVector<double> scores = (q * cache.keys.transpose()) / std::sqrt(static_cast<double>(D));
  // 3) Softmax, the maximum subtracted so that exp() cannot overflow.
  const eigenformer::RowVector<double> exps = (scores.array() - scores.maxCoeff()).exp().matrix();
  const eigenformer::RowVector<double> weights = exps / exps.sum();
  // 4) The weighted sum of the values.
  return weights * cache.values;
}

}  // namespace exercise
