// eigenformer/layers/relative_position_bias.hpp — T5's learned relative position bias
// (Raffel et al. 2020, "Exploring the Limits of Transfer Learning...", §2.1).
//
// T5 adds no position vectors to its tokens. Instead every attention score gets a learned scalar that
// depends on the distance between query and key, one per head:
//
//     scores(h, i, j) += bias(bucket(j − i), h)           bias: (num_buckets, H)
//
// Distances are grouped into buckets: half of them exact (0, 1, 2, ...), the rest logarithmically wider up
// to max_distance, beyond which everything shares the last bucket. The encoder is bidirectional (half the
// buckets for keys to the left, half to the right); the decoder only looks left.
// The table lives in block 0 of each stack and is shared by all its layers; the cross-attention has none.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

struct RelativePositionBiasConfig {
  Index heads = 0;           // H
  Index num_buckets = 32;    // "relative_attention_num_buckets"
  Index max_distance = 128;  // "relative_attention_max_distance"
  bool bidirectional = true; // encoder: true; decoder: false
};

/// The bucket of relative position (key − query).
///   bidirectional: buckets [0, n/2) for keys at or left of the query, [n/2, n) for keys to the right.
///   Within a direction, with m = buckets/2 of that direction: distance d < m gets bucket d; larger d get
///   m + ⌊log(d/m) / log(max_distance/m) · (buckets − m)⌋, capped at the last bucket.
/// The logarithm is evaluated in single precision, as the reference implementation does, so that
/// distances on a bucket boundary land in the same bucket.
inline Index relative_position_bucket(Index relative_position, bool bidirectional, Index num_buckets,
                                      Index max_distance) {
  Index bucket = 0;
  Index distance = 0;
  if (bidirectional) {
    num_buckets /= 2;
    if (relative_position > 0) bucket += num_buckets;
    distance = relative_position < 0 ? -relative_position : relative_position;
  } else {
    distance = std::max<Index>(-relative_position, 0);
  }
  const Index max_exact = num_buckets / 2;
  if (distance < max_exact) return bucket + distance;
  const float log_ratio = std::log(static_cast<float>(distance) / static_cast<float>(max_exact));
  const float log_range = static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const Index large = max_exact + static_cast<Index>(log_ratio / log_range * static_cast<float>(num_buckets - max_exact));
  return bucket + std::min(large, num_buckets - 1);
}

template <class Scalar>
class RelativePositionBias {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  RelativePositionBias() = default;
  explicit RelativePositionBias(const RelativePositionBiasConfig& config)
      : config_(config), weight(Matrix<Scalar>::Zero(config.num_buckets, config.heads)) {
    if (config.heads <= 0 || config.num_buckets <= 1 || config.max_distance <= 0) {
      throw ValueError(detail::cat("[RelativePositionBias] needs heads > 0, num_buckets > 1 and max_distance > 0; got ",
                                   config.heads, ", ", config.num_buckets, ", ", config.max_distance));
    }
  }

  const RelativePositionBiasConfig& config() const { return config_; }

  /// The bias for `queries` positions starting at `first_query` against `keys` positions starting at 0:
  /// a (1, H, T, S) tensor to add to the scores (broadcast over the batch).
  Tensor4<Scalar> compute(Index queries, Index keys, Index first_query = 0) const {
    Tensor4<Scalar> bias(1, config_.heads, queries, keys);
    for (Index i = 0; i < queries; ++i) {
      for (Index j = 0; j < keys; ++j) {
        const Index b = relative_position_bucket(j - (first_query + i), config_.bidirectional, config_.num_buckets,
                                                 config_.max_distance);
        for (Index h = 0; h < config_.heads; ++h) bias(0, h, i, j) = weight(b, h);
      }
    }
    return bias;
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    add_parameter(out, prefix + "weight", weight, weight_grad);
  }

 private:
  RelativePositionBiasConfig config_;

 public:
  Matrix<Scalar> weight;  // (num_buckets, H)

  // ---- Backward (training) ------------------------------------------------------------------------------
  Matrix<Scalar> weight_grad;  // (num_buckets, H) ∂loss/∂table, accumulated by backward(); empty until collected

  /// Backward of compute(T, S, first_query). Each bias entry is a copy of one table entry,
  ///     bias(h, i, j) = weight(bucket(j − (first_query + i)), h),
  /// so a table entry's gradient is the sum of the gradients of every (i, j) that fell in its bucket — a
  /// scatter-add, as for an embedding — summed over the batch too, since one bias is broadcast to every
  /// sequence (and over the layers, if each layer's gradient is passed in turn: T5 shares the table).
  ///   dbias (B, H, T, S)  ∂loss/∂bias, B ≥ 1 (the attention scores' gradient, or its sum over the batch)
  /// Adds only when weight_grad is allocated. Reads only the bucket function: nothing kept from the forward.
  void backward(const Tensor4<Scalar>& dbias, Index first_query = 0) {
    if (dbias.dimension(1) != config_.heads) {
      throw ShapeError(detail::cat("[RelativePositionBias::backward] gradient ", detail::shape_str(shape_of(dbias)),
                                   " is not (B, H, T, S) with H = ", config_.heads));
    }
    if (weight_grad.size() == 0) return;
    if (weight_grad.rows() != weight.rows() || weight_grad.cols() != weight.cols()) {
      throw ShapeError(detail::cat("[RelativePositionBias::backward] gradient buffer ", detail::shape_str(shape_of(weight_grad)),
                                   " does not match the table ", detail::shape_str(shape_of(weight))));
    }
    for (Index i = 0; i < dbias.dimension(2); ++i) {
      for (Index j = 0; j < dbias.dimension(3); ++j) {
        const Index bucket = relative_position_bucket(j - (first_query + i), config_.bidirectional, config_.num_buckets,
                                                      config_.max_distance);
        for (Index b = 0; b < dbias.dimension(0); ++b) {
          for (Index h = 0; h < config_.heads; ++h) weight_grad(bucket, h) += dbias(b, h, i, j);
        }
      }
    }
  }
};

}  // namespace eigenformer
