// The attention core's, multi-head attention's, the blocks' and the stacks' backward passes: finite
// differences in double, and parity with PyTorch autograd
// (tests/fixtures/training/attention_grads.safetensors, written by tools/training/make_attention_grad_fixtures.py).
//
// Every check uses the scalar loss L = Σ dy ⊙ y for a fixed random upstream gradient dy, so ∂L/∂y = dy and
// backward(dy) must return ∂L/∂ each input and parameter.
//   finite differences: central, (L(p + h) − L(p − h)) / 2h with h = 1e-6·max(1, |p|), for every entry of
//     every input and parameter; relative error = max |numeric − analytic| / max |analytic| ≤ 1e-6;
//   parity: the same relative error against autograd's float64 gradients, ≤ 1e-5 computing in float and
//     ≤ 1e-10 in double (tests/support/fixture.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "eigenformer/eigenformer.hpp"
#include "support/fixture.hpp"
#include "training/gradient_check.hpp"

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace attention_gradients_test {

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

Tensor4<double> random_tensor4(Index b, Index h, Index t, Index s, unsigned seed) {
  const Matrix<double> m = random_matrix(b * h * t, s, seed);
  Tensor4<double> x(b, h, t, s);
  std::copy(m.data(), m.data() + m.size(), x.data());
  return x;
}

double dot(const Eigen::Ref<const Matrix<double>>& a, const Eigen::Ref<const Matrix<double>>& b) {
  return (a.array() * b.array()).sum();
}

struct FiniteDifference {
  double max_diff = 0;  // max |numeric − analytic|
  double max_ref = 0;   // max |analytic|
};

/// Compares the n analytic gradients at `analytic` with the central differences of `loss` at `values`.
FiniteDifference finite_difference(double* values, const double* analytic, Index n, const std::function<double()>& loss) {
  FiniteDifference r;
  for (Index i = 0; i < n; ++i) {
    const double saved = values[i];
    const double h = 1e-6 * std::max(1.0, std::abs(saved));
    values[i] = saved + h;
    const double plus = loss();
    values[i] = saved - h;
    const double minus = loss();
    values[i] = saved;
    const double numeric = (plus - minus) / (2 * h);
    r.max_diff = std::max(r.max_diff, std::abs(numeric - analytic[i]));
    r.max_ref = std::max(r.max_ref, std::abs(analytic[i]));
  }
  return r;
}

/// Relative error max |numeric − analytic| / max |analytic| ≤ 1e-6. One gradient is zero by calculus, not
/// by accident: the key projection's bias adds q·b_k to every score of a row, and a softmax ignores a shift
/// of its whole row. A relative error means nothing there; such a gradient (max |analytic| ≤ 1e-9) must be
/// zero to 1e-9 both ways instead.
void check_fd(double* values, const double* analytic, Index n, const std::function<double()>& loss,
              const std::string& what) {
  const FiniteDifference r = finite_difference(values, analytic, n, loss);
  if (r.max_ref <= 1e-9) {
    MESSAGE(what << ": zero gradient, |analytic| ≤ " << r.max_ref << ", |numeric − analytic| ≤ " << r.max_diff);
    CHECK(r.max_diff <= 1e-9);
    return;
  }
  const double err = r.max_diff / r.max_ref;
  MESSAGE(what << ": finite-difference relative error " << err);
  CHECK(err <= kFiniteDifferenceTolerance);
}

/// Every parameter of a module (collected with gradients beforehand) against finite differences.
template <class Module>
void check_parameters_fd(Module& module, const std::function<double()>& loss, const std::string& what) {
  ParameterList<double> params = parameters_with_gradients(module);  // already allocated: pointers only
  REQUIRE(!params.empty());
  for (ParameterRef<double>& p : params) {
    REQUIRE_MESSAGE(p.grad != nullptr, what << ": " << p.name << " has no gradient buffer");
    check_fd(p.data, p.grad, p.numel(), loss, what + " d" + p.name);
  }
}

// ---- The core ------------------------------------------------------------------------------------------

struct CoreCase {
  std::string name;
  Index B = 2, T = 3, S = 3, H = 2, Hkv = 2, D = 3;
  bool causal = false;
  Index first_query = 0;
  const KeyPadding* padding = nullptr;
  Index bias_batch = 0, bias_heads = 0;  // 0: no bias; else 1 or B, 1 or H
};

/// Runs the core forward on (q, k, v, bias) and returns Σ dC ⊙ context.
double core_loss(const CoreCase& c, const Matrix<double>& q, const Matrix<double>& k, const Matrix<double>& v,
                 const Tensor4<double>* bias, const Matrix<double>& dcontext, Tensor4<double>* weights) {
  Matrix<double> context(c.B * c.T, c.H * c.D);
  AttentionMask<double> mask;
  mask.causal = c.causal;
  mask.first_query = c.first_query;
  mask.padding = c.padding;
  mask.bias = bias;
  AttentionScratch<double> scratch;
  AttentionRecord<double> record;
  record.weights = weights;
  scaled_dot_product_attention<double>(HeadsView<const double>::of(q, c.B, c.H), HeadsView<const double>::of(k, c.B, c.Hkv),
                                       HeadsView<const double>::of(v, c.B, c.Hkv),
                                       HeadsView<double>::of(context, c.B, c.H), mask, 0.7, scratch, record);
  return dot(context, dcontext);
}

void check_core(const CoreCase& c) {
  CAPTURE(c.name);
  Matrix<double> q = random_matrix(c.B * c.T, c.H * c.D, 1, 1.5);
  Matrix<double> k = random_matrix(c.B * c.S, c.Hkv * c.D, 2, 1.5);
  Matrix<double> v = random_matrix(c.B * c.S, c.Hkv * c.D, 3);
  const Matrix<double> dcontext = random_matrix(c.B * c.T, c.H * c.D, 4);
  Tensor4<double> bias;
  const bool has_bias = c.bias_batch > 0;
  if (has_bias) bias = random_tensor4(c.bias_batch, c.bias_heads, c.T, c.S, 5);
  Tensor4<double> weights;
  core_loss(c, q, k, v, has_bias ? &bias : nullptr, dcontext, &weights);

  Matrix<double> dq(q.rows(), q.cols()), dk(k.rows(), k.cols()), dv(v.rows(), v.cols());
  Tensor4<double> dbias;
  AttentionGradients<double> grads;
  grads.queries = HeadsView<double>::of(dq, c.B, c.H);
  grads.keys = HeadsView<double>::of(dk, c.B, c.Hkv);
  grads.values = HeadsView<double>::of(dv, c.B, c.Hkv);
  if (has_bias) {
    dbias = Tensor4<double>(bias.dimensions());
    dbias.setZero();
    grads.bias = &dbias;
  }
  AttentionBackwardScratch<double> scratch;
  scaled_dot_product_attention_backward<double>(
      HeadsView<const double>::of(q, c.B, c.H), HeadsView<const double>::of(k, c.B, c.Hkv),
      HeadsView<const double>::of(v, c.B, c.Hkv), HeadsView<const double>::of(dcontext, c.B, c.H), weights, 0.7, grads,
      scratch);

  const std::function<double()> loss = [&] { return core_loss(c, q, k, v, has_bias ? &bias : nullptr, dcontext, nullptr); };
  check_fd(q.data(), dq.data(), q.size(), loss, c.name + " dQ");
  check_fd(k.data(), dk.data(), k.size(), loss, c.name + " dK");
  check_fd(v.data(), dv.data(), v.size(), loss, c.name + " dV");
  if (has_bias) check_fd(bias.data(), dbias.data(), bias.size(), loss, c.name + " dbias");
}

}  // namespace

