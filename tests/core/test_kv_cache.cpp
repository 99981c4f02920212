// The KV cache: growth keeps what is stored, reorder serves beam search, misuse is refused.
#include <doctest/doctest.h>

#include "eigenformer/eigenformer.hpp"

using namespace eigenformer;

TEST_CASE("appending past the capacity keeps every stored position") {
  KVCache<float> cache;
  const Index B = 2, W = 3;
  for (Index step = 0; step < 9; ++step) {
    Matrix<float> k(B, W), v(B, W);
    for (Index b = 0; b < B; ++b) {
      k.row(b).setConstant(static_cast<float>(100 * b + step));
      v.row(b).setConstant(static_cast<float>(-100 * b - step));
    }
    cache.append(k, v, B);
  }
  CHECK(cache.length() == 9);
  CHECK(cache.capacity() >= 9);
  const HeadsView<const float> keys = cache.key_heads(1), values = cache.value_heads(1);
  for (Index b = 0; b < B; ++b) {
    for (Index s = 0; s < 9; ++s) {
      CHECK(keys.block(b, 0)(s, 2) == static_cast<float>(100 * b + s));
      CHECK(values.block(b, 0)(s, 0) == static_cast<float>(-100 * b - s));
    }
  }
}

TEST_CASE("reserve up front means no reallocation while decoding") {
  KVCache<double> cache;
  cache.reserve(1, 16, 4);
  const double* storage = cache.keys.data();
  for (int i = 0; i < 16; ++i) cache.append(Matrix<double>::Ones(1, 4), Matrix<double>::Ones(1, 4), 1);
  CHECK(cache.keys.data() == storage);
  CHECK(cache.length() == 16);
}

TEST_CASE("reorder copies sequences for beam search, and misuse is refused") {
  KVCache<float> cache;
  Matrix<float> k(3, 2), v(3, 2);
  k << 0, 0, 1, 1, 2, 2;
  v = k;
  cache.append(k, v, 3);
  cache.reorder({2, 2, 0, 1});
  CHECK(cache.batch() == 4);
  CHECK(cache.key_heads(1).block(0, 0)(0, 0) == 2.0f);
  CHECK(cache.key_heads(1).block(1, 0)(0, 0) == 2.0f);
  CHECK(cache.key_heads(1).block(2, 0)(0, 0) == 0.0f);
  CHECK(cache.value_heads(1).block(3, 0)(0, 1) == 1.0f);
  CHECK_THROWS_AS(cache.reorder({7}), ValueError);
  CHECK_THROWS_WITH_AS(cache.append(Matrix<float>::Zero(3, 2), Matrix<float>::Zero(3, 2), 3),
                       doctest::Contains("the cache holds 4 sequences"), ShapeError);
  CHECK_THROWS_AS(cache.append(Matrix<float>::Zero(4, 2), Matrix<float>::Zero(4, 3), 4), ShapeError);
  cache.truncate(0);
  CHECK(cache.empty());
  CHECK_THROWS_AS(cache.truncate(1), ValueError);
  cache.clear();
  CHECK_NOTHROW(cache.append(Matrix<float>::Zero(2, 5), Matrix<float>::Zero(2, 5), 1));  // empty: may change shape
  CHECK(cache.length() == 2);
}
