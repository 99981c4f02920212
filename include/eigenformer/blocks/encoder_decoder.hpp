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

template <class T>
class EncoderDecoder {
 public:
  using Scalar = T;

  EncoderDecoder() = default;
  explicit EncoderDecoder(const EncoderDecoderConfig& config) : encoder(config.encoder), decoder(config.decoder) {
    const Index kv_width = config.decoder.block.resolved_cross_attention().resolved_kv_width();
    if (kv_width != config.encoder.block.width()) {
      throw ValueError(detail::cat("[EncoderDecoder] the decoder's cross-attention reads width ", kv_width,
                                   " but the encoder outputs width ", config.encoder.block.width()));
    }
  }

  /// source (B, S, C) → memory (B, S, C).
  void encode(const Tensor3<T>& source, Tensor3<T>& memory, const KeyPadding* source_padding = nullptr,
              Capture<T>* capture = nullptr) {
    StackOptions<T> options;
    options.padding = source_padding;
    options.capture = capture;
    encoder.forward(source, memory, options);
  }

  /// target (B, T, C), memory (B, S, C) → y (B, T, C).
  void decode(const Tensor3<T>& target, const Tensor3<T>& memory, Tensor3<T>& y, const KeyPadding* source_padding = nullptr,
              const KeyPadding* target_padding = nullptr, DecoderCache<T>* cache = nullptr, Capture<T>* capture = nullptr) {
    StackOptions<T> options;
    options.padding = target_padding;
    options.memory = &memory;
    options.memory_padding = source_padding;
    options.cache = cache;
    options.capture = capture;
    decoder.forward(target, y, options);
  }

  /// Both at once: y = CrossDecoder(target, Encoder(source)).
  void forward(const Tensor3<T>& source, const Tensor3<T>& target, Tensor3<T>& y, const KeyPadding* source_padding = nullptr,
               const KeyPadding* target_padding = nullptr) {
    encode(source, memory, source_padding);
    decode(target, memory, y, source_padding, target_padding);
  }

  /// Names: encoder.*, decoder.*
  void collect_parameters(const std::string& prefix, ParameterList<T>& out) {
    encoder.collect_parameters(prefix + "encoder.", out);
    decoder.collect_parameters(prefix + "decoder.", out);
  }

  Encoder<T> encoder;
  CrossDecoder<T> decoder;
  Tensor3<T> memory;  // (B, S, C): the encoder output of the last forward()
};

}  // namespace eigenformer