TEST_CASE("attention core backward matches finite differences under every mask and bias") {
  const KeyPadding lengths = KeyPadding::from_lengths({4, 2});
  KeyPadding::Mask m(2, 4);
  m << 1, 0, 1, 1, 0, 1, 1, 0;
  const KeyPadding pattern = KeyPadding::from_mask(m);
  std::vector<CoreCase> cases;
  CoreCase c;
  c.name = "no mask";
  cases.push_back(c);
  c.name = "causal";
  c.causal = true;
  cases.push_back(c);
  c.name = "causal, first_query 2";
  c.T = 2;
  c.S = 4;
  c.first_query = 2;
  cases.push_back(c);
  c = CoreCase();
  c.name = "padding lengths";
  c.S = 4;
  c.padding = &lengths;
  cases.push_back(c);
  c.name = "padding mask";
  c.padding = &pattern;
  cases.push_back(c);
  c = CoreCase();
  c.name = "bias (1, H, T, S)";
  c.S = 4;
  c.bias_batch = 1;
  c.bias_heads = 2;
  cases.push_back(c);
  c.name = "bias (B, 1, T, S)";
  c.bias_batch = 2;
  c.bias_heads = 1;
  cases.push_back(c);
  c.name = "bias (B, H, T, S), causal";
  c.bias_heads = 2;
  c.T = 4;
  c.causal = true;
  cases.push_back(c);
  c = CoreCase();
  c.name = "GQA (H 4, Hkv 2), causal";
  c.H = 4;
  c.Hkv = 2;
  c.T = c.S = 4;
  c.causal = true;
  cases.push_back(c);
  c.name = "MQA (H 3, Hkv 1), bias (1, 1, T, S)";
  c.H = 3;
  c.Hkv = 1;
  c.causal = false;
  c.bias_batch = 1;
  c.bias_heads = 1;
  cases.push_back(c);
  for (const CoreCase& one : cases) check_core(one);
}

