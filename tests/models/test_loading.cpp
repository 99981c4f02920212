// Loading fast paths against the naive reference (core/parameter_memory.hpp, core/safetensors.hpp read_into):
// from_pretrained builds its model unfilled — NaN in this test build (EIGEN_INITIALIZE_MATRICES_BY_NAN) — and the
// loader writes every parameter; F16 and BF16 are converted a chunk at a time. Each loaded value must equal, bit
// for bit, the value decoded here one element at a time straight from the file's bytes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "llama/llama.hpp"
#include "model_fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

/// Every byte of a file.
std::vector<unsigned char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The naive reference: value i of tensor t, decoded from the file's bytes with the bit-level conversions of
/// core/dtype.hpp (themselves checked against PyTorch in tests/core/test_safetensors.cpp).
double stored_value(const std::vector<unsigned char>& file, const TensorInfo& t, std::size_t i) {
  std::uint64_t header = 0;
  for (int b = 7; b >= 0; --b) header = (header << 8) | file[static_cast<std::size_t>(b)];
  const unsigned char* p = file.data() + 8 + header + t.begin + i * dtype_size(t.dtype);
  switch (t.dtype) {
    case DType::F32: { float f; std::memcpy(&f, p, 4); return f; }
    case DType::F64: { double d; std::memcpy(&d, p, 8); return d; }
    case DType::F16: { std::uint16_t h; std::memcpy(&h, p, 2); return half_to_float(h); }
    case DType::BF16: { std::uint16_t b; std::memcpy(&b, p, 2); return bf16_to_float(b); }
    default: FAIL("unexpected dtype " << dtype_name(t.dtype)); return 0;
  }
}

/// A small untied GQA Llama (every kind of parameter: embedding, q/k/v/o, gate/up/down, norms, lm_head) with
/// random weights in [-2, 2] — within F16's range, and none of them zero.
Llama<double> random_llama() {
  LlamaConfig c;
  c.vocab_size = 61;
  c.hidden_size = 16;
  c.intermediate_size = 40;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32;
  c.tie_word_embeddings = false;
  Llama<double> model(c);
  std::mt19937 rng(15);
  std::uniform_real_distribution<double> uniform(0.25, 2.0);
  for (auto& p : named_parameters(model)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = (rng() % 2 == 0 ? 1 : -1) * uniform(rng);
  }
  return model;
}

}  // namespace

TEST_CASE("Parameters built for a loader are left unfilled (NaN in tests), and start at zero otherwise") {
  {
    LoaderWritesParameters unfilled;
    CHECK(loader_writes_parameters());
    const Linear<float> linear(3, 5, /*bias=*/true);
    const Embedding<double> table(7, 4);
    CHECK(linear.weight.array().isNaN().all());
    CHECK(linear.bias.array().isNaN().all());
    CHECK(table.weight.array().isNaN().all());
    {
      LoaderWritesParameters nested;
      CHECK(loader_writes_parameters());
    }
    CHECK(loader_writes_parameters());  // the inner scope closed, the outer one still holds
  }
  CHECK_FALSE(loader_writes_parameters());
  const Linear<float> linear(3, 5, /*bias=*/true);
  const Embedding<double> table(7, 4);
  CHECK((linear.weight.array() == 0.0f).all());
  CHECK((linear.bias.array() == 0.0f).all());
  CHECK((table.weight.array() == 0.0).all());
}

TEST_CASE_TEMPLATE("from_pretrained writes every parameter: F32, F16, BF16 and F64 checkpoints load bit for bit", Scalar,
                   float, double) {
  TempDir tmp("loading");
  Llama<double> source = random_llama();
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::F64}) {
    CAPTURE(dtype_name(dtype));
    const std::string folder = tmp / dtype_name(dtype);
    source.save_pretrained(folder, dtype);
    const std::vector<unsigned char> file = file_bytes(folder + "/model.safetensors");
    SafeTensorsReader reader(folder + "/model.safetensors");

    Llama<Scalar> model = Llama<Scalar>::from_pretrained(folder);
    const NameMapping names = model.names();
    std::size_t checked = 0;
    for (const auto& p : named_parameters(model)) {
      CAPTURE(p.name);
      const TensorInfo& t = reader.info(names.to_hf(p.name));
      REQUIRE(t.dtype == dtype);
      REQUIRE(t.numel() == p.numel());
      std::size_t differ = 0, first = 0;
      for (std::size_t i = 0; i < static_cast<std::size_t>(p.numel()); ++i) {
        const Scalar expected = static_cast<Scalar>(stored_value(file, t, i));
        if (std::memcmp(&expected, &p.data[i], sizeof(Scalar)) != 0) {
          if (differ++ == 0) first = i;
        }
      }
      INFO("first differing value at flat index " << first << ": " << p.data[first]);
      CHECK(differ == 0);
      checked += static_cast<std::size_t>(p.numel());
    }
    CHECK(static_cast<std::int64_t>(checked) == count_parameters(source));
  }
}

TEST_CASE_TEMPLATE("Converting read_into: tensors longer than one chunk convert every value, bit for bit", Scalar, float,
                   double) {
  TempDir tmp("chunks");
  // 2.5 chunks of BF16/F16 values, and a few more than one chunk: the last chunk is partial in both.
  const std::size_t chunk_values = SafeTensorsReader::kConversionChunkBytes / 2;
  for (std::size_t count : {chunk_values * 5 / 2, chunk_values + 3}) {
    CAPTURE(count);
    std::vector<float> values(count);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> uniform(-1000.0f, 1000.0f);
    for (float& v : values) v = uniform(rng);
    SafeTensorsWriter writer;
    writer.add("bf16", {static_cast<std::int64_t>(count)}, values.data(), DType::BF16);
    writer.add("f16", {static_cast<std::int64_t>(count)}, values.data(), DType::F16);
    writer.add("f32", {static_cast<std::int64_t>(count)}, values.data(), DType::F32);
    const std::string path = tmp / "t.safetensors";
    writer.write(path);
    const std::vector<unsigned char> file = file_bytes(path);
    SafeTensorsReader reader(path);
    for (const char* name : {"bf16", "f16", "f32"}) {
      CAPTURE(name);
      const TensorInfo& t = reader.info(name);
      std::vector<Scalar> loaded(count, std::numeric_limits<Scalar>::quiet_NaN());
      reader.read_into(t, loaded.data());
      std::size_t differ = 0;
      for (std::size_t i = 0; i < count; ++i) {
        const Scalar expected = static_cast<Scalar>(stored_value(file, t, i));
        differ += std::memcmp(&expected, &loaded[i], sizeof(Scalar)) != 0 ? 1 : 0;
      }
      CHECK(differ == 0);
    }
  }
}
