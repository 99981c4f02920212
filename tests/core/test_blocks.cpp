// Blocks and stacks: parity with torch.nn's Transformer layers and with hand-written Llama and T5
// references, capture of hidden states and attention maps, and incremental decoding.
#include <doctest/doctest.h>

#include <array>

#include "eigenformer/eigenformer.hpp"
#include "support/configs.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

// torch.nn's layers: LayerNorm (eps 1e-5), biases everywhere, ReLU or exact GELU, pre- or post-norm.
BlockConfig torch_block(const json::Value& cfg) {
  BlockConfig c;
  c.attention = attention_config(cfg.at("width").as_int(), cfg.at("heads").as_int()).with_biases();
  c.ffn.hidden = cfg.at("ffn").as_int();
  c.ffn.activation = cfg.at("activation").as_string() == "relu" ? Activation::ReLU : Activation::GeluErf;
  c.ffn.gated = false;
  c.ffn.bias = true;
  c.norm = norm_config(NormKind::LayerNorm, cfg.at("eps").as_number()).with_bias();
  c.placement = cfg.at("norm_first").as_bool() ? NormPlacement::Pre : NormPlacement::Post;
  return c;
}

// Llama: RMSNorm pre-norm, GQA without biases, SwiGLU, RoPE in the stack, a final norm.
StackConfig llama_stack(const json::Value& cfg) {
  StackConfig s;
  const Index D = cfg.at("head_dim").as_int();
  s.block.attention =
      attention_config(cfg.at("width").as_int(), cfg.at("heads").as_int()).with_kv_heads(cfg.at("kv_heads").as_int()).with_head_dim(D);
  s.block.ffn = ffn_config(cfg.at("hidden").as_int(), Activation::SiLU).gated_linear_unit();
  s.block.norm = norm_config(NormKind::RMSNorm, cfg.at("eps").as_number());
  s.block.placement = NormPlacement::Pre;
  s.layers = cfg.at("layers").as_int();
  s.final_norm = true;
  s.rope = rope_config(D, cfg.at("theta").as_number());
  return s;
}

// T5 v1.1: RMSNorm pre-norm, no biases, no score scaling, gated tanh-GELU, relative bias per stack.
EncoderDecoderConfig t5_config(const json::Value& cfg) {
  StackConfig s;
  s.block.attention = attention_config(cfg.at("width").as_int(), cfg.at("heads").as_int()).with_head_dim(cfg.at("head_dim").as_int()).with_scale(1.0);
  s.block.ffn = ffn_config(cfg.at("hidden").as_int(), Activation::GeluTanh).gated_linear_unit();
  s.block.norm = norm_config(NormKind::RMSNorm, cfg.at("eps").as_number());
  s.block.placement = NormPlacement::Pre;
  s.layers = cfg.at("layers").as_int();
  s.final_norm = true;
  RelativePositionBiasConfig relative_bias;
  relative_bias.heads = cfg.at("heads").as_int();
  relative_bias.num_buckets = cfg.at("num_buckets").as_int();
  relative_bias.max_distance = cfg.at("max_distance").as_int();
  relative_bias.bidirectional = true;
  s.relative_bias = relative_bias;
  EncoderDecoderConfig config{s, s};
  config.decoder.relative_bias->bidirectional = false;
  return config;
}

template <class T>
Tensor3<T> positions(const Tensor3<T>& x, Index first, Index count) {
  return x.slice(std::array<Index, 3>{0, first, 0}, std::array<Index, 3>{x.dimension(0), count, x.dimension(2)});
}

}  // namespace

TEST_CASE_TEMPLATE("EncoderBlock matches torch.nn.TransformerEncoderLayer", T, float, double) {
  Fixture fx("core/layers.safetensors");
  for (const char* name : {"encoder_post_relu_padding", "encoder_pre_gelu_padding", "encoder_post_gelu", "encoder_pre_relu"}) {
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    EncoderBlock<T> block(torch_block(cfg));
    fx.load(block, name);
    const std::string in = std::string(name) + ".input.";
    KeyPadding padding;
    ForwardContext<T> options;
    if (!cfg.at("lengths").is_null()) {
      padding = KeyPadding::from_lengths(fx.indices(in + "lengths"));
      options.padding = &padding;
    }
    const Tensor3<T> y = block(fx.tensor3<T>(in + "x"), options);
    check_parity<T>(y, fx.tensor3<double>(std::string(name) + ".expected.y"), name);
  }
}

