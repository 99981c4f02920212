// tests/speed/test_tiled_attention.cpp — the tiled attention core (attention.hpp, tiled_attention) against the
// reference core it replaces when nobody keeps the probabilities.
//
// Both paths run on the same random queries, keys and values, forced with set_attention_path. Tolerance, on
// the largest |difference| of the contexts relative to the largest |reference context|:
//     float  2e-6      double  1e-12
// (the two paths differ only in the order of floating-point sums: docs/attention.md, "Tiled attention").
// Rows with every key hidden must be exactly 0 in both. Cases: full, causal, sliding window, padding (lengths
// and masks), fully masked rows, GQA and MQA, a bias (batch- and head-broadcast), cross attention (S ≠ T), a KV
// cache (rows per sequence > S, first_query > 0, first_key > 0), T = 1, and S and T not multiples of the
// tiles (small tiles, so that every case crosses several tile edges, and the default tiles).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "eigenformer/attention/attention.hpp"
#include "eigenformer/core/threads.hpp"

// test_threads.cpp, test_weight_formats.cpp and test_tiled_attention.cpp compile into one translation unit
// (test_speed, CMakeLists.txt here): each keeps its helpers, and the namespaces it uses, in a namespace of its own.
namespace tiled_attention_test {

using namespace eigenformer;

namespace {

template <class Scalar>
double tolerance() {
  return std::is_same_v<Scalar, float> ? 2e-6 : 1e-12;
}

/// Restores the process-wide path when a test case ends, so the cases do not leak their choice.
struct PathGuard {
  AttentionPath saved = attention_path();
  ~PathGuard() { set_attention_path(saved); }
};

/// One attention problem: its shapes and mask.
struct Case {
  std::string name;
  Index B = 1, T = 1, S = 1, H = 1, Hkv = 1, D = 8;
  Index rows = 0;  // key/value rows per sequence (a cache's capacity); 0: S
  bool causal = false;
  Index window = 0, first_query = 0, first_key = 0;
  std::vector<Index> lengths;  // right padding (key lengths per sequence); empty: none
  bool mask_padding = false;   // a patterned padding mask instead (keys at odd positions from 3 hidden, and
                               // for sequence 0 every key before position 5)
  Index bias_batch = 0, bias_heads = 0;  // bias (bias_batch, bias_heads, T, S); 0: no bias
  Index query_tile = 4, key_tile = 5;
};

template <class Scalar>
Matrix<Scalar> random_matrix(Index rows, Index cols, std::mt19937& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix<Scalar> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(2.0 * normal(rng));
  return m;
}

/// Runs the case on both paths; returns max |tiled − reference| / max |reference|, and checks that rows the
/// reference leaves at 0 (every key hidden) are exactly 0 in the tiled context too.
template <class Scalar>
double relative_difference(const Case& c, unsigned seed, Index* zero_rows = nullptr) {
  std::mt19937 rng(seed);
  const Index rows = c.rows > 0 ? c.rows : c.S;
  const Matrix<Scalar> q = random_matrix<Scalar>(c.B * c.T, c.H * c.D, rng);
  const Matrix<Scalar> k = random_matrix<Scalar>(c.B * rows, c.Hkv * c.D, rng);
  const Matrix<Scalar> v = random_matrix<Scalar>(c.B * rows, c.Hkv * c.D, rng);
  HeadsView<const Scalar> qv = HeadsView<const Scalar>::of(q, c.B, c.H);
  HeadsView<const Scalar> kv = HeadsView<const Scalar>::of(k, c.B, c.Hkv);
  HeadsView<const Scalar> vv = HeadsView<const Scalar>::of(v, c.B, c.Hkv);
  kv.length = vv.length = c.S;  // a cache: only the first S of `rows` rows are in use

  AttentionMask<Scalar> mask;
  mask.causal = c.causal;
  mask.window = c.window;
  mask.first_query = c.first_query;
  mask.first_key = c.first_key;
  KeyPadding padding;
  if (!c.lengths.empty()) {
    padding = KeyPadding::from_lengths(c.lengths);
    mask.padding = &padding;
  } else if (c.mask_padding) {
    KeyPadding::Mask m(c.B, c.first_key + c.S);
    for (Index b = 0; b < c.B; ++b) {
      for (Index j = 0; j < m.cols(); ++j) m(b, j) = (j >= 3 && j % 2 == 1) || (b == 0 && j < 5) ? 0 : 1;
    }
    padding = KeyPadding::from_mask(m);
    mask.padding = &padding;
  }
  Tensor4<Scalar> bias;
  if (c.bias_batch > 0) {
    bias.resize(c.bias_batch, c.bias_heads, c.T, c.S);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (Index i = 0; i < bias.size(); ++i) bias.data()[i] = static_cast<Scalar>(normal(rng));
    mask.bias = &bias;
  }
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(c.D));

