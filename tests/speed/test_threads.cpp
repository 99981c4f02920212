// tests/speed/test_threads.cpp — core/threads.hpp and the threaded decoding paths, against the reference path.
//
// What must hold (issue 15):
//   - the threaded paths give bit-identical results with 1 and 2 threads (they split the work the same way
//     whatever the thread count: by construction, checked here);
//   - beside the readable reference path (one Eigen product; the (T, S) attention core) they agree within
//     the stated tolerance: max |fast − reference| ≤ 1e-6 · max |reference| in float, 1e-14 in double
//     (only the order of the sums differs: how the rows are grouped, and for several rows the decoding kernel's
//     lane-wise sums, layers/linear.hpp);
//   - a cached Llama decode with 2 threads matches the uncached full recompute (the reference path for T > 1)
//     within the fixtures' tolerance (1e-5 relative in float), and greedy tokens are the same.
#include <doctest/doctest.h>

#include <array>
#include <cstdlib>
#include <random>

#include "eigenformer/eigenformer.hpp"
#include "eigenformer/generation.hpp"
#include "llama/llama.hpp"
#include "support/threads_guard.hpp"

// test_threads.cpp, test_weight_formats.cpp and test_tiled_attention.cpp compile into one translation unit
// (test_speed, CMakeLists.txt here): each keeps its helpers, and the namespaces it uses, in a namespace of its own.
namespace threads_test {

using namespace eigenformer;
using eigenformer::testing::ThreadsGuard;

namespace {

template <class Scalar>
Matrix<Scalar> random_matrix(Index rows, Index cols, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Matrix<Scalar> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(u(rng));
  return m;
}

template <class Scalar>
double relative_difference(const Eigen::Ref<const Matrix<Scalar>>& a, const Eigen::Ref<const Matrix<Scalar>>& b) {
  const double scale = std::max(1e-300, static_cast<double>(b.cwiseAbs().maxCoeff()));
  return static_cast<double>((a - b).cwiseAbs().maxCoeff()) / scale;
}

template <class Scalar>
double tolerance() {
  return std::is_same_v<Scalar, float> ? 1e-6 : 1e-14;
}

LlamaConfig small_llama() {
  LlamaConfig c;
  c.vocab_size = 2048;  // the LM head (2048, 256) takes the threaded decoding path
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;  // grouped-query attention: two query heads per key/value head
  c.max_position_embeddings = 512;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  return c;
}

template <class Scalar>
Llama<Scalar> random_llama() {
  Llama<Scalar> model(small_llama());
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-0.08, 0.08);
  for (auto& p : named_parameters(model)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = static_cast<Scalar>(u(rng));
  }
  return model;
}

}  // namespace

TEST_CASE("threads: the setting, EIGENFORMER_THREADS and bad values") {
  ThreadsGuard guard;
  set_threads(2);
#ifdef _OPENMP
  CHECK(threads() == 2);
#else
  CHECK(threads() == 1);  // without OpenMP everything runs on one thread, whatever the setting
#endif
  set_threads(1);
  CHECK(threads() == 1);
  CHECK_THROWS_AS(set_threads(0), ValueError);
  CHECK(detail::threads_from_environment("3") == 3);
  CHECK_THROWS_AS(detail::threads_from_environment("two"), ValueError);
  CHECK_THROWS_AS(detail::threads_from_environment("0"), ValueError);
  CHECK_THROWS_AS(detail::threads_from_environment("4x"), ValueError);
}

TEST_CASE("threads: parallel_for runs every task exactly once") {
  ThreadsGuard guard;
  for (int n : {1, 2, 3}) {
    set_threads(n);
    std::vector<int> hits(1000, 0);
    parallel_for(static_cast<Index>(hits.size()), [&](Index i) { hits[static_cast<std::size_t>(i)] += 1; });
    CHECK(std::count(hits.begin(), hits.end(), 1) == 1000);
  }
}

