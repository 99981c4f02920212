// inspect/compare.hpp: a divergence injected into one layer and head of a real fixture dump (the PyTorch
// reference of tests/fixtures/models/) is found at that layer, head and position, with both values.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "eigenformer/inspect.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::inspect;
using eigenformer::testing::fixture_path;

namespace {

NamedTensor& tensor(NamedTensors& run, const std::string& name) {
  for (NamedTensor& t : run.tensors) {
    if (t.name == name) return t;
  }
  FAIL("no tensor " << name);
  return run.tensors.front();
}

/// Row-major offset of index `at` in `shape`.
std::size_t offset(const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& at) {
  std::size_t o = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) o = o * static_cast<std::size_t>(shape[d]) + static_cast<std::size_t>(at[d]);
  return o;
}

std::string temp_file(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

void write(const NamedTensors& run, const std::string& path, DType dtype) {
  SafeTensorsWriter out;
  for (const NamedTensor& t : run.tensors) out.add(t.name, t.shape, t.values.data(), dtype);
  out.write(path);
}

}  // namespace

TEST_CASE("compare: a reference against itself, and against its own F32 copy (what --dump writes)") {
  const std::string ref = fixture_path("models/llama-gqa-sharded.reference.safetensors");
  const Comparison same = compare(ref, ref, Tolerance{0, 0});
  CHECK(same.agree());
  CHECK(same.summary() == "no divergence: 7 tensors agree within the tolerance");
  for (const TensorComparison& t : same.tensors) CHECK(t.max_error == 0);

  // The order is the forward pass: embeddings, layer 0's weights, its output, layer 1's ..., logits.
  std::vector<std::string> order;
  for (const TensorComparison& t : same.tensors) order.push_back(t.name);
  CHECK(order == std::vector<std::string>{"hidden_states.0", "attentions.0", "hidden_states.1", "attentions.1",
                                          "hidden_states.2", "logits", "input_ids"});

  const std::string f32 = temp_file("eigenformer_compare_f32.safetensors");
  write(read_named_tensors(ref), f32, DType::F32);
  const Comparison rounded = compare(f32, ref, Tolerance{1e-6, 0});
  CHECK(rounded.agree());
  double worst = 0;
  for (const TensorComparison& t : rounded.tensors) worst = std::max(worst, t.max_error);
  MESSAGE("F32 rounding of the llama reference: max |a - b| = " << worst);
  CHECK(worst > 0);
  CHECK(worst < 1e-6);
  std::filesystem::remove(f32);
}

TEST_CASE("compare: a divergence injected at layer 1, head 2, query 4, key 3 is named exactly") {
  const std::string ref_path = fixture_path("models/llama-gqa-sharded.reference.safetensors");
  const NamedTensors ref = read_named_tensors(ref_path);
  NamedTensors mine = ref;
  mine.source = "mine";
  // A bug in layer 1's head 2: one weight off by 0.01, and everything computed after it off too.
  NamedTensor& w = tensor(mine, "attentions.1");
  const double before = w.values[offset(w.shape, {2, 4, 3})];
  w.values[offset(w.shape, {2, 4, 3})] += 0.01;
  tensor(mine, "hidden_states.2").values[0] += 0.5;  // later in the forward pass, larger, and at index 0
  tensor(mine, "logits").values[3] -= 1.0;

  const Comparison c = compare(mine, ref, Tolerance{1e-6, 0});
  CHECK_FALSE(c.agree());
  const TensorComparison* first = c.first_divergence();
  REQUIRE(first != nullptr);
  CHECK(first->name == "attentions.1");
  CHECK(first->layer == 1);
  CHECK(first->first_at == std::vector<std::int64_t>{2, 4, 3});
  CHECK(first->first_a == before + 0.01);
  CHECK(first->first_b == before);
  CHECK(first->diverging == 1);
  CHECK(first->max_error == doctest::Approx(0.01).epsilon(1e-9));
  CHECK(first->max_at == std::vector<std::int64_t>{2, 4, 3});
  const std::string text = c.to_text();
  MESSAGE(text);
  CHECK(c.summary().rfind("first divergence: attentions.1 \xE2\x80\x94 layer 1 self-attention weights, head 2, query 4, key 3: a = ", 0) == 0);
  CHECK(text.find("only in b") == std::string::npos);
  // Layer 0 and the output of layer 0 agree; layer 1's output and the logits are listed as diverging too.
  for (const TensorComparison& t : c.tensors) {
    const bool bad = t.name == "attentions.1" || t.name == "hidden_states.2" || t.name == "logits";
    CHECK_MESSAGE(t.diverges() == bad, t.name);
  }

  // The same through files, as --compare REF.safetensors will do it.
  const std::string path = temp_file("eigenformer_compare_injected.safetensors");
  write(mine, path, DType::F64);
  const Comparison from_files = compare(path, ref_path, Tolerance{1e-6, 0});
  REQUIRE(from_files.first_divergence() != nullptr);
  CHECK(from_files.first_divergence()->name == "attentions.1");
  CHECK(from_files.first_divergence()->first_at == std::vector<std::int64_t>{2, 4, 3});
  CHECK(from_files.summary().find(path) == std::string::npos);
  CHECK(from_files.to_text().find("compare: a = " + path + ", b = " + ref_path) == 0);
  std::filesystem::remove(path);
}

