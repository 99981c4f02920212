// eigenformer/models/dump.hpp — writing what a forward pass computed, to compare with another implementation.
//
// The family programs' --dump FILE.safetensors writes, in F32, for one sequence of the batch (no batch
// dimension), under the names Hugging Face's outputs use:
//
//     logits               (T, V)
//     hidden_states.<i>    (T, C)     i = 0: the embedding output; i = l: after block l; the last one after the
//                                     final norm where the family has one (output_hidden_states)
//     attentions.<i>       (H, T, S)  the softmax weights of block i's self-attention (output_attentions)
//
// An encoder-decoder prefixes the names: encoder_hidden_states.<i>, encoder_attentions.<i>,
// decoder_hidden_states.<i>, decoder_attentions.<i>, and cross_attentions.<i>.
//
//     SafeTensorsWriter out;
//     add_capture(out, "", capture);          // hidden_states.*, attentions.*
//     add_rows(out, "logits", logits);
//     out.write("dump.safetensors");
#pragma once

#include <string>
#include <vector>

#include "eigenformer/blocks/stack.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

/// Adds a (rows, cols) matrix as an F32 tensor `name`.
template <class Scalar>
void add_rows(SafeTensorsWriter& out, const std::string& name, const Eigen::Ref<const Matrix<Scalar>>& m) {
  const Matrix<Scalar> copy = m;  // contiguous, row-major
  out.add(name, {static_cast<std::int64_t>(copy.rows()), static_cast<std::int64_t>(copy.cols())}, copy.data(), DType::F32);
}

/// Adds a vector as a 1-D F32 tensor `name`.
template <class Scalar>
void add_vector(SafeTensorsWriter& out, const std::string& name, const Eigen::Ref<const RowVector<Scalar>>& v) {
  const RowVector<Scalar> copy = v;
  out.add(name, {static_cast<std::int64_t>(copy.size())}, copy.data(), DType::F32);
}

/// Adds sequence `b` of activations (B, T, C) as a (T, C) tensor.
template <class Scalar>
void add_sequence(SafeTensorsWriter& out, const std::string& name, const Tensor3<Scalar>& x, Index b = 0) {
  if (b < 0 || b >= x.dimension(0)) {
    throw ValueError(detail::cat("[dump] ", name, ": sequence ", b, " is outside the batch of ", x.dimension(0)));
  }
  const Index T = x.dimension(1), C = x.dimension(2);
  out.add(name, {static_cast<std::int64_t>(T), static_cast<std::int64_t>(C)}, x.data() + b * T * C, DType::F32);
}

/// Adds sequence `b` of attention weights (B, H, T, S) as an (H, T, S) tensor.
template <class Scalar>
void add_heads(SafeTensorsWriter& out, const std::string& name, const Tensor4<Scalar>& w, Index b = 0) {
  if (b < 0 || b >= w.dimension(0)) {
    throw ValueError(detail::cat("[dump] ", name, ": sequence ", b, " is outside the batch of ", w.dimension(0)));
  }
  const Index H = w.dimension(1), T = w.dimension(2), S = w.dimension(3);
  out.add(name, {static_cast<std::int64_t>(H), static_cast<std::int64_t>(T), static_cast<std::int64_t>(S)},
          w.data() + b * H * T * S, DType::F32);
}

/// Adds a stack's capture for sequence `b`: <prefix>hidden_states.<i>, <prefix>attentions.<i>, and
/// cross_attentions.<i> when the stack has cross-attention (its name carries no prefix, as in Hugging Face).
template <class Scalar>
void add_capture(SafeTensorsWriter& out, const std::string& prefix, const Capture<Scalar>& capture, Index b = 0) {
  for (std::size_t i = 0; i < capture.hidden_states.size(); ++i) {
    add_sequence(out, detail::cat(prefix, "hidden_states.", i), capture.hidden_states[i], b);
  }
  for (std::size_t i = 0; i < capture.attentions.size(); ++i) {
    add_heads(out, detail::cat(prefix, "attentions.", i), capture.attentions[i], b);
  }
  for (std::size_t i = 0; i < capture.cross_attentions.size(); ++i) {
    add_heads(out, detail::cat("cross_attentions.", i), capture.cross_attentions[i], b);
  }
}

}  // namespace eigenformer
