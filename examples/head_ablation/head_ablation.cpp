// head_ablation — which attention heads does a model need? Switch each head off in turn and watch the loss.
//
// What it teaches: the classic ablation experiment of interpretability lectures (Michel et al. 2019, "Are
// Sixteen Heads Really Better than One?"; Voita et al. 2019). A head's contribution to a layer's output is
// its context times its D columns of W_o (y = Σ_h context_h W_o[:, hD:(h+1)D]ᵀ), so setting its context to
// zero removes exactly that head. For every (layer, head) the program runs the model once with a hook that
// does so (include/eigenformer/inspect/hooks.hpp: zero_head), and prints the next-token loss against the
// unablated run:
//
//     loss = mean over t of −log p(ids[t+1] | ids[0..t])          (the causal-LM loss, training/loss.hpp)
//
// Most heads of a trained model change the loss a little; a few (previous-token heads, induction heads)
// change it a lot. The test checkpoints in tests/fixtures/models have random weights, so their heads all
// matter a little and none stands out; point --model at a trained Llama-style folder (the tiny models trained
// by the training programs, or any Llama checkpoint) to see the lesson.
//
// Run:
//     ./build/release/examples/head_ablation/head_ablation --model tests/fixtures/models/llama-gqa-sharded --ids 1,36,39,28,43,55,34
//     ./build/release/examples/head_ablation/head_ablation --model DIR --text "床前明月光，疑是地上霜。"
//     ... --scale 2     (amplify each head instead of removing it)
// The few lines that do it, in run() below:
//     Hooks<Scalar> hooks;
//     Capture<Scalar> capture = inspect::hooks_only(hooks, Llama<Scalar>::hf_names(), "decoder.");
//     hooks.add("model.layers.1.self_attn.context", inspect::zero_head<Scalar>(2));
//     options.capture = &capture;  model.forward(ids, logits, options);
#include "common/family_cli.hpp"
#include "llama/llama.hpp"

#include <eigenformer/inspect.hpp>
#include <eigenformer/training.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using namespace eigenformer;

namespace {

cli::Table options() {
  cli::Table t;
  t.program = "head_ablation";
  t.usage = "head_ablation --model DIR (--ids LIST | --text TEXT) [--scale X] [--double]";
  t.about = "Removes each attention head of a Llama-style checkpoint in turn (its context set to zero) and prints\n"
            "how much the next-token loss on the input changes.";
  cli::Section s;
  s.options = {{"--model", "DIR", "a Llama-style checkpoint folder (config.json, model.safetensors; tokenizer files\n"
                                  "for --text)"},
               {"--ids", "LIST", "the text as token ids, comma-separated (at least two)"},
               {"--text", "TEXT", "the text, through the folder's tokenizer"},
               {"--scale", "X", "multiply each head by X instead of 0 (default 0: ablation)"},
               {"--double", "", "compute in double instead of float"},
               {"--help", "", "this text"}};
  t.sections.push_back(s);
  t.epilogue = "Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.";
  return t;
}

/// Mean cross-entropy of predicting ids[t+1] from the logits at t.  logits (T, V).
template <class Scalar>
double next_token_loss(const Matrix<Scalar>& logits, const TokenSequence& ids) {
  const TokenSequence labels(ids.begin() + 1, ids.end());
  const Matrix<Scalar> predicting = logits.topRows(logits.rows() - 1);  // the last position predicts nothing here
  return training::cross_entropy<Scalar>(predicting, labels).loss;
}

template <class Scalar>
int run(const cli::Arguments& args) {
  // 1) The model and the text.
  const std::string folder = args.value("--model");
  cli::check_input_given(args);
  const Scalar factor = static_cast<Scalar>(args.has("--scale") ? args.number("--scale") : 0.0);
  Llama<Scalar> model = Llama<Scalar>::from_pretrained(folder);
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const TokenSequence ids = cli::input_ids(args, tokenizer);
  cli::check_vocabulary(ids, model.config().vocab_size, args.has("--ids") ? "--ids" : "--text");
  if (ids.size() < 2) throw ValueError("the loss needs at least two tokens (one to read, one to predict)");
  const TokenIds batch = cli::as_batch(ids);
  const Index L = model.config().num_hidden_layers, H = model.config().num_attention_heads;

  // 2) The loss with every head.
  Matrix<Scalar> logits;  // (T, V)
  model.forward(batch, logits);
  const double baseline = next_token_loss(logits, ids);
  std::printf("model    %s: %ld layers x %ld heads\ninput    %zu tokens: %s\nloss     %.6f (mean cross-entropy of the "
              "next token, all heads)\n\n",
              folder.c_str(), static_cast<long>(L), static_cast<long>(H), ids.size(), cli::join_ids(ids).c_str(), baseline);

  // 3) One head at a time: a hook multiplies its context by the factor (0: the head is removed).
  struct Effect {
    Index layer, head;
    double loss;
  };
  std::vector<Effect> effects;
  for (Index l = 0; l < L; ++l) {
    for (Index h = 0; h < H; ++h) {
      Hooks<Scalar> hooks;
      Capture<Scalar> capture = inspect::hooks_only(hooks, Llama<Scalar>::hf_names(), "decoder.");
      hooks.add(detail::cat("model.layers.", l, ".self_attn.context"), inspect::scale_head<Scalar>(h, factor));
      LlamaOptions<Scalar> with_hook;
      with_hook.capture = &capture;
      model.forward(batch, logits, with_hook);
      effects.push_back({l, h, next_token_loss(logits, ids)});
    }
  }

  // 4) The table: Δloss per head, with a bar (one block per 5% of the largest |Δ|).
  double largest = 0;
  for (const Effect& e : effects) largest = std::max(largest, std::abs(e.loss - baseline));
  std::printf("head %s (x%g):\n  layer  head        loss       delta\n", factor == 0 ? "removed" : "scaled",
              static_cast<double>(factor));
  for (const Effect& e : effects) {
    const double delta = e.loss - baseline;
    const int blocks = largest > 0 ? static_cast<int>(std::lround(20 * std::abs(delta) / largest)) : 0;
    std::string bar;
    for (int i = 0; i < blocks; ++i) bar += delta >= 0 ? "\xE2\x96\x88" : "\xE2\x96\x91";  // █ hurts, ░ helps
    std::printf("  %5ld  %4ld  %10.6f  %+10.6f  %s\n", static_cast<long>(e.layer), static_cast<long>(e.head), e.loss,
                delta, bar.c_str());
  }
  std::vector<Effect> ranked = effects;
  std::sort(ranked.begin(), ranked.end(), [](const Effect& a, const Effect& b) { return a.loss > b.loss; });
  std::printf("\nlargest loss increase: layer %ld head %ld (%+.6f)\n", static_cast<long>(ranked.front().layer),
              static_cast<long>(ranked.front().head), ranked.front().loss - baseline);
  std::printf("smallest: layer %ld head %ld (%+.6f)\n", static_cast<long>(ranked.back().layer),
              static_cast<long>(ranked.back().head), ranked.back().loss - baseline);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_program(argc, argv, options(), &run<float>, &run<double>); }
