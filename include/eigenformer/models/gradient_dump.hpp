// eigenformer/models/gradient_dump.hpp — the --grad format: a loss and the gradient of every stored tensor.
//
// The family programs' --grad FILE.safetensors writes, in F32:
//
//     loss                 (1)        the mean cross-entropy the family's objective defines (docs/training.md)
//     grad.<hf name>       (shape of the tensor)   ∂loss/∂tensor, for every tensor the checkpoint stores,
//                                                  under the name the file stores it under
//
// so that anyone can check our hand-written backward passes against autograd: load the same checkpoint in
// PyTorch, compute the same loss, call loss.backward() and compare tensor by tensor
// (tools/training/make_model_grad_fixtures.py does exactly that).
//
// Two subtleties of names, both settled the way autograd settles them:
//  - A tensor stored once but read twice (tied weights: BERT's word embeddings are also its MLM decoder) has
//    one parameter here, and its buffer already holds the sum of both reads' gradients (the backward passes
//    add). It is written once, under its one name.
//  - A tensor stored under several names (T5 files store the shared embedding as `shared.weight`,
//    `encoder.embed_tokens.weight` and `decoder.embed_tokens.weight`) is one parameter in PyTorch, so each
//    name's .grad is that parameter's total gradient. `copies` lists the extra names; each gets the total.
//
//     ParameterList<float> params = parameters_with_gradients(model);
//     float loss = ...forward, loss, backward...;
//     write_gradient_dump("grad.safetensors", loss, params, model.names());
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/models/checkpoint.hpp"

namespace eigenformer {

/// Writes `loss` (shape [1]) and `grad.<hf name>` for every parameter of `params` (collected with gradients),
/// as F32. `copies(hf_name)` may return further file names under which the same tensor is stored; each gets
/// the same total gradient. ValueError when a parameter has no gradient buffer (collected without gradients)
/// or the loss is not finite.
template <class Scalar>
void write_gradient_dump(const std::string& path, Scalar loss, const ParameterList<Scalar>& params,
                         const NameMapping& names,
                         const std::function<std::vector<std::string>(const std::string&)>& copies = {}) {
  const char* where = "[gradient dump] ";
  if (!(loss == loss) || loss - loss != Scalar(0)) {
    throw ValueError(detail::cat(where, "the loss is ", loss, "; nothing written to '", path, "'"));
  }
  SafeTensorsWriter writer;
  writer.set_metadata("format", "pt");
  const Scalar loss_value[1] = {loss};
  writer.add("loss", {1}, loss_value, DType::F32);
  for (const ParameterRef<Scalar>& p : params) {
    if (p.grad == nullptr) {
      throw ValueError(detail::cat(where, "parameter '", p.name,
                                   "' has no gradient buffer: collect the list with parameters_with_gradients()"));
    }
    const std::string hf = names.to_hf ? names.to_hf(p.name) : p.name;
    writer.add("grad." + hf, p.shape, p.grad, DType::F32);
    if (copies) {
      for (const std::string& other : copies(hf)) writer.add("grad." + other, p.shape, p.grad, DType::F32);
    }
  }
  writer.write(path);  // atomic: a temporary file renamed into place
}

}  // namespace eigenformer
