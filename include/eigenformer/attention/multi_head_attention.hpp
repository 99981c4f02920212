// eigenformer/attention/multi_head_attention.hpp — multi-head attention: projections around the core.
//
//     MultiHead(X, M) = Concat(head_1 .. head_H) W_oᵀ        (Vaswani et al. 2017, §3.2.2)
//     head_h          = Attention(X W_q,hᵀ, M W_k,gᵀ, M W_v,gᵀ)      g = h / (H / Hkv)
//
// One class, one explicit mode:
//   Self    every position of X attends to every position of X (the encoder; BERT)
//   Causal  position t of X attends to positions ≤ t (the decoder; Llama, GPT); can use a KV cache
//   Cross   queries from X, keys and values from a second sequence M (the encoder output; T5's decoder)
//
// Heads: H query heads, Hkv key/value heads. Hkv = H is multi-head attention (MHA), Hkv = 1 multi-query
// (MQA, Shazeer 2019), anything dividing H grouped-query (GQA, Ainslie et al. 2023; Llama 2 70B, Llama 3):
// query heads h share the key/value head h / (H/Hkv), which shrinks the KV cache by H/Hkv.
#pragma once

#include <optional>
#include <string>

#include "eigenformer/attention/attention.hpp"
#include "eigenformer/attention/kv_cache.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/linear.hpp"
#include "eigenformer/layers/rope.hpp"

namespace eigenformer {

enum class AttentionMode { Self, Causal, Cross };

inline const char* to_string(AttentionMode m) {
  switch (m) {
    case AttentionMode::Self: return "self";
    case AttentionMode::Causal: return "causal";
    case AttentionMode::Cross: return "cross";
  }
  return "?";
}

struct AttentionConfig {
  Index width = 0;               // C: the queries come in and the output goes out at this width
  Index heads = 0;               // H
  Index kv_heads = 0;            // Hkv; 0 means H
  Index head_dim = 0;            // D; 0 means C / H (T5 v1.1 and some Llamas have H·D ≠ C)
  Index kv_width = 0;            // width of the sequence keys/values come from; 0 means C
  bool qkv_bias = false;         // biases on the q, k, v projections (BERT, the original Transformer)
  bool out_bias = false;         // bias on the output projection
  std::optional<double> scale{}; // score scale; nullopt means 1/√D. T5 uses 1 (folded into its init)

  Index resolved_kv_heads() const { return kv_heads > 0 ? kv_heads : heads; }
  Index resolved_head_dim() const { return head_dim > 0 ? head_dim : (heads > 0 ? width / heads : 0); }
  Index resolved_kv_width() const { return kv_width > 0 ? kv_width : width; }

