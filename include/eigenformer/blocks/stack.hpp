// eigenformer/blocks/stack.hpp — N blocks in a row: the Encoder, the Decoder and the CrossDecoder.
//
//     h_0 = x                                   (the embedded tokens, positions already added if absolute)
//     h_l = Block_l(h_{l-1})        l = 1 .. N
//     y   = FinalNorm(h_N)                      (pre-norm families: T5, Llama; nn.Transformer)
//
// Position schemes that every layer shares live here and are prepared once per call:
//   RoPE          one RotaryEmbedding, used by every self-attention
//   relative bias T5's table (held by "block 0" in Hugging Face files), turned into a (1, H, T, S) bias
//                 once and added to the scores of every self-attention of the stack
//
//     Encoder<Scalar>      = Stack<Scalar, EncoderBlock<Scalar>>       bidirectional self-attention + FFN
//     Decoder<Scalar>      = Stack<Scalar, DecoderBlock<Scalar>>       causal self-attention + FFN (Llama); KV cache
//     CrossDecoder<Scalar> = Stack<Scalar, CrossDecoderBlock<Scalar>>  causal self-attention + cross-attention + FFN
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/blocks/block_config.hpp"
#include "eigenformer/blocks/cross_decoder_block.hpp"
#include "eigenformer/blocks/decoder_block.hpp"
#include "eigenformer/blocks/encoder_block.hpp"
#include "eigenformer/layers/relative_position_bias.hpp"
#include "eigenformer/layers/rope.hpp"

namespace eigenformer {

struct StackConfig {
  BlockConfig block{};
  Index layers = 0;
  bool final_norm = false;                                 // a norm after the last block
  std::optional<RopeConfig> rope{};                        // RoPE in every self-attention
  std::optional<RelativePositionBiasConfig> relative_bias{}; // T5: one learned table for the whole stack
  std::vector<Index> layer_windows{};  // per layer, the self-attention's sliding window (0: none); empty: every
                                       // layer has block.attention.window (Qwen2: only layers ≥ max_window_layers)

  void validate() const {
    if (layers <= 0) throw ValueError(detail::cat("[StackConfig] a stack needs at least one layer, got ", layers));
    block.attention.validate();
    if (!layer_windows.empty() && static_cast<Index>(layer_windows.size()) != layers) {
      throw ValueError(detail::cat("[StackConfig] ", layer_windows.size(), " layer windows for ", layers, " layers"));
    }
    for (Index w : layer_windows) {
      if (w < 0) throw ValueError(detail::cat("[StackConfig] a layer's sliding window must be positive (or 0: none), got ", w));
    }
    if (block.cross_attention.width > 0) block.cross_attention.validate();
    if (block.ffn.hidden <= 0) throw ValueError(detail::cat("[StackConfig] FFN width must be positive, got ", block.ffn.hidden));
    if (!(block.norm.eps > 0)) throw ValueError(detail::cat("[StackConfig] norm eps must be positive, got ", block.norm.eps));
    if (rope && rope->head_dim != block.attention.resolved_head_dim()) {
      throw ValueError(detail::cat("[StackConfig] RoPE head width ", rope->head_dim, " differs from the attention's ",
                                   block.attention.resolved_head_dim()));
    }
    if (relative_bias && relative_bias->heads != block.attention.heads) {
      throw ValueError(detail::cat("[StackConfig] relative bias has ", relative_bias->heads, " heads, attention has ",
                                   block.attention.heads));
    }
  }
};

template <class Scalar, class Block>
class Stack {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  Stack() = default;
  explicit Stack(const StackConfig& config) : config_(config) {
    config.validate();
    // Room for every block first: a vector that grows while blocks are added moves the blocks built so far, and
    // copies them — every weight, a second time — when a block's move may throw.
    layers.reserve(static_cast<std::size_t>(config.layers));
    for (Index l = 0; l < config.layers; ++l) {
      BlockConfig block = config.block;
      if (!config.layer_windows.empty()) block.attention.window = config.layer_windows[static_cast<std::size_t>(l)];
      layers.emplace_back(block);
    }
    if (config.final_norm) final_norm = Norm<Scalar>(config.block.width(), config.block.norm);
    if (config.rope) rope = RotaryEmbedding<Scalar>(*config.rope);
    if (config.relative_bias) relative_bias = RelativePositionBias<Scalar>(*config.relative_bias);
    layer_outputs.resize(static_cast<std::size_t>(config.layers));
  }

