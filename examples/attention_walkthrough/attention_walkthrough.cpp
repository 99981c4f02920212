// attention_walkthrough — one sentence through one attention head, every number printed.
//
// What it teaches: attention is a *lookup by similarity*. Each token asks a question (its query q),
// every token advertises what it holds (its key k), and the match q·k decides how much of each token's
// value v flows to the asker:
//
//     scores  = Q Kᵀ / √D          one row per asking token, one column per answering token
//     weights = softmax(scores)    each row sums to 1
//     context = weights V          what each token gathered
//
// The weights here are picked by hand so that the numbers mean something: a token's embedding says
// whether it is a noun, a verb, an article or a preposition; verbs and prepositions *ask for nouns*, nouns
// *ask for verbs*, and articles ask for nothing in particular. You will see "sat" look at "cat" and "mat",
// and — once the causal mask forbids looking ahead, as in a decoder — at "cat" alone.
//
// Run:   ./build/release/examples/attention_walkthrough/attention_walkthrough
// Debug: cmake --preset debug && cmake --build --preset debug --target attention_walkthrough
//        gdb ./build/debug/examples/attention_walkthrough/attention_walkthrough
//        (gdb) source examples/attention_walkthrough/eigen_gdb.py   # print Eigen matrices as numbers
//        (gdb) break masked_softmax_rows     # step 4 of the attention core: the softmax
//        (gdb) run
//        (gdb) up                            # into scaled_dot_product_attention
//        (gdb) print b                       # which sequence of the batch ...
//        (gdb) print h                       # ... and which head
//        (gdb) print Q                       # this head's queries (T, D) = (6, 2)
//        (gdb) print K                       # its keys (S, D) = (6, 2)
//        (gdb) print scores                  # Q Kᵀ/√D (6, 6); "cat" asks for the verb "sat": 3/√2 = 2.12
//        (gdb) down
//        (gdb) finish                        # run the softmax ...
//        (gdb) print weights                 # ... into its own buffer: each row sums to 1
//        (gdb) next                          # step 5: context = weights V
//        (gdb) print context                 # what each token gathered (6, 2)
// (tests/debugger runs exactly these commands and checks the numbers, so this comment stays true.)
// The same numbers are printed below, so you can check what the debugger shows.
#include <eigenformer/eigenformer.hpp>

#include <cstdio>
#include <string>
#include <vector>

using namespace eigenformer;

namespace {

const std::vector<std::string> kTokens = {"the", "cat", "sat", "on", "the", "mat"};

// Prints a small matrix with token names on the rows (and on the columns when `columns` is given).
void print_table(const std::string& title, const Matrix<float>& m, const std::vector<std::string>& columns = {}) {
  std::printf("\n%s\n%8s", title.c_str(), "");
  for (Index c = 0; c < m.cols(); ++c) {
    std::printf("%8s", columns.empty() ? ("d" + std::to_string(c)).c_str() : columns[static_cast<std::size_t>(c)].c_str());
  }
  std::printf("\n");
  for (Index r = 0; r < m.rows(); ++r) {
    std::printf("%8s", kTokens[static_cast<std::size_t>(r)].c_str());
    for (Index c = 0; c < m.cols(); ++c) std::printf("%8.2f", static_cast<double>(m(r, c)));
    std::printf("\n");
  }
}

// For each token, the token(s) it attends to most (ties within 0.01 are listed together).
void print_focus(const Matrix<float>& weights) {
  for (Index t = 0; t < weights.rows(); ++t) {
    const float best = weights.row(t).maxCoeff();
    std::string names;
    int count = 0;
    for (Index s = 0; s < weights.cols(); ++s) {
      if (weights(t, s) >= best - 0.01f) {
        names += (names.empty() ? "" : ", ") + kTokens[static_cast<std::size_t>(s)];
        ++count;
      }
    }
    std::printf("  %-4s looks most at %s (weight %.2f%s)\n", kTokens[static_cast<std::size_t>(t)].c_str(),
                names.c_str(), static_cast<double>(best), count > 1 ? " each" : "");
  }
}

}  // namespace

int main() {
  // 1) Embeddings: C = 4 features per token — [noun, verb, article, preposition].
  const Index T = 6, C = 4, D = 2;
  Tensor3<float> x(1, T, C);
  const float features[6][4] = {{0, 0, 1, 0}, {1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 0, 1}, {0, 0, 1, 0}, {1, 0, 0, 0}};
  for (Index t = 0; t < T; ++t)
    for (Index c = 0; c < C; ++c) x(0, t, c) = features[t][c];

  // 2) One head of width D = 2, with hand-picked projections (each row of W reads the 4 features).
  //    Query d0 = "I want a noun"  (verbs and prepositions ask it)    Key d0 = "I am a noun"
  //    Query d1 = "I want a verb"  (nouns ask it)                     Key d1 = "I am a verb"
  AttentionConfig config;
  config.width = C;
  config.heads = 1;
  config.head_dim = D;
  MultiHeadAttention<float> head(config);
  head.q.weight << 0, 3, 0, 3,   //
                   3, 0, 0, 0;
  head.k.weight << 1, 0, 0, 0,   //
                   0, 1, 0, 0;
  head.v.weight << 1, 0, 0, 0,   // the value carries "noun-ness" and "verb-ness" onward
                   0, 1, 0, 0;
  head.o.weight << 1, 0,         // and the output projection writes them back into the noun/verb features
                   0, 1,
                   0, 0,
                   0, 0;

  std::printf("The sentence: the cat sat on the mat   (features: noun, verb, article, preposition)\n");
  print_table("Embeddings x (T, C)", as_matrix(x), {"noun", "verb", "article", "prep"});

  // 3) Bidirectional self-attention (an encoder, like BERT): everyone sees everyone.
  // The context asks every attention to keep its (B, H, T, S) scores and weights, as the core made them.
  ForwardContext<float> keep;
  keep.keep_scores = true;
  keep.keep_weights = true;
  const Tensor3<float> y = head(x, AttentionMode::Self, keep);

  // The layer keeps its intermediates, named as in the lecture: a breakpoint here shows them too.
  const Matrix<float>& Q = head.act.q;  // (T, D)
  const Matrix<float>& K = head.act.k;  // (S, D)
  print_table("Queries Q = x W_qᵀ (T, D): what each token asks for", Q, {"noun?", "verb?"});
  print_table("Keys K = x W_kᵀ (S, D): what each token offers", K, {"noun", "verb"});

  const Matrix<float> scores = as_matrix(head.act.scores, 0, 0);  // batch 0, head 0
  print_table("Scores = Q Kᵀ / √D (T, S): row = who asks, column = who answers", scores, kTokens);

  const Matrix<float> weights = as_matrix(head.act.weights, 0, 0);
  print_table("Weights = softmax(scores), row by row (each row sums to 1)", weights, kTokens);
  print_focus(weights);

  print_table("Context = weights V (T, D): what each token gathered", head.act.context, {"noun", "verb"});
  print_table("Output y = context W_oᵀ (T, C)", as_matrix(y), {"noun", "verb", "article", "prep"});

  // 4) Causal self-attention (a decoder, like Llama): token t may only look at tokens 0..t.
  head(x, AttentionMode::Causal, keep);
  const Matrix<float> causal = as_matrix(head.act.weights, 0, 0);
  print_table("Causal weights: the upper triangle is masked to exactly 0", causal, kTokens);
  print_focus(causal);
  std::printf("\n\"sat\" can no longer see \"mat\": in a decoder a token only reads the past.\n"
              "Next: examples for BERT, Llama and T5 stack dozens of such heads and layers.\n");
  return 0;
}
