// eigenformer/layers/activation.hpp — the non-linearities of the feed-forward network.
//
//   ReLU(x)      = max(0, x)                                          (Vaswani et al. 2017; t5-small)
//   GELU(x)      = x · Φ(x) = ½ x (1 + erf(x / √2))                   (Hendrycks & Gimpel 2016; BERT)
//   GELU_tanh(x) = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))           (the same paper's approximation;
//                                                                     GPT-2, T5 v1.1 "gelu_new")
//   SiLU(x)      = x · σ(x) = x / (1 + e^(-x))                        (Elfwing et al. 2017; Llama's SwiGLU)
#pragma once

#include <unsupported/Eigen/SpecialFunctions>  // erf on arrays

#include <optional>
#include <string>
#include <string_view>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

enum class Activation { ReLU, GeluErf, GeluTanh, SiLU };

inline const char* to_string(Activation a) {
  switch (a) {
    case Activation::ReLU: return "relu";
    case Activation::GeluErf: return "gelu";
    case Activation::GeluTanh: return "gelu_tanh";
    case Activation::SiLU: return "silu";
  }
  return "?";
}

/// The activation a Hugging Face config names ("hidden_act", "feed_forward_proj"), or nullopt.
inline std::optional<Activation> activation_from_name(std::string_view name) {
  if (name == "relu") return Activation::ReLU;
  if (name == "gelu") return Activation::GeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_tanh" || name == "gelu_fast") {
    return Activation::GeluTanh;
  }
  if (name == "silu" || name == "swish") return Activation::SiLU;
  return std::nullopt;
}

/// x ← act(x), element-wise, in place.
template <class Scalar>
void apply_activation(Activation act, Eigen::Ref<Matrix<Scalar>> x) {
  auto a = x.array();
  switch (act) {
    case Activation::ReLU:
      a = a.max(Scalar(0));
      break;
    case Activation::GeluErf:
      a = Scalar(0.5) * a * (Scalar(1) + (a * Scalar(M_SQRT1_2)).erf());
      break;
    case Activation::GeluTanh: {
      const Scalar k = Scalar(0.7978845608028654);  // √(2/π)
      a = Scalar(0.5) * a * (Scalar(1) + (k * (a + Scalar(0.044715) * a.cube())).tanh());
      break;
    }
    case Activation::SiLU:
      a = a / (Scalar(1) + (-a).exp());
      break;
  }
}

}  // namespace eigenformer
