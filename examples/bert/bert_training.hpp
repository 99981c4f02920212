// examples/bert/bert_training.hpp — BERT as the trainer (eigenformer/training/trainer.hpp) sees it: the two tasks
// of Devlin et al. 2019 (§3.1 masked LM, §3.2 fine-tuning), each a TrainingTask over a SequenceLoader.
//
//   masked_lm_task        records → padded batches → 15% of the real tokens hidden (mask_tokens: 80% [MASK],
//                         10% random, 10% kept; the run's Rng, saved with checkpoints) → Bert::masked_lm_loss
//   classification_task   records with one class each → padded batches → Bert::classification_loss
//
// Both evaluate on held-out records in a fixed order (the masked-LM evaluation masks with its own fixed seed, so
// every evaluation scores the same positions), and save the model in the Hugging Face layout plus whatever the
// caller's `save_extra` writes (tokenizer files). Used by `bert --train` and by the reader example.
//
// Shapes: B sequences per micro-batch, T ≤ max_length positions (the longest record of the batch).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <eigenformer/training.hpp>

#include "bert.hpp"

namespace eigenformer {

/// The special tokens of a character vocabulary for BERT: [PAD] = 0 (BERT's pad_token_id), <unk> = 1 (written
/// [UNK] in vocab.txt), [CLS] = 2, [SEP] = 3, [MASK] = 4.
inline std::vector<std::string> bert_character_specials() { return {"[PAD]", "<unk>", "[CLS]", "[SEP]", "[MASK]"}; }

/// Writes a character vocabulary beside a model: vocab.txt + tokenizer_config.json for the bert program's --text
/// (BertTokenizer splits Chinese into single characters, which are these tokens; specials get BERT's names;
/// characters a vocab.txt line cannot hold — whitespace — become [unused<i>]), and character_vocabulary.json
/// (CharVocabulary::to_json) to read it back exactly.
inline void write_character_vocabulary(const std::string& folder, const training::CharVocabulary& vocab) {
  std::string text;
  for (std::size_t i = 0; i < vocab.size(); ++i) {
    std::string token = vocab.token(static_cast<TokenId>(i));
    if (token == "<unk>") token = "[UNK]";
    if (token.empty() || token.find_first_of(" \t\r\n") != std::string::npos) token = "[unused" + std::to_string(i) + "]";
    text += token + "\n";
  }
  write_file_atomically(folder + "/vocab.txt", text, "[write_character_vocabulary]");
  write_file_atomically(folder + "/tokenizer_config.json",
                        "{\"do_lower_case\": false, \"tokenize_chinese_chars\": true, \"tokenizer_class\": \"BertTokenizer\"}\n",
                        "[write_character_vocabulary]");
  write_file_atomically(folder + "/character_vocabulary.json", vocab.to_json(), "[write_character_vocabulary]");
}

/// The data of a BERT training task.
struct BertTaskData {
  std::vector<TokenSequence> train, validation;  // token ids per record ([CLS] first when the caller wants it)
  std::vector<TokenId> train_labels, validation_labels;  // classification only: one class per record
  training::MaskingConfig masking;               // masked LM only: [MASK], vocabulary, special ids, 15%
  TokenId pad_id = 0;                            // fills the batch after each record
  Index batch = 32;                              // B
  Index max_length = 64;                         // T at most; longer records are cut
  std::int64_t eval_batches = 8;                 // held-out batches per evaluation (fewer if there are fewer)
  std::uint64_t seed = 0;                        // the order of the training records (and the held-out masks)
};

namespace bert_task_detail {

inline KeyPadding padding_of(const training::Batch& b) { return KeyPadding::from_lengths(b.lengths); }

/// The loaders live as long as the task's callbacks (shared by them).
struct Loaders {
  training::SequenceLoader train, validation;
  Loaders(const BertTaskData& d)
      : train(d.train, d.batch, d.pad_id, d.max_length, training::derive_seed(d.seed, 1)),
        validation(d.validation, std::min<Index>(d.batch, static_cast<Index>(d.validation.size())), d.pad_id, d.max_length,
                   training::derive_seed(d.seed, 2)) {}
};

template <class Scalar>
void fill_common(training::TrainingTask<Scalar>& task, Bert<Scalar>& model, const std::shared_ptr<Loaders>& loaders,
                 std::function<void(const std::string&)> save_extra) {
  task.parameters = parameters_with_gradients(model);
  task.save_model = [&model, save_extra](const std::string& folder) {
    model.save_pretrained(folder);
    if (save_extra) save_extra(folder);
  };
  task.data_position = [loaders] { return loaders->train.position(); };
  task.seek_data = [loaders](const training::DataPosition& p) { loaders->train.seek(p); };
}

}  // namespace bert_task_detail

/// Masked-LM pretraining. The model (with a masked-LM head) must outlive the task.
template <class Scalar>
training::TrainingTask<Scalar> masked_lm_task(Bert<Scalar>& model, const BertTaskData& data,
                                              std::function<void(const std::string&)> save_extra = {}) {
  if (data.train.empty() || data.validation.empty()) throw ValueError("[masked_lm_task] need training and held-out records");
  auto loaders = std::make_shared<bert_task_detail::Loaders>(data);
  training::TrainingTask<Scalar> task;
  bert_task_detail::fill_common(task, model, loaders, std::move(save_extra));
  const training::MaskingConfig masking = data.masking;
  // 1) One micro-batch: the next records, masked with the run's Rng, loss and backward.
  task.train_micro_batch = [&model, loaders, masking](const training::MicroBatchContext& context) {
    const training::Batch b = loaders->train.next();
    const training::MaskedBatch masked = training::mask_tokens(b.ids, masking, *context.rng, b.lengths);
    const KeyPadding padding = bert_task_detail::padding_of(b);
    BertOptions<Scalar> options;
    options.padding = &padding;
    const training::LossValue loss = model.masked_lm_loss(masked.inputs, masked.labels, options, true);
    training::MicroBatchResult r;
    r.loss = loss.loss;
    r.counted = loss.counted;
    r.tokens = b.ids.size();
    return r;
  };
  // 2) The held-out loss: the first eval_batches batches in order, masked with a fixed seed.
  const std::int64_t eval_batches = data.eval_batches;
  const std::uint64_t eval_seed = training::derive_seed(data.seed, 3);
  task.evaluate = [&model, loaders, masking, eval_batches, eval_seed] {
    generation::Rng rng(eval_seed);
    double total = 0;
    Index counted = 0;
    training::SequenceLoader& v = loaders->validation;
    const Index B = static_cast<Index>(std::min<std::int64_t>(v.records(), 32));
    for (std::int64_t k = 0; k < eval_batches && (k + 1) * B <= v.records(); ++k) {
      const training::Batch b = v.in_order(k * B, B);
      const training::MaskedBatch masked = training::mask_tokens(b.ids, masking, rng, b.lengths);
      const KeyPadding padding = bert_task_detail::padding_of(b);
      BertOptions<Scalar> options;
      options.padding = &padding;
      const training::LossValue loss = model.masked_lm_loss(masked.inputs, masked.labels, options, false);
      if (loss.counted == 0) continue;
      total += loss.loss * static_cast<double>(loss.counted);
      counted += loss.counted;
    }
    return training::LossValue{counted > 0 ? total / static_cast<double>(counted) : std::nan(""), counted};
  };
  return task;
}

/// Sequence classification (fine-tuning). The model (with pooler and classifier) must outlive the task.
template <class Scalar>
training::TrainingTask<Scalar> classification_task(Bert<Scalar>& model, const BertTaskData& data,
                                                   std::function<void(const std::string&)> save_extra = {}) {
  if (data.train.size() != data.train_labels.size() || data.validation.size() != data.validation_labels.size() ||
      data.train.empty() || data.validation.empty()) {
    throw ValueError("[classification_task] need training and held-out records, one label each");
  }
  auto loaders = std::make_shared<bert_task_detail::Loaders>(data);
  training::TrainingTask<Scalar> task;
  bert_task_detail::fill_common(task, model, loaders, std::move(save_extra));
  auto labels_of = [](const training::Batch& b, const std::vector<TokenId>& labels) {
    std::vector<TokenId> out;
    for (std::int64_t e : b.examples) out.push_back(labels[static_cast<std::size_t>(e)]);
    return out;
  };
  const std::vector<TokenId> train_labels = data.train_labels, validation_labels = data.validation_labels;
  task.train_micro_batch = [&model, loaders, labels_of, train_labels](const training::MicroBatchContext&) {
    const training::Batch b = loaders->train.next();
    const KeyPadding padding = bert_task_detail::padding_of(b);
    BertOptions<Scalar> options;
    options.padding = &padding;
    const training::LossValue loss = model.classification_loss(b.ids, labels_of(b, train_labels), options, true);
    training::MicroBatchResult r;
    r.loss = loss.loss;
    r.counted = loss.counted;
    r.tokens = b.ids.size();
    return r;
  };
  // The held-out loss over every held-out record, in order.
  task.evaluate = [&model, loaders, labels_of, validation_labels] {
    training::SequenceLoader& v = loaders->validation;
    double total = 0;
    Index counted = 0;
    for (std::int64_t first = 0; first < v.records(); first += 32) {
      const training::Batch b = v.in_order(first, static_cast<Index>(std::min<std::int64_t>(32, v.records() - first)));
      const KeyPadding padding = bert_task_detail::padding_of(b);
      BertOptions<Scalar> options;
      options.padding = &padding;
      const training::LossValue loss = model.classification_loss(b.ids, labels_of(b, validation_labels), options, false);
      total += loss.loss * static_cast<double>(loss.counted);
      counted += loss.counted;
    }
    return training::LossValue{total / static_cast<double>(std::max<Index>(1, counted)), counted};
  };
  return task;
}

}  // namespace eigenformer