  Matrix<Scalar> reference(c.B * c.T, c.H * c.D), tiled(c.B * c.T, c.H * c.D);
  AttentionScratch<Scalar> scratch;
  scratch.query_tile = c.query_tile;
  scratch.key_tile = c.key_tile;
  set_attention_path(AttentionPath::Reference);
  scaled_dot_product_attention<Scalar>(qv, kv, vv, HeadsView<Scalar>::of(reference, c.B, c.H), mask, scale, scratch);
  set_attention_path(AttentionPath::Tiled);
  tiled.setConstant(Scalar(7));  // every entry must be written
  scaled_dot_product_attention<Scalar>(qv, kv, vv, HeadsView<Scalar>::of(tiled, c.B, c.H), mask, scale, scratch);

  // Rows of zeros in the reference (a query with every key hidden) are rows of zeros in the tiled context.
  Index zeros = 0;
  for (Index r = 0; r < reference.rows(); ++r) {
    for (Index h = 0; h < c.H; ++h) {
      if (reference.row(r).segment(h * c.D, c.D).isZero(0)) {
        ++zeros;
        CHECK(tiled.row(r).segment(h * c.D, c.D).isZero(0));
      }
    }
  }
  if (zero_rows != nullptr) *zero_rows = zeros;
  const double largest = static_cast<double>(reference.cwiseAbs().maxCoeff());
  const double difference = static_cast<double>((tiled - reference).cwiseAbs().maxCoeff());
  return largest > 0 ? difference / largest : difference;
}

std::vector<Case> cases() {
  std::vector<Case> all;
  const auto add = [&all](Case c) { all.push_back(c); };
  Case c;
  c.name = "full, one tile edge short";
  c.B = 2; c.T = 11; c.S = 11; c.H = 2; c.Hkv = 2;
  add(c);
  c.name = "causal";
  c.causal = true;
  add(c);
  c.name = "causal, GQA (H = 4, Hkv = 2)";
  c.H = 4; c.Hkv = 2;
  add(c);
  c.name = "causal, MQA (H = 4, Hkv = 1)";
  c.Hkv = 1;
  add(c);
  c.name = "causal, sliding window 3";
  c.H = 2; c.Hkv = 1; c.window = 3; c.T = 17; c.S = 17;
  add(c);
  c.name = "causal, sliding window 1 (each query sees only itself)";
  c.window = 1;
  add(c);
  c = Case();
  c.name = "padding by lengths, one sequence with no real key (rows fully masked)";
  c.B = 3; c.T = 9; c.S = 13; c.H = 2; c.Hkv = 2;
  c.lengths = {13, 6, 0};
  add(c);
  c.name = "causal + padding by lengths";
  c.T = 13; c.causal = true; c.lengths = {13, 6, 1};
  add(c);
  c = Case();
  c.name = "causal + sliding window + a padding mask: some rows see only padding";
  c.B = 2; c.T = 14; c.S = 14; c.H = 2; c.Hkv = 1; c.causal = true; c.window = 2; c.mask_padding = true;
  add(c);
  c = Case();
  c.name = "bias (1, H, T, S), full";
  c.B = 2; c.T = 10; c.S = 12; c.H = 3; c.Hkv = 3; c.bias_batch = 1; c.bias_heads = 3;
  add(c);
  c.name = "bias (B, 1, T, S), causal (T5's decoder)";
  c.T = 12; c.causal = true; c.bias_batch = 2; c.bias_heads = 1;
  add(c);
  c.name = "bias (B, H, T, S) + padding mask";
  c.causal = false; c.bias_heads = 3; c.mask_padding = true;
  add(c);
  c = Case();
  c.name = "cross attention: T = 7 queries, S = 23 keys, padded";
  c.B = 2; c.T = 7; c.S = 23; c.H = 4; c.Hkv = 2; c.lengths = {23, 9};
  add(c);
  c = Case();
  c.name = "KV cache: 6 new queries after 10 cached, capacity 32 rows";
  c.B = 2; c.T = 6; c.S = 16; c.rows = 32; c.H = 4; c.Hkv = 2; c.causal = true; c.first_query = 10;
  add(c);
  c.name = "window-bounded KV cache: first_key = 7, window 5";
  c.S = 9; c.first_key = 7; c.first_query = 10; c.window = 5; c.T = 6;
  add(c);
  c.name = "window-bounded KV cache with a padding mask";
  c.mask_padding = true;
  add(c);
  c = Case();
  c.name = "T = 1 (a decode step), causal, at position 20";
  c.B = 2; c.T = 1; c.S = 21; c.H = 4; c.Hkv = 2; c.causal = true; c.first_query = 20;
  add(c);
  c.name = "T = 1, window 4, padding";
  c.window = 4; c.lengths = {21, 18};
  add(c);
  c = Case();
  c.name = "default tiles, S = T = 300 (not multiples of 64 or 256), causal, D = 64";
  c.B = 1; c.T = 300; c.S = 300; c.H = 2; c.Hkv = 1; c.D = 64; c.causal = true; c.query_tile = 64; c.key_tile = 256;
  add(c);
  c.name = "default tiles, S = T = 300, full";
  c.causal = false;
  add(c);
  c.name = "tiles of one row";
  c.T = 9; c.S = 9; c.causal = true; c.query_tile = 1; c.key_tile = 1; c.D = 4;
  add(c);
  return all;
}

}  // namespace

