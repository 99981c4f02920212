// The pieces together on real text: 唐诗三百首 from fortunes-zh → character vocabulary → cached ids →
// windows → a bigram model trained with AdamW, the schedule and clipping → validation loss against the
// corpus's unigram entropy; the progress lines, the CSV log and the loss curve written. Skips (with a
// message) when the corpus is not installed. Also checks the test model's hand-written backward.
#include "training_fixture.hpp"
#include "bigram.hpp"

#include <cmath>
#include <filesystem>
#include <map>

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace pipeline_test {

using namespace eigenformer;
using namespace eigenformer::training;
using eigenformer::testing::Bigram;

TEST_CASE("the bigram test model's backward matches central finite differences in double (relative error <= 1e-6)") {
  Bigram<double> model(7, 3);
  testing::randomize_parameters(model, 3, 0.8);
  TokenIds ids(2, 4);
  ids << 1, 5, 2, 2, 6, 0, 3, 1;
  ParameterList<double> params = parameters_with_gradients(model);
  Matrix<double> dlogits;
  causal_lm_loss<double>(model.forward(ids), ids, &dlogits);
  model.backward(ids, dlogits);
  double worst = 0;
  for (ParameterRef<double>& p : params) {
    std::vector<double> numeric(static_cast<std::size_t>(p.numel())), analytic(p.grad, p.grad + p.numel());
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      const double keep = p.data[i], h = 1e-5;
      p.data[i] = keep + h;
      const double up = causal_lm_loss<double>(model.forward(ids), ids).loss;
      p.data[i] = keep - h;
      const double down = causal_lm_loss<double>(model.forward(ids), ids).loss;
      p.data[i] = keep;
      numeric[static_cast<std::size_t>(i)] = (up - down) / (2 * h);
    }
    worst = std::max(worst, testing::check_close<double>(analytic, numeric, 1e-6, p.name));
  }
  MESSAGE("bigram backward vs finite differences: largest relative error " << worst);
}

TEST_CASE("a bigram model trained on the Tang poems beats the unigram entropy on held-out poems") {
  const std::string path = fortunes_dir() + "/tang300";
  if (!std::filesystem::exists(path)) {
    MESSAGE("SKIPPED: " << path << " is missing (install the Debian package fortunes-zh: tools/install-deps.sh)");
    return;
  }
  const std::filesystem::path scratch = std::filesystem::path(EIGENFORMER_SOURCE_DIR) / "build" / "test_training_scratch" / "tang300";
  std::filesystem::create_directories(scratch);

  // 1) Poems → held-out split → characters → ids (cached) → streams with <eos> between poems.
  const std::vector<std::string> poems = load_fortunes(path);
  const auto [train_poems, held_poems] = split_records(poems, 0.1, 1);
  const CharVocabulary vocab = CharVocabulary::build(train_poems);
  const TokenId eos = *vocab.id("<eos>");
  std::string corpus;
  for (const std::string& p : train_poems) corpus += p + '\x1e';
  const std::vector<TokenSequence> train_ids =
      cached_token_ids(scratch.string(), cache_key(corpus, vocab.to_json()),
                       [&, &poems_to_encode = train_poems] { return encode_records(poems_to_encode, vocab); });
  const TokenSequence train_stream = concatenate(train_ids, eos);
  const TokenSequence held_stream = concatenate(encode_records(held_poems, vocab), eos);

  // 2) The unigram entropy of the training text, H = −Σ p log p (nats): the loss of the best model that
  //    ignores context. Scored on the held-out text with the training frequencies (unseen → <unk>'s count).
  std::map<TokenId, double> counts;
  for (TokenId id : train_stream) counts[id] += 1;
  double unigram_entropy = 0, unigram_held = 0;
  const double n = static_cast<double>(train_stream.size());
  for (const auto& kv : counts) unigram_entropy -= kv.second / n * std::log(kv.second / n);
  for (TokenId id : held_stream) unigram_held -= std::log(std::max(counts[id], 0.5) / n);
  unigram_held /= static_cast<double>(held_stream.size());

  // 3) Training: AdamW with warmup+cosine, clipping at 1, the progress lines into a file, the log and the curve.
  const Index T = 32, B = 16;
  const std::int64_t steps = 150;
  Bigram<float> model(static_cast<Index>(vocab.size()), 24);
  testing::randomize_parameters(model, 11, 0.05);
  ParameterList<float> params = parameters_with_gradients(model);
  AdamWConfig config;
  config.lr = 2e-2;
  AdamW<float> optimizer(config);
  WindowLoader train(train_stream, T, B, 7);
  WindowLoader held(held_stream, T, 1, 7);
  auto evaluate = [&] {
    double total = 0;
    Index counted = 0;
    for (std::int64_t w = 0; w < held.windows(); ++w) {
      const Batch b = held.in_order(w, 1);
      const LossValue l = causal_lm_loss<float>(model.forward(b.ids), b.ids);
      total += l.loss * static_cast<double>(l.counted);
      counted += l.counted;
    }
    return total / static_cast<double>(counted);
  };
  std::FILE* lines = std::fopen((scratch / "progress.txt").c_str(), "w+");
  REQUIRE(lines != nullptr);
  Progress progress(steps, 0, lines, 0, 25);
  TrainingLog log;
  for (std::int64_t step = 0; step < steps; ++step) {
    zero_gradients(params);
    const Batch batch = train.next();
    Matrix<float> dlogits;
    const LossValue loss = causal_lm_loss<float>(model.forward(batch.ids), batch.ids, &dlogits);
    model.backward(batch.ids, dlogits);
    check_finite(params, step, loss.loss);
    const double norm = clip_grad_norm(params, 1.0);
    optimizer.config.lr = config.lr * cosine_with_warmup(step, 20, steps);
    optimizer.step(params);
    progress.update(step + 1, loss.loss, B * T);
    log.steps.push_back({step + 1, loss.loss, optimizer.config.lr, norm, 0});
    if ((step + 1) % 50 == 0) log.validations.push_back({step + 1, evaluate()});
  }
  progress.finish();
  std::fclose(lines);
  log.write_csv((scratch / "log.csv").string());
  write_loss_curve((scratch / "loss_curve.svg").string(), log);

  const double validation = log.validations.back().loss;
  MESSAGE("tang300: " << train_poems.size() << " training poems (" << train_stream.size() << " characters), "
                      << held_poems.size() << " held out; vocabulary " << vocab.size() << "; unigram entropy "
                      << unigram_entropy << " nats (held-out unigram cross-entropy " << unigram_held
                      << "); bigram after " << steps << " steps: training loss " << log.steps.back().loss
                      << ", validation loss " << validation);
  CHECK(validation < unigram_held - 0.3);
  CHECK(TrainingLog::read_csv((scratch / "log.csv").string()).steps.size() == static_cast<std::size_t>(steps));
}

}  // namespace pipeline_test
