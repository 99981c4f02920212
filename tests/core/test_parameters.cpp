// Named parameters: strict loading with errors that name the tensor, saving, and the round trip.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <unistd.h>

#include "eigenformer/eigenformer.hpp"
#include "support/configs.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("eigenformer-test-parameters-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

StackConfig small_encoder() {
  StackConfig s;
  s.block.attention = attention_config(8, 2).with_biases();
  s.block.ffn = ffn_config(12, Activation::GeluErf).with_bias();
  s.block.norm = norm_config(NormKind::LayerNorm, 1e-12).with_bias();
  s.block.placement = NormPlacement::Post;
  s.layers = 2;
  return s;
}

// Sets every parameter value of `model` to `value`: what a load must overwrite.
void fill_parameters(Encoder<float>& model, float value) {
  for (const auto& p : named_parameters(model)) std::fill(p.data, p.data + p.numel(), value);
}

// Every parameter of `target` equals `source`'s, except the one named `untouched`, which must still hold
// `sentinel` everywhere (a lenient load skips it). Returns how many parameters were compared.
std::size_t check_loaded(Encoder<float>& source, Encoder<float>& target, const std::string& untouched = "",
                         float sentinel = 7.0f) {
  const auto ps = named_parameters(source);
  const auto pt = named_parameters(target);
  REQUIRE(ps.size() == pt.size());
  std::size_t compared = 0;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    CAPTURE(ps[i].name);
    REQUIRE(ps[i].name == pt[i].name);
    std::int64_t differing = 0;
    for (std::int64_t j = 0; j < ps[i].numel(); ++j) {
      const float want = ps[i].name == untouched ? sentinel : ps[i].data[j];
      differing += pt[i].data[j] != want;
    }
    CHECK(differing == 0);
    ++compared;
  }
  return compared;
}

}  // namespace

TEST_CASE("a saved model loads back into the same outputs") {
  Encoder<float> a(small_encoder());
  randomize_parameters(a, 11);
  const std::string path = scratch("encoder.safetensors");
  save_safetensors(a, path);
  Encoder<float> b(small_encoder());
  load_safetensors(b, path);
  const Tensor3<float> x = random_tensor3<float>(2, 4, 8, 12);
  const Tensor3<float> ya = a(x), yb = b(x);
  CHECK(relative_max_error(ya.data(), yb.data(), static_cast<std::size_t>(ya.size())) == 0.0);

  // Saved as BF16 and loaded as double: close, not equal.
  save_safetensors(a, scratch("encoder-bf16.safetensors"), DType::BF16);
  Encoder<double> c(small_encoder());
  load_safetensors(c, scratch("encoder-bf16.safetensors"));
  const auto pa = named_parameters(a);
  const auto pc = named_parameters(c);
  REQUIRE(pa.size() == pc.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    for (std::int64_t j = 0; j < pa[i].numel(); ++j) {
      CHECK(std::abs(static_cast<double>(pa[i].data[j]) - pc[i].data[j]) <= 4e-3 * std::abs(pc[i].data[j]) + 1e-30);
    }
  }
}

TEST_CASE("strict loading names the missing, unexpected or misshapen tensor") {
  Encoder<float> model(small_encoder());
  randomize_parameters(model, 3);
  const std::string path = scratch("model.safetensors");
  save_safetensors(model, path);
  Encoder<float> target(small_encoder());  // what each accepted load writes into, compared value by value

  // One tensor too many.
  {
    SafeTensorsWriter w;
    for (const auto& p : named_parameters(model)) w.add(p.name, p.shape, p.data);
    const float extra[2] = {0, 0};
    w.add("position_ids", {2}, extra);
    w.write(scratch("extra.safetensors"));
    CHECK_THROWS_WITH_AS(load_safetensors(model, scratch("extra.safetensors")),
                         doctest::Contains("unexpected tensor 'position_ids' with shape [2]"), FormatError);
    LoadOptions ignore_buffers;
    ignore_buffers.ignore = [](const std::string& n) { return n == "position_ids"; };
    fill_parameters(target, 7.0f);
    load_safetensors(target, scratch("extra.safetensors"), ignore_buffers);
    CHECK(check_loaded(model, target) == named_parameters(model).size());
  }
  // One tensor missing, one with a wrong shape.
  {
    SafeTensorsWriter missing, misshapen;
    for (const auto& p : named_parameters(model)) {
      if (p.name != "layers.1.ffn.up.bias") missing.add(p.name, p.shape, p.data);
      std::vector<std::int64_t> shape = p.shape;
      if (p.name == "layers.0.attn.k.weight") shape = {4, 16};
      misshapen.add(p.name, shape, p.data);
    }
    missing.write(scratch("missing.safetensors"));
    misshapen.write(scratch("misshapen.safetensors"));
    CHECK_THROWS_WITH_AS(load_safetensors(model, scratch("missing.safetensors")),
                         doctest::Contains("missing tensor 'layers.1.ffn.up.bias' (expected shape [12])"), FormatError);
    CHECK_THROWS_WITH_AS(load_safetensors(model, scratch("misshapen.safetensors")),
                         doctest::Contains("tensor 'layers.0.attn.k.weight' has shape [4, 16] but the model expects [8, 8]"),
                         FormatError);
    LoadOptions lenient;
    lenient.strict = false;
    fill_parameters(target, 7.0f);
    load_safetensors(target, scratch("missing.safetensors"), lenient);
    check_loaded(model, target, /*untouched=*/"layers.1.ffn.up.bias");  // the missing one keeps its values
    CHECK_THROWS_AS(load_safetensors(model, scratch("misshapen.safetensors"), lenient), FormatError);  // shapes always
  }
  // Renaming to another layout (here: a prefix, as Hugging Face files have "bert.").
  save_safetensors(model, scratch("prefixed.safetensors"), DType::F32, [](const std::string& n) { return "bert." + n; });
  LoadOptions prefixed;
  prefixed.rename = [](const std::string& n) { return "bert." + n; };
  fill_parameters(target, 7.0f);
  load_safetensors(target, scratch("prefixed.safetensors"), prefixed);
  check_loaded(model, target);
  CHECK_THROWS_AS(load_safetensors(model, scratch("prefixed.safetensors")), FormatError);
}
