// eigenformer/models/stored_layout.hpp — tensors a file stores in another layout than ours: fused and transposed.
//
// Our weights are nn.Linear's (out, in), one matrix per projection (core/parameters.hpp), so most checkpoints map
// one file tensor to one parameter (checkpoint.hpp). Some files differ in two ways:
//
//   fused       one tensor holds several projections side by side along the output axis. GPT-2 stores its
//               query, key and value projections as one c_attn (C, 3C):  [W_q | W_k | W_v], and c_attn's bias
//               (3C) as [b_q, b_k, b_v] (Radford et al. 2019; transformers' GPT2Attention splits it after the
//               product: q, k, v = (x W + b).split(C, dim=2)).
//   transposed  the file stores (in, out) — GPT-2's "Conv1D" (a 1×1 convolution from the original TensorFlow code)
//               computes y = x W + b with W (in, out), where nn.Linear computes y = x Wᵀ + b with W (out, in).
//
// A StoredLayout rule says which of our parameters one file tensor holds and whether it is transposed:
//
//     StoredLayout rule;
//     rule.name = "h.0.attn.c_attn.weight";                  // (C, 3C) in the file
//     rule.parts = {"decoder.layers.0.attn.q.weight",        // (C, C) each, ours: (out, in)
//                   "decoder.layers.0.attn.k.weight",
//                   "decoder.layers.0.attn.v.weight"};
//     rule.transposed = true;
//
// Loading reads each stored tensor ONCE into a buffer of the file's shape — strict, like every other tensor: a
// missing or misshapen c_attn is a FormatError naming it — and then copies each part into place, transposing it.
// After loading, the model holds ordinary (out, in) matrices, so every forward pass is the same code as for any
// other family: the transposition costs nothing at run time. Saving gathers the parts back into the file's layout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/models/checkpoint.hpp"

namespace eigenformer {

/// One file tensor holding parameters of ours (see the top of this file).
struct StoredLayout {
  std::string name;                // the name in the file, as NameMapping::to_hf gives it (aliases still apply)
  std::vector<std::string> parts;  // our parameters, in the order they are concatenated along the output axis
  bool transposed = false;         // the file stores (in, out) — GPT-2's Conv1D — instead of (out, in)
};

namespace detail {

/// The shape the file gives a stored tensor made of `parts` (all matrices with the same input width, or all
/// vectors): (Σ out, in), or (in, Σ out) when transposed; (Σ n) for vectors.
template <class Scalar>
std::vector<std::int64_t> stored_shape(const StoredLayout& rule, const std::vector<const ParameterRef<Scalar>*>& parts) {
  const std::size_t rank = parts.front()->shape.size();
  std::int64_t outputs = 0;
  for (const ParameterRef<Scalar>* p : parts) {
    if (p->shape.size() != rank || (rank == 2 && p->shape[1] != parts.front()->shape[1]) || rank > 2) {
      throw ValueError(cat("[StoredLayout] '", rule.name, "': its parts must all be vectors or all be matrices of one ",
                           "input width; '", p->name, "' is ", shape_str(p->shape), ", '", parts.front()->name, "' is ",
                           shape_str(parts.front()->shape)));
    }
    outputs += p->shape[0];
  }
  if (rank == 1) return {outputs};
  const std::int64_t in = parts.front()->shape[1];
  return rule.transposed ? std::vector<std::int64_t>{in, outputs} : std::vector<std::int64_t>{outputs, in};
}

/// Copies between a stored tensor `stored` (its file layout, row-major) and its parts, in either direction.
/// Part j occupies outputs [offset_j, offset_j + out_j): rows of (Σ out, in), or columns of (in, Σ out).
template <class Scalar>
void scatter_or_gather(const std::vector<std::int64_t>& shape, bool transposed, std::vector<Scalar>& stored,
                       const std::vector<const ParameterRef<Scalar>*>& parts, bool scatter) {
  std::int64_t offset = 0;
  for (const ParameterRef<Scalar>* p : parts) {
    const std::int64_t out = p->shape[0];
    if (shape.size() == 1 || !transposed) {
      // Plain concatenation: part j is a contiguous run (rows offset .. offset + out of a row-major matrix).
      const std::int64_t row = shape.size() == 1 ? 1 : shape[1];
      Scalar* file = stored.data() + offset * row;
      if (scatter) std::copy(file, file + out * row, p->data);
      else std::copy(p->data, p->data + out * row, file);
    } else {
      // Transposed: ours (out, in) is columns offset .. offset + out of the file's (in, Σ out), turned over.
      const Index in = static_cast<Index>(shape[0]), total = static_cast<Index>(shape[1]);
      MatrixMap<Scalar> file(stored.data(), in, total);
      MatrixMap<Scalar> ours(p->data, static_cast<Index>(out), in);
      if (scatter) ours = file.middleCols(static_cast<Index>(offset), static_cast<Index>(out)).transpose();
      else file.middleCols(static_cast<Index>(offset), static_cast<Index>(out)) = ours.transpose();
    }
    offset += out;
  }
}

/// The rules resolved against a parameter list: for each rule its parts (pointers into `params`), its file shape,
/// and a buffer of that shape. Every part must be a parameter, and no parameter may belong to two rules.
template <class Scalar>
struct StoredBuffers {
  std::vector<std::vector<const ParameterRef<Scalar>*>> parts;
  std::vector<std::vector<std::int64_t>> shapes;
  std::vector<std::vector<Scalar>> buffers;
  std::set<std::string> covered;  // our names held by some rule