TEST_CASE("attention core backward: an all-masked row gets zero gradients, bad shapes throw") {
  // Sequence 1 has no real key: every query of it reads nothing, and nothing flows back.
  const KeyPadding none = KeyPadding::from_lengths({3, 0});
  CoreCase c;
  c.name = "all-masked rows";
  c.padding = &none;
  check_core(c);
  Matrix<double> q = random_matrix(6, 6, 1), k = random_matrix(6, 6, 2), v = random_matrix(6, 6, 3);
  const Matrix<double> dcontext = random_matrix(6, 6, 4);
  Tensor4<double> weights;
  core_loss(c, q, k, v, nullptr, dcontext, &weights);
  Matrix<double> dq(6, 6), dk(6, 6), dv(6, 6);
  AttentionGradients<double> grads;
  grads.queries = HeadsView<double>::of(dq, 2, 2);
  grads.keys = HeadsView<double>::of(dk, 2, 2);
  grads.values = HeadsView<double>::of(dv, 2, 2);
  AttentionBackwardScratch<double> scratch;
  scaled_dot_product_attention_backward<double>(HeadsView<const double>::of(q, 2, 2), HeadsView<const double>::of(k, 2, 2),
                                                HeadsView<const double>::of(v, 2, 2),
                                                HeadsView<const double>::of(dcontext, 2, 2), weights, 0.7, grads, scratch);
  CHECK(dq.bottomRows(3).cwiseAbs().maxCoeff() == 0.0);
  CHECK(dk.bottomRows(3).cwiseAbs().maxCoeff() == 0.0);
  CHECK(dv.bottomRows(3).cwiseAbs().maxCoeff() == 0.0);
  CHECK(dq.topRows(3).cwiseAbs().maxCoeff() > 0.0);

  Tensor4<double> wrong(2, 2, 3, 2);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention_backward<double>(
                           HeadsView<const double>::of(q, 2, 2), HeadsView<const double>::of(k, 2, 2),
                           HeadsView<const double>::of(v, 2, 2), HeadsView<const double>::of(dcontext, 2, 2), wrong,
                           0.7, grads, scratch),
                       doctest::Contains("[attention backward] kept weights [2, 2, 3, 2]"), ShapeError);
}

// ---- Multi-head attention ------------------------------------------------------------------------------

