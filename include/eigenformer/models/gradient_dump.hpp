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
// (tools/training/make_*_grad_fixtures.py do exactly that).
//
// Two subtleties of names, both settled the way autograd settles them:
//  - A tensor stored once but read twice (tied weights: BERT's word embeddings are also its MLM decoder) has
//    one parameter here, and its buffer already holds the sum of both reads' gradients (the backward passes
//    add). It is written once, under its one name.
//  - A tensor stored under several names (T5 files store the shared embedding as `shared.weight`,
//    `encoder.embed_tokens.weight` and `decoder.embed_tokens.weight`) is one parameter in PyTorch, so each
//    name's .grad is that parameter's total gradient. `copies` lists the extra names; each gets the total.
//
// And one of layout: a file that stores tensors fused or transposed (GPT-2's Conv1D weights (in, out) and its
// fused c_attn: models/stored_layout.hpp) gets each gradient in the stored layout, under the stored name — the
// gradient of c_attn.weight is (C, 3C) = [dW_qᵀ | dW_kᵀ | dW_vᵀ], what autograd gives the tensor the file holds.
//
//     ParameterList<float> params = parameters_with_gradients(model);
//     float loss = ...forward, loss, backward...;
//     write_gradient_dump("grad.safetensors", loss, params, model.names());
//     // a file with aliases (bare names), tied copies or fused/transposed tensors:
//     const std::vector<StoredLayout> layouts = model.stored_layouts();
//     const GradientNames spelled = stored_gradient_names(Checkpoint(folder), model.names(),
//                                                         canonical_gradient_names(params, model.names(), layouts));
//     write_gradient_dump("grad.safetensors", loss, params, model.names(), layouts, spelled);
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/models/checkpoint.hpp"
#include "eigenformer/models/stored_layout.hpp"

