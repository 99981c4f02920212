// examples/gpt2/gpt2.hpp — GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners")
// assembled from eigenformer's blocks.
//
// What it picks from the kit:
//   embedding   a token table wte (V, C) plus a learned position table wpe (n_positions, C):  x = wte[id] + wpe[t]
//   block       DecoderBlock, pre-norm — the change GPT-2 made to GPT-1 (§2.3: "Layer normalization was moved to
//               the input of each sub-block"):
//                   h = x + Attention(LayerNorm(x));   y = h + MLP(LayerNorm(h))
//               attention: causal, H heads of width D = C / H, biases everywhere, scores scaled by 1/√D
//               MLP:       c_proj(GELU_tanh(c_fc(x))), F = n_inner or 4·C, biases
//   stack       Decoder: N blocks and a final LayerNorm ln_f ("an additional layer normalization was added after
//               the final self-attention block")
//   head        tied: logits = h wteᵀ
//
// How the files store it (the one thing that differs from every other family here): the original TensorFlow code
// wrote every projection as a "Conv1D" whose weight is (in, out) and computes y = x W + b, and the query, key and
// value projections as ONE fused c_attn of (C, 3C). transformers kept that layout. We transpose each weight once,
// on load, into nn.Linear's (out, in) and split c_attn into q, k and v (models/stored_layout.hpp), so the forward
// pass below is the same Decoder every other decoder uses, and a debugger shows the same q, k, v.
//
// It loads Hugging Face checkpoints with model_type "gpt2" (gpt2, gpt2-medium/large/xl, distilgpt2), both with the
// names of GPT2LMHeadModel files ("transformer.h.0.attn.c_attn.weight", "transformer.wte.weight") and the bare
// names of the original gpt2 file ("h.0.attn.c_attn.weight", "wte.weight").
//
// Shapes: B batch, T positions, C n_embd, H n_head, D = C / H, F n_inner, V vocab_size, N n_layer.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include "gpt2_config.hpp"

#include <string>
#include <vector>

namespace eigenformer {

// GPT2Config — config.json read and checked, and the blocks this family picks: gpt2_config.hpp.

/// What one forward call may do besides computing logits. All optional.
template <class Scalar>
struct GPT2Options {
  DecoderCache<Scalar>* cache = nullptr;  // incremental decoding: ids follow the cache.length() cached positions
  const KeyPadding* padding = nullptr;    // padding keys over cached + new positions
  const std::vector<Index>* position_shift = nullptr;  // (B) left-padded batches: slot j of sequence b reads position
                                                       // j − position_shift[b] of wpe; null: position j
  Capture<Scalar>* capture = nullptr;     // hidden states and attention maps, with Hugging Face's meaning
  bool last_only = false;                 // logits for the last position of each sequence only: (B, V)
};

template <class Scalar>
class GPT2 : public CausalLM<Scalar> {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  explicit GPT2(const GPT2Config& config)
      : config_(config),
        wte(config.vocab_size, config.n_embd),
        wpe(config.n_positions, config.n_embd),
        decoder(config.stack()) {
    if (!config.tie_word_embeddings) lm_head = Linear<Scalar>(config.n_embd, config.vocab_size, /*bias=*/false);
  }

  /// Opens a checkpoint folder, checks config.json against the weights' sizes, builds the model and loads every
  /// weight (strict; Conv1D weights transposed and c_attn split on the way in).
  static GPT2 from_pretrained(const std::string& folder) {
    Checkpoint checkpoint(folder);
    const GPT2Config config = GPT2Config::from(checkpoint.config());
    checkpoint.check_parameter_count(config.parameter_count());
    checkpoint.check_weights_fit<Scalar>(config.parameter_count());  // MemoryError before allocating (core/memory.hpp)
    GPT2 model(config);
    model.load(checkpoint);
    return model;
  }

  /// ids (B, T) → logits (B·T, V), or (B, V) with options.last_only.
  void forward(const TokenIds& ids, Matrix<Scalar>& logits, const GPT2Options<Scalar>& options = {}) {
    const Index first = options.cache != nullptr ? options.cache->length() : 0;

    // 1) Embed: the token's row of wte plus the position's row of wpe.                  x (B, T, C)
    wte.forward(ids, x);
    if (options.position_shift != nullptr) {
      wpe.add(x, first, *options.position_shift);  // each sequence from its first real token
    } else {
      wpe.add(x, first);  // ValueError past n_positions, naming the positions
    }

    // 2) The blocks — LayerNorm, causal attention, LayerNorm, MLP, each with a residual — and ln_f.   h (B, T, C)
    ForwardContext<Scalar> stack;
    stack.cache = options.cache;
    stack.padding = options.padding;
    stack.capture = options.capture;
    decoder.forward(x, h, stack);

    // 3) The LM head: logits = h wteᵀ (tied) or h W_lmᵀ.                                (B·T, V) or (B, V)
    const Matrix<Scalar>& head = head_weight();
    if (options.last_only) {
      product_threaded<Scalar>(detail::last_rows<Scalar>(as_matrix(h), ids.rows()), head.transpose(), logits);
    } else {
      product_threaded<Scalar>(as_matrix(h), head.transpose(), logits);
    }
  }