  const StackConfig& config() const { return config_; }
  Index width() const { return config_.block.width(); }
  Index num_layers() const { return static_cast<Index>(layers.size()); }

  /// x (B, T, C) → y (B, T, C). With context.cache, x holds only the new positions. The stack adds its
  /// position scheme (rope, bias) and the layer index to the caller's context and hands it to each block.
  void forward(const Tensor3<Scalar>& x, Tensor3<Scalar>& y, const ForwardContext<Scalar>& context = {}) {
    if (x.dimension(2) != width()) {
      throw ShapeError(detail::cat("[Stack::forward] input ", detail::shape_str(shape_of(x)), " has width ",
                                   x.dimension(2), " but the stack is ", width(), " wide"));
    }
    const Index B = x.dimension(0), T = x.dimension(1);
    const std::size_t L = layers.size();
    DecoderCache<Scalar>* cache = context.cache;
    if (cache != nullptr) {
      cache->self.resize(L);
      if (Block::has_cross_attention) cache->cross.resize(L);
    }
    const Index first = cache != nullptr ? cache->length() : 0;  // position of x's first token
    Capture<Scalar>* capture = context.capture;
    if (capture != nullptr) {
      capture->hidden_states.assign(capture->keep_hidden_states ? L + 1 : 0, Tensor3<Scalar>());
      capture->attentions.assign(capture->keep_attentions ? L : 0, Tensor4<Scalar>());
      const bool cross = Block::has_cross_attention && capture->keep_attentions;
      capture->cross_attentions.assign(cross ? L : 0, Tensor4<Scalar>());
      if (capture->keep_hidden_states) capture->hidden_states[0] = x;
    }

    // 0) Positions shared by all layers: RoPE, and T5's relative bias for queries first..first+T-1 over
    //    keys 0..first+T-1, computed once for the whole stack.
    ForwardContext<Scalar> shared = context;
    shared.rope = rope ? &*rope : nullptr;
    shared.bias = nullptr;
    if (relative_bias) {
      position_bias = relative_bias->compute(T, first + T, first);
      shared.bias = &position_bias;
    }

    // 1) The blocks, each reading the previous one's output.
    const Tensor3<Scalar>* h = &x;
    Capture<Scalar>* inspect = context.inspecting();  // named intermediates: attention/forward_context.hpp
    if (inspect != nullptr) {
      Tensor3<Scalar> input = x;  // a copy: record() takes a buffer, and the caller's x is const
      inspect->record_sequence(inspect->prefix + "embeddings", input, -1, /*writable=*/false);
    }
    for (std::size_t l = 0; l < L; ++l) {
      shared.layer = static_cast<Index>(l);
      layers[l].forward(*h, layer_outputs[l], shared);
      h = &layer_outputs[l];
      if (capture != nullptr && capture->keep_hidden_states && l + 1 < L) capture->hidden_states[l + 1] = *h;
    }

    // 2) The final norm, where the family has one.
    y.resize(B, T, width());
    if (final_norm) {
      final_norm->forward(as_matrix(*h), as_matrix(y));
      if (inspect != nullptr) inspect->record_sequence(inspect->prefix + "final_norm.out", y);
    } else {
      y = *h;
    }
    if (capture != nullptr && capture->keep_hidden_states) capture->hidden_states[L] = y;
  }

  Tensor3<Scalar> operator()(const Tensor3<Scalar>& x, const ForwardContext<Scalar>& context = {}) {
    Tensor3<Scalar> y;
    forward(x, y, context);
    return y;
  }