TEST_CASE_TEMPLATE("the tiled core gives the reference's context (float 2e-6, double 1e-12 of max |context|)", Scalar,
                   float, double) {
  PathGuard guard;
  unsigned seed = 1;
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    const double difference = relative_difference<Scalar>(c, seed++);
    INFO("max |tiled − reference| / max |reference| = ", difference);
    CHECK(difference <= tolerance<Scalar>());
  }
}

TEST_CASE_TEMPLATE("rows with every key hidden are 0 on both paths", Scalar, float, double) {
  PathGuard guard;
  Case c;
  c.B = 3; c.T = 9; c.S = 13; c.H = 2; c.Hkv = 2;
  c.lengths = {13, 6, 0};  // sequence 2: every key is padding
  Index zero_rows = 0;
  CHECK(relative_difference<Scalar>(c, 5, &zero_rows) <= tolerance<Scalar>());
  CHECK(zero_rows == 9 * 2);  // all of sequence 2's queries, both heads: the check did look at masked rows
  c = Case();
  c.B = 2; c.T = 14; c.S = 14; c.H = 2; c.Hkv = 1; c.causal = true; c.window = 2; c.mask_padding = true;
  relative_difference<Scalar>(c, 6, &zero_rows);
  CHECK(zero_rows > 0);  // the window meets only padding for some queries

  // A −∞ bias hides keys too.
  const Matrix<Scalar> q = Matrix<Scalar>::Random(3, 4), k = Matrix<Scalar>::Random(3, 4), v = Matrix<Scalar>::Random(3, 4);
  Tensor4<Scalar> bias(1, 1, 3, 3);
  bias.setConstant(-std::numeric_limits<Scalar>::infinity());
  bias(0, 0, 1, 2) = Scalar(0);  // query 1 sees key 2; queries 0 and 2 see nothing
  AttentionMask<Scalar> mask;
  mask.bias = &bias;
  Matrix<Scalar> context(3, 4);
  AttentionScratch<Scalar> scratch;
  tiled_attention<Scalar>(HeadsView<const Scalar>::of(q, 1, 1), HeadsView<const Scalar>::of(k, 1, 1),
                          HeadsView<const Scalar>::of(v, 1, 1), HeadsView<Scalar>::of(context, 1, 1), mask, Scalar(0.5),
                          scratch);
  CHECK(context.row(0).isZero(0));
  CHECK(context.row(2).isZero(0));
  CHECK((context.row(1) - v.row(2)).cwiseAbs().maxCoeff() <= Scalar(tolerance<Scalar>()));
}