TEST_CASE("MultiHeadAttention backward matches finite differences in every mode") {
  const Index B = 2, T = 3, C = 8;
  const KeyPadding padding = KeyPadding::from_lengths({3, 2});

  SUBCASE("Self: biases, padding, an additive (1, H, T, S) bias") {
    AttentionConfig config;
    config.width = C;
    config.heads = 2;
    config.qkv_bias = true;
    config.out_bias = true;
    MultiHeadAttention<double> mha(config);
    ParameterList<double> params = parameters_with_gradients(mha);
    randomize_parameters(mha, 21, 0.6);
    Tensor3<double> x = random_tensor(B, T, C, 22);
    Tensor4<double> bias = random_tensor4(1, 2, T, T, 23);
    const Matrix<double> dy = random_matrix(B * T, C, 24);
    ForwardContext<double> context;
    context.padding = &padding;
    context.bias = &bias;
    context.keep_weights = true;
    Tensor3<double> y, dx;
    mha.forward(x, y, AttentionMode::Self, context);
    Tensor4<double> dbias(bias.dimensions());
    dbias.setZero();
    AttentionInputGradients<double> inputs;
    inputs.bias = &dbias;
    mha.backward(x, to_tensor3<double>(dy, B, T), dx, AttentionMode::Self, context, inputs);
    const std::function<double()> loss = [&] { return dot(as_matrix(mha(x, AttentionMode::Self, context)), dy); };
    check_fd(x.data(), dx.data(), x.size(), loss, "MHA self dx");
    check_fd(bias.data(), dbias.data(), bias.size(), loss, "MHA self dbias");
    check_parameters_fd(mha, loss, "MHA self");
  }

  SUBCASE("Causal: RoPE, GQA (H 4, Hkv 2), head_dim ≠ C/H") {
    AttentionConfig config;
    config.width = C;
    config.heads = 4;
    config.kv_heads = 2;
    config.head_dim = 4;
    MultiHeadAttention<double> mha(config);
    ParameterList<double> params = parameters_with_gradients(mha);
    randomize_parameters(mha, 31, 0.6);
    RopeConfig rc;
    rc.head_dim = 4;
    const RotaryEmbedding<double> rope(rc);
    Tensor3<double> x = random_tensor(B, T, C, 32);
    const Matrix<double> dy = random_matrix(B * T, C, 34);
    ForwardContext<double> context;
    context.rope = &rope;
    context.keep_weights = true;
    Tensor3<double> y, dx;
    mha.forward(x, y, AttentionMode::Causal, context);
    mha.backward(x, to_tensor3<double>(dy, B, T), dx, AttentionMode::Causal, context);
    const std::function<double()> loss = [&] { return dot(as_matrix(mha(x, AttentionMode::Causal, context)), dy); };
    check_fd(x.data(), dx.data(), x.size(), loss, "MHA causal RoPE GQA dx");
    check_parameters_fd(mha, loss, "MHA causal RoPE GQA");
  }

  SUBCASE("Cross: memory of another width and length, memory padding, MQA") {
    const Index S = 4, Ckv = 6;
    AttentionConfig config;
    config.width = C;
    config.heads = 2;
    config.kv_heads = 1;
    config.kv_width = Ckv;
    config.qkv_bias = true;
    MultiHeadAttention<double> mha(config);
    ParameterList<double> params = parameters_with_gradients(mha);
    randomize_parameters(mha, 41, 0.6);
    Tensor3<double> x = random_tensor(B, T, C, 42);
    Tensor3<double> memory = random_tensor(B, S, Ckv, 43);
    const KeyPadding memory_padding = KeyPadding::from_lengths({4, 3});
    const Matrix<double> dy = random_matrix(B * T, C, 44);
    ForwardContext<double> context;
    context.memory = &memory;
    context.memory_padding = &memory_padding;
    context.keep_weights = true;
    Tensor3<double> y, dx;
    mha.forward(x, y, AttentionMode::Cross, context);
    Tensor3<double> dmemory(memory.dimensions());
    dmemory.setZero();
    AttentionInputGradients<double> inputs;
    inputs.memory = &dmemory;
    mha.backward(x, to_tensor3<double>(dy, B, T), dx, AttentionMode::Cross, context, inputs);
    const std::function<double()> loss = [&] { return dot(as_matrix(mha(x, AttentionMode::Cross, context)), dy); };
    check_fd(x.data(), dx.data(), x.size(), loss, "MHA cross dx");
    check_fd(memory.data(), dmemory.data(), memory.size(), loss, "MHA cross dmemory");
    check_parameters_fd(mha, loss, "MHA cross");
  }
}

TEST_CASE("MultiHeadAttention backward refuses a forward it cannot differentiate") {
  AttentionConfig config;
  config.width = 4;
  config.heads = 2;
  MultiHeadAttention<double> mha(config);
  randomize_parameters(mha, 1);
  const Tensor3<double> x = random_tensor(1, 3, 4, 2);
  const Tensor3<double> dy = random_tensor(1, 3, 4, 3);
  Tensor3<double> y, dx;

  mha.forward(x, y, AttentionMode::Causal);  // weights not kept
  CHECK_THROWS_WITH_AS(mha.backward(x, dy, dx, AttentionMode::Causal), doctest::Contains("keep_weights"), ValueError);

  ForwardContext<double> context;
  context.keep_weights = true;
  mha.forward(x, y, AttentionMode::Causal, context);
  CHECK_THROWS_WITH_AS(mha.backward(x, dy, dx, AttentionMode::Self, context),
                       "[MultiHeadAttention::backward] the forward ran in causal mode, not self", ValueError);
  CHECK_THROWS_AS(mha.backward(x, random_tensor(1, 2, 4, 3), dx, AttentionMode::Causal, context), ShapeError);

  DecoderCache<double> cache;
  context.cache = &cache;
  mha.forward(x, y, AttentionMode::Causal, context);
  CHECK_THROWS_WITH_AS(mha.backward(x, dy, dx, AttentionMode::Causal, context), doctest::Contains("KV cache"), ValueError);
}

// ---- Blocks and stacks -----------------------------------------------------------------------------------

