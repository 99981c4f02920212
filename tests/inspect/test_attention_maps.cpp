// inspect/attention_maps.hpp: the weights of a run, from --dump files (the PyTorch fixtures' references, which
// use the same names) and from a Capture, with their kinds and token labels.
#include <doctest/doctest.h>

#include "eigenformer/inspect.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::inspect;
using eigenformer::testing::fixture_path;

TEST_CASE("read_attention_maps: a decoder-only dump is causal, an encoder's is not") {
  const std::vector<AttentionMaps> llama = read_attention_maps(fixture_path("models/llama-gqa-sharded.reference.safetensors"));
  REQUIRE(llama.size() == 1);
  CHECK(llama[0].name == "attentions");
  CHECK(llama[0].kind == AttentionKind::CausalSelf);
  CHECK(llama[0].layers.size() == 2);
  CHECK(llama[0].heads() == 4);
  CHECK(llama[0].queries() == 7);
  CHECK(llama[0].keys() == 7);
  CHECK(llama[0].query_tokens == position_labels(7));
  CHECK(llama[0].masked(2, 3));
  CHECK_FALSE(llama[0].masked(3, 3));

  const std::vector<AttentionMaps> bert = read_attention_maps(fixture_path("models/bert-base-style.reference.safetensors"));
  REQUIRE(bert.size() == 1);
  CHECK(bert[0].kind == AttentionKind::EncoderSelf);
  CHECK_FALSE(bert[0].masked(0, 8));

  // Every row of a softmax sums to 1.
  for (const AttentionMaps* m : {&llama[0], &bert[0]}) {
    for (const LayerAttention& l : m->layers) {
      for (Index h = 0; h < l.heads; ++h) {
        for (Index t = 0; t < l.queries; ++t) {
          double sum = 0;
          for (Index s = 0; s < l.keys; ++s) sum += l.at(h, t, s);
          CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
        }
      }
    }
  }
}

TEST_CASE("read_attention_maps: an encoder-decoder has three kinds, labelled by source and target tokens") {
  DumpTokens labels;
  labels.source_tokens = {"translate", "English", "to", "Chinese", ":", "我", "爱", "<b>&amp;", "</s>"};
  labels.tokens = {"<pad>", "我", "爱", "你", "\xE4\xB8"};
  const std::vector<AttentionMaps> t5 = read_attention_maps(fixture_path("models/flan-t5-style.reference.safetensors"), labels);
  REQUIRE(t5.size() == 3);
  CHECK(t5[0].name == "encoder_attentions");
  CHECK(t5[0].kind == AttentionKind::EncoderSelf);
  CHECK(t5[0].query_tokens == labels.source_tokens);
  CHECK(t5[1].name == "decoder_attentions");
  CHECK(t5[1].kind == AttentionKind::CausalSelf);
  CHECK(t5[1].key_tokens == labels.tokens);
  CHECK(t5[2].name == "cross_attentions");
  CHECK(t5[2].kind == AttentionKind::Cross);
  CHECK(t5[2].queries() == 5);
  CHECK(t5[2].keys() == 9);
  CHECK(t5[2].query_tokens == labels.tokens);
  CHECK(t5[2].key_tokens == labels.source_tokens);

  DumpTokens wrong;
  wrong.tokens = {"a", "b"};
  CHECK_THROWS_AS(read_attention_maps(fixture_path("models/llama-gqa-sharded.reference.safetensors"), wrong), ShapeError);
  CHECK_THROWS_AS(read_attention_maps(fixture_path("models/flan-t5-style/config.json")), FormatError);
}

TEST_CASE_TEMPLATE("attention_maps: one sequence of a Capture's (B, H, T, S) tensors", Scalar, float, double) {
  Capture<Scalar> capture;
  for (int l = 0; l < 2; ++l) {
    Tensor4<Scalar> w(2, 3, 4, 5);  // B = 2, H = 3, T = 4, S = 5
    for (Index i = 0; i < w.size(); ++i) w.data()[i] = static_cast<Scalar>(l * 1000 + i);
    capture.attentions.push_back(w);
  }
  const std::vector<AttentionMaps> maps = attention_maps(capture, AttentionKind::CausalSelf, {"a", "b", "c", "d", "e"}, {}, 1);
  REQUIRE(maps.size() == 1);
  CHECK(maps[0].kind == AttentionKind::CausalSelf);
  CHECK(maps[0].heads() == 3);
  CHECK(maps[0].keys() == 5);
  CHECK(maps[0].query_tokens == std::vector<std::string>{"b", "c", "d", "e"});  // the last T = 4 of S = 5
  CHECK(maps[0].masked(0, 2));   // S − T = 1 cached key: query 0 sees keys 0 and 1
  CHECK_FALSE(maps[0].masked(0, 1));
  // weights(l, h, t, s) of sequence 1 = element ((1·3 + h)·4 + t)·5 + s of layer l's tensor.
  CHECK(maps[0].layers[1].at(2, 3, 4) == 1000 + ((1 * 3 + 2) * 4 + 3) * 5 + 4);
  // T = 4 query tokens were given but S = 5 keys need 5 labels.
  CHECK_THROWS_AS(attention_maps(capture.attentions, AttentionKind::EncoderSelf, {"a", "b", "c", "d"}, {"x"}), ShapeError);
  CHECK_THROWS_AS(attention_maps(capture.attentions, AttentionKind::EncoderSelf, {}, {}, 2), ValueError);

  // A decoder stack of an encoder-decoder: self- and cross-attention, named as --dump names them.
  capture.cross_attentions = capture.attentions;
  const std::vector<AttentionMaps> both = attention_maps(capture, AttentionKind::CausalSelf, {}, {}, 0, "decoder_");
  REQUIRE(both.size() == 2);
  CHECK(both[0].name == "decoder_attentions");
  CHECK(both[0].query_tokens == std::vector<std::string>{"1", "2", "3", "4"});  // positions of the last T queries
  CHECK(both[1].name == "cross_attentions");
  CHECK(both[1].kind == AttentionKind::Cross);
  CHECK(both[1].key_tokens == position_labels(5));
}