  // ---- Training: forward that keeps, loss, backward -------------------------------------------------------------
  // One training step (docs/training.md, "GPT-2"):
  //
  //     x = wte[ids] + wpe[t]             (B, T, C)   token and learned position vectors
  //     h = Decoder(x)                    (B, T, C)   N pre-norm blocks (LayerNorm, attention, LayerNorm, GELU MLP) + ln_f
  //     z = h wteᵀ                        (B·T, V)    the tied head (or h W_lmᵀ)
  //     L = mean_{t: y_t ≠ −100} −log softmax(z_t)[y_t],  y_t = labels(b, t+1)   (training/objectives.hpp)
  //
  // and backward, the same chain in reverse, each step adding into the gradient buffers:
  //
  //     dz = (softmax(z) − onehot(y)) / n
  //     dh = dz wte,              wte's gradient += dzᵀ h       the head's share of the tied table
  //     dx = Decoder'ᵀ dh                                      Stack::backward: ln_f, blocks last to first
  //     wte's gradient[ids(b, t)] += dx(b, t)                  the lookup's share (added to the head's)
  //     wpe's gradient[t]         += Σ_b dx(b, t)              x is a sum, so each position row gets dx itself
  //
  // The gradients live in our (out, in) layout; the --grad dump gathers them back into the file's Conv1D (in, out)
  // and fused c_attn layout (write_gradient_dump with stored_layouts(): models/gradient_dump.hpp).

  /// The training forward: ids (B, T) → logits (B·T, V), every position (no cache), keeping what backward()
  /// reads (the attention weights, every layer's input, x, h, the ids). `padding` (may be null) must stay alive
  /// until backward(). Any other forward call in between overwrites what backward reads.
  void forward_for_training(const TokenIds& ids, Matrix<Scalar>& logits, const KeyPadding* padding = nullptr) {
    training_ids_ = ids;
    training_context_ = ForwardContext<Scalar>();
    training_context_.padding = padding;
    training_context_.keep_weights = true;  // the attention backward reads the softmax weights it kept
    wte.forward(ids, x);                                                     // x (B, T, C)
    wpe.add(x, 0);                                                           // ValueError past n_positions
    decoder.forward(x, h, training_context_);                                // h (B, T, C)
    product_threaded<Scalar>(as_matrix(h), head_weight().transpose(), logits);  // (B·T, V)
  }

  /// The backward of the last forward_for_training(): dlogits (B·T, V) = ∂loss/∂logits → every parameter's
  /// gradient added into its buffer (empty buffers, frozen parameters, skipped). d_h and d_x (B, T, C) stay
  /// readable. ValueError without a training forward, ShapeError for dlogits of another shape.
  void backward(const Eigen::Ref<const Matrix<Scalar>>& dlogits) {
    const Index B = training_ids_.rows(), T = training_ids_.cols();
    if (B == 0 || x.dimension(0) != B || x.dimension(1) != T || h.dimension(0) != B || h.dimension(1) != T) {
      throw ValueError("[GPT2::backward] no training forward to differentiate: call forward_for_training() first "
                       "(a plain forward() keeps no attention weights and may use a cache)");
    }
    if (dlogits.rows() != B * T || dlogits.cols() != config_.vocab_size) {
      throw ShapeError(detail::cat("[GPT2::backward] dlogits ", detail::shape_str(shape_of(dlogits)),
                                   " is not (B·T, V) = ", detail::shape_str({B * T, config_.vocab_size})));
    }
    // 1) The head: dh = dz W; W's gradient += dzᵀ h (wte's buffer when tied).
    d_h.resize(B, T, config_.n_embd);
    if (config_.tie_word_embeddings) {
      wte.backward_as_head(as_matrix(h), dlogits, as_matrix(d_h));
    } else {
      lm_head.backward(as_matrix(h), dlogits, as_matrix(d_h));
    }
    // 2) ln_f, then the blocks last to first.
    decoder.backward(x, d_h, d_x, training_context_);
    // 3) x = wte[ids] + wpe[t]: both lookups receive dx.
    wte.backward(training_ids_, as_matrix(d_x));
    wpe.add_backward(as_matrix(d_x), B, 0);
  }

