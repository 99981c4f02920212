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

  /// Names: encoder.*, decoder.*
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    encoder.collect_parameters(prefix + "encoder.", out);
    decoder.collect_parameters(prefix + "decoder.", out);
  }

  Encoder<Scalar> encoder;
  CrossDecoder<Scalar> decoder;
  Tensor3<Scalar> memory;  // (B, S, C): the encoder output of the last forward()
};

}  // namespace eigenformer
