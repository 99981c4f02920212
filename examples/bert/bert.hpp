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
    Bert bert(config, heads);
    bert.load(checkpoint);
    return bert;
  }

  /// ids (B, T) → hidden (B, T, C), the last hidden state.
  void forward(const TokenIds& ids, Tensor3<Scalar>& hidden, const BertOptions<Scalar>& options = {}) {
    // 1) Embeddings: word + position + token type, then LayerNorm.                        x (B, T, C)
    word_embeddings.forward(ids, x);
    position_embeddings.add_positions(x, 0);
    const TokenIds no_types = TokenIds::Zero(ids.rows(), ids.cols());
    const TokenIds& types = options.token_types != nullptr ? *options.token_types : no_types;
    if (types.rows() != ids.rows() || types.cols() != ids.cols()) {
      throw ShapeError(detail::cat("[Bert] token types ", detail::shape_str(shape_of(types)), " do not match ids ",
                                   detail::shape_str(shape_of(ids))));
    }
    token_type_embeddings.forward(types, segment);
    as_matrix(x) += as_matrix(segment);
    embeddings_norm.forward(as_matrix(x), as_matrix(x));

    // 2) The encoder: N post-norm blocks of bidirectional attention and GELU FFN.          hidden (B, T, C)
    ForwardContext<Scalar> stack;
    stack.padding = options.padding;
    stack.capture = options.capture;
    encoder.forward(x, hidden, stack);
  }

  /// Masked-LM scores for every position: hidden (B, T, C) → logits (B·T, V).
  ///     logits = LayerNorm(GELU(h W_tᵀ + b_t)) Eᵀ + b
  void masked_lm_logits(const Tensor3<Scalar>& hidden, Matrix<Scalar>& logits) {
    require(heads_.masked_lm, "masked-LM head (cls.predictions)");
    mlm_transform.forward(as_matrix(hidden), transformed);
    apply_activation<Scalar>(config_.hidden_act, transformed);
    mlm_norm.forward(transformed, Eigen::Ref<Matrix<Scalar>>(transformed));
    const Matrix<Scalar>& output = config_.tie_word_embeddings ? word_embeddings.weight : mlm_decoder.weight;
    logits.noalias() = transformed * output.transpose();
    logits.rowwise() += mlm_bias;
  }

  /// The pooler: the first ([CLS]) token of each sequence through a tanh layer. hidden (B, T, C) → pooled (B, C).
  void pool(const Tensor3<Scalar>& hidden, Matrix<Scalar>& pooled) {
    require(heads_.pooler, "pooler (pooler.dense)");
    const Index B = hidden.dimension(0), T = hidden.dimension(1);
    Matrix<Scalar> first(B, hidden.dimension(2));
    for (Index b = 0; b < B; ++b) first.row(b) = as_matrix(hidden).row(b * T);
    pooler.forward(first, pooled);
    pooled = pooled.array().tanh().matrix();
  }

  /// Sequence classification: pooled (B, C) → logits (B, L).
  void classify(const Matrix<Scalar>& pooled, Matrix<Scalar>& logits) {
    require(heads_.classifier, "classifier");
    classifier.forward(pooled, logits);
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
      add_parameter(out, prefix + "mlm.bias", mlm_bias);
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

 private:
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
  Linear<Scalar> mlm_decoder;               // (V, C), untied only; tied models use E
  Linear<Scalar> next_sentence;             // (2, C)
  Linear<Scalar> classifier;                // (L, C)
  // Intermediates of the last forward call.
  Tensor3<Scalar> x;                        // (B, T, C) the embeddings after their LayerNorm
  Tensor3<Scalar> segment;                  // (B, T, C) the token type vectors
  Matrix<Scalar> transformed;               // (B·T, C) the masked-LM transform's output
};

}  // namespace eigenformer