  /// Throws ValueError when the numbers cannot describe an attention layer.
  void validate() const {
    if (width <= 0 || heads <= 0) {
      throw ValueError(detail::cat("[AttentionConfig] width and heads must be positive, got ", width, " and ", heads));
    }
    if (head_dim <= 0 && width % heads != 0) {
      throw ValueError(detail::cat("[AttentionConfig] width ", width, " is not divisible by ", heads,
                                   " heads; give head_dim explicitly"));
    }
    if (resolved_kv_heads() <= 0 || heads % resolved_kv_heads() != 0) {
      throw ValueError(detail::cat("[AttentionConfig] ", heads, " query heads cannot be grouped over ",
                                   resolved_kv_heads(), " key/value heads (Hkv must divide H)"));
    }
  }
};

/// What one call needs besides the input. All pointers are optional.
template <class Scalar>
struct AttentionOptions {
  AttentionMode mode = AttentionMode::Self;
  const Tensor3<Scalar>* memory = nullptr;        // Cross: the sequence keys and values come from, (B, S, Ckv)
  const KeyPadding* padding = nullptr;       // padding keys (Self/Causal: over cached + new keys; Cross: memory)
  const Tensor4<Scalar>* bias = nullptr;          // (B|1, H|1, T, S) added to the scores
  const RotaryEmbedding<Scalar>* rope = nullptr;  // rotate q and k by their positions (Self/Causal)
  KVCache<Scalar>* cache = nullptr;               // Self/Causal: append and attend over all; Cross: fill once, reuse
  Tensor4<Scalar>* probs = nullptr;               // receives the attention weights (B, H, T, S)
};

/// Intermediates of the last forward call, named as the lecture names them. A breakpoint after
/// forward() shows them; backward will read them.
template <class Scalar>
struct AttentionActivations {
  Matrix<Scalar> q;        // (B·T, H·D)    queries (after RoPE)
  Matrix<Scalar> k;        // (B·S', Hkv·D) keys computed in this call (after RoPE); S' = new positions
  Matrix<Scalar> v;        // (B·S', Hkv·D) values computed in this call
  Matrix<Scalar> context;  // (B·T, H·D)    softmax(scores) V for every head, side by side
  Matrix<Scalar> scores;   // (T, S)        scratch for one (batch, head): scores, then weights
};

template <class Scalar>
class MultiHeadAttention {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  MultiHeadAttention() = default;
  explicit MultiHeadAttention(const AttentionConfig& config) : config_(config) {
    config.validate();
    const Index C = config.width, Ckv = config.resolved_kv_width();
    const Index HD = config.heads * config.resolved_head_dim();
    const Index HkvD = config.resolved_kv_heads() * config.resolved_head_dim();
    q = Linear<Scalar>(C, HD, config.qkv_bias);
    k = Linear<Scalar>(Ckv, HkvD, config.qkv_bias);
    v = Linear<Scalar>(Ckv, HkvD, config.qkv_bias);
    o = Linear<Scalar>(HD, C, config.out_bias);
  }

  const AttentionConfig& config() const { return config_; }
  Index heads() const { return config_.heads; }
  Index kv_heads() const { return config_.resolved_kv_heads(); }
  Index head_dim() const { return config_.resolved_head_dim(); }
  Scalar scale() const {
    return static_cast<Scalar>(config_.scale ? *config_.scale : 1.0 / std::sqrt(static_cast<double>(head_dim())));
  }

  /// x (B, T, C) → y (B, T, C).
  void forward(const Tensor3<Scalar>& x, Tensor3<Scalar>& y, const AttentionOptions<Scalar>& options = {}) {
    const Index B = x.dimension(0), T = x.dimension(1);
    const Index H = heads(), Hkv = kv_heads(), D = head_dim();
    check_input(x, options);
    const bool cross = options.mode == AttentionMode::Cross;
    // Position of the first query: the positions already cached before this call.
    const Index first = (!cross && options.cache != nullptr) ? options.cache->length() : 0;

    // 1) Queries: q = x W_qᵀ (+ b_q)                                             (B·T, H·D)
    q.forward(as_matrix(x), act.q);

    // 2) Keys and values: from x itself, or from the memory (cross) — unless a cross cache has them.
    const bool reuse_cross_cache = cross && options.cache != nullptr && !options.cache->empty();
    if (!reuse_cross_cache) {
      const Tensor3<Scalar>& source = cross ? *options.memory : x;
      k.forward(as_matrix(source), act.k);                                      // (B·S', Hkv·D)
      v.forward(as_matrix(source), act.v);
    }

    // 3) Positions: rotate queries and keys by their absolute positions (RoPE).
    if (options.rope != nullptr && !cross) {
      options.rope->rotate(act.q, B, H, first);
      options.rope->rotate(act.k, B, Hkv, first);
    }

    // 4) Where the keys and values live: this call's matrices, or the cache (after appending them).
    HeadsView<const Scalar> keys, values;
    if (options.cache != nullptr) {
      if (!reuse_cross_cache) options.cache->append(act.k, act.v, B);
      keys = options.cache->key_heads(Hkv);
      values = options.cache->value_heads(Hkv);
      if (keys.batch != B) {
        throw ShapeError(detail::cat("[MultiHeadAttention] the cache holds ", keys.batch, " sequences but the input has ", B));
      }
    } else {
      keys = read_view(act.k, B, Hkv);
      values = read_view(act.v, B, Hkv);
    }

    // 5) The core: context = softmax(q kᵀ · scale + bias + mask) v, per (batch, head).
    act.context.resize(B * T, H * D);
    AttentionMask<Scalar> mask;
    mask.causal = options.mode == AttentionMode::Causal;
    mask.first_query = first;
    mask.padding = options.padding;
    mask.bias = options.bias;
    scaled_dot_product_attention<Scalar>(read_view(act.q, B, H), keys, values, write_view(act.context, B, H), mask, scale(),
                                    act.scores, options.probs);

    // 6) Output projection: y = context W_oᵀ (+ b_o)                              (B·T, C)
    y.resize(B, T, config_.width);
    o.forward(act.context, as_matrix(y));
  }