TEST_CASE_TEMPLATE("CrossDecoderBlock matches torch.nn.TransformerDecoderLayer", T, float, double) {
  Fixture fx("core/layers.safetensors");
  for (const char* name : {"decoder_post_relu_padding", "decoder_pre_gelu_padding", "decoder_pre_relu"}) {
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    CrossDecoderBlock<T> block(torch_block(cfg));
    fx.load(block, name);
    const std::string in = std::string(name) + ".input.";
    const Tensor3<T> memory = fx.tensor3<T>(in + "memory");
    KeyPadding memory_padding, target_padding;
    ForwardContext<T> options;
    options.memory = &memory;
    if (!cfg.at("memory_lengths").is_null()) {
      memory_padding = KeyPadding::from_lengths(fx.indices(in + "memory_lengths"));
      options.memory_padding = &memory_padding;
    }
    if (!cfg.at("target_lengths").is_null()) {
      target_padding = KeyPadding::from_lengths(fx.indices(in + "target_lengths"));
      options.padding = &target_padding;
    }
    Tensor3<T> y;
    block.forward(fx.tensor3<T>(in + "x"), y, options);
    check_parity<T>(y, fx.tensor3<double>(std::string(name) + ".expected.y"), name);
  }
}

TEST_CASE_TEMPLATE("EncoderDecoder matches torch.nn.Transformer (2 + 2 layers)", T, float, double) {
  Fixture fx("core/layers.safetensors");
  for (const char* name : {"transformer_post_relu", "transformer_pre_gelu"}) {
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    StackConfig stack;
    stack.block = torch_block(cfg);
    stack.layers = cfg.at("layers").as_int();
    stack.final_norm = true;
    EncoderDecoder<T> model(EncoderDecoderConfig{stack, stack});
    fx.load(model, name);
    const std::string in = std::string(name) + ".input.";
    const KeyPadding source_padding = KeyPadding::from_lengths(fx.indices(in + "source_lengths"));
    Tensor3<T> y;
    model.forward(fx.tensor3<T>(in + "source"), fx.tensor3<T>(in + "target"), y, &source_padding);
    // torch's encoder output at padding positions is computed too (they attend to the real keys).
    check_parity<T>(model.memory, fx.tensor3<double>(std::string(name) + ".expected.memory"), std::string(name) + " memory");
    check_parity<T>(y, fx.tensor3<double>(std::string(name) + ".expected.y"), std::string(name) + " output");
  }
}

TEST_CASE_TEMPLATE("a Llama-style Decoder matches the reference, hidden states and attention maps included", T, float, double) {
  Fixture fx("core/llama.safetensors");
  const json::Value cfg = fx.config("decoder_stack");
  Decoder<T> decoder(llama_stack(cfg));
  fx.load(decoder, "decoder_stack");
  const Tensor3<T> x = fx.tensor3<T>("decoder_stack.input.x");
  Capture<T> capture;
  ForwardContext<T> options;
  options.capture = &capture;
  Tensor3<T> y;
  decoder.forward(x, y, options);
  check_parity<T>(y, fx.tensor3<double>("decoder_stack.expected.y"), "output");
  REQUIRE(capture.hidden_states.size() == 3);
  REQUIRE(capture.attentions.size() == 2);
  for (int i = 0; i < 3; ++i) {
    check_parity<T>(capture.hidden_states[static_cast<std::size_t>(i)],
                    fx.tensor3<double>("decoder_stack.expected.hidden_states." + std::to_string(i)),
                    "hidden_states." + std::to_string(i));
  }
  for (int i = 0; i < 2; ++i) {
    check_parity<T>(capture.attentions[static_cast<std::size_t>(i)],
                    fx.tensor4<double>("decoder_stack.expected.attentions." + std::to_string(i)),
                    "attentions." + std::to_string(i));
  }

  // Incremental decoding: a 4-position prompt, then one position at a time, gives the same outputs.
  DecoderCache<T> cache;
  ForwardContext<T> step;
  step.cache = &cache;
  const Tensor3<double> expected = fx.tensor3<double>("decoder_stack.expected.y");
  Tensor3<T> out;
  decoder.forward(positions(x, 0, 4), out, step);
  check_parity<T>(out, positions(expected, 0, 4), "cached prompt");
  for (Index t = 4; t < x.dimension(1); ++t) {
    decoder.forward(positions(x, t, 1), out, step);
    check_parity<T>(out, positions(expected, t, 1), "cached step " + std::to_string(t));
  }
  CHECK(cache.length() == x.dimension(1));
}

