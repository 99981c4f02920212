// T5's relative position buckets: identical to the reference for every distance in [-300, 300].
#include <doctest/doctest.h>

#include "eigenformer/eigenformer.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

TEST_CASE("relative_position_bucket matches the reference for every distance") {
  Fixture fx("core/t5.safetensors");
  for (const char* name : {"buckets_encoder", "buckets_decoder", "buckets_small", "buckets_decoder_small"}) {
    CAPTURE(name);
    const json::Value cfg = fx.config(name);
    const std::vector<Index> rel = fx.indices(std::string(name) + ".input.relative_position");
    const std::vector<Index> expected = fx.indices(std::string(name) + ".expected.bucket");
    int mismatches = 0;
    for (std::size_t i = 0; i < rel.size(); ++i) {
      const Index got = relative_position_bucket(rel[i], cfg.at("bidirectional").as_bool(), cfg.at("num_buckets").as_int(),
                                                 cfg.at("max_distance").as_int());
      if (got != expected[i]) {
        ++mismatches;
        INFO("relative position " << rel[i] << ": got bucket " << got << ", expected " << expected[i]);
        CHECK(got == expected[i]);
      }
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("the bias is looked up per head and follows the query offset") {
  RelativePositionBiasConfig config;
  config.heads = 2;
  config.num_buckets = 8;
  config.max_distance = 16;
  config.bidirectional = false;
  RelativePositionBias<double> bias(config);
  for (Index b = 0; b < 8; ++b) {
    bias.weight(b, 0) = static_cast<double>(b);
    bias.weight(b, 1) = -static_cast<double>(b);
  }
  const Tensor4<double> full = bias.compute(5, 5);
  const Tensor4<double> last = bias.compute(1, 5, 4);  // the 5th query alone, as in cached decoding
  for (Index j = 0; j < 5; ++j) {
    CHECK(last(0, 0, 0, j) == full(0, 0, 4, j));
    CHECK(last(0, 1, 0, j) == full(0, 1, 4, j));
    CHECK(full(0, 0, 4, j) == static_cast<double>(relative_position_bucket(j - 4, false, 8, 16)));
  }
  RelativePositionBiasConfig no_heads;
  no_heads.heads = 0;  // num_buckets 32, max_distance 128, bidirectional: the defaults
  CHECK_THROWS_AS(RelativePositionBias<float>{no_heads}, ValueError);
}