TEST_CASE_TEMPLATE("threads: decoding's Linear product, 1 vs 2 threads bit-identical, reference within tolerance", Scalar,
                   float, double) {
  ThreadsGuard guard;
  std::mt19937 rng(1);
  for (Index in : {300, 1024}) {
  for (Index out : {256, 1000, 4099}) {
    for (Index rows : {1, 3, 4, 5, 6, 7, 8}) {  // 1-3: matrix-vector products; 4-8: decode_rows (an AVX-512 build: its fast path)
      REQUIRE(use_decode_path(rows));
      Linear<Scalar> layer(in, out, /*bias=*/true);
      layer.weight = random_matrix<Scalar>(out, in, rng);
      layer.bias = random_matrix<Scalar>(1, out, rng);
      const Matrix<Scalar> x = random_matrix<Scalar>(rows, in, rng);
      Matrix<Scalar> one, two;
      set_threads(1);
      layer.forward(x, one);
      set_threads(2);
      layer.forward(x, two);
      CHECK(one == two);  // bit for bit
      Matrix<Scalar> reference = x * layer.weight.transpose();  // the reference path: one product
      reference.rowwise() += layer.bias;
      const double diff = relative_difference<Scalar>(two, reference);
      INFO("in ", in, ", out ", out, ", rows ", rows, ": max |threaded − reference| / max |reference| = ", diff);
      CHECK(diff <= tolerance<Scalar>());
    }
  }
  }
#if defined(__AVX512F__)
  if (std::is_same_v<Scalar, float>) MESSAGE("the AVX-512 decoding kernel (detail::decode_rows_avx512) was compared");
#elif defined(__AVX2__) && defined(__FMA__)
  if (std::is_same_v<Scalar, float>) MESSAGE("the AVX2 decoding kernel (detail::decode_rows_avx2) was compared");
#endif
  CHECK_FALSE(decode_worth_threads(1, 256, 300));  // small layers stay on one thread …
  CHECK(decode_worth_threads(1, 4099, 1024));
  CHECK(decode_worth_threads(2, 256, 300));  // … unless several rows share each weight (a batch's sequences)
  CHECK_FALSE(decode_worth_threads(1, 288, 288));  // the 15M shape's output projection: one sequence on one thread,
  CHECK(decode_worth_threads(8, 288, 288));        // eight sequences on two
  CHECK_FALSE(use_decode_path(16));  // prompts take the reference product
}

TEST_CASE("threads: decoding's products of one input together (forward_together) have each product's own bits") {
  // q, k and v (and gate and up) run in one parallel loop (layers/linear.hpp). Each output must be bit for bit what
  // its own forward call gives — for fp32 and both packed formats (int8 quantises x once for all), with and
  // without a bias, one row and a batch's rows, 1 and 2 threads — and a prompt's rows take the layers one by one.
  ThreadsGuard guard;
  std::mt19937 rng(21);
  const Index in = 288;
  const std::array<Index, 3> outs = {288, 96, 1000};  // grouped-query k and v are narrower than q
  for (WeightFormat format : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Q8_0}) {
    for (bool bias : {false, true}) {
      std::array<Linear<float>, 3> layers;
      for (std::size_t k = 0; k < 3; ++k) {
        layers[k] = Linear<float>(in, outs[k], bias);
        layers[k].weight = random_matrix<float>(outs[k], in, rng);
        if (bias) layers[k].bias = random_matrix<float>(1, outs[k], rng);
        layers[k].pack(format);
      }
      for (Index rows : {1, 5, 12}) {  // 12: more than the decoding path's 8 rows
        const Matrix<float> x = random_matrix<float>(rows, in, rng);
        for (int n : {1, 2}) {
          set_threads(n);
          std::array<Matrix<float>, 3> apart, together;
          for (std::size_t k = 0; k < 3; ++k) layers[k].forward(x, apart[k]);
          forward_together<float, 3>(x, {&layers[0], &layers[1], &layers[2]}, {&together[0], &together[1], &together[2]});
          for (std::size_t k = 0; k < 3; ++k) {
            INFO(weight_format_name(format), bias ? " with bias" : "", ", ", rows, " rows, ", n, " threads, product ", k);
            REQUIRE(together[k].rows() == rows);
            REQUIRE(together[k].cols() == outs[k]);
            CHECK(together[k] == apart[k]);
          }
        }
      }
    }
  }
  // A layer whose input width differs from x's is refused, naming the shapes.
  Linear<float> wide(300, 8, false), narrow(in, 8, false);
  Matrix<float> a, b;
  CHECK_THROWS_WITH_AS((forward_together<float, 2>(random_matrix<float>(1, in, rng), {&narrow, &wide}, {&a, &b})),
                       doctest::Contains("expects 300"), ShapeError);
  CHECK(decode_worth_threads(3 * 288 * 288));  // q, k and v of the 15M shape together are worth threads …
  CHECK_FALSE(decode_worth_threads(1, 288, 288));  // … each alone is not
  CHECK(decode_worth_threads(1, 288 + 96 + 1000, in));  // the three products above together: the parallel loop ran
}

