// examples/bert/bert.hpp — BERT (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for
// Language Understanding") assembled from eigenformer's blocks.
//
// What it picks from the kit:
//   embeddings  word (V, C) + learned absolute position (P, C) + token type (2, C), then LayerNorm
//   block       EncoderBlock, *post*-norm as in the original Transformer:
//                   h = LayerNorm(x + Attention(x));  y = LayerNorm(h + FFN(h))
//               attention: bidirectional (every token sees every non-padding token), H heads of width C/H,
//                          biases on q, k, v and o, scores scaled by 1/√D
//               FFN:       down(GELU(up(x))) with biases, the exact erf GELU
//               LayerNorm: eps = layer_norm_eps (1e-12)
//   stack       Encoder: N blocks, no final norm (each block already ends in one)
//   heads       what the checkpoint carries (BertHeads::detect):
//                 pooler      tanh(W_p h[CLS] + b_p)                      — a sentence vector
//                 masked LM   LayerNorm(GELU(W_t h + b_t)) Eᵀ + b         — fill-mask; the output layer is the
//                                                                          word embedding E itself (tied)
//                 next sentence / classifier   W pooled + b               — IsNext/NotNext, num_labels scores
//
// It loads Hugging Face checkpoints with model_type "bert": bert-base-uncased (with its old LayerNorm.gamma/beta
// names and "bert." prefix), bert-large-*, BertForSequenceClassification fine-tunes, sentence-transformers models
// such as all-MiniLM-L6-v2 (a bare BertModel without prefix).
//
// Shapes: B batch, T positions, C hidden_size, H heads, F intermediate_size, V vocab_size, L num_labels.
#pragma once

#include <eigenformer/eigenformer.hpp>
#include <eigenformer/models.hpp>

