// eigenformer/generation/shared_model.hpp — one loaded model, several threads generating from it at once.
//
// What is thread-safe in eigenformer, and what is not (docs/generation.md, "Threads"):
//   - A model's forward() is NOT const and NOT safe to run on two threads at once: every module keeps the
//     intermediates of its last call (MultiHeadAttention::act, FeedForward::act, a block's h, Llama::x, ...;
//     docs/design.md, "Intermediates are kept, by name") and reuses them as workspaces, so two calls at the
//     same time write the same buffers.
//   - What is const is safe to share between threads, because it writes nothing but its own output:
//     Linear::forward, Embedding::forward and add_positions, RotaryEmbedding::rotate,
//     RelativePositionBias::compute, a Tokenizer's encode/decode, a jinja::Template's render, reading the
//     weights.
//   - What belongs to one run is that run's alone: its DecoderCache, its session (sequences), its logits,
//     its Rng, its Trace and StreamDecoder. Two runs never share them.
//
// SharedCausalLM / SharedSeq2SeqLM make one model usable by several threads: each model call takes the
// model's lock, so the steps of different runs take turns, each on its own cache. A forward reads nothing but
// its ids, its cache and the weights (the kept intermediates are overwritten before they are read), so taking
// turns changes no result: every thread gets exactly the tokens it would get alone
// (tests/hardening/test_threads.cpp, also under ThreadSanitizer: the tsan preset). The weights are loaded
// once; the model still computes one step at a time, so this serves several requests correctly, not faster.
//
//     Llama<float> model = Llama<float>::from_pretrained(folder);   // loaded once
//     generation::SharedCausalLM<float> shared(model);               // copies share the model and its lock
//     std::thread a([&] { out_a = generation::generate(shared, prompt_a, config); });
//     std::thread b([&] { out_b = generation::generate(shared, prompt_b, config); });
//
// Every thread must reach the model through a SharedCausalLM made from the same one (copies are fine):
// two wrappers made separately from one model would hold two locks.
#pragma once

#include <memory>
#include <mutex>

#include "eigenformer/models/language_model.hpp"

namespace eigenformer::generation {

/// A decoder-only model behind a lock. Copies share the model and the lock.
template <class Scalar>
class SharedCausalLM : public CausalLM<Scalar> {
 public:
  explicit SharedCausalLM(CausalLM<Scalar>& model) : model_(&model), lock_(std::make_shared<std::mutex>()) {}

  // Fixed at load: read without the lock.
  Index vocab_size() const override { return model_->vocab_size(); }
  Index max_positions() const override { return model_->max_positions(); }
  const SpecialTokenIds& special_tokens() const override { return model_->special_tokens(); }

  /// ids (B, T) after cache.length() cached positions → logits, as CausalLM::forward; one caller at a time.
  void forward(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only = false,
               const KeyPadding* padding = nullptr) override {
    const std::lock_guard<std::mutex> hold(*lock_);
    model_->forward(ids, cache, logits, last_only, padding);
  }

  /// A left-padded batch, as CausalLM::forward_left_padded; one caller at a time.
  void forward_left_padded(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only,
                           const KeyPadding& left_padding) override {
    const std::lock_guard<std::mutex> hold(*lock_);
    model_->forward_left_padded(ids, cache, logits, last_only, left_padding);
  }

  CacheShape cache_shape() const override { return model_->cache_shape(); }

  /// The diagnosis of non-finite logits, as CausalLM::forward_captured; one caller at a time.
  bool forward_captured(const TokenIds& ids, Matrix<Scalar>& logits, Capture<Scalar>& capture) override {
    const std::lock_guard<std::mutex> hold(*lock_);
    return model_->forward_captured(ids, logits, capture);
  }

 private:
  CausalLM<Scalar>* model_;
  std::shared_ptr<std::mutex> lock_;
};

/// An encoder-decoder model behind a lock. Copies share the model and the lock.
template <class Scalar>
class SharedSeq2SeqLM : public Seq2SeqLM<Scalar> {
 public:
  explicit SharedSeq2SeqLM(Seq2SeqLM<Scalar>& model) : model_(&model), lock_(std::make_shared<std::mutex>()) {}

  Index vocab_size() const override { return model_->vocab_size(); }
  const SpecialTokenIds& special_tokens() const override { return model_->special_tokens(); }

  /// source (B, S) → memory (B, S, C), as Seq2SeqLM::encode; one caller at a time.
  void encode(const TokenIds& source, const KeyPadding* padding, Tensor3<Scalar>& memory) override {
    const std::lock_guard<std::mutex> hold(*lock_);
    model_->encode(source, padding, memory);
  }

  /// target (B, T) → logits, as Seq2SeqLM::decode; one caller at a time.
  void decode(const TokenIds& target, const Tensor3<Scalar>& memory, const KeyPadding* source_padding,
              DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only = false) override {
    const std::lock_guard<std::mutex> hold(*lock_);
    model_->decode(target, memory, source_padding, cache, logits, last_only);
  }

  CacheShape cache_shape() const override { return model_->cache_shape(); }

  /// The diagnosis of non-finite logits, as Seq2SeqLM::forward_captured; one caller at a time.
  bool forward_captured(const TokenIds& source, const TokenIds& target, Matrix<Scalar>& logits,
                        Capture<Scalar>& encoder_capture, Capture<Scalar>& decoder_capture) override {
    const std::lock_guard<std::mutex> hold(*lock_);
    return model_->forward_captured(source, target, logits, encoder_capture, decoder_capture);
  }

 private:
  Seq2SeqLM<Scalar>* model_;
  std::shared_ptr<std::mutex> lock_;
};

}  // namespace eigenformer::generation
