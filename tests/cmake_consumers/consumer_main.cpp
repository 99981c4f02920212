// A consumer of eigenformer: one causal self-attention layer over a tiny batch. Built by each packaging
// test (find_package, add_subdirectory, FetchContent, pkg-config) to prove the library is usable that way.
#include <eigenformer/eigenformer.hpp>

#include <cmath>
#include <iostream>

int main() {
  using namespace eigenformer;
  AttentionConfig config;
  config.width = 8;
  config.heads = 2;
  config.kv_heads = 1;
  MultiHeadAttention<float> attention(config);
  for (auto& p : named_parameters(attention)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = 0.01f * static_cast<float>(i % 7);
  }
  Tensor3<float> x(1, 3, 8);
  x.setConstant(1.0f);
  const Tensor3<float> y = attention(x, AttentionMode::Causal);
  std::cout << "eigenformer consumer: y(0, 2, 0) = " << y(0, 2, 0) << "\n";
  return std::isfinite(y(0, 2, 0)) ? 0 : 1;
}
