// eigenformer/attention/multi_head_attention.hpp — multi-head attention: projections around the core.
//
//     MultiHead(X, M) = Concat(head_1 .. head_H) W_oᵀ        (Vaswani et al. 2017, §3.2.2)
//     head_h          = Attention(X W_q,hᵀ, M W_k,gᵀ, M W_v,gᵀ)      g = h / (H / Hkv)
//
// One class, one explicit mode:
//   Self    every position of X attends to every position of X (the encoder; BERT)
//   Causal  position t of X attends to positions ≤ t (the decoder; Llama, GPT); can use a KV cache;
//           with config.window = W only to t − W < s ≤ t (Mistral's sliding window)
//   Cross   queries from X, keys and values from a second sequence M (the encoder output; T5's decoder)
//
// Heads: H query heads, Hkv key/value heads. Hkv = H is multi-head attention (MHA), Hkv = 1 multi-query
// (MQA, Shazeer 2019), anything dividing H grouped-query (GQA, Ainslie et al. 2023; Llama 2 70B, Llama 3):
// query heads h share the key/value head h / (H/Hkv), which shrinks the KV cache by H/Hkv.
#pragma once

#include <optional>
#include <string>

#include "eigenformer/attention/attention.hpp"
#include "eigenformer/attention/forward_context.hpp"
#include "eigenformer/attention/kv_cache.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/layers/linear.hpp"
#include "eigenformer/layers/norm.hpp"
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
  bool out_bias = false;         // bias on the output projection (Qwen2: biases on q, k, v but not here)
  std::optional<double> scale{}; // score scale; nullopt means 1/√D. T5 uses 1 (folded into its init)
  // Last, so that brace lists written before they existed still mean what they meant.
  bool qk_norm = false;          // RMSNorm (weight of width D) on each head's query and key before RoPE (Qwen3)
  double qk_norm_eps = 1e-6;     // its eps (Qwen3: rms_norm_eps)
  Index window = 0;              // W, Causal mode only: query i sees keys i − W < j ≤ i (Mistral's sliding
                                 // window, attention.hpp); 0: every key j ≤ i

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
    if (window < 0) throw ValueError(detail::cat("[AttentionConfig] the sliding window must be positive (or 0: none), got ", window));
    if (resolved_kv_heads() <= 0 || heads % resolved_kv_heads() != 0) {
      throw ValueError(detail::cat("[AttentionConfig] ", heads, " query heads cannot be grouped over ",
                                   resolved_kv_heads(), " key/value heads (Hkv must divide H)"));
    }
  }
};

/// Intermediates of the last forward call, named as the lecture names them. A breakpoint after
/// forward() shows them.
template <class Scalar>
struct AttentionActivations {
  Matrix<Scalar> q;        // (B·T, H·D)    queries (after RoPE)
  Matrix<Scalar> k;        // (B·S', Hkv·D) keys computed in this call (after RoPE); S' = new positions
  Matrix<Scalar> v;        // (B·S', Hkv·D) values computed in this call
  Matrix<Scalar> context;  // (B·T, H·D)    softmax(scores) V for every head, side by side
  Tensor4<Scalar> scores;  // (B, H, T, S)  every head's masked scores; filled when context.keep_scores
  Tensor4<Scalar> weights; // (B, H, T, S)  every head's weights; filled when context.keep_weights or captured
  AttentionScratch<Scalar> head;  // (T, S) scores and weights of one (batch, head): the core's workspace

  // What backward() must know about the forward call these belong to.
  AttentionMode mode = AttentionMode::Self;  // the mode it ran in
  bool used_cache = false;                   // its keys and values came from a KV cache: no backward
  bool weights_kept = false;                 // `weights` are this call's (keep_weights or a capture)
};

/// The gradients of one backward call, named after the activations they belong to: d<name> = ∂loss/∂<name>.
template <class Scalar>
struct AttentionGradientActivations {
  Matrix<Scalar> dcontext;  // (B·T, H·D)
  Matrix<Scalar> dq;        // (B·T, H·D)    of the rotated queries, then (after RoPE's backward) of x W_qᵀ
  Matrix<Scalar> dk;        // (B·S, Hkv·D)  likewise for the keys
  Matrix<Scalar> dv;        // (B·S, Hkv·D)
  Matrix<Scalar> dsource;   // (B·S, Ckv)    cross-attention without a memory gradient: where k, v's dx go
  AttentionBackwardScratch<Scalar> head;  // (T, S) dweights and dscores of one (batch, head)
};