TEST_CASE_TEMPLATE("threads: the decoding kernels for 4 to 8 rows against one Eigen product, every width and row count",
                   Scalar, float, double) {
  // decode_rows (in a build with AVX-512 or AVX2, float takes detail::decode_rows_avx512 or detail::decode_rows_avx2)
  // and the portable decode_rows_kernel on runs of W that start anywhere and hold any number of rows (the R rows per
  // pass and the one-by-one leftovers), over widths around a SIMD piece (8 floats for the masked last pieces of
  // AVX-512's kernel, which puts two rows of x in a register, and of AVX2's; Eigen's packet — 4 or 8 floats, 2 or 4
  // doubles — for the portable kernel's one-by-one ending), x and y inside larger matrices (row strides ≠ in). The
  // portable kernel takes the rows of x four at a time: 5 to 8 rows check its second pass; AVX2's takes them all at
  // once, and 4 to 7 rows check the sums it leaves at 0 in its fold; AVX-512's 5 and 7 rows check the empty half of
  // its last register of x, and 25 rows of W its passes of 6, 7 and 8 rows with every shorter leftover pass.
  std::mt19937 rng(5);
  for (Index in : {1, 3, 5, 7, 8, 9, 15, 16, 17, 33, 288, 300}) {
    for (Index rows = 4; rows <= 8; ++rows) {
      const Matrix<Scalar> weight = random_matrix<Scalar>(29, in + 3, rng);
      const Matrix<Scalar> x_wide = random_matrix<Scalar>(rows, in + 5, rng);
      const Eigen::Ref<const Matrix<Scalar>> W = weight.leftCols(in), x = x_wide.leftCols(in);
      const Index first = 2, count = 25;  // rows 2 .. 26 of W
      const Matrix<Scalar> reference = x * W.middleRows(first, count).transpose();
      Matrix<Scalar> fast = Matrix<Scalar>::Zero(rows, 40), portable = Matrix<Scalar>::Zero(rows, 40);
      decode_rows<Scalar>(x, W, fast.leftCols(29), first, count);
      switch (rows) {
        case 4: decode_rows_kernel<Scalar, 4>(x, W, portable.leftCols(29), first, count); break;
        case 5: decode_rows_kernel<Scalar, 5>(x, W, portable.leftCols(29), first, count); break;
        case 6: decode_rows_kernel<Scalar, 6>(x, W, portable.leftCols(29), first, count); break;
        case 7: decode_rows_kernel<Scalar, 7>(x, W, portable.leftCols(29), first, count); break;
        default: decode_rows_kernel<Scalar, 8>(x, W, portable.leftCols(29), first, count); break;
      }
      const double fast_diff = relative_difference<Scalar>(fast.middleCols(first, count), reference);
      const double portable_diff = relative_difference<Scalar>(portable.middleCols(first, count), reference);
      INFO("in ", in, ", rows ", rows, ": decode_rows ", fast_diff, ", decode_rows_kernel ", portable_diff);
      CHECK(fast_diff <= tolerance<Scalar>());
      CHECK(portable_diff <= tolerance<Scalar>());
      // Nothing outside the run is written.
      CHECK(fast.leftCols(first).cwiseAbs().maxCoeff() == 0);
      CHECK(fast.rightCols(40 - first - count).cwiseAbs().maxCoeff() == 0);
      CHECK(portable.leftCols(first).cwiseAbs().maxCoeff() == 0);
      CHECK(portable.rightCols(40 - first - count).cwiseAbs().maxCoeff() == 0);
    }
  }
}