namespace {

BlockConfig encoder_block_config() {  // BERT's: post-norm LayerNorm, GELU, biases everywhere
  BlockConfig c;
  c.attention.width = 8;
  c.attention.heads = 2;
  c.attention.qkv_bias = true;
  c.attention.out_bias = true;
  c.ffn.hidden = 12;
  c.ffn.activation = Activation::GeluErf;
  c.ffn.bias = true;
  c.norm.kind = NormKind::LayerNorm;
  c.norm.eps = 1e-5;
  c.placement = NormPlacement::Post;
  return c;
}

BlockConfig llama_block_config() {  // Llama's: pre-norm RMSNorm, SwiGLU, GQA, no biases
  BlockConfig c;
  c.attention.width = 8;
  c.attention.heads = 4;
  c.attention.kv_heads = 2;
  c.ffn.hidden = 10;
  c.ffn.activation = Activation::SiLU;
  c.ffn.gated = true;
  c.ffn.bias = false;
  c.norm.kind = NormKind::RMSNorm;
  c.norm.eps = 1e-6;
  c.norm.bias = false;
  c.placement = NormPlacement::Pre;
  return c;
}

}  // namespace

TEST_CASE("block backward matches finite differences") {
  const Index B = 2, T = 3, C = 8;
  const Matrix<double> dy = random_matrix(B * T, C, 54);
  const KeyPadding padding = KeyPadding::from_lengths({3, 2});

  SUBCASE("encoder block: post-norm, LayerNorm, GELU, padding") {
    EncoderBlock<double> block(encoder_block_config());
    ParameterList<double> params = parameters_with_gradients(block);
    randomize_parameters(block, 51, 0.5);
    Tensor3<double> x = random_tensor(B, T, C, 52);
    ForwardContext<double> context;
    context.padding = &padding;
    context.keep_weights = true;
    Tensor3<double> y, dx;
    block.forward(x, y, context);
    block.backward(x, to_tensor3<double>(dy, B, T), dx, context);
    const std::function<double()> loss = [&] { return dot(as_matrix(block(x, context)), dy); };
    check_fd(x.data(), dx.data(), x.size(), loss, "encoder block dx");
    check_parameters_fd(block, loss, "encoder block");
  }

  SUBCASE("decoder block: pre-norm, RMSNorm, SwiGLU, RoPE, GQA") {
    DecoderBlock<double> block(llama_block_config());
    ParameterList<double> params = parameters_with_gradients(block);
    randomize_parameters(block, 61, 0.5);
    RopeConfig rc;
    rc.head_dim = 2;
    const RotaryEmbedding<double> rope(rc);
    Tensor3<double> x = random_tensor(B, T, C, 62);
    ForwardContext<double> context;
    context.rope = &rope;
    context.keep_weights = true;
    Tensor3<double> y, dx;
    block.forward(x, y, context);
    block.backward(x, to_tensor3<double>(dy, B, T), dx, context);
    const std::function<double()> loss = [&] { return dot(as_matrix(block(x, context)), dy); };
    check_fd(x.data(), dx.data(), x.size(), loss, "decoder block dx");
    check_parameters_fd(block, loss, "decoder block");
  }

  SUBCASE("cross-decoder block: gradients to the target and to the memory") {
    const Index S = 4;
    BlockConfig config = llama_block_config();
    config.ffn.activation = Activation::GeluTanh;
    CrossDecoderBlock<double> block(config);
    ParameterList<double> params = parameters_with_gradients(block);
    randomize_parameters(block, 71, 0.5);
    Tensor3<double> x = random_tensor(B, T, C, 72);
    Tensor3<double> memory = random_tensor(B, S, C, 73);
    const KeyPadding memory_padding = KeyPadding::from_lengths({4, 3});
    ForwardContext<double> context;
    context.memory = &memory;
    context.memory_padding = &memory_padding;
    context.keep_weights = true;
    Tensor3<double> y, dx;
    block.forward(x, y, context);
    Tensor3<double> dmemory(memory.dimensions());
    dmemory.setZero();
    AttentionInputGradients<double> inputs;
    inputs.memory = &dmemory;
    block.backward(x, to_tensor3<double>(dy, B, T), dx, context, inputs);
    const std::function<double()> loss = [&] {
      Tensor3<double> out;
      block.forward(x, out, context);
      return dot(as_matrix(out), dy);
    };
    check_fd(x.data(), dx.data(), x.size(), loss, "cross-decoder block dx");
    check_fd(memory.data(), dmemory.data(), memory.size(), loss, "cross-decoder block dmemory");
    check_parameters_fd(block, loss, "cross-decoder block");
  }
}