  /// Backward of forward(x, y, context): dy (B, T, C) = ∂loss/∂y → dx (B, T, C) = ∂loss/∂x, written; every
  /// parameter gradient added into (when allocated); a CrossDecoder adds ∂loss/∂memory (B, S, C) into
  /// `*dmemory` when given (every layer's cross-attention reads the memory: the shares add). x and context
  /// must be those of the forward, which must have run without a cache and with context.keep_weights.
  ///     y = FinalNorm(h_N)          dh_N     = FinalNorm'ᵀ dy            (or dy without a final norm)
  ///     h_l = Block_l(h_{l-1})      dh_{l-1} = Block_l'ᵀ dh_l            l = N .. 1, the last block first
  ///     RoPE                        inside each attention's backward (rotate_backward)
  ///     relative bias               one (1, H, T, S) bias feeds every layer: its gradient d_position_bias is
  ///                                 the sum of every layer's, then scatter-added into the table
  void backward(const Tensor3<Scalar>& x, const Tensor3<Scalar>& dy, Tensor3<Scalar>& dx,
                const ForwardContext<Scalar>& context = {}, Tensor3<Scalar>* dmemory = nullptr) {
    const char* where = "[Stack::backward] ";
    if (context.cache != nullptr) {
      throw ValueError(detail::cat(where, "backward needs a forward without a KV cache"));
    }
    if (dy.dimensions() != x.dimensions() || x.dimension(2) != width() || layer_outputs.empty() ||
        layer_outputs.back().dimensions() != x.dimensions()) {
      throw ShapeError(detail::cat(where, "input ", detail::shape_str(shape_of(x)), " and output gradient ",
                                   detail::shape_str(shape_of(dy)), " do not match the last forward call"));
    }
    const std::size_t L = layers.size();

    // 1) The final norm.
    d_hidden = dy;
    if (final_norm) final_norm->backward(as_matrix(dy), as_matrix(d_hidden), GradientWrite::Assign);

    // 2) The blocks, last first, with the forward's shared positions.
    ForwardContext<Scalar> shared = context;
    shared.rope = rope ? &*rope : nullptr;
    shared.bias = relative_bias ? &position_bias : nullptr;
    AttentionInputGradients<Scalar> inputs;
    inputs.memory = dmemory;
    if (relative_bias) {
      d_position_bias.resize(position_bias.dimensions());
      d_position_bias.setZero();
      inputs.bias = &d_position_bias;
    }
    for (std::size_t l = L; l-- > 0;) {
      shared.layer = static_cast<Index>(l);
      const Tensor3<Scalar>& input = l == 0 ? x : layer_outputs[l - 1];
      layers[l].backward(input, d_hidden, d_input, shared, inputs);
      std::swap(d_hidden, d_input);  // d_hidden = ∂loss/∂h_{l-1}
    }
    dx = d_hidden;

    // 3) The relative bias table, from the summed bias gradient (queries from position 0: no cache).
    if (relative_bias) relative_bias->backward(d_position_bias, 0);
  }

  /// Names: layers.<l>.*, final_norm.*, relative_bias.weight
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    for (std::size_t l = 0; l < layers.size(); ++l) {
      layers[l].collect_parameters(prefix + "layers." + std::to_string(l) + ".", out);
    }
    if (final_norm) final_norm->collect_parameters(prefix + "final_norm.", out);
    if (relative_bias) relative_bias->collect_parameters(prefix + "relative_bias.", out);
  }

 private:
  StackConfig config_;

 public:
  std::vector<Block> layers;
  std::optional<Norm<Scalar>> final_norm;
  std::optional<RotaryEmbedding<Scalar>> rope;
  std::optional<RelativePositionBias<Scalar>> relative_bias;
  std::vector<Tensor3<Scalar>> layer_outputs;  // (B, T, C) per layer: the output of each block, last call
  Tensor4<Scalar> position_bias;               // (1, H, T, S): the relative bias of the last call
  // Gradients of the last backward call.
  Tensor3<Scalar> d_hidden;         // (B, T, C)  ∂loss/∂h_l as the backward walks down the layers
  Tensor3<Scalar> d_input;          // (B, T, C)  ∂loss/∂h_{l-1} from block l (swapped with d_hidden)
  Tensor4<Scalar> d_position_bias;  // (1, H, T, S) ∂loss/∂position_bias, summed over the layers
};

template <class Scalar>
using Encoder = Stack<Scalar, EncoderBlock<Scalar>>;
template <class Scalar>
using Decoder = Stack<Scalar, DecoderBlock<Scalar>>;
template <class Scalar>
using CrossDecoder = Stack<Scalar, CrossDecoderBlock<Scalar>>;

}  // namespace eigenformer