TEST_CASE_TEMPLATE("threads: the products of prompts and training (product_threaded), 1 vs 2 threads bit-identical, "
                   "one Eigen product within tolerance", Scalar, float, double) {
  ThreadsGuard guard;
  std::mt19937 rng(2);
  // (M, K, N): runs along the rows (M > N), along the columns (N ≥ M), ragged last runs, and one below the size at
  // which threads are used (it must still be right).
  for (const std::array<Index, 3>& shape : {std::array<Index, 3>{1000, 300, 130}, std::array<Index, 3>{130, 300, 1000},
                                             std::array<Index, 3>{257, 64, 129}, std::array<Index, 3>{20, 16, 24}}) {
    const Index M = shape[0], K = shape[1], N = shape[2];
    const Matrix<Scalar> a = random_matrix<Scalar>(M, K, rng);
    const Matrix<Scalar> b = random_matrix<Scalar>(N, K, rng);  // used as bᵀ, as Linear uses its weight
    const Matrix<Scalar> start = random_matrix<Scalar>(M, N, rng);
    for (GradientWrite write : {GradientWrite::Assign, GradientWrite::Add}) {
      Matrix<Scalar> one = start, two = start;
      set_threads(1);
      product_threaded<Scalar>(a, b.transpose(), one, write);
      set_threads(2);
      product_threaded<Scalar>(a, b.transpose(), two, write);
      CHECK(one == two);  // bit for bit
      Matrix<Scalar> reference = start;
      if (write == GradientWrite::Assign) reference.noalias() = a * b.transpose();
      else reference.noalias() += a * b.transpose();
      const double diff = relative_difference<Scalar>(two, reference);
      INFO("M ", M, ", K ", K, ", N ", N, (write == GradientWrite::Add ? ", add" : ", assign"), ": ", diff);
      CHECK(diff <= tolerance<Scalar>());
    }
  }
  // A Linear's backward (dW += dyᵀ x, dx = dy W) on 1 and 2 threads: the same bits.
  Linear<Scalar> layer(300, 500, /*bias=*/true);
  layer.weight = random_matrix<Scalar>(500, 300, rng);
  const Matrix<Scalar> x = random_matrix<Scalar>(400, 300, rng), dy = random_matrix<Scalar>(400, 500, rng);
  Matrix<Scalar> dx_one, dx_two, dw_one;
  layer.weight_grad = Matrix<Scalar>::Zero(500, 300);
  set_threads(1);
  layer.backward(x, dy, dx_one);
  dw_one = layer.weight_grad;
  layer.weight_grad.setZero();
  set_threads(2);
  layer.backward(x, dy, dx_two);
  CHECK(dx_one == dx_two);
  CHECK(dw_one == layer.weight_grad);
  CHECK(relative_difference<Scalar>(layer.weight_grad, dy.transpose() * x) <= tolerance<Scalar>());
  CHECK(relative_difference<Scalar>(dx_two, dy * layer.weight) <= tolerance<Scalar>());
}

TEST_CASE_TEMPLATE("threads: Linear's product of many rows (linear_product) has the same bits on 1 and 2 threads, and "
                   "the exact product's within tolerance", Scalar, float, double) {
  // In a build with AVX-512 or AVX2, float takes detail::product_x_wt_kernel (AVX-512: tiles of 12 rows of W against
  // panels of 32 tokens, 256 tokens packed at a time; AVX2: tiles of 6 rows against panels of 16 tokens, 128 at a time;
  // blocks of 768 inputs); otherwise, and for double, product_threaded. Shapes around the tile, the panel and the
  // block: out = 1, 11, 13, 14, 15, 29, 130 rows of W (AVX-512: narrower tiles of 1, 11, 1, 2, 3, 5 and 10 rows after
  // the whole ones, 130 on two threads is runs of 72 and 58 rows; AVX2: narrower tiles of 1, 5, 1, 2, 3, 5 and 4 rows,
  // runs of 66 and 64); M = 1 .. 300 tokens (ragged last panels, more than one block of packed tokens, half-panels
  // packed by transposes — 16 × 16 or 8 × 8 floats — and ragged ones packed a float at a time); in = 1 .. 1600 (ragged
  // last blocks of inputs; 100 = 6 transposed blocks of 16 inputs and 4 more, or 12 of 8 and 4); x, W and y inside
  // wider matrices (row strides ≠ widths), y's other columns untouched. The reference is the product in double,
  // rounded once.
  ThreadsGuard guard;
  std::mt19937 rng(11);
  for (const std::array<Index, 3>& shape :
       {std::array<Index, 3>{9, 17, 13}, std::array<Index, 3>{33, 1, 14}, std::array<Index, 3>{300, 768, 15},
        std::array<Index, 3>{64, 800, 29}, std::array<Index, 3>{257, 1600, 130}, std::array<Index, 3>{40, 96, 1},
        std::array<Index, 3>{50, 100, 14}, std::array<Index, 3>{20, 64, 11}}) {
    const Index M = shape[0], in = shape[1], out = shape[2];
    const Matrix<Scalar> x_wide = random_matrix<Scalar>(M, in + 3, rng), w_wide = random_matrix<Scalar>(out, in + 5, rng);
    const Eigen::Ref<const Matrix<Scalar>> x = x_wide.leftCols(in), W = w_wide.leftCols(in);
    const Matrix<double> exact = x.template cast<double>() * W.template cast<double>().transpose();
    const Matrix<Scalar> sentinel = random_matrix<Scalar>(M, out + 4, rng);
    Matrix<Scalar> one = sentinel, two = sentinel;
    set_threads(1);
    linear_product<Scalar>(x, W, one.leftCols(out));
    set_threads(2);
    linear_product<Scalar>(x, W, two.leftCols(out));
    CHECK(one == two);  // bit for bit
    const double diff = relative_difference<double>(two.leftCols(out).template cast<double>(), exact);
    INFO("M ", M, ", in ", in, ", out ", out, ": ", diff);
    CHECK(diff <= tolerance<Scalar>());
    CHECK(two.rightCols(4) == sentinel.rightCols(4));  // nothing beyond y is written
  }
}

