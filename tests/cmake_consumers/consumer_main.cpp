// A consumer of eigenformer: one causal self-attention layer over a tiny batch. Built by each packaging
// test (find_package, add_subdirectory, FetchContent, pkg-config) to prove the library is usable that way.
#include <eigenformer/eigenformer.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>

// y (T = 3, C = 8) for the layer and input below, from PyTorch:
// tools/fixtures/make_consumer_expected.py (torch 1.13.0a0)
const double kExpected[3][8] = {
    {0.00012000000000000025, -0.00064999999999999975, -0.00064999999999999975, -0.00036999999999999967, 5.0000000000000212e-05, -0.00071999999999999961, -0.00071999999999999961, 0.00012000000000000025},
    {0.001080231901870404, 0.00096788630717998929, 0.0010478949659301687, 0.00083025787812094308, 0.0012602714718703055, 0.0011479186124927743, 0.0012279466437419319, 0.001080231901870404},
    {0.0023410015138380382, 0.0023362608262633183, 0.0026464726942223289, 0.0027816371177150708, 0.002787882553859671, 0.0027830128323029545, 0.0030931362587677596, 0.0023410015138380382},
};

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
  for (int t = 0; t < 3; ++t)
    for (int c = 0; c < 8; ++c) x(0, t, c) = static_cast<float>(0.1 * ((t * 8 + c) % 5) - 0.2 + 0.05 * t);
  const Tensor3<float> y = attention(x, AttentionMode::Causal);
  // Float arithmetic over |y| < 3.2e-3: each value within 5e-9 of PyTorch's float64 (measured: < 1e-9).
  double worst = 0;
  for (int t = 0; t < 3; ++t)
    for (int c = 0; c < 8; ++c) worst = std::max(worst, std::abs(static_cast<double>(y(0, t, c)) - kExpected[t][c]));
  std::cout << "eigenformer consumer: y(0, 2, 0) = " << y(0, 2, 0) << ", largest difference from PyTorch " << worst << "\n";
  return worst <= 5e-9 ? 0 : 1;
}
