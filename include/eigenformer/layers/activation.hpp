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

/// Backward of y = act(x), element-wise:  dx = dy ⊙ act'(x).
///   x  (N, F)  the activation's input, as the forward kept it (an FFN's act.up or act.gate, before act)
///   dy (N, F)  ∂loss/∂y       dx (N, F)  ∂loss/∂x, written; may be dy itself (in place)
/// The derivatives, from the definitions above (Φ the standard normal CDF, φ(x) = e^(−x²/2)/√(2π) its density):
///   ReLU'(x)      = 1 for x > 0, else 0            (0 at x = 0, as PyTorch's threshold_backward)
///   GELU'(x)      = Φ(x) + x φ(x)                   (product rule on x · Φ(x))
///   GELU_tanh'(x) = ½(1 + t) + ½ x (1 − t²) √(2/π) (1 + 3·0.044715 x²),   t = tanh(√(2/π)(x + 0.044715 x³))
///   SiLU'(x)      = σ(x) (1 + x (1 − σ(x)))         (product rule on x · σ(x), with σ' = σ(1 − σ))
template <class Scalar>
void activation_backward(Activation act, const Eigen::Ref<const Matrix<Scalar>>& x, const Eigen::Ref<const Matrix<Scalar>>& dy,
                         Eigen::Ref<Matrix<Scalar>> dx) {
  if (dy.rows() != x.rows() || dy.cols() != x.cols() || dx.rows() != x.rows() || dx.cols() != x.cols()) {
    throw ShapeError(detail::cat("[activation_backward] ", to_string(act), ": input ", detail::shape_str(shape_of(x)),
                                 ", output gradient ", detail::shape_str(shape_of(dy)), " and input gradient ",
                                 detail::shape_str(shape_of(dx)), " must have one shape"));
  }
  using Array = Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Array a = x.array();
  Array derivative(a.rows(), a.cols());  // act'(x)
  switch (act) {
    case Activation::ReLU:
      derivative = (a > Scalar(0)).template cast<Scalar>();
      break;
    case Activation::GeluErf: {
      const Scalar inv_sqrt_2pi = Scalar(0.3989422804014327);  // 1/√(2π)
      const Array cdf = Scalar(0.5) * (Scalar(1) + (a * Scalar(M_SQRT1_2)).erf());
      const Array pdf = inv_sqrt_2pi * (Scalar(-0.5) * a.square()).exp();
      derivative = cdf + a * pdf;
      break;
    }
    case Activation::GeluTanh: {
      const Scalar k = Scalar(0.7978845608028654);  // √(2/π)
      const Scalar c = Scalar(0.044715);
      const Array t = (k * (a + c * a.cube())).tanh();
      derivative = Scalar(0.5) * (Scalar(1) + t) + Scalar(0.5) * a * (Scalar(1) - t.square()) * k * (Scalar(1) + Scalar(3) * c * a.square());
      break;
    }
    case Activation::SiLU: {
      const Array sigma = Scalar(1) / (Scalar(1) + (-a).exp());
      derivative = sigma * (Scalar(1) + a * (Scalar(1) - sigma));
      break;
    }
  }
  dx.array() = dy.array() * derivative;
}

}  // namespace eigenformer
