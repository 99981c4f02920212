// tests/speed/test_attention_memory.cpp — the tiled attention core holds no T×S buffer: its heap use during
// a call does not grow with T (beyond the caller's (T, H·D) inputs and output, allocated before the call).
//
// tests/support/heap_meter.hpp replaces malloc in this executable and records the peak bytes and the largest
// block of one call of the core, made with a fresh workspace (so its own buffers are counted too). The
// reference core is measured as well, to show that the meter does see a (T, S) matrix when there is one.
// Not under the sanitizers (tests/speed/CMakeLists.txt). The figures at T = 4096 and 16384 are measured by
// bench/bench_attention_memory.cpp (docs/performance.md).
#include <doctest/doctest.h>

#include "eigenformer/attention/attention.hpp"
#include "support/heap_meter.hpp"

using namespace eigenformer;

namespace {

struct Measured {
  std::size_t peak = 0;     // bytes held at once during the call, beyond those before it
  std::size_t largest = 0;  // the largest block allocated during the call
};

/// One causal call at B = 1, H = 2, Hkv = 1, D = 16, T = S = positions, on the given path.
Measured measure(AttentionPath path, Index positions) {
  const Index H = 2, D = 16;
  const Matrix<float> q = Matrix<float>::Random(positions, H * D), k = Matrix<float>::Random(positions, D),
                      v = Matrix<float>::Random(positions, D);
  Matrix<float> context(positions, H * D);
  AttentionMask<float> mask;
  mask.causal = true;
  set_attention_path(path);
  Measured m;
  {
    AttentionScratch<float> scratch;  // fresh: its buffers are part of the call's cost
    heap_meter::start();
    scaled_dot_product_attention<float>(HeadsView<const float>::of(q, 1, H), HeadsView<const float>::of(k, 1, 1),
                                        HeadsView<const float>::of(v, 1, 1), HeadsView<float>::of(context, 1, H), mask,
                                        0.25f, scratch);
    m.peak = heap_meter::peak_above_start();
    m.largest = heap_meter::largest_block();
  }
  set_attention_path(AttentionPath::Automatic);
  return m;
}

}  // namespace

TEST_CASE("the tiled core's heap use does not grow with T, the reference's (T, S) matrices do") {
  const Index small = 256, large = 1024;
  const std::size_t ts_bytes = static_cast<std::size_t>(large * large) * sizeof(float);  // one (T, S) float matrix
  const Measured tiled_small = measure(AttentionPath::Tiled, small);
  const Measured tiled_large = measure(AttentionPath::Tiled, large);
  const Measured reference_large = measure(AttentionPath::Reference, large);
  MESSAGE("T = S = " << small << ": tiled peak " << tiled_small.peak << " B;  T = S = " << large << ": tiled peak "
                     << tiled_large.peak << " B (largest block " << tiled_large.largest << " B), reference peak "
                     << reference_large.peak << " B (largest block " << reference_large.largest << " B)");
  // The meter sees the reference's two (T, S) matrices, scores and weights.
  CHECK(reference_large.peak >= 2 * ts_bytes);
  CHECK(reference_large.largest >= ts_bytes);
  // The tiled core: the same bytes at T = 256 and T = 1024 (its tiles depend on the tile sizes and D only; a
  // few bytes of Eigen's product buffers vary with the products' shapes — 16 B in the ci build — hence 1 KiB of
  // slack against the 16× larger (T, S) matrix's 4 MiB), and no block anywhere near (T, S): the largest is one
  // (query tile, key tile) matrix of scores.
  CHECK(tiled_large.peak <= tiled_small.peak + 1024);
  const AttentionScratch<float> defaults;
  const std::size_t tile_bytes = static_cast<std::size_t>(defaults.query_tile * defaults.key_tile) * sizeof(float);
  CHECK(tiled_large.largest <= tile_bytes + 64);
  CHECK(tiled_large.peak < ts_bytes / 16);
}