  /// One step's gradients: forward_for_training, the causal-LM loss against labels (B, T) — the target of position
  /// t is labels(b, t+1), −100 ignored; labels = ids is transformers' labels=input_ids — and backward. Adds into
  /// the gradient buffers; returns the mean loss and the number of counted positions.
  training::LossValue loss_and_gradients(const TokenIds& ids, const TokenIds& labels, const KeyPadding* padding = nullptr) {
    if (labels.rows() != ids.rows() || labels.cols() != ids.cols()) {
      throw ShapeError(detail::cat("[GPT2::loss_and_gradients] labels ", detail::shape_str({labels.rows(), labels.cols()}),
                                   " do not match ids ", detail::shape_str({ids.rows(), ids.cols()})));
    }
    forward_for_training(ids, training_logits_, padding);
    const training::LossValue loss = training::causal_lm_loss<Scalar>(training_logits_, labels, &d_logits);
    backward(d_logits);
    return loss;
  }

  // ---- CausalLM ------------------------------------------------------------------------------------------------
  Index vocab_size() const override { return config_.vocab_size; }
  Index max_positions() const override { return config_.n_positions; }
  const SpecialTokenIds& special_tokens() const override { return config_.special_tokens; }
  void forward(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only = false,
               const KeyPadding* padding = nullptr) override {
    GPT2Options<Scalar> options;
    options.cache = &cache;
    options.padding = padding;
    options.last_only = last_only;
    forward(ids, logits, options);
  }

  /// A left-padded batch (CausalLM::forward_left_padded): the pads hidden from every query, and each sequence's
  /// learned positions read from its first real token on (wpe row j − pads[b] for slot j).
  void forward_left_padded(const TokenIds& ids, DecoderCache<Scalar>& cache, Matrix<Scalar>& logits, bool last_only,
                           const KeyPadding& left_padding) override {
    if (left_padding.left_pads() == nullptr) {
      throw ValueError("[GPT2::forward_left_padded] the padding must be KeyPadding::from_left_pads");
    }
    GPT2Options<Scalar> options;
    options.cache = &cache;
    options.padding = &left_padding;
    options.position_shift = left_padding.left_pads();
    options.last_only = last_only;
    forward(ids, logits, options);
  }

  /// N layers of H × D keys and values per position (D = C / H).
  CacheShape cache_shape() const override {
    CacheShape shape;
    shape.layers = config_.n_layer;
    shape.kv_heads = config_.n_head;
    shape.head_dim = config_.n_head > 0 ? config_.n_embd / config_.n_head : 0;
    return shape;
  }

  /// The diagnosis of non-finite logits (CausalLM::forward_captured): ids from scratch, the decoder recorded.
  bool forward_captured(const TokenIds& ids, Matrix<Scalar>& logits, Capture<Scalar>& capture) override {
    capture.prefix = "decoder.";
    GPT2Options<Scalar> options;
    options.capture = &capture;
    forward(ids, logits, options);
    return true;
  }

  // ---- Names, loading, saving ------------------------------------------------------------------------------------
  const GPT2Config& config() const { return config_; }

  /// Names: wte.weight, wpe.weight, decoder.layers.<i>.{attn,attn_norm,ffn,ffn_norm}.*, decoder.final_norm.*,
  /// lm_head.weight (untied only).
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    wte.collect_parameters(prefix + "wte.", out);
    wpe.collect_parameters(prefix + "wpe.", out);
    decoder.collect_parameters(prefix + "decoder.", out);
    if (!config_.tie_word_embeddings) lm_head.collect_parameters(prefix + "lm_head.", out);
  }

  /// Our names ↔ the names in GPT2LMHeadModel files, for the tensors stored as they are (the biases of c_proj and
  /// c_fc, the norms, the tables). The fused and transposed weights are stored_layouts().
  static const NameTable& hf_names() {
    static const NameTable table({
        {"wte.", "transformer.wte."},
        {"wpe.", "transformer.wpe."},
        {"decoder.layers.{i}.attn_norm.", "transformer.h.{i}.ln_1."},
        {"decoder.layers.{i}.attn.o.", "transformer.h.{i}.attn.c_proj."},
        {"decoder.layers.{i}.ffn_norm.", "transformer.h.{i}.ln_2."},
        {"decoder.layers.{i}.ffn.up.", "transformer.h.{i}.mlp.c_fc."},
        {"decoder.layers.{i}.ffn.down.", "transformer.h.{i}.mlp.c_proj."},
        {"decoder.final_norm.", "transformer.ln_f."},
        {"lm_head.", "lm_head."},
    });
    return table;
  }