TEST_CASE_TEMPLATE("threads: the single-query attention path against the (T, S) core, 1 vs 2 threads", Scalar, float,
                   double) {
  ThreadsGuard guard;
  std::mt19937 rng(2);
  // B = 2 sequences, H = 8 query heads over Hkv = 2 key/value heads, D = 64, S = 300 keys in a cache of
  // capacity 320 (rows per sequence), the query at position 299; sequence 1 has 5 padding keys at the front.
  const Index B = 2, H = 8, Hkv = 2, D = 64, S = 300, capacity = 320;
  const Matrix<Scalar> q = random_matrix<Scalar>(B, H * D, rng);
  const Matrix<Scalar> k = random_matrix<Scalar>(B * capacity, Hkv * D, rng);
  const Matrix<Scalar> v = random_matrix<Scalar>(B * capacity, Hkv * D, rng);
  HeadsView<const Scalar> keys = HeadsView<const Scalar>::of(k, B, Hkv);
  HeadsView<const Scalar> values = HeadsView<const Scalar>::of(v, B, Hkv);
  keys.length = values.length = S;
  KeyPadding::Mask real = KeyPadding::Mask::Ones(B, S);
  real.block(1, 0, 1, 5).setZero();
  const KeyPadding padding = KeyPadding::from_mask(real);
  AttentionMask<Scalar> mask;
  mask.causal = true;
  mask.first_query = S - 1;
  mask.padding = &padding;
  const Scalar scale = Scalar(1) / std::sqrt(Scalar(D));

  Matrix<Scalar> reference(B, H * D), one(B, H * D), two(B, H * D);
  AttentionScratch<Scalar> scratch;
  Tensor4<Scalar> kept;
  AttentionRecord<Scalar> record;
  record.weights = &kept;  // keeping the weights takes the (T, S) reference path
  scaled_dot_product_attention<Scalar>(HeadsView<const Scalar>::of(q, B, H), keys, values,
                                       HeadsView<Scalar>::of(reference, B, H), mask, scale, scratch, record);
  set_threads(1);
  scaled_dot_product_attention<Scalar>(HeadsView<const Scalar>::of(q, B, H), keys, values,
                                       HeadsView<Scalar>::of(one, B, H), mask, scale, scratch);
  set_threads(2);
  scaled_dot_product_attention<Scalar>(HeadsView<const Scalar>::of(q, B, H), keys, values,
                                       HeadsView<Scalar>::of(two, B, H), mask, scale, scratch);
  CHECK(one == two);
  const double diff = relative_difference<Scalar>(two, reference);
  INFO("max |single-query − reference| / max |reference| = ", diff);
  CHECK(diff <= tolerance<Scalar>());
}

