// Instantiates every class template of eigenformer — the library, the model assemblies of examples/ and the
// generation sessions — for float and double, so that all of it is compiled (and checked for warnings) even
// where no test happens to use a member.
#include "eigenformer/eigenformer.hpp"
#include "eigenformer/generation.hpp"
#include "eigenformer/models.hpp"
#include "eigenformer/tokenizers.hpp"

#include "bert/bert.hpp"
#include "llama/llama.hpp"
#include "t5/t5.hpp"
#include "transformer/transformer.hpp"

namespace eigenformer {
#define EIGENFORMER_INSTANTIATE(T)                      \
  template class Linear<T>;                             \
  template class Embedding<T>;                          \
  template class Norm<T>;                               \
  template class FeedForward<T>;                        \
  template class RotaryEmbedding<T>;                    \
  template class RelativePositionBias<T>;               \
  template class KVCache<T>;                            \
  template struct DecoderCache<T>;                      \
  template struct Capture<T>;                           \
  template class MultiHeadAttention<T>;                 \
  template class Residual<T>;                           \
  template class SelfAttentionBlock<T>;                 \
  template class EncoderBlock<T>;                       \
  template class DecoderBlock<T>;                       \
  template class CrossDecoderBlock<T>;                  \
  template class Stack<T, EncoderBlock<T>>;             \
  template class Stack<T, DecoderBlock<T>>;             \
  template class Stack<T, CrossDecoderBlock<T>>;        \
  template class EncoderDecoder<T>;                     \
  template class Bert<T>;                               \
  template class Llama<T>;                              \
  template class T5<T>;                                 \
  template class Transformer<T>;                        \
  template class generation::CausalSession<T>;          \
  template class generation::Seq2SeqSession<T>;         \
  template class training::Sgd<T>;                      \
  template class training::AdamW<T>;
EIGENFORMER_INSTANTIATE(float)
EIGENFORMER_INSTANTIATE(double)
#undef EIGENFORMER_INSTANTIATE
}  // namespace eigenformer

int main() { return 0; }