TEST_CASE("the path switch: forced, automatic, and records always from the reference") {
  PathGuard guard;
  const Index T = 8, S = kTiledAttentionMinKeys;
  const Matrix<double> q = Matrix<double>::Random(T, 8), k = Matrix<double>::Random(S, 8), v = Matrix<double>::Random(S, 8);
  const HeadsView<const double> qv = HeadsView<const double>::of(q, 1, 1), kv = HeadsView<const double>::of(k, 1, 1),
                                vv = HeadsView<const double>::of(v, 1, 1);
  Matrix<double> context(T, 8);
  const HeadsView<double> cv = HeadsView<double>::of(context, 1, 1);
  AttentionMask<double> mask;

  // Automatic: S ≥ kTiledAttentionMinKeys and T > 1 tiles — the (T, S) workspace stays empty.
  set_attention_path(AttentionPath::Automatic);
  AttentionScratch<double> tiled_scratch;
  scaled_dot_product_attention<double>(qv, kv, vv, cv, mask, 0.5, tiled_scratch);
  CHECK(tiled_scratch.scores.size() == 0);
  CHECK(tiled_scratch.tiles.size() >= 1);
  // Automatic below the threshold, and Reference: the (T, S) workspace is filled.
  HeadsView<const double> fewer_keys = kv, fewer_values = vv;
  fewer_keys.length = fewer_values.length = S - 1;
  AttentionScratch<double> below;
  scaled_dot_product_attention<double>(qv, fewer_keys, fewer_values, cv, mask, 0.5, below);
  CHECK(below.scores.cols() == S - 1);
  CHECK(below.tiles.empty());
  AttentionScratch<double> reference_scratch;
  set_attention_path(AttentionPath::Reference);
  scaled_dot_product_attention<double>(qv, kv, vv, cv, mask, 0.5, reference_scratch);
  CHECK(reference_scratch.scores.rows() == T);
  CHECK(reference_scratch.scores.cols() == S);
  CHECK(reference_scratch.tiles.empty());

  // Forced Tiled cannot drop a record: the weights asked for are the reference's, and so is the context.
  set_attention_path(AttentionPath::Reference);
  Tensor4<double> expected_weights;
  AttentionRecord<double> record;
  record.weights = &expected_weights;
  scaled_dot_product_attention<double>(qv, kv, vv, cv, mask, 0.5, reference_scratch, record);
  const Matrix<double> expected_context = context;
  set_attention_path(AttentionPath::Tiled);
  Tensor4<double> weights;
  record.weights = &weights;
  AttentionScratch<double> forced;
  scaled_dot_product_attention<double>(qv, kv, vv, cv, mask, 0.5, forced, record);
  REQUIRE(weights.dimension(3) == S);
  CHECK(forced.scores.cols() == S);  // the reference ran
  CHECK(context == expected_context);
  for (Index i = 0; i < weights.size(); ++i) REQUIRE(weights.data()[i] == expected_weights.data()[i]);

  // The environment variable's spellings, and a wrong one named.
  CHECK(detail::attention_path_from_environment("") == AttentionPath::Automatic);
  CHECK(detail::attention_path_from_environment("auto") == AttentionPath::Automatic);
  CHECK(detail::attention_path_from_environment("reference") == AttentionPath::Reference);
  CHECK(detail::attention_path_from_environment("tiled") == AttentionPath::Tiled);
  CHECK_THROWS_AS(detail::attention_path_from_environment("flash"), ValueError);
  try {
    detail::attention_path_from_environment("flash");
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("EIGENFORMER_ATTENTION='flash'") != std::string::npos);
  }
}

TEST_CASE("the tiled core checks its shapes and tiles") {
  const Matrix<float> q = Matrix<float>::Random(4, 8), k = Matrix<float>::Random(5, 8), v = Matrix<float>::Random(6, 8);
  Matrix<float> context(4, 8);
  AttentionScratch<float> scratch;
  AttentionMask<float> mask;
  CHECK_THROWS_AS(tiled_attention<float>(HeadsView<const float>::of(q, 1, 1), HeadsView<const float>::of(k, 1, 1),
                                         HeadsView<const float>::of(v, 1, 1), HeadsView<float>::of(context, 1, 1), mask,
                                         1.0f, scratch),
                  ShapeError);
  scratch.key_tile = 0;
  CHECK_THROWS_AS(tiled_attention<float>(HeadsView<const float>::of(q, 1, 1), HeadsView<const float>::of(k, 1, 1),
                                         HeadsView<const float>::of(k, 1, 1), HeadsView<float>::of(context, 1, 1), mask,
                                         1.0f, scratch),
                  ValueError);
}

TEST_CASE("the tiled core gives the same numbers on 1 and 2 threads") {
  PathGuard guard;
  set_attention_path(AttentionPath::Tiled);
  const Index B = 2, T = 70, S = 70, H = 4, Hkv = 2, D = 16;
  std::mt19937 rng(3);
  const Matrix<float> q = random_matrix<float>(B * T, H * D, rng), k = random_matrix<float>(B * S, Hkv * D, rng),
                      v = random_matrix<float>(B * S, Hkv * D, rng);
  AttentionMask<float> mask;
  mask.causal = true;
  Matrix<float> one(B * T, H * D), two(B * T, H * D);
  AttentionScratch<float> scratch;
  scratch.query_tile = 8;
  scratch.key_tile = 16;
  const int saved = threads();
  set_threads(1);
  scaled_dot_product_attention<float>(HeadsView<const float>::of(q, B, H), HeadsView<const float>::of(k, B, Hkv),
                                      HeadsView<const float>::of(v, B, Hkv), HeadsView<float>::of(one, B, H), mask, 0.25f,
                                      scratch);
  set_threads(2);  // without OpenMP this stays one thread, and the check is trivially true
  scaled_dot_product_attention<float>(HeadsView<const float>::of(q, B, H), HeadsView<const float>::of(k, B, Hkv),
                                      HeadsView<const float>::of(v, B, Hkv), HeadsView<float>::of(two, B, H), mask, 0.25f,
                                      scratch);
  set_threads(saved);
  CHECK(one == two);
}

}  // namespace tiled_attention_test