TEST_CASE("compare: encoder-decoder order — the encoder first, cross-attention right after its layer's self-attention") {
  const NamedTensors ref = read_named_tensors(fixture_path("models/flan-t5-style.reference.safetensors"));
  NamedTensors mine = ref;
  NamedTensor& cross = tensor(mine, "cross_attentions.0");
  cross.values[offset(cross.shape, {1, 2, 7})] = std::nan("");    // a NaN at head 1, query 2, key 7
  tensor(mine, "decoder_hidden_states.1").values[5] += 1;          // the decoder layer's output follows
  const Comparison c = compare(mine, ref, Tolerance{1e-6, 0});
  REQUIRE(c.first_divergence() != nullptr);
  CHECK(c.first_divergence()->name == "cross_attentions.0");
  CHECK(c.first_divergence()->first_at == std::vector<std::int64_t>{1, 2, 7});
  CHECK(std::isinf(c.first_divergence()->max_error));
  CHECK(c.summary().find("decoder layer 0 cross-attention weights, head 1, query 2, key 7: a = nan") != std::string::npos);
  std::vector<std::string> order;
  for (const TensorComparison& t : c.tensors) order.push_back(t.name);
  const auto at = [&](const std::string& n) { return std::find(order.begin(), order.end(), n) - order.begin(); };
  CHECK(at("encoder_hidden_states.2") < at("decoder_hidden_states.0"));
  CHECK(at("decoder_attentions.0") < at("cross_attentions.0"));
  CHECK(at("cross_attentions.0") < at("decoder_hidden_states.1"));
  CHECK(at("decoder_hidden_states.2") < at("logits"));
}

TEST_CASE("compare: shapes that differ, names in one run only, bad tolerances") {
  NamedTensors a, b;
  a.source = "a";
  b.source = "b";
  a.add("hidden_states.0", {2, 3}, {1, 2, 3, 4, 5, 6});
  b.add("hidden_states.0", {3, 2}, {1, 2, 3, 4, 5, 6});
  a.add("attentions.0", {1, 1, 2}, {0.5, 0.5});
  b.add("input_ids", {2}, {1, 2});
  const Comparison c = compare(a, b);
  REQUIRE(c.first_divergence() != nullptr);
  CHECK(c.first_divergence()->name == "hidden_states.0");
  CHECK(c.summary() == "first divergence: hidden_states.0 \xE2\x80\x94 the embeddings (input of layer 0): shapes differ, a [2, 3], b [3, 2]");
  CHECK(c.to_text().find("only in a: attentions.0\nonly in b: input_ids\n") != std::string::npos);
  CHECK_THROWS_AS(compare(a, b, Tolerance{-1, 0}), ValueError);
  CHECK_THROWS_AS(a.add("x", {2, 2}, {1, 2, 3}), ShapeError);
  CHECK_THROWS_AS(a.add("attentions.0", {1}, {1}), ValueError);

  // Relative tolerance: |a − b| ≤ absolute + relative·|b|.
  NamedTensors x, y;
  x.add("logits", {2}, {100.5, 1.5});
  y.add("logits", {2}, {100.0, 1.0});
  CHECK(compare(x, y, Tolerance{0, 0.01}).first_divergence()->first_at == std::vector<std::int64_t>{1});
  CHECK(compare(x, y, Tolerance{0.5, 0}).agree());
}

TEST_CASE_TEMPLATE("compare: two Captures of one stack, sequence by sequence", Scalar, float, double) {
  Capture<Scalar> a;
  Tensor3<Scalar> h(2, 3, 4);
  h.setConstant(Scalar(1));
  a.hidden_states = {h, h};
  Tensor4<Scalar> w(2, 2, 3, 3);
  w.setConstant(Scalar(1) / 3);
  a.attentions = {w};
  Capture<Scalar> b = a;
  b.attentions[0](1, 1, 2, 0) += Scalar(0.25);  // sequence 1, head 1, query 2, key 0
  CHECK(compare(a, b, Tolerance{1e-6, 0}, 0).agree());
  const Comparison c = compare(a, b, Tolerance{1e-6, 0}, 1);
  REQUIRE(c.first_divergence() != nullptr);
  CHECK(c.first_divergence()->name == "attentions.0");
  CHECK(c.first_divergence()->first_at == std::vector<std::int64_t>{1, 2, 0});
  CHECK_THROWS_AS(compare(a, b, Tolerance{}, 2), ValueError);
}