/// Gradients of MultiHeadAttention's inputs besides x, each optional and ADDED into (a memory read by every
/// cross-attention of a decoder, and T5's bias shared by every layer, collect all their readers' shares).
template <class Scalar>
struct AttentionInputGradients {
  Tensor3<Scalar>* memory = nullptr;  // (B, S, Ckv)       cross-attention: ∂loss/∂memory, shaped like the memory
  Tensor4<Scalar>* bias = nullptr;    // (B|1, H|1, T, S)  self-attention: ∂loss/∂bias, shaped like context.bias
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
    if (config.qk_norm) {
      NormConfig norm;
      norm.kind = NormKind::RMSNorm;
      norm.eps = config.qk_norm_eps;
      norm.bias = false;
      q_norm = Norm<Scalar>(config.resolved_head_dim(), norm);
      k_norm = Norm<Scalar>(config.resolved_head_dim(), norm);
    }
  }

  const AttentionConfig& config() const { return config_; }
  Index heads() const { return config_.heads; }
  Index kv_heads() const { return config_.resolved_kv_heads(); }
  Index head_dim() const { return config_.resolved_head_dim(); }
  Scalar scale() const {
    return static_cast<Scalar>(config_.scale ? *config_.scale : 1.0 / std::sqrt(static_cast<double>(head_dim())));
  }

  /// x (B, T, C) → y (B, T, C). The mode says which keys the queries see; the context supplies the rest
  /// (attention/forward_context.hpp lists what this layer reads from it).
  void forward(const Tensor3<Scalar>& x, Tensor3<Scalar>& y, AttentionMode mode = AttentionMode::Self,
               const ForwardContext<Scalar>& context = {}) {
    const Index B = x.dimension(0), T = x.dimension(1);
    const Index H = heads(), Hkv = kv_heads(), D = head_dim();
    const bool cross = mode == AttentionMode::Cross;
    check_input(x, mode, context);
    // What this layer reads from the context: cross-attention reads the memory and its padding, self-
    // attention the input's padding, the position scheme and the bias.
    KVCache<Scalar>* cache = context.cache != nullptr ? &context.cache->layer_cache(context.layer, cross) : nullptr;
    Tensor4<Scalar>* captured = context.capture != nullptr ? context.capture->attention_slot(context.layer, cross) : nullptr;
    const RotaryEmbedding<Scalar>* rope = cross ? nullptr : context.rope;
    // Position of the first query: the positions already cached before this call.
    const Index first = (!cross && cache != nullptr) ? cache->end_position() : 0;
    // Sliding window (Causal only): query i sees keys i − W < j ≤ i.
    const Index window = mode == AttentionMode::Causal ? config_.window : 0;

    // 1) Queries: q = x W_qᵀ (+ b_q)                                             (B·T, H·D)
    // 2) Keys and values: k = s W_kᵀ, v = s W_vᵀ (+ biases) from the source s     (B·S', Hkv·D)
    //    s is x itself, or the memory (cross) — unless a cross cache has them. Self-attention's three products
    //    read the same x: they run together (forward_together, layers/linear.hpp — when decoding, the threads
    //    meet once for the three; each result has the bits of its own forward call).
    const bool reuse_cross_cache = cross && cache != nullptr && !cache->empty();
    if (!cross) {
      forward_together<Scalar, 3>(as_matrix(x), {&q, &k, &v}, {&act.q, &act.k, &act.v});
    } else {
      q.forward(as_matrix(x), act.q);
      if (!reuse_cross_cache) {
        k.forward(as_matrix(*context.memory), act.k);
        v.forward(as_matrix(*context.memory), act.v);
      }
    }
    Capture<Scalar>* inspect = context.inspecting();  // named intermediates: forward_context.hpp's table
    const std::string site = inspect != nullptr ? layer_site(*inspect, context.layer, context.scope) : std::string();
    if (inspect != nullptr) inspect->record_rows(site + "q.out", act.q, B, H, context.layer);
    if (inspect != nullptr && !reuse_cross_cache) {
      inspect->record_rows(site + "k.out", act.k, B, Hkv, context.layer);
      inspect->record_rows(site + "v.out", act.v, B, Hkv, context.layer);
    }

    // 2b) Qwen3's q/k norm: each head's query and key, a D-wide row of its own, is RMS-normalised with the
    //     weights γ_q, γ_k (D) — before RoPE, so the rotation still sees unit-scale vectors. Viewed as
    //     (B·T·H, D) and (B·S'·Hkv, D) rows, in place.
    if (config_.qk_norm) {
      MatrixMap<Scalar> q_rows(act.q.data(), act.q.rows() * H, D);
      q_norm.forward(q_rows, q_rows);
      if (!reuse_cross_cache) {
        MatrixMap<Scalar> k_rows(act.k.data(), act.k.rows() * Hkv, D);
        k_norm.forward(k_rows, k_rows);
      }
    }

    // 3) Positions: rotate queries and keys by their absolute positions (RoPE) — in a left-padded batch, each
    //    sequence's positions counted from its first real token (context.position_shift).
    if (rope != nullptr) {
      if (context.position_shift != nullptr) {
        rope->rotate(act.q, B, H, first, *context.position_shift);
        rope->rotate(act.k, B, Hkv, first, *context.position_shift);
      } else {
        rope->rotate(act.q, B, H, first);
        rope->rotate(act.k, B, Hkv, first);
      }
      if (inspect != nullptr) {
        inspect->record_rows(site + "q_rope", act.q, B, H, context.layer);
        inspect->record_rows(site + "k_rope", act.k, B, Hkv, context.layer);
      }
    }

    // 4) Where the keys and values live: this call's matrices, or the cache (after appending them).
    HeadsView<const Scalar> keys, values;
    if (cache != nullptr) {
      // A window-bounded cache first drops the keys no query from position `first` on can see: those
      // before first − W + 1, leaving the last W − 1 (kv_cache.hpp).
      if (window > 0 && context.cache->bound_to_window) cache->keep_last(window - 1);
      if (!reuse_cross_cache) cache->append(act.k, act.v, B);
      keys = cache->key_heads(Hkv);
      values = cache->value_heads(Hkv);
      if (keys.batch != B) {
        throw ShapeError(detail::cat("[MultiHeadAttention] the cache holds ", keys.batch, " sequences but the input has ", B));
      }
    } else {
      keys = HeadsView<const Scalar>::of(act.k, B, Hkv);
      values = HeadsView<const Scalar>::of(act.v, B, Hkv);
    }

    // 5) The core: context = softmax(q kᵀ · scale + bias + mask) v, per (batch, head).
    act.context.resize(B * T, H * D);
    AttentionMask<Scalar> mask;
    mask.causal = mode == AttentionMode::Causal;
    mask.first_query = first;
    mask.window = window;
    mask.first_key = (!cross && cache != nullptr) ? cache->first_position() : 0;
    mask.padding = cross ? context.memory_padding : context.padding;
    mask.bias = cross ? nullptr : context.bias;
    AttentionRecord<Scalar> record;
    if (context.keep_scores) record.scores = &act.scores;
    if (context.keep_weights || captured != nullptr) record.weights = &act.weights;
    Tensor4<Scalar> raw_scores, masked_scores;  // (B, H, T, S), only when inspected
    if (inspect != nullptr) {
      record.raw_scores = &raw_scores;
      record.scores = context.keep_scores ? &act.scores : &masked_scores;
      record.weights = &act.weights;
    }
    scaled_dot_product_attention<Scalar>(HeadsView<const Scalar>::of(act.q, B, H), keys, values,
                                         HeadsView<Scalar>::of(act.context, B, H), mask, scale(), act.head, record);
    if (inspect != nullptr) inspect_core(*inspect, site, context.layer, record, values);
    if (captured != nullptr) *captured = act.weights;
    act.mode = mode;
    act.used_cache = cache != nullptr;
    act.weights_kept = record.weights != nullptr;

    // 6) Output projection: y = context W_oᵀ (+ b_o)                              (B·T, C)
    y.resize(B, T, config_.width);
    o.forward(act.context, as_matrix(y));
    if (inspect != nullptr) inspect->record_sequence(site + "o.out", y, context.layer);
  }

  Tensor3<Scalar> operator()(const Tensor3<Scalar>& x, AttentionMode mode = AttentionMode::Self,
                             const ForwardContext<Scalar>& context = {}) {
    Tensor3<Scalar> y;
    forward(x, y, mode, context);
    return y;
  }

  /// Backward of forward(x, y, mode, context): dy (B, T, C) = ∂loss/∂y → dx (B, T, C) = ∂loss/∂x, written;
  /// the q, k, v, o weight (and bias) gradients added into, each when allocated; ∂loss/∂memory (Cross) and
  /// ∂loss/∂bias (Self/Causal with context.bias) added into `inputs` when given. The forward in reverse:
  ///   6) y = context W_oᵀ          dcontext = dy W_o,      dW_o += dyᵀ context
  ///   5) the core                  dq, dk, dv from dcontext and the kept weights
  ///                                (scaled_dot_product_attention_backward: the derivation)
  ///   3) RoPE                      dq, dk turned back by −pθ (rotate_backward)
  ///   2b) q/k norm (Qwen3)         RMSNorm's backward on each head's row; dγ sums over heads and positions
  ///   1-2) q = x W_qᵀ, k = s W_kᵀ, v = s W_vᵀ  (s = x, or the memory for Cross)
  ///                                dx = dq W_q (+ dk W_k + dv W_v for Self/Causal: x feeds all three, so
  ///                                its gradient is the sum of the three paths); Cross: dmemory += dk W_k + dv W_v
  /// Requirements, each checked (ValueError otherwise): the last forward ran in this mode, kept its weights
  /// (context.keep_weights = true; the backward reads them and recomputes nothing), and used no KV cache
  /// (training runs whole sequences; a cached call's keys belong to earlier calls). x, context.memory,
  /// context.rope, context.bias must be those of that forward (the caller keeps its inputs).
  void backward(const Tensor3<Scalar>& x, const Tensor3<Scalar>& dy, Tensor3<Scalar>& dx,
                AttentionMode mode = AttentionMode::Self, const ForwardContext<Scalar>& context = {},
                const AttentionInputGradients<Scalar>& inputs = {}) {
    const char* where = "[MultiHeadAttention::backward] ";
    const Index B = x.dimension(0), T = x.dimension(1);
    const Index H = heads(), Hkv = kv_heads();
    const bool cross = mode == AttentionMode::Cross;
    if (act.used_cache) {
      throw ValueError(detail::cat(where, "the forward call used a KV cache; run the forward without one to train"));
    }
    if (!act.weights_kept) {
      throw ValueError(detail::cat(where, "the forward call did not keep its attention weights; set "
                                          "ForwardContext::keep_weights = true for a forward that will be differentiated"));
    }
    if (act.mode != mode) {
      throw ValueError(detail::cat(where, "the forward ran in ", to_string(act.mode), " mode, not ", to_string(mode)));
    }
    if (dy.dimension(0) != B || dy.dimension(1) != T || dy.dimension(2) != config_.width ||
        act.q.rows() != B * T || x.dimension(2) != config_.width) {
      throw ShapeError(detail::cat(where, "input ", detail::shape_str(shape_of(x)), " and output gradient ",
                                   detail::shape_str(shape_of(dy)), " do not match the forward call's (", B, ", ", T,
                                   ", ", config_.width, ") with ", act.q.rows(), " query rows"));
    }
    const Tensor3<Scalar>& source = cross ? *context.memory : x;  // what k and v read
    if (cross && context.memory == nullptr) throw ValueError(detail::cat(where, "cross-attention needs context.memory"));
    if (cross && inputs.memory != nullptr && inputs.memory->dimensions() != source.dimensions()) {
      throw ShapeError(detail::cat(where, "memory gradient ", detail::shape_str(shape_of(*inputs.memory)),
                                   " is not shaped like the memory ", detail::shape_str(shape_of(source))));
    }
    const RotaryEmbedding<Scalar>* rope = cross ? nullptr : context.rope;
    Tensor4<Scalar>* dbias = (!cross && context.bias != nullptr) ? inputs.bias : nullptr;
    if (dbias != nullptr && dbias->dimensions() != context.bias->dimensions()) {
      throw ShapeError(detail::cat(where, "bias gradient ", detail::shape_str(shape_of(*dbias)),
                                   " is not shaped like the bias ", detail::shape_str(shape_of(*context.bias))));
    }

    // 6) Output projection.
    o.backward(act.context, as_matrix(dy), grad.dcontext);

    // 5) The core, from the kept weights.
    grad.dq.resize(act.q.rows(), act.q.cols());
    grad.dk.resize(act.k.rows(), act.k.cols());
    grad.dv.resize(act.v.rows(), act.v.cols());
    AttentionGradients<Scalar> core;
    core.queries = HeadsView<Scalar>::of(grad.dq, B, H);
    core.keys = HeadsView<Scalar>::of(grad.dk, B, Hkv);
    core.values = HeadsView<Scalar>::of(grad.dv, B, Hkv);
    core.bias = dbias;
    scaled_dot_product_attention_backward<Scalar>(
        HeadsView<const Scalar>::of(act.q, B, H), HeadsView<const Scalar>::of(act.k, B, Hkv),
        HeadsView<const Scalar>::of(act.v, B, Hkv), HeadsView<const Scalar>::of(grad.dcontext, B, H), act.weights,
        scale(), core, grad.head);

    // 3) RoPE: the forward turned q and k by +pθ (from position 0: no cache), the gradient turns back.
    if (rope != nullptr) {
      rotate_backward<Scalar>(*rope, grad.dq, B, H, 0);
      rotate_backward<Scalar>(*rope, grad.dk, B, Hkv, 0);
    }

    // 2b) Qwen3's q/k norm: the forward replaced each head's D-wide query row q by x̂ ⊙ γ_q, x̂ = q r (and each key
    //     head's row), in place, keeping x̂ and r per row; its backward runs on the same (B·T·H, D) and
    //     (B·S·Hkv, D) views, in place (layers/norm.hpp: dx = r (g − x̂ mean(g ⊙ x̂)), g = γ ⊙ dy). One γ serves
    //     every head and position, so its gradient is the sum over all those rows: dγ_q += Σ_{b,t,h} dq ⊙ x̂.
    if (config_.qk_norm) {
      const Index D = head_dim();
      MatrixMap<Scalar> dq_rows(grad.dq.data(), grad.dq.rows() * H, D);
      q_norm.backward(dq_rows, dq_rows, GradientWrite::Assign);
      MatrixMap<Scalar> dk_rows(grad.dk.data(), grad.dk.rows() * Hkv, D);
      k_norm.backward(dk_rows, dk_rows, GradientWrite::Assign);
    }

    // 1-2) Projections. x feeds q (and k, v unless Cross); the memory feeds k and v (Cross).
    dx.resize(B, T, config_.width);
    q.backward(as_matrix(x), grad.dq, as_matrix(dx), GradientWrite::Assign);
    if (!cross) {
      k.backward(as_matrix(x), grad.dk, as_matrix(dx), GradientWrite::Add);
      v.backward(as_matrix(x), grad.dv, as_matrix(dx), GradientWrite::Add);
    } else if (inputs.memory != nullptr) {
      k.backward(as_matrix(source), grad.dk, as_matrix(*inputs.memory), GradientWrite::Add);
      v.backward(as_matrix(source), grad.dv, as_matrix(*inputs.memory), GradientWrite::Add);
    } else {
      grad.dsource.resize(source.dimension(0) * source.dimension(1), source.dimension(2));
      k.backward(as_matrix(source), grad.dk, Eigen::Ref<Matrix<Scalar>>(grad.dsource), GradientWrite::Assign);
      v.backward(as_matrix(source), grad.dv, Eigen::Ref<Matrix<Scalar>>(grad.dsource), GradientWrite::Add);
    }
  }

  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    q.collect_parameters(prefix + "q.", out);
    k.collect_parameters(prefix + "k.", out);
    v.collect_parameters(prefix + "v.", out);
    o.collect_parameters(prefix + "o.", out);
    if (config_.qk_norm) {
      q_norm.collect_parameters(prefix + "q_norm.", out);
      k_norm.collect_parameters(prefix + "k_norm.", out);
    }
  }

 private:
  void check_input(const Tensor3<Scalar>& x, AttentionMode mode, const ForwardContext<Scalar>& context) const {
    const char* where = "[MultiHeadAttention] ";
    if (x.dimension(2) != config_.width) {
      throw ShapeError(detail::cat(where, "input ", detail::shape_str(shape_of(x)), " has width ", x.dimension(2),
                                   " but the layer expects ", config_.width));
    }
    if (x.dimension(0) <= 0 || x.dimension(1) <= 0) {
      throw ShapeError(detail::cat(where, "input ", detail::shape_str(shape_of(x)), " is empty"));
    }
    const bool cross = mode == AttentionMode::Cross;
    if (cross) {
      const bool cached = context.cache != nullptr &&
                          static_cast<Index>(context.cache->cross.size()) > context.layer &&
                          !context.cache->cross[static_cast<std::size_t>(context.layer)].empty();
      if (context.memory == nullptr && !cached) {
        throw ValueError(detail::cat(where, "cross-attention needs a memory (the encoder output) or a filled cache"));
      }
      if (context.memory != nullptr) {
        const Tensor3<Scalar>& m = *context.memory;
        if (m.dimension(0) != x.dimension(0) || m.dimension(2) != config_.resolved_kv_width() || m.dimension(1) <= 0) {
          throw ShapeError(detail::cat(where, "memory ", detail::shape_str(shape_of(m)), " does not fit queries ",
                                       detail::shape_str(shape_of(x)), ": expected (", x.dimension(0), ", S > 0, ",
                                       config_.resolved_kv_width(), ")"));
        }
      }
    }
    if (!cross && context.position_shift != nullptr && static_cast<Index>(context.position_shift->size()) != x.dimension(0)) {
      throw ShapeError(detail::cat(where, "the batch has ", x.dimension(0), " sequences but position_shift has ",
                                   context.position_shift->size(), " entries (one per sequence)"));
    }
    // Cross-attention ignores RoPE: query and memory positions are not comparable.
    if (!cross && context.rope != nullptr && context.rope->head_dim() != head_dim()) {
      throw ShapeError(detail::cat(where, "RoPE is set up for head width ", context.rope->head_dim(),
                                   " but the heads are ", head_dim(), " wide"));
    }
  }

  // The core's named intermediates: raw scores and what the bias and mask added (read-only: recorded after
  // the core), the weights (writable: when a hook changed them, the context is recomputed from them, step 5
  // again: context = weights V), and the per-head context (writable, before the o projection).
  void inspect_core(Capture<Scalar>& inspect, const std::string& site, Index layer, const AttentionRecord<Scalar>& record,
                    const HeadsView<const Scalar>& values) {
    inspect.record_heads(site + "scores", *record.raw_scores, layer, /*writable=*/false);
    Tensor4<Scalar> added = *record.scores - *record.raw_scores;  // bias, and −∞ where the mask hides a key
    inspect.record_heads(site + "bias_mask", added, layer, /*writable=*/false);
    const bool hooked = inspect.hooks != nullptr && inspect.hooks->any(inspect.name_of(site + "weights"));
    inspect.record_heads(site + "weights", act.weights, layer);
    if (hooked) {
      const Index B = values.batch, H = heads(), group = H / values.heads;
      const HeadsView<Scalar> contexts = HeadsView<Scalar>::of(act.context, B, H);
      for (Index b = 0; b < B; ++b) {
        for (Index h = 0; h < H; ++h) {
          contexts.block(b, h).noalias() = as_matrix(act.weights, b, h) * values.block(b, h / group);
        }
      }
    }
    inspect.record_rows(site + "context", act.context, values.batch, heads(), layer);
  }

  AttentionConfig config_;

 public:
  Linear<Scalar> q;  // (H·D, C)
  Linear<Scalar> k;  // (Hkv·D, Ckv)
  Linear<Scalar> v;  // (Hkv·D, Ckv)
  Linear<Scalar> o;  // (C, H·D)
  Norm<Scalar> q_norm;  // γ (D), RMSNorm of each query head; empty unless config.qk_norm
  Norm<Scalar> k_norm;  // γ (D), RMSNorm of each key head; empty unless config.qk_norm
  AttentionActivations<Scalar> act;
  AttentionGradientActivations<Scalar> grad;  // the last backward call's gradients
};

}  // namespace eigenformer
