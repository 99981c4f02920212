// eigenformer/blocks/encoder_decoder.hpp — the encoder-decoder (the original Transformer, T5, BART).
//
//     memory = Encoder(source)                  read the whole source once, bidirectionally
//     y      = CrossDecoder(target, memory)     write the target, each token reading the source
//
// During generation the encoder runs once; the decoder runs once per new token with a DecoderCache,
// whose cross-attention keys and values are computed from the memory on the first step only.
#pragma once

#include <string>

#include "eigenformer/blocks/stack.hpp"

namespace eigenformer {

struct EncoderDecoderConfig {
  StackConfig encoder{};
  StackConfig decoder{};
};

template <class Scalar>
class EncoderDecoder {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  EncoderDecoder() = default;
  explicit EncoderDecoder(const EncoderDecoderConfig& config) : encoder(config.encoder), decoder(config.decoder) {
    const Index kv_width = config.decoder.block.resolved_cross_attention().resolved_kv_width();
    if (kv_width != config.encoder.block.width()) {
      throw ValueError(detail::cat("[EncoderDecoder] the decoder's cross-attention reads width ", kv_width,
                                   " but the encoder outputs width ", config.encoder.block.width()));
    }
  }

  /// source (B, S, C) → memory (B, S, C).
  void encode(const Tensor3<Scalar>& source, Tensor3<Scalar>& memory, const KeyPadding* source_padding = nullptr,
              Capture<Scalar>* capture = nullptr) {
    ForwardContext<Scalar> context;
    context.padding = source_padding;
    context.capture = capture;
    encoder.forward(source, memory, context);
  }

  /// target (B, T, C), memory (B, S, C) → y (B, T, C).
  void decode(const Tensor3<Scalar>& target, const Tensor3<Scalar>& memory, Tensor3<Scalar>& y, const KeyPadding* source_padding = nullptr,
              const KeyPadding* target_padding = nullptr, DecoderCache<Scalar>* cache = nullptr, Capture<Scalar>* capture = nullptr) {
    ForwardContext<Scalar> context;
    context.padding = target_padding;
    context.memory = &memory;
    context.memory_padding = source_padding;
    context.cache = cache;
    context.capture = capture;
    decoder.forward(target, y, context);
  }

  /// Both at once: y = CrossDecoder(target, Encoder(source)).
  void forward(const Tensor3<Scalar>& source, const Tensor3<Scalar>& target, Tensor3<Scalar>& y, const KeyPadding* source_padding = nullptr,
               const KeyPadding* target_padding = nullptr) {
    encode(source, memory, source_padding);
    decode(target, memory, y, source_padding, target_padding);
  }

  // ---- Training ----------------------------------------------------------------------------------------------
  //
  //     memory = Encoder(source)              dsource = Encoder'ᵀ dmemory
  //     y      = CrossDecoder(target, memory) dtarget = CrossDecoder'ᵀ dy (the decoder's own input)
  //                                           dmemory = Σ_l CrossAttention_l'ᵀ (every layer's k and v read it)
  //
  // The memory is read by the cross-attention of every decoder layer, so its gradient is the sum of all those
  // layers' shares (CrossDecoder's backward adds each into dmemory), and only that sum enters the encoder's
  // backward: the encoder runs backward once, after the whole decoder.

  /// forward() as training needs it: the same computation, with every attention keeping its weights
  /// (ForwardContext::keep_weights) for backward(); no cache, no capture.
  ///   source (B, S, C), target (B, T, C) → y (B, T, C); memory (B, S, C) kept in `memory`.
  /// source_padding (B, S) hides padded source keys from the encoder's self-attention and from every
  /// cross-attention; target_padding (B, T) hides padded target keys from the decoder's self-attention.
  void forward_for_backward(const Tensor3<Scalar>& source, const Tensor3<Scalar>& target, Tensor3<Scalar>& y,
                            const KeyPadding* source_padding = nullptr, const KeyPadding* target_padding = nullptr) {
    encoder.forward(source, memory, encoder_context(source_padding));
    decoder.forward(target, y, decoder_context(source_padding, target_padding));
  }

  /// Backward of forward_for_backward(source, target, y, source_padding, target_padding), which must be the
  /// last forward call, with the same inputs and paddings:
  ///   dy (B, T, C) = ∂loss/∂y → dsource (B, S, C) = ∂loss/∂source and dtarget (B, T, C) = ∂loss/∂target,
  ///   both written; every parameter gradient (both stacks, their relative bias tables) added into, each when
  ///   allocated; dmemory (B, S, C) = ∂loss/∂memory is kept for inspection.
  void backward(const Tensor3<Scalar>& source, const Tensor3<Scalar>& target, const Tensor3<Scalar>& dy,
                Tensor3<Scalar>& dsource, Tensor3<Scalar>& dtarget, const KeyPadding* source_padding = nullptr,
                const KeyPadding* target_padding = nullptr) {
    if (memory.dimension(0) != source.dimension(0) || memory.dimension(1) != source.dimension(1) ||
        memory.dimension(2) != encoder.width()) {
      throw ShapeError(detail::cat("[EncoderDecoder::backward] source ", detail::shape_str(shape_of(source)),
                                   " does not match the memory ", detail::shape_str(shape_of(memory)),
                                   " of the last forward call"));
    }
    // 1) The decoder, last layer first; every cross-attention adds its share into dmemory.
    dmemory.resize(memory.dimensions());
    dmemory.setZero();
    decoder.backward(target, dy, dtarget, decoder_context(source_padding, target_padding), &dmemory);
    // 2) The encoder, from the summed memory gradient.
    encoder.backward(source, dmemory, dsource, encoder_context(source_padding));
  }

  /// Names: encoder.*, decoder.*
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    encoder.collect_parameters(prefix + "encoder.", out);
    decoder.collect_parameters(prefix + "decoder.", out);
  }

  Encoder<Scalar> encoder;
  CrossDecoder<Scalar> decoder;
  Tensor3<Scalar> memory;   // (B, S, C): the encoder output of the last forward()
  Tensor3<Scalar> dmemory;  // (B, S, C): ∂loss/∂memory of the last backward(), summed over the decoder layers

 private:
  // The contexts forward_for_backward() runs with, rebuilt identically for backward().
  ForwardContext<Scalar> encoder_context(const KeyPadding* source_padding) const {
    ForwardContext<Scalar> context;
    context.padding = source_padding;
    context.keep_weights = true;
    return context;
  }
  ForwardContext<Scalar> decoder_context(const KeyPadding* source_padding, const KeyPadding* target_padding) const {
    ForwardContext<Scalar> context;
    context.padding = target_padding;
    context.memory = &memory;
    context.memory_padding = source_padding;
    context.keep_weights = true;
    return context;
  }
};

}  // namespace eigenformer