  /// The tensors GPT-2 files store in another layout than ours, per layer i:
  ///   transformer.h.i.attn.c_attn.weight  (C, 3C) = [W_qᵀ | W_kᵀ | W_vᵀ]  → q, k, v weights (C, C) each, transposed
  ///   transformer.h.i.attn.c_attn.bias    (3C)    = [b_q, b_k, b_v]     → q, k, v biases (C) each
  ///   transformer.h.i.attn.c_proj.weight  (C, C)  Conv1D                 → o weight, transposed
  ///   transformer.h.i.mlp.c_fc.weight     (C, F)  Conv1D                 → up weight (F, C), transposed
  ///   transformer.h.i.mlp.c_proj.weight   (F, C)  Conv1D                 → down weight (C, F), transposed
  /// Transposed once, here, on load (and back on save): Conv1D computes x W + b with W (in, out), nn.Linear — and
  /// every layer of this library — x Wᵀ + b with W (out, in); after loading, GPT-2 runs the common code path.
  std::vector<StoredLayout> stored_layouts() const {
    std::vector<StoredLayout> rules;
    for (Index i = 0; i < config_.n_layer; ++i) {
      const std::string ours = detail::cat("decoder.layers.", i, ".");
      const std::string hf = detail::cat("transformer.h.", i, ".");
      rules.push_back({hf + "attn.c_attn.weight", {ours + "attn.q.weight", ours + "attn.k.weight", ours + "attn.v.weight"}, true});
      rules.push_back({hf + "attn.c_attn.bias", {ours + "attn.q.bias", ours + "attn.k.bias", ours + "attn.v.bias"}, false});
      rules.push_back({hf + "attn.c_proj.weight", {ours + "attn.o.weight"}, true});
      rules.push_back({hf + "mlp.c_fc.weight", {ours + "ffn.up.weight"}, true});
      rules.push_back({hf + "mlp.c_proj.weight", {ours + "ffn.down.weight"}, true});
    }
    return rules;
  }

  /// How a checkpoint names our parameters: "transformer."-prefixed (GPT2LMHeadModel), or bare (GPT2Model and the
  /// original gpt2 file). Skipped: the causal-mask buffers older files carry (h.<i>.attn.bias and
  /// h.<i>.attn.masked_bias — we build the mask), and, when tied, a copy of wte stored as lm_head.weight.
  NameMapping names() const {
    NameMapping m;
    m.to_hf = [](const std::string& ours) { return hf_names().to_hf(ours); };
    m.aliases = [](const std::string& hf) -> std::vector<std::string> {
      const std::string prefix = "transformer.";
      if (hf.compare(0, prefix.size(), prefix) == 0) return {hf.substr(prefix.size())};
      return {};
    };
    const bool tied = config_.tie_word_embeddings;
    m.ignore = [tied](const std::string& name) {
      const auto ends_with = [&](const std::string& suffix) {
        return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      return ends_with(".attn.bias") || ends_with(".attn.masked_bias") || (tied && name == "lm_head.weight");
    };
    return m;
  }

  void load(Checkpoint& checkpoint) {
    ParameterList<Scalar> params = named_parameters(*this);
    load_checkpoint(params, checkpoint, names(), stored_layouts());
  }

  /// Writes config.json and model.safetensors in the GPT2LMHeadModel layout (Conv1D weights, fused c_attn).
  void save_pretrained(const std::string& folder, DType dtype = DType::F32) {
    save_checkpoint(folder, config_.to_json(), named_parameters(*this), names(), stored_layouts(), dtype);
  }

 private:
  const Matrix<Scalar>& head_weight() const { return config_.tie_word_embeddings ? wte.weight : lm_head.weight; }

  GPT2Config config_;
  TokenIds training_ids_;                     // (B, T) the ids of the last training forward
  ForwardContext<Scalar> training_context_;   // its context (keep_weights, padding): backward reuses it
  Matrix<Scalar> training_logits_;            // (B·T, V) loss_and_gradients' logits

 public:
  Embedding<Scalar> wte;             // (V, C) token embeddings, also the LM head when tied
  LearnedPositions<Scalar> wpe;      // (n_positions, C) learned absolute positions, offset 0
  Decoder<Scalar> decoder;           // N pre-norm blocks + ln_f
  Linear<Scalar> lm_head;            // W_lm (V, C); empty when tied
  // Intermediates of the last forward call.
  Tensor3<Scalar> x;                 // (B, T, C) the embedded tokens, positions added
  Tensor3<Scalar> h;                 // (B, T, C) after ln_f
  // Gradients of the last backward call.
  Matrix<Scalar> d_logits;           // (B·T, V) ∂loss/∂logits (loss_and_gradients)
  Tensor3<Scalar> d_h;               // (B, T, C) ∂loss/∂h, the head's input
  Tensor3<Scalar> d_x;               // (B, T, C) ∂loss/∂x, the embedded tokens with their positions
};

}  // namespace eigenformer