#include "bert_config.hpp"

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace eigenformer {

// BertConfig — config.json read and checked, and the blocks this family picks: bert_config.hpp.

/// The heads a checkpoint carries, found from its tensor names, and how it spells them.
struct BertHeads {
  bool prefixed = false;       // "bert.embeddings..." (a BertFor* model) or "embeddings..." (a bare BertModel)
  bool pooler = false;         // pooler.dense
  bool masked_lm = false;      // cls.predictions
  bool next_sentence = false;  // cls.seq_relationship
  bool classifier = false;     // classifier

  static BertHeads detect(const Checkpoint& checkpoint) {
    BertHeads h;
    for (const TensorInfo& t : checkpoint.tensors()) {
      if (t.name.compare(0, 5, "bert.") == 0) h.prefixed = true;
    }
    const std::string p = h.prefixed ? "bert." : "";
    h.masked_lm =
        checkpoint.contains("cls.predictions.bias") || checkpoint.contains("cls.predictions.transform.dense.weight");
    h.next_sentence = checkpoint.contains("cls.seq_relationship.weight");
    h.classifier = checkpoint.contains("classifier.weight");
    // Both sentence-level heads read the pooled output, so they need the pooler (missing → a clear error).
    h.pooler = checkpoint.contains(p + "pooler.dense.weight") || h.next_sentence || h.classifier;
    return h;
  }
};

/// What one forward call may use besides the ids. All optional.
template <class Scalar>
struct BertOptions {
  const TokenIds* token_types = nullptr;  // (B, T) segment ids, 0 for sentence A and 1 for B; all 0 when absent
  const KeyPadding* padding = nullptr;    // which tokens are real (Hugging Face's attention_mask)
  Capture<Scalar>* capture = nullptr;          // hidden states and attention maps, with Hugging Face's meaning
  bool keep_weights = false;              // a training forward: every attention keeps its (B, H, T, T) weights,
                                          // which backward() reads (ForwardContext::keep_weights)
};

template <class Scalar>
class Bert {
 public:
  using scalar_type = Scalar;  // the element type, for generic code (core/parameters.hpp)

  Bert(const BertConfig& config, const BertHeads& heads)
      : config_(config),
        heads_(heads),
        word_embeddings(config.vocab_size, config.hidden_size),
        position_embeddings(config.max_position_embeddings, config.hidden_size),
        token_type_embeddings(config.type_vocab_size, config.hidden_size),
        embeddings_norm(config.hidden_size, config.encoder().block.norm),
        encoder(config.encoder()) {
    const Index C = config.hidden_size;
    // transformers' BertEmbeddings: nn.Embedding(V, C, padding_idx=pad_token_id), pad_token_id defaulting to 0
    // in BertConfig: lookups of that row send it no gradient (the tied MLM decoder's use still does).
    word_embeddings.padding_idx = static_cast<Index>(config.pad_token_id.value_or(0));
    if (heads.pooler) pooler = Linear<Scalar>(C, C, true);
    if (heads.masked_lm) {
      mlm_transform = Linear<Scalar>(C, C, true);
      mlm_norm = Norm<Scalar>(C, config.encoder().block.norm);
      mlm_bias = RowVector<Scalar>::Zero(config.vocab_size);
      if (!config.tie_word_embeddings) mlm_decoder = Linear<Scalar>(C, config.vocab_size, false);
    }
    if (heads.next_sentence) next_sentence = Linear<Scalar>(C, 2, true);
    if (heads.classifier) classifier = Linear<Scalar>(C, config.num_labels, true);
  }

  /// Opens a checkpoint folder, finds its heads, checks config.json against the weights' sizes, builds and loads
  /// every weight (strict).
  static Bert from_pretrained(const std::string& folder) {
    Checkpoint checkpoint(folder);
    const BertConfig config = BertConfig::from(checkpoint.config());
    const BertHeads heads = BertHeads::detect(checkpoint);
    checkpoint.check_parameter_count(parameter_count(config, heads));
    checkpoint.check_weights_fit<Scalar>(parameter_count(config, heads));  // MemoryError before allocating (core/memory.hpp)
    Bert bert(config, heads);
    bert.load(checkpoint);
    return bert;
  }

  /// ids (B, T) → hidden (B, T, C), the last hidden state. With options.keep_weights this is a training forward:
  /// every attention keeps its weights, and backward() can differentiate the call (the embeddings `x`, the
  /// norms' x̂ and every block's activations are kept in any case).
  void forward(const TokenIds& ids, Tensor3<Scalar>& hidden, const BertOptions<Scalar>& options = {}) {
    // 1) Embeddings: word + position + token type, then LayerNorm.                        x (B, T, C)
    word_embeddings.forward(ids, x);
    position_embeddings.add_positions(x, 0);
    token_types_of(ids, options);
    token_type_embeddings.forward(types, segment);
    as_matrix(x) += as_matrix(segment);
    embeddings_norm.forward(as_matrix(x), as_matrix(x));

    // 2) The encoder: N post-norm blocks of bidirectional attention and GELU FFN.          hidden (B, T, C)
    ForwardContext<Scalar> stack = encoder_context(options);
    stack.capture = options.capture;
    encoder.forward(x, hidden, stack);
  }

  /// Masked-LM scores: hidden (B, T, C) → logits (N, V), one row per entry of `rows` (positions b·T + t of the
  /// B·T), or for every position in order (N = B·T) when `rows` is null.
  ///     logits = LayerNorm(GELU(h W_tᵀ + b_t)) Eᵀ + b
  /// Keeps the rows it read (mlm_input), the transform before GELU (mlm_pre) and after the norm (transformed):
  /// what masked_lm_backward reads.
  void masked_lm_logits(const Tensor3<Scalar>& hidden, Matrix<Scalar>& logits, const std::vector<Index>* rows = nullptr) {
    require(heads_.masked_lm, "masked-LM head (cls.predictions)");
    // 1) The positions to score.
    const ConstMatrixMap<Scalar> h = as_matrix(hidden);
    if (rows == nullptr) {
      mlm_rows.resize(static_cast<std::size_t>(h.rows()));
      for (Index n = 0; n < h.rows(); ++n) mlm_rows[static_cast<std::size_t>(n)] = n;
    } else {
      mlm_rows = *rows;
    }
    mlm_input.resize(static_cast<Index>(mlm_rows.size()), h.cols());
    for (std::size_t n = 0; n < mlm_rows.size(); ++n) {
      if (mlm_rows[n] < 0 || mlm_rows[n] >= h.rows()) {
        throw ValueError(detail::cat("[Bert::masked_lm_logits] row ", mlm_rows[n], " is outside the ", h.rows(),
                                     " positions of hidden ", detail::shape_str(shape_of(hidden))));
      }
      mlm_input.row(static_cast<Index>(n)) = h.row(mlm_rows[n]);
    }
    // 2) The transform: dense → GELU → LayerNorm.                                        (N, C)
    mlm_transform.forward(mlm_input, mlm_pre);
    transformed = mlm_pre;
    apply_activation<Scalar>(config_.hidden_act, transformed);
    mlm_norm.forward(transformed, Eigen::Ref<Matrix<Scalar>>(transformed));
    // 3) The decoder: the word embeddings E read as an output layer (tied), plus its own bias.   (N, V)
    const Matrix<Scalar>& output = config_.tie_word_embeddings ? word_embeddings.weight : mlm_decoder.weight;
    product_threaded<Scalar>(transformed, output.transpose(), logits);
    logits.rowwise() += mlm_bias;
  }

  /// The pooler: the first ([CLS]) token of each sequence through a tanh layer. hidden (B, T, C) → pooled (B, C).
  ///     pooled = tanh(h[CLS] W_pᵀ + b_p)
  /// Keeps its input (cls_hidden) and output (pooler_output) for pool_backward.
  void pool(const Tensor3<Scalar>& hidden, Matrix<Scalar>& pooled) {
    require(heads_.pooler, "pooler (pooler.dense)");
    const Index B = hidden.dimension(0), T = hidden.dimension(1);
    cls_hidden.resize(B, hidden.dimension(2));
    for (Index b = 0; b < B; ++b) cls_hidden.row(b) = as_matrix(hidden).row(b * T);
    pooler.forward(cls_hidden, pooler_output);
    pooler_output = pooler_output.array().tanh().matrix();
    pooled = pooler_output;
  }

  /// Sequence classification: pooled (B, C) → logits (B, L). Keeps its input (classifier_input).
  void classify(const Matrix<Scalar>& pooled, Matrix<Scalar>& logits) {
    require(heads_.classifier, "classifier");
    classifier_input = pooled;
    classifier.forward(classifier_input, logits);
  }

  // ---- Backward (training) -------------------------------------------------------------------------------------
  // Each head's backward turns the gradient of its output into the gradient of the hidden states it read, and
  // backward() carries that through the encoder and the embeddings. The conventions are docs/backward.md's:
  // parameter gradients are added (+=) into the buffers parameters_with_gradients(model) allocated (an empty
  // buffer is a frozen parameter); each call differentiates the last forward call of its part.

  /// Backward of forward(ids, hidden, options), which must have run with options.keep_weights = true, with these
  /// ids and options (padding, token types): dhidden (B, T, C) = ∂loss/∂hidden → the gradients of the encoder and
  /// the embeddings, added.
  ///   1) encoder     d_x = Encoderᵀ dhidden                  (Stack::backward: the blocks, last first)
  ///   2) LayerNorm   d_sum = LayerNorm'ᵀ d_x                 (x = word + position + type: a sum, so each of the
  ///                                                           three lookups receives d_sum itself)
  ///   3) lookups     E_word[id] += d_sum,  E_pos[t] += Σ_b d_sum,  E_type[type] += d_sum    (scatter-adds)
  ///                  The word table's padding_idx row takes nothing from its lookups (nn.Embedding's rule).
  void backward(const TokenIds& ids, const Tensor3<Scalar>& dhidden, const BertOptions<Scalar>& options = {}) {
    if (dhidden.dimension(0) != ids.rows() || dhidden.dimension(1) != ids.cols() ||
        dhidden.dimension(2) != config_.hidden_size || x.dimensions() != dhidden.dimensions()) {
      throw ShapeError(detail::cat("[Bert::backward] gradient ", detail::shape_str(shape_of(dhidden)), " does not match ids ",
                                   detail::shape_str(shape_of(ids)), " and the last forward's embeddings ",
                                   detail::shape_str(shape_of(x))));
    }
    // 1) The encoder (it reads the attention weights the forward kept; it throws if they were not kept).
    encoder.backward(x, dhidden, d_x, encoder_context(options));
    // 2) The embeddings' LayerNorm, in place.
    MatrixMap<Scalar> d_sum = as_matrix(d_x);
    embeddings_norm.backward(d_sum, d_sum);
    // 3) The three lookups.
    token_types_of(ids, options);
    word_embeddings.backward(ids, d_sum);
    position_embeddings.add_positions_backward(d_sum, ids.rows(), 0);
    token_type_embeddings.backward(types, d_sum);
  }

  /// Backward of the last masked_lm_logits call: dlogits (N, V) → ∂loss/∂hidden added into dhidden (B, T, C) at
  /// the rows that call scored; the head's gradients added:
  ///     d_t    = dlogits E                      E_grad += dlogitsᵀ t  (tied: the lookups' buffer)   b_grad += Σ_rows dlogits
  ///     d_pre  = GELU'(pre) ⊙ LayerNorm'ᵀ d_t
  ///     d_h    = d_pre W_t                      W_t grad += d_preᵀ h,   b_t grad += Σ_rows d_pre
  /// with t = transformed, pre = mlm_pre and h = mlm_input as that forward kept them.
  void masked_lm_backward(const Matrix<Scalar>& dlogits, Tensor3<Scalar>& dhidden) {
    require(heads_.masked_lm, "masked-LM head (cls.predictions)");
    MatrixMap<Scalar> dh = as_matrix(dhidden);
    if (dlogits.rows() != transformed.rows() || dlogits.cols() != config_.vocab_size || dh.cols() != config_.hidden_size) {
      throw ShapeError(detail::cat("[Bert::masked_lm_backward] gradient ", detail::shape_str(shape_of(dlogits)),
                                   " is not (N, V) = ", detail::shape_str({transformed.rows(), config_.vocab_size}),
                                   " of the last masked_lm_logits call, or dhidden ", detail::shape_str(shape_of(dhidden)),
                                   " is not C = ", config_.hidden_size, " wide"));
    }
    // 1) The output bias and the decoder (tied: the same E, the same gradient buffer, as the lookups).
    if (mlm_bias_grad.size() != 0) mlm_bias_grad += dlogits.colwise().sum();
    d_transformed.resize(transformed.rows(), transformed.cols());
    if (config_.tie_word_embeddings) {
      word_embeddings.backward_as_head(transformed, dlogits, d_transformed);
    } else {
      mlm_decoder.backward(transformed, dlogits, d_transformed);
    }
    // 2) The transform's LayerNorm and GELU, in place.
    mlm_norm.backward(d_transformed, Eigen::Ref<Matrix<Scalar>>(d_transformed));
    activation_backward<Scalar>(config_.hidden_act, mlm_pre, d_transformed, d_transformed);
    // 3) Its dense layer, and the scattered rows back into dhidden.
    mlm_transform.backward(mlm_input, d_transformed, d_mlm_input);
    for (std::size_t n = 0; n < mlm_rows.size(); ++n) {
      if (mlm_rows[n] >= dh.rows()) {
        throw ShapeError(detail::cat("[Bert::masked_lm_backward] dhidden ", detail::shape_str(shape_of(dhidden)),
                                     " has no row ", mlm_rows[n]));
      }
      dh.row(mlm_rows[n]) += d_mlm_input.row(static_cast<Index>(n));
    }
  }

  /// Backward of the last pool call: dpooled (B, C) → ∂loss/∂hidden added into dhidden (B, T, C) at t = 0 ([CLS]);
  /// the pooler's gradients added. tanh' = 1 − tanh², read from the kept output:
  ///     d_pre = dpooled ⊙ (1 − pooled²)        d_cls = d_pre W_p     W_p grad += d_preᵀ h[CLS],  b_p grad += Σ d_pre
  void pool_backward(const Matrix<Scalar>& dpooled, Tensor3<Scalar>& dhidden) {
    require(heads_.pooler, "pooler (pooler.dense)");
    const Index B = dhidden.dimension(0), T = dhidden.dimension(1);
    if (dpooled.rows() != pooler_output.rows() || dpooled.cols() != pooler_output.cols() || B != dpooled.rows() ||
        dhidden.dimension(2) != config_.hidden_size) {
      throw ShapeError(detail::cat("[Bert::pool_backward] gradient ", detail::shape_str(shape_of(dpooled)), " and dhidden ",
                                   detail::shape_str(shape_of(dhidden)), " do not match the last pool call's ",
                                   detail::shape_str(shape_of(pooler_output))));
    }
    const Matrix<Scalar> d_pre = (dpooled.array() * (Scalar(1) - pooler_output.array().square())).matrix();
    pooler.backward(cls_hidden, d_pre, d_cls);
    MatrixMap<Scalar> dh = as_matrix(dhidden);
    for (Index b = 0; b < B; ++b) dh.row(b * T) += d_cls.row(b);
  }

  /// Backward of the last classify call: dlogits (B, L) → dpooled (B, C) = dlogits W_c, written; the classifier's
  /// gradients added (W_c grad += dlogitsᵀ pooled, b_c grad += Σ dlogits).
  void classify_backward(const Matrix<Scalar>& dlogits, Matrix<Scalar>& dpooled) {
    require(heads_.classifier, "classifier");
    if (dlogits.rows() != classifier_input.rows() || dlogits.cols() != config_.num_labels) {
      throw ShapeError(detail::cat("[Bert::classify_backward] gradient ", detail::shape_str(shape_of(dlogits)),
                                   " is not (B, L) = ", detail::shape_str({classifier_input.rows(), config_.num_labels})));
    }
    classifier.backward(classifier_input, dlogits, dpooled);
  }

  // ---- Losses: forward, loss and (optionally) backward in one call ----------------------------------------------

  /// BertForMaskedLM's loss: ids (B, T) as the model reads them (already masked: training/objectives.hpp's
  /// mask_tokens), labels (B, T) the original id at each scored position and -100 elsewhere.
  ///     L = (1/n) Σ_{(b,t): label ≠ −100} −log softmax(logits(b, t))[label(b, t)]
  /// With `gradients`, also runs every backward and adds ∂L/∂θ into the allocated gradient buffers (collect with
  /// parameters_with_gradients, zero between steps). The head runs only on the n scored positions: an ignored
  /// position adds nothing to L nor to any gradient, so this is what scoring every position and then ignoring
  /// most would give, at ~1/7 of the head's cost. No position scored: L is NaN (as PyTorch) and nothing is added.
  training::LossValue masked_lm_loss(const TokenIds& ids, const TokenIds& labels, const BertOptions<Scalar>& options = {},
                                     bool gradients = false) {
    require(heads_.masked_lm, "masked-LM head (cls.predictions)");
    if (labels.rows() != ids.rows() || labels.cols() != ids.cols()) {
      throw ShapeError(detail::cat("[Bert::masked_lm_loss] labels ", detail::shape_str(shape_of(labels)),
                                   " do not match ids ", detail::shape_str(shape_of(ids))));
    }
    // 1) The scored positions and their targets.
    std::vector<Index> rows;
    TokenSequence targets;
    for (Index b = 0; b < ids.rows(); ++b) {
      for (Index t = 0; t < ids.cols(); ++t) {
        if (labels(b, t) == training::kIgnoreIndex) continue;
        rows.push_back(b * ids.cols() + t);
        targets.push_back(labels(b, t));
      }
    }
    // 2) Forward, head, loss.
    BertOptions<Scalar> run = options;
    run.keep_weights = gradients;
    forward(ids, loss_hidden, run);
    masked_lm_logits(loss_hidden, loss_logits, &rows);
    const training::LossValue loss =
        training::cross_entropy<Scalar>(loss_logits, targets, gradients ? &d_logits : nullptr);
    if (!gradients || loss.counted == 0) return loss;
    // 3) Backward: the head into dhidden, then the encoder and the embeddings.
    d_hidden.resize(loss_hidden.dimensions());
    d_hidden.setZero();
    masked_lm_backward(d_logits, d_hidden);
    backward(ids, d_hidden, run);
    return loss;
  }

  /// BertForSequenceClassification's loss: ids (B, T), one label per sequence in [0, L) (-100 skips one).
  ///     L = (1/n) Σ_b −log softmax(classifier(pooler(hidden[b, 0])))[label_b]
  /// With `gradients`, backward as masked_lm_loss: classifier → pooler → [CLS] row of dhidden → encoder → embeddings.
  training::LossValue classification_loss(const TokenIds& ids, const std::vector<TokenId>& labels,
                                          const BertOptions<Scalar>& options = {}, bool gradients = false) {
    require(heads_.classifier, "classifier");
    if (static_cast<Index>(labels.size()) != ids.rows()) {
      throw ShapeError(detail::cat("[Bert::classification_loss] ", ids.rows(), " sequences but ", labels.size(), " labels"));
    }
    BertOptions<Scalar> run = options;
    run.keep_weights = gradients;
    forward(ids, loss_hidden, run);
    pool(loss_hidden, d_pooled);  // the pooled vectors; d_pooled is reused for their gradient below
    classify(d_pooled, loss_logits);
    const training::LossValue loss =
        training::classification_loss<Scalar>(loss_logits, labels, gradients ? &d_logits : nullptr);
    if (!gradients || loss.counted == 0) return loss;
    classify_backward(d_logits, d_pooled);
    d_hidden.resize(loss_hidden.dimensions());
    d_hidden.setZero();
    pool_backward(d_pooled, d_hidden);
    backward(ids, d_hidden, run);
    return loss;
  }

  /// A sentence embedding: the mean of the hidden states of the real tokens (sentence-transformers' mean
  /// pooling). hidden (B, T, C) → (B, C).
  static Matrix<Scalar> mean_pooling(const Tensor3<Scalar>& hidden, const KeyPadding* padding = nullptr) {
    const Index B = hidden.dimension(0), T = hidden.dimension(1);
    Matrix<Scalar> mean = Matrix<Scalar>::Zero(B, hidden.dimension(2));
    for (Index b = 0; b < B; ++b) {
      Index count = 0;
      for (Index t = 0; t < T; ++t) {
        if (padding != nullptr && !padding->is_real(b, t)) continue;
        mean.row(b) += as_matrix(hidden).row(b * T + t);
        ++count;
      }
      if (count > 0) mean.row(b) /= static_cast<Scalar>(count);
    }
    return mean;
  }

  // ---- Names, loading, saving ------------------------------------------------------------------------------------
  const BertConfig& config() const { return config_; }
  const BertHeads& heads() const { return heads_; }

  /// Parameters of a model with these heads: what from_pretrained checks against the checkpoint first.
  static std::int64_t parameter_count(const BertConfig& c, const BertHeads& h) {
    const Count C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;  // Count: saturates (models/config.hpp)
    Count n = (V + c.max_position_embeddings + c.type_vocab_size) * C + 2 * C;
    n += c.num_hidden_layers * (4 * (C * C + C) + 2 * C * F + F + C + 4 * C);
    if (h.pooler) n += C * C + C;
    if (h.masked_lm) n += C * C + 3 * C + V + (c.tie_word_embeddings ? Count(0) : V * C);
    if (h.next_sentence) n += 2 * C + 2;
    if (h.classifier) n += c.num_labels * (C + 1);
    return n.value();
  }

  /// Names: embeddings.{word,position,token_type,norm}.*, encoder.layers.<i>.*, and the heads' pooler.*,
  /// mlm.{transform,norm,decoder}.*, mlm.bias, next_sentence.*, classifier.*
  void collect_parameters(const std::string& prefix, ParameterList<Scalar>& out) {
    word_embeddings.collect_parameters(prefix + "embeddings.word.", out);
    position_embeddings.collect_parameters(prefix + "embeddings.position.", out);
    token_type_embeddings.collect_parameters(prefix + "embeddings.token_type.", out);
    embeddings_norm.collect_parameters(prefix + "embeddings.norm.", out);
    encoder.collect_parameters(prefix + "encoder.", out);
    if (heads_.pooler) pooler.collect_parameters(prefix + "pooler.", out);
    if (heads_.masked_lm) {
      mlm_transform.collect_parameters(prefix + "mlm.transform.", out);
      mlm_norm.collect_parameters(prefix + "mlm.norm.", out);
      add_parameter(out, prefix + "mlm.bias", mlm_bias, mlm_bias_grad);
      if (!config_.tie_word_embeddings) mlm_decoder.collect_parameters(prefix + "mlm.decoder.", out);
    }
    if (heads_.next_sentence) next_sentence.collect_parameters(prefix + "next_sentence.", out);
    if (heads_.classifier) classifier.collect_parameters(prefix + "classifier.", out);
  }

  /// Our names ↔ the names in Hugging Face BERT checkpoints, without the "bert." prefix of BertFor* models.
  static const NameTable& hf_names() {
    static const NameTable table({
        {"embeddings.word.", "embeddings.word_embeddings."},
        {"embeddings.position.", "embeddings.position_embeddings."},
        {"embeddings.token_type.", "embeddings.token_type_embeddings."},
        {"embeddings.norm.", "embeddings.LayerNorm."},
        {"encoder.layers.{i}.attn.q.", "encoder.layer.{i}.attention.self.query."},
        {"encoder.layers.{i}.attn.k.", "encoder.layer.{i}.attention.self.key."},
        {"encoder.layers.{i}.attn.v.", "encoder.layer.{i}.attention.self.value."},
        {"encoder.layers.{i}.attn.o.", "encoder.layer.{i}.attention.output.dense."},
        {"encoder.layers.{i}.attn_norm.", "encoder.layer.{i}.attention.output.LayerNorm."},
        {"encoder.layers.{i}.ffn.up.", "encoder.layer.{i}.intermediate.dense."},
        {"encoder.layers.{i}.ffn.down.", "encoder.layer.{i}.output.dense."},
        {"encoder.layers.{i}.ffn_norm.", "encoder.layer.{i}.output.LayerNorm."},
        {"pooler.", "pooler.dense."},
        {"mlm.transform.", "cls.predictions.transform.dense."},
        {"mlm.norm.", "cls.predictions.transform.LayerNorm."},
        {"mlm.bias", "cls.predictions.bias"},
        {"mlm.decoder.", "cls.predictions.decoder."},
        {"next_sentence.", "cls.seq_relationship."},
        {"classifier.", "classifier."},
    });
    return table;
  }

  /// How this checkpoint spells our parameters: the "bert." prefix or not; LayerNorm.gamma/beta accepted for
  /// LayerNorm.weight/bias (TensorFlow-era files such as bert-base-uncased); cls.predictions.decoder.bias for
  /// cls.predictions.bias (the same tensor). Skipped: the position_ids buffer and the tied decoder's copy of E.
  NameMapping names() const {
    NameMapping m;
    const bool prefixed = heads_.prefixed;
    m.to_hf = [prefixed](const std::string& ours) {
      const std::string hf = hf_names().to_hf(ours);
      const bool head = hf.compare(0, 4, "cls.") == 0 || hf.compare(0, 11, "classifier.") == 0;
      return prefixed && !head ? "bert." + hf : hf;
    };
    m.aliases = [](const std::string& hf) -> std::vector<std::string> {
      const auto ends_with = [&](const std::string& s) {
        return hf.size() >= s.size() && hf.compare(hf.size() - s.size(), s.size(), s) == 0;
      };
      if (ends_with("LayerNorm.weight")) return {hf.substr(0, hf.size() - 6) + "gamma"};
      if (ends_with("LayerNorm.bias")) return {hf.substr(0, hf.size() - 4) + "beta"};
      if (hf == "cls.predictions.bias") return {"cls.predictions.decoder.bias"};
      return {};
    };
    const bool tied = config_.tie_word_embeddings;
    m.ignore = [tied](const std::string& name) {
      return name == "embeddings.position_ids" || name == "bert.embeddings.position_ids" ||
             (tied && name == "cls.predictions.decoder.weight");
    };
    return m;
  }

  void load(Checkpoint& checkpoint) {
    ParameterList<Scalar> params = named_parameters(*this);
    load_checkpoint(params, checkpoint, names());
  }

  /// Writes config.json and model.safetensors in the Hugging Face layout (modern LayerNorm.weight/bias names,
  /// the "bert." prefix when the checkpoint had it).
  void save_pretrained(const std::string& folder, DType dtype = DType::F32) {
    save_checkpoint(folder, config_.to_json(), named_parameters(*this), names(), dtype);
  }

  /// The names `checkpoint` stores each parameter under, for the --grad dump (models/gradient_dump.hpp):
  /// `names.to_hf` gives the spelling the file uses (LayerNorm.gamma/beta in old files, the "bert." prefix or not),
  /// `copies` every further stored name of the same tensor, which autograd would give the same total gradient:
  /// cls.predictions.decoder.weight when the decoder is tied to the word embeddings and the file keeps a copy of
  /// E (bert-base-uncased does), cls.predictions.decoder.bias beside cls.predictions.bias (transformers ties
  /// the two). ValueError naming a stored tensor that would get no gradient — except the position_ids buffer,
  /// integers that no loss differentiates.
  struct StoredNames {
    NameMapping names;
    std::function<std::vector<std::string>(const std::string&)> copies;
  };
  StoredNames stored_names(const Checkpoint& checkpoint) {
    const NameMapping ours = names();
    std::set<std::string> stored;
    for (const TensorInfo& t : checkpoint.tensors()) stored.insert(t.name);
    auto chosen = std::make_shared<std::map<std::string, std::string>>();                // our name → stored name
    auto extra = std::make_shared<std::map<std::string, std::vector<std::string>>>();    // stored name → copies
    std::set<std::string> covered;
    for (const ParameterRef<Scalar>& p : named_parameters(*this)) {
      // Every spelling of this parameter: the modern name, its aliases; the tied decoder for E.
      std::vector<std::string> spellings = {ours.to_hf(p.name)};
      for (std::string& a : ours.aliases(spellings.front())) spellings.push_back(std::move(a));
      if (p.name == "embeddings.word.weight" && heads_.masked_lm && config_.tie_word_embeddings) {
        spellings.push_back("cls.predictions.decoder.weight");
      }
      std::vector<std::string> present;
      for (const std::string& s : spellings) {
        if (stored.count(s) != 0) present.push_back(s);
      }
      const std::string name = present.empty() ? spellings.front() : present.front();
      (*chosen)[p.name] = name;
      covered.insert(name);
      for (std::size_t i = 1; i < present.size(); ++i) {
        (*extra)[name].push_back(present[i]);
        covered.insert(present[i]);
      }
    }
    for (const std::string& s : stored) {
      const bool buffer = s.size() >= 12 && s.compare(s.size() - 12, 12, "position_ids") == 0;
      if (covered.count(s) == 0 && !buffer) {
        throw ValueError(detail::cat("[Bert::stored_names] the checkpoint stores '", s, "', which is no parameter of this model"));
      }
    }
    StoredNames out;
    out.names = ours;
    out.names.to_hf = [chosen](const std::string& name) {
      const auto it = chosen->find(name);
      return it != chosen->end() ? it->second : name;
    };
    out.copies = [extra](const std::string& hf) {
      const auto it = extra->find(hf);
      return it != extra->end() ? it->second : std::vector<std::string>{};
    };
    return out;
  }

 private:
  // The forward's token types (all 0 when none are given), checked against the ids, into `types`.
  void token_types_of(const TokenIds& ids, const BertOptions<Scalar>& options) {
    if (options.token_types == nullptr) {
      types = TokenIds::Zero(ids.rows(), ids.cols());
      return;
    }
    if (options.token_types->rows() != ids.rows() || options.token_types->cols() != ids.cols()) {
      throw ShapeError(detail::cat("[Bert] token types ", detail::shape_str(shape_of(*options.token_types)),
                                   " do not match ids ", detail::shape_str(shape_of(ids))));
    }
    types = *options.token_types;
  }

  // What the encoder's forward and backward both read from the options.
  static ForwardContext<Scalar> encoder_context(const BertOptions<Scalar>& options) {
    ForwardContext<Scalar> context;
    context.padding = options.padding;
    context.keep_weights = options.keep_weights;
    return context;
  }

  void require(bool present, const char* what) const {
    if (!present) throw ValueError(detail::cat("[Bert] this checkpoint has no ", what));
  }

  BertConfig config_;
  BertHeads heads_;

 public:
  Embedding<Scalar> word_embeddings;        // E (V, C)
  Embedding<Scalar> position_embeddings;    // (P, C)
  Embedding<Scalar> token_type_embeddings;  // (2, C)
  Norm<Scalar> embeddings_norm;             // LayerNorm (C)
  Encoder<Scalar> encoder;                  // N post-norm blocks
  Linear<Scalar> pooler;                    // (C, C), tanh
  Linear<Scalar> mlm_transform;             // (C, C), then GELU and mlm_norm
  Norm<Scalar> mlm_norm;                    // LayerNorm (C)
  RowVector<Scalar> mlm_bias;               // (V)
  RowVector<Scalar> mlm_bias_grad;          // (V) ∂loss/∂mlm_bias; empty until collected with gradients
  Linear<Scalar> mlm_decoder;               // (V, C), untied only; tied models use E
  Linear<Scalar> next_sentence;             // (2, C)
  Linear<Scalar> classifier;                // (L, C)
  // Intermediates of the last forward call (what the backward passes read).
  TokenIds types;                           // (B, T) the token types used (0 when none were given)
  Tensor3<Scalar> x;                        // (B, T, C) the embeddings after their LayerNorm
  Tensor3<Scalar> segment;                  // (B, T, C) the token type vectors
  std::vector<Index> mlm_rows;              // (N) the positions b·T + t the masked-LM head scored
  Matrix<Scalar> mlm_input;                 // (N, C) their hidden states
  Matrix<Scalar> mlm_pre;                   // (N, C) the transform's dense output, before GELU
  Matrix<Scalar> transformed;               // (N, C) the transform's output, after its LayerNorm
  Matrix<Scalar> cls_hidden;                // (B, C) the [CLS] hidden states the pooler read
  Matrix<Scalar> pooler_output;             // (B, C) tanh(...), the pooled vectors
  Matrix<Scalar> classifier_input;          // (B, C) what the classifier read
  // Buffers of the loss functions and the gradients of the last backward calls.
  Tensor3<Scalar> loss_hidden;              // (B, T, C) the last hidden state
  Matrix<Scalar> loss_logits;               // (N, V) masked-LM or (B, L) classifier scores
  Matrix<Scalar> d_logits;                  // ∂loss/∂loss_logits
  Matrix<Scalar> d_pooled;                  // (B, C) the pooled vectors, then ∂loss/∂pooled
  Tensor3<Scalar> d_hidden;                 // (B, T, C) ∂loss/∂hidden, summed over the heads
  Tensor3<Scalar> d_x;                      // (B, T, C) ∂loss/∂x, then (in place) ∂loss/∂(word + position + type)
  Matrix<Scalar> d_transformed;             // (N, C) ∂loss/∂transformed, then (in place) ∂loss/∂mlm_pre
  Matrix<Scalar> d_mlm_input;               // (N, C) ∂loss/∂mlm_input
  Matrix<Scalar> d_cls;                     // (B, C) ∂loss/∂cls_hidden
};

}  // namespace eigenformer
