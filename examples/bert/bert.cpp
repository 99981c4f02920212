// bert — fill in the [MASK]s of a sentence, or turn it into a sentence embedding, with a BERT checkpoint.
//
// What it teaches: an encoder reads the whole sentence at once — every token sees every other, left and right —
// so a masked word is guessed from both sides (the masked-LM head), and the hidden states make a sentence
// vector (mean pooling, as sentence-transformers does, or the [CLS] pooler). The model is
// examples/bert/bert.hpp: word + position + type embeddings → LayerNorm → N post-norm encoder blocks → heads.
//
// Run on a generated checkpoint (tests/fixtures/models, made by tools/fixtures/make_model_fixtures.py, with a
// made-up 67-word vocab.txt):
//     ./build/release/examples/bert/bert --model tests/fixtures/models/bert-base-style --text "the cat [MASK] on the mat"
//     ./build/release/examples/bert/bert --model tests/fixtures/models/bert-model-f16 --ids 2,17,33,3 --embed
// On a real one (see docs/models.md):
//     ./build/release/examples/bert/bert --model ~/models/bert-base-uncased --text "Paris is the [MASK] of France."
// Compare with another implementation:
//     ... --ids 101,3000,2003,1996,103,1997,2605,1012,102 --dump bert.safetensors
// Gradients, to check the hand-written backward passes against PyTorch (docs/training.md):
//     ... --model tests/fixtures/models/bert-base-style --ids 2,17,4,33,0,9 --labels -100,-100,21,-100,-100,9 --grad g.safetensors
//     ... --model tests/fixtures/models/bert-classifier --ids 2,17,33,5 --label 2 --grad g.safetensors
// Training (masked LM; the loop is eigenformer/training/trainer.hpp, the task bert/bert_training.hpp):
//     ... --train --config tiny-bert.json --data tang300 --steps 1000 --out build/bert-tang   (characters)
//     ... --train --model DIR --data my.txt --steps 200 --lr 1e-4 --out build/bert-ft          (DIR's tokenizer)
// The options and what they mean: bert --help (the table in bert/bert_options.hpp).
#include "bert/bert.hpp"
#include "bert/bert_options.hpp"
#include "bert/bert_training.hpp"
#include "common/family_cli.hpp"
#include "common/grad_cli.hpp"
#include "common/inspect_cli.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>

using namespace eigenformer;

