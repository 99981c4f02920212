// BERT (examples/bert/bert.hpp) against tools/fixtures/reference_bert.py: every hidden state and attention map,
// the masked-LM logits, the pooler and the classifier of three checkpoints (bert-base-uncased's layout with
// LayerNorm.gamma/beta, the "bert." prefix, a tied decoder copy, the NSP head and a position_ids buffer; a bare
// BertModel in F16; a BertForSequenceClassification), a padded batch with token types; heads; saving.
#include <doctest/doctest.h>

#include "bert/bert.hpp"
#include "model_fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

const std::vector<std::string> kBertCheckpoints = {"bert-base-style", "bert-model-f16", "bert-classifier"};

}  // namespace

TEST_CASE_TEMPLATE("BERT checkpoints match the PyTorch reference: hidden states, attentions, heads", T, float, double) {
  for (const std::string& name : kBertCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Bert<T> model = Bert<T>::from_pretrained(model_dir(name));
    Capture<T> capture;
    BertOptions<T> options;
    options.capture = &capture;
    Tensor3<T> hidden;
    model.forward(ref.ids("input_ids"), hidden, options);
    double worst = ref.check_capture(capture, "");
    Matrix<T> pooled;
    if (ref.has("pooler_output")) {
      model.pool(hidden, pooled);
      worst = std::max(worst, ref.check(pooled, "pooler_output"));
    }
    if (model.heads().masked_lm) {
      Matrix<T> logits;
      model.masked_lm_logits(hidden, logits);
      worst = std::max(worst, ref.check(logits, "logits"));
    } else if (model.heads().classifier) {
      Matrix<T> logits;
      model.classify(pooled, logits);
      worst = std::max(worst, ref.check(logits, "logits"));
    } else {
      CHECK_FALSE(ref.has("logits"));
    }
    const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
    MESSAGE(name << " (" << scalar << "): max abs error " << worst);
  }
}

TEST_CASE_TEMPLATE("BERT: a padded batch with token types matches the reference", T, float, double) {
  for (const std::string& name : kBertCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Bert<T> model = Bert<T>::from_pretrained(model_dir(name));
    const TokenIds ids = ref.ids("batch.input_ids");
    const TokenIds types = ref.ids("batch.token_type_ids");
    const TokenIds mask = ref.ids("batch.attention_mask");
    const KeyPadding padding = KeyPadding::from_mask(mask.cast<std::uint8_t>());
    BertOptions<T> options;
    options.token_types = &types;
    options.padding = &padding;
    Tensor3<T> hidden;
    model.forward(ids, hidden, options);
    ref.check<T>(hidden.data(), static_cast<std::size_t>(hidden.size()), "batch.last_hidden_state");
  }
}

TEST_CASE("BERT heads and names are found from the checkpoint") {
  const BertHeads base = BertHeads::detect(Checkpoint(model_dir("bert-base-style")));
  CHECK(base.prefixed);
  CHECK(base.masked_lm);
  CHECK(base.next_sentence);
  CHECK(base.pooler);
  CHECK_FALSE(base.classifier);
  const BertHeads bare = BertHeads::detect(Checkpoint(model_dir("bert-model-f16")));
  CHECK_FALSE(bare.prefixed);
  CHECK(bare.pooler);
  CHECK_FALSE(bare.masked_lm);
  const BertHeads cls = BertHeads::detect(Checkpoint(model_dir("bert-classifier")));
  CHECK(cls.classifier);
  CHECK(BertConfig::from(Checkpoint(model_dir("bert-classifier")).config()).num_labels == 3);  // from id2label

  Bert<float> bare_model = Bert<float>::from_pretrained(model_dir("bert-model-f16"));
  Tensor3<float> hidden(1, 2, 20);
  hidden.setZero();
  Matrix<float> logits;
  CHECK_THROWS_WITH_AS(bare_model.masked_lm_logits(hidden, logits),
                       "[Bert] this checkpoint has no masked-LM head (cls.predictions)", ValueError);
}

TEST_CASE("Pitfall: bert-base-uncased's LayerNorm.gamma/beta names load as weight/bias") {
  Checkpoint checkpoint(model_dir("bert-base-style"));
  CHECK(checkpoint.contains("bert.embeddings.LayerNorm.gamma"));
  CHECK(checkpoint.contains("bert.encoder.layer.1.output.LayerNorm.beta"));
  CHECK(checkpoint.contains("cls.predictions.transform.LayerNorm.gamma"));
  CHECK_FALSE(checkpoint.contains("bert.embeddings.LayerNorm.weight"));
  Bert<float> model = Bert<float>::from_pretrained(model_dir("bert-base-style"));
  // γ and β really came from the file (not left at 1 and 0): they equal the stored gamma/beta.
  const std::vector<float> gamma = checkpoint.read<float>("bert.encoder.layer.1.output.LayerNorm.gamma");
  const std::vector<float> beta = checkpoint.read<float>("bert.encoder.layer.1.output.LayerNorm.beta");
  const Norm<float>& norm = model.encoder.layers[1].ffn_residual.norm;
  CHECK(std::equal(gamma.begin(), gamma.end(), norm.weight.data()));
  CHECK(std::equal(beta.begin(), beta.end(), norm.bias.data()));
  CHECK(norm.weight.maxCoeff() != 1.0f);
}

TEST_CASE("BERT saves modern names, keeps the prefix, and loads back identically") {
  TempDir tmp("bert-save");
  for (const std::string& name : kBertCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Bert<double> model = Bert<double>::from_pretrained(model_dir(name));
    const std::string folder = tmp / name;
    model.save_pretrained(folder);
    SafeTensorsReader file(folder + "/model.safetensors");
    const std::string p = model.heads().prefixed ? "bert." : "";
    CHECK(file.contains(p + "embeddings.LayerNorm.weight"));
    CHECK(file.contains(p + "encoder.layer.0.attention.self.query.bias"));
    CHECK_FALSE(file.contains(p + "embeddings.position_ids"));
    CHECK_FALSE(file.contains("cls.predictions.decoder.weight"));  // tied: HF ties it on load
    CHECK(file.contains("cls.predictions.bias") == model.heads().masked_lm);
    for (const TensorInfo& t : file.tensors()) {
      CHECK_MESSAGE(t.name.find("gamma") == std::string::npos, t.name);
    }
    Bert<double> again = Bert<double>::from_pretrained(folder);
    const TokenIds ids = ref.ids("input_ids");
    Tensor3<double> a, b;
    model.forward(ids, a);
    again.forward(ids, b);
    CHECK((as_matrix(a) - as_matrix(b)).cwiseAbs().maxCoeff() == 0.0);
  }
}

TEST_CASE("BERT sentence embeddings: mean pooling over the real tokens") {
  Reference ref("bert-model-f16");
  Bert<double> model = Bert<double>::from_pretrained(model_dir("bert-model-f16"));
  const TokenIds ids = ref.ids("batch.input_ids");
  const TokenIds mask = ref.ids("batch.attention_mask");
  const KeyPadding padding = KeyPadding::from_mask(mask.cast<std::uint8_t>());
  BertOptions<double> options;
  options.padding = &padding;
  Tensor3<double> hidden;
  model.forward(ids, hidden, options);
  const Matrix<double> mean = Bert<double>::mean_pooling(hidden, &padding);
  const Index T_ = ids.cols(), real = mask.row(1).sum();
  const RowVector<double> expected = as_matrix(hidden).middleRows(T_, real).colwise().mean();
  CHECK((mean.row(1) - expected).cwiseAbs().maxCoeff() < 1e-15);
}