TEST_CASE("threads: generate_batch on 2 threads gives the bits of 1 thread — greedy and sampling, rows that stop early") {
  // A batch's decode step shares its products out by their multiply-adds (weights × rows), and greedy search and
  // sampling take their step 1 — each row's scores as doubles, and their log Σ exp — for all rows at once over the
  // threads (generation/generate.hpp). Every token, stop and log-probability must be what one thread gives, bit for
  // bit: with an EOS that ends some rows early (the parallel pass skips finished rows), and with sampling, where the
  // rows of one prompt draw from one stream in order.
  ThreadsGuard guard;
  Llama<float> model = random_llama<float>();
  const std::vector<TokenSequence> prompts = {{1, 17, 300, 42, 7, 99}, {1, 5}, {1, 250, 3}, {1, 8, 9, 10}, {1, 400, 12}};
  generation::GenerationConfig greedy;
  greedy.max_new_tokens = 24;
  const auto run = [&](const generation::GenerationConfig& config, int n) {
    set_threads(n);
    return generation::generate_batch<float>(model, prompts, config);
  };
  // The EOS: a token the second prompt emits half-way, so that at least that row stops before the others.
  const std::vector<generation::GeneratedSequence> free_run = run(greedy, 1);
  REQUIRE(free_run[1].tokens.size() > 12);
  greedy.eos_token_ids = {free_run[1].tokens[10]};
  generation::GenerationConfig sampling = greedy;
  sampling.strategy = generation::Strategy::Sample;
  sampling.temperature = 0.9;
  sampling.top_k = 40;
  sampling.num_return_sequences = 2;
  sampling.seed = 11;
  for (const generation::GenerationConfig& config : {greedy, sampling}) {
    const char* strategy = config.samples() ? "sampling" : "greedy";
    const std::vector<generation::GeneratedSequence> one = run(config, 1), two = run(config, 2);
    REQUIRE(one.size() == two.size());
    std::size_t stopped_early = 0;
    for (std::size_t i = 0; i < one.size(); ++i) {
      INFO(strategy, ", sequence ", i);
      CHECK(two[i].tokens == one[i].tokens);
      CHECK(two[i].stop_reason == one[i].stop_reason);
      CHECK(two[i].log_probability == one[i].log_probability);  // bit for bit
      if (one[i].tokens.size() < static_cast<std::size_t>(config.max_new_tokens)) ++stopped_early;
    }
    if (!config.samples()) CHECK(stopped_early >= 1);  // the EOS above ended at least the second prompt's row
  }
}

TEST_CASE("threads: a cached Llama decode on 2 threads against the uncached full recompute") {
  ThreadsGuard guard;
  Llama<float> model = random_llama<float>();
  TokenIds prompt(1, 6);
  prompt << 1, 17, 300, 42, 7, 99;
  const int new_tokens = 40;

  // Cached decode, token by token (the threaded T = 1 paths), with 1 and with 2 threads.
  std::vector<Matrix<float>> step_logits[2];
  std::vector<TokenId> tokens[2];
  for (int n : {1, 2}) {
    set_threads(n);
    DecoderCache<float> cache;
    Matrix<float> logits;
    model.forward(prompt, cache, logits, /*last_only=*/true);
    TokenIds next(1, 1);
    for (int i = 0; i < new_tokens; ++i) {
      Index best = 0;
      logits.row(0).maxCoeff(&best);
      tokens[n - 1].push_back(static_cast<TokenId>(best));
      next(0, 0) = static_cast<TokenId>(best);
      model.forward(next, cache, logits, true);
      step_logits[n - 1].push_back(logits);
    }
  }
  CHECK(tokens[0] == tokens[1]);
  for (int i = 0; i < new_tokens; ++i) CHECK(step_logits[0][static_cast<std::size_t>(i)] == step_logits[1][static_cast<std::size_t>(i)]);

  // The reference: the whole sequence so far at once (T > 1: one product per projection, the (T, S) core).
  TokenIds all(1, prompt.cols() + new_tokens);
  all.leftCols(prompt.cols()) = prompt;
  for (int i = 0; i < new_tokens; ++i) all(0, prompt.cols() + i) = tokens[1][static_cast<std::size_t>(i)];
  double worst = 0;
  for (int i : {0, 9, 39}) {
    const Index length = prompt.cols() + i + 1;
    DecoderCache<float> fresh;
    Matrix<float> full;
    model.forward(TokenIds(all.leftCols(length)), fresh, full, /*last_only=*/true);
    worst = std::max(worst, relative_difference<float>(step_logits[1][static_cast<std::size_t>(i)], full));
  }
  INFO("max |cached 2-thread − full recompute| / max |full| = ", worst);
  CHECK(worst <= 1e-5);
}

}  // namespace threads_test