namespace {

constexpr std::int64_t kMaxCandidates = 1000000;  // more than any vocabulary

/// --grad: the loss of the sequence and ∂loss/∂(every stored tensor), written by write_gradient_dump.
///   --labels (masked LM)      L = mean over the labelled positions of −log p(label)      (BertForMaskedLM)
///   --label K (classifier)    L = −log p(K) from the pooled [CLS] vector                (BertForSequenceClassification)
template <class Scalar>
int write_gradients(const cli::Arguments& args, Bert<Scalar>& model, const std::string& folder, const TokenSequence& ids) {
  if (args.has("--labels") == args.has("--label")) {
    throw cli::UsageError("--grad needs the targets: --labels LIST (masked LM) or --label K (classifier), one of them");
  }
  ParameterList<Scalar> params = parameters_with_gradients(model);
  const TokenIds batch = cli::as_batch(ids);
  training::LossValue loss;
  if (args.has("--labels")) {
    const TokenSequence labels = cli::parse_labels(args.value("--labels"));  // common/grad_cli.hpp
    if (labels.size() != ids.size()) {
      throw ValueError(detail::cat("--labels has ", labels.size(), " entries but the input has ", ids.size(), " tokens"));
    }
    cli::check_labels(labels, model.config().vocab_size);
    if (!model.heads().masked_lm) throw ValueError(detail::cat("--labels: '", folder, "' has no masked-LM head (cls.predictions)"));
    loss = model.masked_lm_loss(batch, cli::as_batch(labels), {}, true);
    if (loss.counted == 0) throw ValueError("--labels: every label is -100, so the loss is undefined (0/0)");
  } else {
    if (!model.heads().classifier) throw ValueError(detail::cat("--label: '", folder, "' has no classifier"));
    const auto label = static_cast<TokenId>(args.integer("--label", 0, model.config().num_labels - 1));
    loss = model.classification_loss(batch, {label}, {}, true);
  }
  const Checkpoint checkpoint(folder);
  const typename Bert<Scalar>::StoredNames names = model.stored_names(checkpoint);
  const std::string path = args.value("--grad");
  write_gradient_dump<Scalar>(path, static_cast<Scalar>(loss.loss), params, names.names, names.copies);
  std::printf("loss    %.8f (%s, %ld positions)\ngrad    %s: loss and the gradient of %zu parameters\n", loss.loss,
              args.has("--labels") ? "masked LM" : "classification", static_cast<long>(loss.counted), path.c_str(),
              params.size());
  return 0;
}

/// The records of --data: a fortune file's name (tang300, song100, chinese, fortunes, ... under
/// /usr/share/games/fortunes; colour codes and '%' separators stripped), or a text file whose non-empty lines
/// are the records.
std::vector<std::string> training_texts(const std::string& data) {
  const std::string fortune = training::fortunes_dir() + "/" + data;
  if (data.find('/') == std::string::npos && std::filesystem::is_regular_file(fortune)) return training::load_fortunes(fortune);
  std::ifstream in(data, std::ios::binary);
  if (!in) throw FileError(detail::cat("--data: '", data, "' is neither a fortune file in ", training::fortunes_dir(), " nor a readable file"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  }
  if (lines.empty()) throw ValueError(detail::cat("--data: '", data, "' holds no text"));
  return lines;
}

/// --train: masked-LM training (Devlin et al. 2019, §3.1) of a new model (--config: a character vocabulary is
/// built from the data, and config.json's vocab_size is set to its size) or of a checkpoint (--model, with its own
/// tokenizer and a masked-LM head). Records are cut into pieces of --seq-len tokens, [CLS] first; 5% are held out.
template <class Scalar>
int train(const cli::Arguments& args) {
  const cli::TrainSettings settings = cli::training_settings(args, cli::bert_training_defaults());
  cli::apply_threads(settings);
  const std::vector<std::string> texts = training_texts(settings.data);
  const Index T = settings.seq_len;

  // 1) The model and how text becomes ids.
  std::optional<Bert<Scalar>> model;
  std::optional<training::CharVocabulary> characters;
  std::optional<tokenizers::Tokenizer> tokenizer;
  TokenId cls = 2, mask = 4;
  std::vector<TokenId> specials = {0, 1, 2, 3, 4};
  if (!settings.config_file.empty()) {
    characters = training::CharVocabulary::build(texts, bert_character_specials(), 2);
    json::Value config = ModelConfig::from_file(settings.config_file).json();
    config.set("vocab_size", json::Value(static_cast<std::int64_t>(characters->size())));
    config.set("pad_token_id", json::Value(static_cast<std::int64_t>(0)));
    BertHeads heads;
    heads.prefixed = true;
    heads.masked_lm = true;
    model.emplace(BertConfig::from(ModelConfig(config, settings.config_file)), heads);
    if (model->config().max_position_embeddings < T) {
      throw ValueError(detail::cat("--seq-len ", T, " exceeds max_position_embeddings ", model->config().max_position_embeddings));
    }
    // Hugging Face's initialisation: N(0, 0.02) weights, zero biases, LayerNorm γ = 1.
    generation::Rng rng(training::derive_seed(settings.trainer.seed, 0x1417));
    for (ParameterRef<Scalar>& p : named_parameters(*model)) {
      const bool gain = p.name.find("norm.weight") != std::string::npos, bias = p.name.find("bias") != std::string::npos;
      for (std::int64_t i = 0; i < p.numel(); ++i) {
        const double u1 = std::max(rng.uniform(), 1e-300), u2 = rng.uniform();
        p.data[i] = static_cast<Scalar>(gain ? 1.0 : bias ? 0.0 : 0.02 * std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      }
    }
    std::printf("model   new from %s: vocabulary of %zu characters (vocab_size set to it)\n", settings.config_file.c_str(),
                characters->size());
  } else {
    model.emplace(Bert<Scalar>::from_pretrained(settings.model_dir));
    cli::check_finite_on_load(args, *model, settings.model_dir);  // NaN or Inf in a weight: refused now, naming the tensor, unless --no-finite-check (docs/hardening.md)
    if (!model->heads().masked_lm) throw ValueError(detail::cat("--train: '", settings.model_dir, "' has no masked-LM head (cls.predictions)"));
    tokenizer = cli::open_tokenizer(settings.model_dir);
    if (!tokenizer) throw ValueError(detail::cat("--train --model: '", settings.model_dir, "' has no tokenizer files to encode --data"));
    const tokenizers::SpecialTokens& st = tokenizer->special_tokens();
    const std::optional<TokenId> cls_id = st.id(tokenizers::Role::cls), mask_id = st.id(tokenizers::Role::mask);
    if (!cls_id || !mask_id) throw ValueError("--train --model: the tokenizer has no [CLS] or no [MASK] token");
    cls = *cls_id;
    mask = *mask_id;
    specials = {cls, *mask_id};
    for (tokenizers::Role r : {tokenizers::Role::sep, tokenizers::Role::pad, tokenizers::Role::unk}) {
      if (st.id(r)) specials.push_back(*st.id(r));
    }
    std::printf("model   %s (its tokenizer)\n", settings.model_dir.c_str());
  }

  // 2) The records: each text encoded (without special tokens), cut into pieces of T − 1, [CLS] first.
  std::vector<TokenSequence> pieces;
  for (const std::string& text : texts) {
    const TokenSequence ids = characters ? characters->encode(text) : tokenizer->encode(text, tokenizers::EncodeOptions{});
    for (std::size_t first = 0; first < ids.size(); first += static_cast<std::size_t>(T - 1)) {
      TokenSequence piece = {cls};
      for (std::size_t i = first; i < ids.size() && piece.size() < static_cast<std::size_t>(T); ++i) piece.push_back(ids[i]);
      pieces.push_back(std::move(piece));
    }
  }
  for (const TokenSequence& piece : pieces) cli::check_vocabulary(piece, model->config().vocab_size, "--data");
  BertTaskData data;
  std::tie(data.train, data.validation) = training::split_records(pieces, 0.05, settings.trainer.seed);
  if (data.train.size() < static_cast<std::size_t>(settings.batch) || data.validation.empty()) {
    throw ValueError(detail::cat("--data: ", pieces.size(), " pieces of ", T, " tokens are too few for --batch ", settings.batch));
  }
  data.masking.mask_token_id = mask;
  data.masking.vocab_size = model->config().vocab_size;
  data.masking.special_ids = specials;
  data.pad_id = static_cast<TokenId>(model->config().pad_token_id.value_or(0));
  data.batch = settings.batch;
  data.max_length = T;
  data.eval_batches = settings.eval_batches;
  data.seed = settings.trainer.seed;
  std::printf("data    %s: %zu texts, %zu pieces for training, %zu held out\n", settings.data.c_str(), texts.size(),
              data.train.size(), data.validation.size());

  // 3) The trainer: AdamW, warmup + cosine, clipping, checkpoints, log.csv, loss_curve.svg, the model in --out.
  const std::string source = settings.model_dir;
  const std::optional<training::CharVocabulary> vocabulary = characters;
  auto save_tokenizer = [vocabulary, source](const std::string& folder) {
    if (vocabulary) {
      write_character_vocabulary(folder, *vocabulary);
      return;
    }
    for (const char* f : {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
      const std::filesystem::path from = std::filesystem::path(source) / f;
      if (std::filesystem::is_regular_file(from)) {
        std::filesystem::copy_file(from, std::filesystem::path(folder) / f, std::filesystem::copy_options::overwrite_existing);
      }
    }
  };
  const training::TrainingLog log = training::train(settings.trainer, masked_lm_task(*model, data, save_tokenizer));
  std::printf("trained %lld steps: last training loss %.4f, held-out masked-LM loss %.4f; model in %s\n",
              static_cast<long long>(settings.trainer.steps), log.steps.empty() ? std::nan("") : log.steps.back().loss,
              log.validations.empty() ? std::nan("") : log.validations.back().loss, settings.trainer.out.c_str());
  return 0;
}

template <class Scalar>
int run(const cli::Arguments& args) {
  if (cli::wants_training(args)) return train<Scalar>(args);
  // 1) The checkpoint, its heads, and its tokenizer (if it ships one).
  const std::string folder = args.value("--model");
  cli::check_input_given(args);  // a usage mistake is reported before a large model is loaded
  Bert<Scalar> model = Bert<Scalar>::from_pretrained(folder);
  cli::check_finite_on_load(args, model, folder);  // NaN or Inf in a weight: refused now, naming the tensor, unless --no-finite-check (docs/hardening.md)
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const BertConfig& c = model.config();
  const BertHeads& heads = model.heads();
  const std::string head_names = std::string(heads.masked_lm ? " masked-LM" : "") + (heads.pooler ? " pooler" : "") +
                                 (heads.next_sentence ? " next-sentence" : "") + (heads.classifier ? " classifier" : "");
  std::printf("model   %s\n        bert: %ld layers, %ld heads, width %ld, vocabulary %ld, %.3fM parameters; heads:%s\n",
              folder.c_str(), static_cast<long>(c.num_hidden_layers), static_cast<long>(c.num_attention_heads),
              static_cast<long>(c.hidden_size), static_cast<long>(c.vocab_size),
              static_cast<double>(count_parameters(model)) / 1e6, head_names.c_str());

  // 2) The sentence.
  const TokenSequence ids = cli::input_ids(args, tokenizer);
  cli::check_vocabulary(ids, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
  std::printf("input   %zu tokens: %s\n", ids.size(), cli::join_ids(ids).c_str());
  if (args.has("--grad")) return write_gradients(args, model, folder, ids);
  if (args.has("--labels") || args.has("--label")) throw cli::UsageError("--labels and --label go with --grad");

  // 3) The encoder, keeping every hidden state and attention map when they are to be dumped.
  Tensor3<Scalar> hidden;  // (1, T, C)
  Capture<Scalar> capture;
  BertOptions<Scalar> options;
  if (args.has("--dump")) options.capture = &capture;
  if (cli::wants_inspection(args)) options.capture = cli::prepare_capture(capture, args, Bert<Scalar>::hf_names(), "encoder.");
  model.forward(cli::as_batch(ids), hidden, options);
  SafeTensorsWriter dump;

  // 4) Fill-mask: the masked-LM scores at each [MASK] position.
  std::optional<TokenId> mask_id;
  if (args.has("--mask-id")) {
    mask_id = static_cast<TokenId>(args.integer("--mask-id", 0, std::numeric_limits<TokenId>::max()));
  } else if (tokenizer) {
    mask_id = tokenizer->special_tokens().id(tokenizers::Role::mask);
  }
  if (heads.masked_lm) {
    Matrix<Scalar> logits;  // (T, V)
    model.masked_lm_logits(hidden, logits);
    add_rows<Scalar>(dump, "logits", logits);
    bool any = false;
    for (std::size_t t = 0; mask_id && t < ids.size(); ++t) {
      if (ids[t] != *mask_id) continue;
      any = true;
      std::printf("[MASK] at position %zu:\n", t);
      cli::print_candidates(cli::top_k(logits.row(static_cast<Index>(t)), args.integer_or("--candidates", 1, kMaxCandidates, 5)), tokenizer);
    }
    if (!any && mask_id) std::printf("no [MASK] (id %d) in the input: nothing to fill\n", *mask_id);
    if (!mask_id) std::printf("the [MASK] id is unknown (no tokenizer files): pass --mask-id to fill masks\n");
  }

  // 5) The pooler and the classifier read the [CLS] position.
  Matrix<Scalar> pooled;  // (1, C)
  if (heads.pooler) {
    model.pool(hidden, pooled);
    add_vector<Scalar>(dump, "pooler_output", pooled.row(0));
  }
  if (heads.classifier) {
    Matrix<Scalar> scores;  // (1, L)
    model.classify(pooled, scores);
    if (!heads.masked_lm) add_vector<Scalar>(dump, "logits", scores.row(0));
    const std::vector<cli::Candidate> labels = cli::top_k(scores.row(0), scores.cols());
    std::printf("classification:\n");
    const json::Value* names = c.original.find("id2label");
    for (const cli::Candidate& label : labels) {
      const json::Value* name = names != nullptr ? names->find(std::to_string(label.id)) : nullptr;
      const std::string text = name != nullptr && name->is_string() ? name->as_string() : std::to_string(label.id);
      std::printf("  %-12s %8.4f\n", text.c_str(), label.probability);
    }
  }

  // 6) A sentence embedding.
  if (args.has("--embed") || (!heads.masked_lm && !heads.classifier)) {
    const std::string pooling = args.has("--pooling") ? args.value("--pooling") : "mean";
    RowVector<Scalar> embedding;
    if (pooling == "mean") {
      embedding = Bert<Scalar>::mean_pooling(hidden).row(0);
    } else if (pooling == "cls") {
      embedding = as_matrix(hidden).row(0);
    } else if (pooling == "pooler" && heads.pooler) {
      embedding = pooled.row(0);
    } else {
      throw cli::UsageError(
          detail::cat("--pooling must be mean, cls", heads.pooler ? " or pooler" : "", ", got '", pooling, "'"));
    }
    std::printf("embedding (%s pooling, %ld values, norm %.4f):", pooling.c_str(), static_cast<long>(embedding.size()),
                static_cast<double>(embedding.norm()));
    for (Index i = 0; i < std::min<Index>(embedding.size(), 8); ++i) {
      std::printf(" %.4f", static_cast<double>(embedding(i)));
    }
    std::printf("%s\n", embedding.size() > 8 ? " ..." : "");
  }

  if (args.has("--dump")) {
    add_capture(dump, "", capture);
    dump.write(args.value("--dump"));
    std::printf("dump    %s: %zu tensors\n", args.value("--dump").c_str(), dump.size());
  }
  // 7) Looking inside: --attention-svg, --report, --compare, --capture (common/inspect_cli.hpp).
  Matrix<Scalar> mlm_logits;  // (T, V): --compare checks them when the checkpoint has the masked-LM head
  if (heads.masked_lm && args.has("--compare")) model.masked_lm_logits(hidden, mlm_logits);
  return cli::inspect_run<Scalar>(args, {cli::stack(capture, "", inspect::AttentionKind::EncoderSelf, cli::token_labels(tokenizer, ids))},
                                  heads.masked_lm ? &mlm_logits : nullptr, "bert: " + folder);
}

}  // namespace

int main(int argc, char** argv) { return cli::run_program(argc, argv, cli::bert_options(), &run<float>, &run<double>); }