namespace eigenformer {

/// How one checkpoint file spells the tensors of a --grad dump: the name each canonical Hugging Face name is
/// stored under in that file, and the further names it stores the same tensor under (each gets the total).
struct GradientNames {
  std::function<std::string(const std::string&)> stored;             // canonical HF name → the file's spelling
  std::function<std::vector<std::string>(const std::string&)> copies;  // the file's spelling → its other names
};

/// The spellings of `file` for the canonical names `canonical` (NameMapping::to_hf of every parameter, and the
/// StoredLayout names): each name's spellings are itself then names.aliases(name) (bare "h.0..." names of old
/// GPT-2 files; BART's model.shared.weight stored as encoder/decoder embed_tokens and, tied, lm_head.weight);
/// the first present in the file is the name written, and every further one present is a copy — one tensor in
/// PyTorch, so each of its names carries the same total gradient. A name with no spelling in the file (a
/// model built in code) keeps its canonical spelling.
inline GradientNames stored_gradient_names(const Checkpoint& file, const NameMapping& names,
                                           const std::vector<std::string>& canonical) {
  auto chosen = std::make_shared<std::map<std::string, std::string>>();               // canonical → spelling
  auto extra = std::make_shared<std::map<std::string, std::vector<std::string>>>();   // spelling → copies
  for (const std::string& name : canonical) {
    std::vector<std::string> spellings = {name};
    if (names.aliases) {
      for (std::string& a : names.aliases(name)) spellings.push_back(std::move(a));
    }
    std::vector<std::string> present;
    for (const std::string& s : spellings) {
      if (file.contains(s) && std::find(present.begin(), present.end(), s) == present.end()) present.push_back(s);
    }
    if (present.empty()) continue;
    (*chosen)[name] = present.front();
    (*extra)[present.front()] = std::vector<std::string>(present.begin() + 1, present.end());
  }
  GradientNames out;
  out.stored = [chosen](const std::string& name) {
    const auto it = chosen->find(name);
    return it != chosen->end() ? it->second : name;
  };
  out.copies = [extra](const std::string& name) {
    const auto it = extra->find(name);
    return it != extra->end() ? it->second : std::vector<std::string>{};
  };
  return out;
}

/// The canonical names a dump of `params` writes: names.to_hf of every parameter no rule of `layouts` holds,
/// then each rule's name (models/stored_layout.hpp). What stored_gradient_names() resolves.
template <class Scalar>
std::vector<std::string> canonical_gradient_names(const ParameterList<Scalar>& params, const NameMapping& names,
                                                  const std::vector<StoredLayout>& layouts = {}) {
  std::set<std::string> fused;
  for (const StoredLayout& rule : layouts) fused.insert(rule.parts.begin(), rule.parts.end());
  std::vector<std::string> out;
  for (const ParameterRef<Scalar>& p : params) {
    if (fused.count(p.name) == 0) out.push_back(names.to_hf ? names.to_hf(p.name) : p.name);
  }
  for (const StoredLayout& rule : layouts) out.push_back(rule.name);
  return out;
}

/// One tensor of a --grad dump: the file's name, the file's shape, the gradient in the file's layout.
template <class Scalar>
struct GradientTensor {
  std::string name;                 // "transformer.h.0.attn.c_attn.weight" (without the "grad." prefix)
  std::vector<std::int64_t> shape;  // as the file stores the tensor: (C, 3C) for c_attn.weight
  std::vector<Scalar> values;       // row-major
};

/// The tensors a dump of `params` holds for a file that stores some tensors fused or transposed (`layouts`) and
/// spells names its own way (`spelled`, from stored_gradient_names), in Scalar: each rule's parts' gradients
/// gathered into the stored layout exactly as save_checkpoint gathers the weights (stored_layout.hpp's
/// scatter_or_gather), every tensor under the file's spelling, then its copies. ValueError for a parameter
/// without a gradient buffer.
template <class Scalar>
std::vector<GradientTensor<Scalar>> gradient_tensors(const ParameterList<Scalar>& params, const NameMapping& names,
                                                     const std::vector<StoredLayout>& layouts, const GradientNames& spelled) {
  // 1) The gradients as a list of their own (data = the gradient buffer), so the layout code can gather them.
  ParameterList<Scalar> grads;
  for (const ParameterRef<Scalar>& p : params) {
    if (p.grad == nullptr) {
      throw ValueError(detail::cat("[gradient dump] parameter '", p.name,
                                   "' has no gradient buffer: collect the list with parameters_with_gradients()"));
    }
    grads.push_back({p.name, p.shape, p.grad, p.grad});
  }
  detail::StoredBuffers<Scalar> stored(grads, layouts);
  const auto spelling = [&spelled](const std::string& canonical) {
    return spelled.stored ? spelled.stored(canonical) : canonical;
  };
  std::vector<GradientTensor<Scalar>> out;
  const auto add = [&out, &spelled](const std::string& name, const std::vector<std::int64_t>& shape, const Scalar* data,
                                    std::int64_t n) {
    const std::vector<Scalar> values(data, data + n);
    out.push_back({name, shape, values});
    if (spelled.copies) {
      for (const std::string& other : spelled.copies(name)) out.push_back({other, shape, values});
    }
  };
  // 2) The tensors stored as themselves, then each stored tensor in the file's layout.
  for (const ParameterRef<Scalar>& g : grads) {
    if (stored.covered.count(g.name) == 0) add(spelling(names.to_hf ? names.to_hf(g.name) : g.name), g.shape, g.data, g.numel());
  }
  for (std::size_t r = 0; r < layouts.size(); ++r) {
    detail::scatter_or_gather(stored.shapes[r], layouts[r].transposed, stored.buffers[r], stored.parts[r], /*scatter=*/false);
    add(spelling(layouts[r].name), stored.shapes[r], stored.buffers[r].data(), static_cast<std::int64_t>(stored.buffers[r].size()));
  }
  return out;
}

/// write_gradient_dump for a file with stored layouts and its own spellings: `loss` and gradient_tensors(), as F32.
/// Same errors as above.
template <class Scalar>
void write_gradient_dump(const std::string& path, Scalar loss, const ParameterList<Scalar>& params,
                         const NameMapping& names, const std::vector<StoredLayout>& layouts, const GradientNames& spelled) {
  if (!(loss == loss) || loss - loss != Scalar(0)) {
    throw ValueError(detail::cat("[gradient dump] the loss is ", loss, "; nothing written to '", path, "'"));
  }
  const std::vector<GradientTensor<Scalar>> tensors = gradient_tensors(params, names, layouts, spelled);
  SafeTensorsWriter writer;
  writer.set_metadata("format", "pt");
  const Scalar loss_value[1] = {loss};
  writer.add("loss", {1}, loss_value, DType::F32);
  for (const GradientTensor<Scalar>& t : tensors) writer.add("grad." + t.name, t.shape, t.values.data(), DType::F32);
  writer.write(path);  // atomic: a temporary file renamed into place
}

/// Writes `loss` (shape [1]) and `grad.<hf name>` for every parameter of `params` (collected with gradients),
/// as F32: the common case, every tensor stored as itself under names.to_hf of its name. `copies(hf_name)` may
/// return further file names under which the same tensor is stored; each gets the same total gradient.
/// ValueError when a parameter has no gradient buffer (collected without gradients) or the loss is not finite.
template <class Scalar>
void write_gradient_dump(const std::string& path, Scalar loss, const ParameterList<Scalar>& params,
                         const NameMapping& names,
                         const std::function<std::vector<std::string>(const std::string&)>& copies = {}) {
  GradientNames spelled;
  spelled.copies = copies;
  write_gradient_dump(path, loss, params, names, std::vector<StoredLayout>{}, spelled);
}

}  // namespace eigenformer