  Tensor3<Scalar> operator()(const Tensor3<Scalar>& x, const AttentionOptions<Scalar>& options = {}) {
    Tensor3<Scalar> y;
    forward(x, y, options);
    return y;
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    q.collect_parameters(prefix + "q.", out);
    k.collect_parameters(prefix + "k.", out);
    v.collect_parameters(prefix + "v.", out);
    o.collect_parameters(prefix + "o.", out);
  }

 private:
  // (B·L, heads·D) matrices seen per (batch, head); read-only for q, k, v and writable for the context.
  static HeadsView<const Scalar> read_view(const Matrix<Scalar>& m, Index batch, Index heads) {
    HeadsView<const Scalar> h;
    h.data = m.data();
    h.batch = batch;
    h.length = m.rows() / batch;
    h.batch_stride = h.length;
    h.heads = heads;
    h.head_dim = m.cols() / heads;
    return h;
  }
  static HeadsView<Scalar> write_view(Matrix<Scalar>& m, Index batch, Index heads) {
    HeadsView<Scalar> h;
    h.data = m.data();
    h.batch = batch;
    h.length = m.rows() / batch;
    h.batch_stride = h.length;
    h.heads = heads;
    h.head_dim = m.cols() / heads;
    return h;
  }

  void check_input(const Tensor3<Scalar>& x, const AttentionOptions<Scalar>& options) const {
    const char* where = "[MultiHeadAttention] ";
    if (x.dimension(2) != config_.width) {
      throw ShapeError(detail::cat(where, "input ", detail::shape_str(shape_of(x)), " has width ", x.dimension(2),
                                   " but the layer expects ", config_.width));
    }
    if (x.dimension(0) <= 0 || x.dimension(1) <= 0) {
      throw ShapeError(detail::cat(where, "input ", detail::shape_str(shape_of(x)), " is empty"));
    }
    if (options.mode == AttentionMode::Cross) {
      const bool cached = options.cache != nullptr && !options.cache->empty();
      if (options.memory == nullptr && !cached) {
        throw ValueError(detail::cat(where, "cross-attention needs a memory (the encoder output) or a filled cache"));
      }
      if (options.memory != nullptr) {
        const Tensor3<Scalar>& m = *options.memory;
        if (m.dimension(0) != x.dimension(0) || m.dimension(2) != config_.resolved_kv_width() || m.dimension(1) <= 0) {
          throw ShapeError(detail::cat(where, "memory ", detail::shape_str(shape_of(m)), " does not fit queries ",
                                       detail::shape_str(shape_of(x)), ": expected (", x.dimension(0), ", S > 0, ",
                                       config_.resolved_kv_width(), ")"));
        }
      }
      if (options.rope != nullptr) {
        throw ValueError(detail::cat(where, "RoPE is for self-attention; cross-attention positions are not comparable"));
      }
    } else if (options.memory != nullptr) {
      throw ValueError(detail::cat(where, to_string(options.mode), " attention takes no memory; use AttentionMode::Cross"));
    }
    if (options.rope != nullptr && options.rope->head_dim() != head_dim()) {
      throw ShapeError(detail::cat(where, "RoPE is set up for head width ", options.rope->head_dim(),
                                   " but the heads are ", head_dim(), " wide"));
    }
  }

  AttentionConfig config_;

 public:
  Linear<Scalar> q;  // (H·D, C)
  Linear<Scalar> k;  // (Hkv·D, Ckv)
  Linear<Scalar> v;  // (Hkv·D, Ckv)
  Linear<Scalar> o;  // (C, H·D)
  AttentionActivations<Scalar> act;
};

}  // namespace eigenformer