  StoredBuffers(const ParameterList<Scalar>& params, const std::vector<StoredLayout>& rules) {
    std::map<std::string, const ParameterRef<Scalar>*> by_name;
    for (const ParameterRef<Scalar>& p : params) by_name[p.name] = &p;
    for (const StoredLayout& rule : rules) {
      if (rule.parts.empty()) throw ValueError(cat("[StoredLayout] '", rule.name, "' lists no parameters"));
      std::vector<const ParameterRef<Scalar>*> list;
      for (const std::string& name : rule.parts) {
        auto it = by_name.find(name);
        if (it == by_name.end()) throw ValueError(cat("[StoredLayout] '", rule.name, "': the model has no parameter '", name, "'"));
        if (!covered.insert(name).second) {
          throw ValueError(cat("[StoredLayout] parameter '", name, "' is listed by two stored tensors"));
        }
        list.push_back(it->second);
      }
      shapes.push_back(stored_shape(rule, list));
      std::int64_t n = 1;
      for (std::int64_t d : shapes.back()) n *= d;
      buffers.emplace_back(static_cast<std::size_t>(n));
      parts.push_back(std::move(list));
    }
  }
};

/// The prefix that marks a stored tensor's buffer in the combined list handed to load_checkpoint/save_checkpoint.
inline const std::string& stored_marker() {
  static const std::string marker = "<stored>";
  return marker;
}

/// `names` extended to the marked buffers: "<stored>h.0.attn.c_attn.weight" is the file's own name.
inline NameMapping with_stored(const NameMapping& names) {
  NameMapping m = names;
  m.to_hf = [to_hf = names.to_hf](const std::string& ours) {
    const std::string& marker = stored_marker();
    if (ours.compare(0, marker.size(), marker) == 0) return ours.substr(marker.size());
    return to_hf(ours);
  };
  return m;
}

}  // namespace detail

/// load_checkpoint (checkpoint.hpp) for a model some of whose parameters the file stores fused or transposed:
/// each rule's tensor is read once in the file's layout (strictly: missing, misshapen and unexpected tensors are
/// FormatErrors naming them), then split and turned into our (out, in) parameters. `rules[i].name` is the
/// canonical file name; names.aliases applies to it as to any other (GPT-2's bare "h.0..." spellings).
template <class Scalar>
void load_checkpoint(ParameterList<Scalar>& params, Checkpoint& checkpoint, const NameMapping& names,
                     const std::vector<StoredLayout>& rules) {
  detail::StoredBuffers<Scalar> stored(params, rules);
  // 1) One list: the parameters stored as themselves, then one buffer per stored tensor, in the file's shape.
  ParameterList<Scalar> combined;
  for (const ParameterRef<Scalar>& p : params) {
    if (stored.covered.count(p.name) == 0) combined.push_back(p);
  }
  for (std::size_t r = 0; r < rules.size(); ++r) {
    combined.push_back({detail::stored_marker() + rules[r].name, stored.shapes[r], stored.buffers[r].data()});
  }
  // 2) The ordinary strict loader fills all of them.
  load_checkpoint(combined, checkpoint, detail::with_stored(names));
  // 3) Each buffer into its parts, transposed where the file stores (in, out).
  for (std::size_t r = 0; r < rules.size(); ++r) {
    detail::scatter_or_gather(stored.shapes[r], rules[r].transposed, stored.buffers[r], stored.parts[r], /*scatter=*/true);
  }
}

/// save_checkpoint (checkpoint.hpp) writing each rule's parts back as one tensor in the file's layout.
template <class Scalar>
void save_checkpoint(const std::string& folder, const json::Value& config, const ParameterList<Scalar>& params,
                     const NameMapping& names, const std::vector<StoredLayout>& rules, DType dtype = DType::F32) {
  detail::StoredBuffers<Scalar> stored(params, rules);
  ParameterList<Scalar> combined;
  for (const ParameterRef<Scalar>& p : params) {
    if (stored.covered.count(p.name) == 0) combined.push_back(p);
  }
  for (std::size_t r = 0; r < rules.size(); ++r) {
    detail::scatter_or_gather(stored.shapes[r], rules[r].transposed, stored.buffers[r], stored.parts[r], /*scatter=*/false);
    combined.push_back({detail::stored_marker() + rules[r].name, stored.shapes[r], stored.buffers[r].data()});
  }
  save_checkpoint(folder, config, combined, detail::with_stored(names), dtype);
}

}  // namespace eigenformer