TEST_CASE("stack backward matches finite differences") {
  const Index B = 2, T = 3, C = 8;
  const Matrix<double> dy = random_matrix(B * T, C, 84);

  SUBCASE("2-layer T5 encoder: shared relative bias, pre-norm RMSNorm, final norm") {
    StackConfig config;
    config.block = llama_block_config();
    config.block.attention.kv_heads = 0;
    config.block.attention.heads = 2;
    config.block.attention.scale = 1.0;
    config.block.ffn.gated = false;
    config.block.ffn.activation = Activation::ReLU;
    config.layers = 2;
    config.final_norm = true;
    RelativePositionBiasConfig bias;
    bias.heads = 2;
    bias.num_buckets = 6;
    bias.max_distance = 8;
    bias.bidirectional = true;
    config.relative_bias = bias;
    Encoder<double> stack(config);
    ParameterList<double> params = parameters_with_gradients(stack);
    randomize_parameters(stack, 81, 0.5);
    Tensor3<double> x = random_tensor(B, T, C, 82);
    ForwardContext<double> context;
    context.keep_weights = true;
    Tensor3<double> y, dx;
    stack.forward(x, y, context);
    stack.backward(x, to_tensor3<double>(dy, B, T), dx, context);
    const std::function<double()> loss = [&] { return dot(as_matrix(stack(x, context)), dy); };
    check_fd(x.data(), dx.data(), x.size(), loss, "T5 encoder stack dx");
    check_parameters_fd(stack, loss, "T5 encoder stack");
  }

  SUBCASE("2-layer T5 cross-decoder: causal relative bias, memory gradient summed over the layers") {
    StackConfig config;
    config.block = llama_block_config();
    config.block.attention.kv_heads = 0;
    config.block.attention.heads = 2;
    config.block.attention.scale = 1.0;
    config.layers = 2;
    config.final_norm = true;
    RelativePositionBiasConfig bias;
    bias.heads = 2;
    bias.num_buckets = 4;
    bias.max_distance = 8;
    bias.bidirectional = false;
    config.relative_bias = bias;
    CrossDecoder<double> stack(config);
    ParameterList<double> params = parameters_with_gradients(stack);
    randomize_parameters(stack, 91, 0.5);
    Tensor3<double> x = random_tensor(B, T, C, 92);
    Tensor3<double> memory = random_tensor(B, 4, C, 93);
    ForwardContext<double> context;
    context.memory = &memory;
    context.keep_weights = true;
    Tensor3<double> y, dx;
    stack.forward(x, y, context);
    Tensor3<double> dmemory(memory.dimensions());
    dmemory.setZero();
    stack.backward(x, to_tensor3<double>(dy, B, T), dx, context, &dmemory);
    const std::function<double()> loss = [&] { return dot(as_matrix(stack(x, context)), dy); };
    check_fd(x.data(), dx.data(), x.size(), loss, "T5 cross-decoder stack dx");
    check_fd(memory.data(), dmemory.data(), memory.size(), loss, "T5 cross-decoder stack dmemory");
    check_parameters_fd(stack, loss, "T5 cross-decoder stack");
  }
}

// ---- Parity with PyTorch autograd -----------------------------------------------------------------------

namespace {

/// The relative error of `actual` against the fixture's float64 tensor `name`, printed, within the
/// parity tolerance for T. A gradient that is zero by calculus (the key bias's: a softmax ignores a shift of
/// its whole row) holds only rounding noise on both sides, ~1e-17; its error is measured against `scale`,
/// the size of the case's input gradient, instead of its own zero.
template <class T>
void check_against(Fixture& fx, const T* actual, std::size_t n, const std::string& name, double scale) {
  const std::vector<double> expected = fx.values<double>(name);
  REQUIRE_MESSAGE(expected.size() == n, name << ": " << n << " values computed, " << expected.size() << " expected");
  double max_expected = 0;
  for (double e : expected) max_expected = std::max(max_expected, std::abs(e));
  const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
  if (max_expected <= 1e-12 * scale) {
    double max_actual = 0;
    for (std::size_t i = 0; i < n; ++i) max_actual = std::max(max_actual, std::abs(static_cast<double>(actual[i])));
    MESSAGE(name << " (" << scalar << "): zero gradient; max |actual| / max |dx| = " << max_actual / scale);
    CHECK(max_actual / scale <= parity_tolerance<T>());
    return;
  }
  const double err = relative_max_error(actual, expected.data(), n);
  MESSAGE(name << " (" << scalar << "): autograd parity relative error " << err);
  CHECK(err <= parity_tolerance<T>());
}

/// Loads case `name` into `module`, runs `run(dx, dmemory)` (a forward with kept weights, then backward with
/// the fixture's dy), and compares dx, dmemory (when the fixture has it) and every parameter gradient.
template <class T, class Module, class Run>
void check_case(Fixture& fx, const std::string& name, Module& module, const Run& run) {
  CAPTURE(name);
  fx.load(module, name);
  ParameterList<T> params = parameters_with_gradients(module);
  Tensor3<T> dx, dmemory;
  run(dx, dmemory);
  double scale = 0;
  for (double e : fx.values<double>(name + ".expected.dx")) scale = std::max(scale, std::abs(e));
  check_against<T>(fx, dx.data(), static_cast<std::size_t>(dx.size()), name + ".expected.dx", scale);
  if (fx.has(name + ".expected.dmemory")) {
    check_against<T>(fx, dmemory.data(), static_cast<std::size_t>(dmemory.size()), name + ".expected.dmemory", scale);
  }
  for (ParameterRef<T>& p : params) {
    check_against<T>(fx, p.grad, static_cast<std::size_t>(p.numel()), name + ".expected.grad." + p.name, scale);
  }
}

}  // namespace