TEST_CASE_TEMPLATE("a T5-style EncoderDecoder matches the reference (relative bias, GeGLU, H·D ≠ C)", T, float, double) {
  Fixture fx("core/t5.safetensors");
  const json::Value cfg = fx.config("encoder_decoder");
  EncoderDecoder<T> model(t5_config(cfg));
  fx.load(model, "encoder_decoder");
  const Tensor3<T> source = fx.tensor3<T>("encoder_decoder.input.source");
  const Tensor3<T> target = fx.tensor3<T>("encoder_decoder.input.target");
  const KeyPadding source_padding = KeyPadding::from_lengths(fx.indices("encoder_decoder.input.source_lengths"));

  Capture<T> encoder_capture, decoder_capture;
  Tensor3<T> memory, y;
  model.encode(source, memory, &source_padding, &encoder_capture);
  model.decode(target, memory, y, &source_padding, nullptr, nullptr, &decoder_capture);
  check_parity<T>(memory, fx.tensor3<double>("encoder_decoder.expected.memory"), "memory");
  check_parity<T>(y, fx.tensor3<double>("encoder_decoder.expected.y"), "output");
  for (int i = 0; i <= 2; ++i) {
    const std::string n = std::to_string(i);
    check_parity<T>(encoder_capture.hidden_states[static_cast<std::size_t>(i)],
                    fx.tensor3<double>("encoder_decoder.expected.encoder_hidden_states." + n), "encoder_hidden_states." + n);
    check_parity<T>(decoder_capture.hidden_states[static_cast<std::size_t>(i)],
                    fx.tensor3<double>("encoder_decoder.expected.decoder_hidden_states." + n), "decoder_hidden_states." + n);
  }
  for (int i = 0; i < 2; ++i) {
    const std::string n = std::to_string(i);
    check_parity<T>(encoder_capture.attentions[static_cast<std::size_t>(i)],
                    fx.tensor4<double>("encoder_decoder.expected.encoder_attentions." + n), "encoder_attentions." + n);
    check_parity<T>(decoder_capture.attentions[static_cast<std::size_t>(i)],
                    fx.tensor4<double>("encoder_decoder.expected.decoder_attentions." + n), "decoder_attentions." + n);
    check_parity<T>(decoder_capture.cross_attentions[static_cast<std::size_t>(i)],
                    fx.tensor4<double>("encoder_decoder.expected.cross_attentions." + n), "cross_attentions." + n);
  }

  // Incremental decoding: the relative bias follows the position, cross keys/values are computed once.
  DecoderCache<T> cache;
  const Tensor3<double> expected = fx.tensor3<double>("encoder_decoder.expected.y");
  Tensor3<T> out;
  for (Index t = 0; t < target.dimension(1); ++t) {
    model.decode(positions(target, t, 1), memory, out, &source_padding, nullptr, &cache);
    check_parity<T>(out, positions(expected, t, 1), "cached step " + std::to_string(t));
  }
  CHECK(cache.length() == target.dimension(1));
  CHECK(cache.cross.front().length() == source.dimension(1));
}

TEST_CASE("parameter names follow the module tree") {
  StackConfig s;
  s.block.attention = attention_config(8, 2).with_kv_heads(1);
  s.block.ffn = ffn_config(16, Activation::SiLU).gated_linear_unit();
  s.block.norm = norm_config(NormKind::RMSNorm, 1e-6);
  s.layers = 2;
  s.final_norm = true;
  Decoder<float> decoder(s);
  std::vector<std::string> names;
  for (const auto& p : named_parameters(decoder)) names.push_back(p.name + detail::shape_str(p.shape));
  const std::vector<std::string> expected_first = {
      "layers.0.attn.q.weight[8, 8]", "layers.0.attn.k.weight[4, 8]", "layers.0.attn.v.weight[4, 8]",
      "layers.0.attn.o.weight[8, 8]", "layers.0.attn_norm.weight[8]",  "layers.0.ffn.gate.weight[16, 8]",
      "layers.0.ffn.up.weight[16, 8]", "layers.0.ffn.down.weight[8, 16]", "layers.0.ffn_norm.weight[8]"};
  REQUIRE(names.size() == 19);
  for (std::size_t i = 0; i < expected_first.size(); ++i) CHECK(names[i] == expected_first[i]);
  CHECK(names.back() == "final_norm.weight[8]");
  // 2 layers × (64 + 32 + 32 + 64 + 8 + 3·128 + 8) + 8
  CHECK(count_parameters(decoder) == 2 * (64 + 32 + 32 + 64 + 8 + 3 * 128 + 8) + 8);
}

TEST_CASE("stack configuration errors are caught before any allocation") {
  StackConfig s;
  s.block.attention = attention_config(8, 2);
  s.block.ffn.hidden = 16;
  s.layers = 0;
  CHECK_THROWS_WITH_AS(Encoder<float>{s}, doctest::Contains("at least one layer"), ValueError);
  s.layers = 1;
  s.rope = rope_config(6, 10000.0);
  CHECK_THROWS_WITH_AS(Decoder<float>{s}, doctest::Contains("RoPE head width 6 differs from the attention's 4"), ValueError);
  s.rope.reset();
  s.block.norm.eps = 0;
  CHECK_THROWS_AS(Encoder<float>{s}, ValueError);
  s.block.norm.eps = 1e-5;
  Encoder<float> ok(s);
  Tensor3<float> x(1, 3, 5);
  x.setZero();
  CHECK_THROWS_WITH_AS(ok(x), doctest::Contains("input [1, 3, 5] has width 5 but the stack is 8 wide"), ShapeError);
}