TEST_CASE_TEMPLATE("attention backward matches PyTorch autograd", T, float, double) {
  Fixture fx("training/attention_grads.safetensors");

  SUBCASE("nn.MultiheadAttention: causal self-attention with key padding") {
    const std::string name = "mha_causal_padding";
    const json::Value cfg = fx.config(name);
    AttentionConfig config;
    config.width = cfg.at("width").as_int();
    config.heads = cfg.at("heads").as_int();
    config.qkv_bias = true;
    config.out_bias = true;
    MultiHeadAttention<T> mha(config);
    check_case<T>(fx, name, mha, [&](Tensor3<T>& dx, Tensor3<T>&) {
      const Tensor3<T> x = fx.tensor3<T>(name + ".input.x");
      const KeyPadding padding = KeyPadding::from_lengths(fx.indices(name + ".input.lengths"));
      ForwardContext<T> context;
      context.padding = &padding;
      context.keep_weights = true;
      Tensor3<T> y;
      mha.forward(x, y, AttentionMode::Causal, context);
      mha.backward(x, fx.tensor3<T>(name + ".input.dy"), dx, AttentionMode::Causal, context);
    });
  }

  SUBCASE("nn.MultiheadAttention: cross-attention, memory of another width, memory padding") {
    const std::string name = "mha_cross";
    const json::Value cfg = fx.config(name);
    AttentionConfig config;
    config.width = cfg.at("width").as_int();
    config.heads = cfg.at("heads").as_int();
    config.kv_width = cfg.at("kv_width").as_int();
    config.qkv_bias = true;
    config.out_bias = true;
    MultiHeadAttention<T> mha(config);
    check_case<T>(fx, name, mha, [&](Tensor3<T>& dx, Tensor3<T>& dmemory) {
      const Tensor3<T> x = fx.tensor3<T>(name + ".input.x");
      const Tensor3<T> memory = fx.tensor3<T>(name + ".input.memory");
      const KeyPadding padding = KeyPadding::from_lengths(fx.indices(name + ".input.lengths"));
      ForwardContext<T> context;
      context.memory = &memory;
      context.memory_padding = &padding;
      context.keep_weights = true;
      Tensor3<T> y;
      mha.forward(x, y, AttentionMode::Cross, context);
      dmemory = Tensor3<T>(memory.dimensions());
      dmemory.setZero();
      AttentionInputGradients<T> inputs;
      inputs.memory = &dmemory;
      mha.backward(x, fx.tensor3<T>(name + ".input.dy"), dx, AttentionMode::Cross, context, inputs);
    });
  }

  SUBCASE("nn.TransformerEncoderLayer: post-norm, GELU, padding") {
    const std::string name = "encoder_layer";
    const json::Value cfg = fx.config(name);
    BlockConfig config = encoder_block_config();
    config.attention.width = cfg.at("width").as_int();
    config.attention.heads = cfg.at("heads").as_int();
    config.ffn.hidden = cfg.at("ffn").as_int();
    config.norm.eps = cfg.at("eps").as_number();
    EncoderBlock<T> block(config);
    check_case<T>(fx, name, block, [&](Tensor3<T>& dx, Tensor3<T>&) {
      const Tensor3<T> x = fx.tensor3<T>(name + ".input.x");
      const KeyPadding padding = KeyPadding::from_lengths(fx.indices(name + ".input.lengths"));
      ForwardContext<T> context;
      context.padding = &padding;
      context.keep_weights = true;
      Tensor3<T> y;
      block.forward(x, y, context);
      block.backward(x, fx.tensor3<T>(name + ".input.dy"), dx, context);
    });
  }

  SUBCASE("nn.TransformerDecoderLayer: pre-norm, ReLU, memory padding") {
    const std::string name = "decoder_layer";
    const json::Value cfg = fx.config(name);
    BlockConfig config = encoder_block_config();
    config.attention.width = cfg.at("width").as_int();
    config.attention.heads = cfg.at("heads").as_int();
    config.ffn.hidden = cfg.at("ffn").as_int();
    config.ffn.activation = Activation::ReLU;
    config.norm.eps = cfg.at("eps").as_number();
    config.placement = NormPlacement::Pre;
    CrossDecoderBlock<T> block(config);
    check_case<T>(fx, name, block, [&](Tensor3<T>& dx, Tensor3<T>& dmemory) {
      const Tensor3<T> x = fx.tensor3<T>(name + ".input.x");
      const Tensor3<T> memory = fx.tensor3<T>(name + ".input.memory");
      const KeyPadding padding = KeyPadding::from_lengths(fx.indices(name + ".input.memory_lengths"));
      ForwardContext<T> context;
      context.memory = &memory;
      context.memory_padding = &padding;
      context.keep_weights = true;
      Tensor3<T> y;
      block.forward(x, y, context);
      dmemory = Tensor3<T>(memory.dimensions());
      dmemory.setZero();
      AttentionInputGradients<T> inputs;
      inputs.memory = &dmemory;
      block.backward(x, fx.tensor3<T>(name + ".input.dy"), dx, context, inputs);
    });
  }

  SUBCASE("Llama block: pre-norm RMSNorm, RoPE, GQA, SwiGLU") {
    const std::string name = "llama_block";
    const json::Value cfg = fx.config(name);
    BlockConfig config = llama_block_config();
    config.attention.width = cfg.at("width").as_int();
    config.attention.heads = cfg.at("heads").as_int();
    config.attention.kv_heads = cfg.at("kv_heads").as_int();
    config.ffn.hidden = cfg.at("ffn").as_int();
    config.norm.eps = cfg.at("eps").as_number();
    DecoderBlock<T> block(config);
    RopeConfig rc;
    rc.head_dim = config.attention.resolved_head_dim();
    rc.base = cfg.at("rope_theta").as_number();
    const RotaryEmbedding<T> rope(rc);
    check_case<T>(fx, name, block, [&](Tensor3<T>& dx, Tensor3<T>&) {
      const Tensor3<T> x = fx.tensor3<T>(name + ".input.x");
      ForwardContext<T> context;
      context.rope = &rope;
      context.keep_weights = true;
      Tensor3<T> y;
      block.forward(x, y, context);
      block.backward(x, fx.tensor3<T>(name + ".input.dy"), dx, context);
    });
  }

  SUBCASE("T5 encoder stack: 2 layers, shared relative bias, padding, final norm") {
    const std::string name = "t5_encoder";
    const json::Value cfg = fx.config(name);
    StackConfig config;
    config.block = llama_block_config();
    config.block.attention.width = cfg.at("width").as_int();
    config.block.attention.heads = cfg.at("heads").as_int();
    config.block.attention.kv_heads = 0;
    config.block.attention.scale = 1.0;
    config.block.ffn.hidden = cfg.at("ffn").as_int();
    config.block.ffn.gated = false;
    config.block.ffn.activation = Activation::ReLU;
    config.block.norm.eps = cfg.at("eps").as_number();
    config.layers = cfg.at("layers").as_int();
    config.final_norm = true;
    RelativePositionBiasConfig bias;
    bias.heads = config.block.attention.heads;
    bias.num_buckets = cfg.at("num_buckets").as_int();
    bias.max_distance = cfg.at("max_distance").as_int();
    bias.bidirectional = true;
    config.relative_bias = bias;
    Encoder<T> stack(config);
    check_case<T>(fx, name, stack, [&](Tensor3<T>& dx, Tensor3<T>&) {
      const Tensor3<T> x = fx.tensor3<T>(name + ".input.x");
      const KeyPadding padding = KeyPadding::from_lengths(fx.indices(name + ".input.lengths"));
      ForwardContext<T> context;
      context.padding = &padding;
      context.keep_weights = true;
      Tensor3<T> y;
      stack.forward(x, y, context);
      stack.backward(x, fx.tensor3<T>(name + ".input.dy"), dx, context);
    });
  }
}

}  // namespace attention_gradients_test
