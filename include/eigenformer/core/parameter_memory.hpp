// eigenformer/core/parameter_memory.hpp — the memory a layer's parameters are built in: zero-filled, or left for
// a loader to write.
//
// A layer built on its own starts from zeros (Linear, Embedding: `Matrix::Zero`), so that a model nobody loaded
// computes zeros, never garbage. from_pretrained builds a model only to overwrite every parameter with the
// checkpoint's values, and there the zero fill is pure cost: it is the first write to hundreds of megabytes of
// fresh memory, and a first write is what costs most when a model is loaded (the kernel maps and clears every
// page on first touch — on the virtual machine of docs/performance.md, "Loading", several microseconds per 4 KiB
// page: seconds for the 110M model). So while a LoaderWritesParameters scope is open on a thread, the layers built
// on that thread
//   1) leave their parameter matrices unfilled: the loader writes each one. load_checkpoint is strict — a
//      parameter missing from the file is a FormatError — so no unfilled value survives into a model that
//      from_pretrained returns (tests/models/test_loading.cpp checks every parameter, bit for bit);
//   2) ask Linux for transparent huge pages for them (madvise(MADV_HUGEPAGE); honoured when
//      /sys/kernel/mm/transparent_hugepage/enabled says always or madvise): the first write then maps 2 MiB at a
//      time instead of 4 KiB. Only the 2 MiB-aligned stretches inside each matrix can be huge pages, so small
//      matrices gain little; a matrix of 6 MB gains about two thirds, the embedding table nearly all.
//
//     Llama model = [&] {
//       LoaderWritesParameters unfilled;  // the loader below writes every parameter
//       return Llama(config);
//     }();
//     model.load(checkpoint);             // strict: every parameter, or a FormatError
//
// Tests build with EIGEN_INITIALIZE_MATRICES_BY_NAN: there "unfilled" means NaN, so a parameter that a loader
// missed shows up as NaN, not as luck.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

namespace detail {

/// How many LoaderWritesParameters scopes are open on this thread.
inline int& loader_writes_parameters_depth() {
  thread_local int depth = 0;
  return depth;
}

/// Asks for transparent huge pages over the 2 MiB-aligned stretch inside [data, data + bytes): a hint, given
/// before the memory is first written (a page already mapped stays a small page). Nothing on other systems; a
/// refusal (THP disabled, an old kernel) changes nothing but the speed.
inline void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHugePage = std::uintptr_t(2) << 20;
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = (first + kHugePage - 1) & ~(kHugePage - 1);  // rounded in, never out: only our memory
  const std::uintptr_t end = (first + bytes) & ~(kHugePage - 1);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data, (void)bytes;
#endif
}

}  // namespace detail

/// While alive, layers built on this thread leave their parameters unfilled (and on huge pages where possible),
/// for a loader that writes every one of them. Scopes nest.
class LoaderWritesParameters {
 public:
  LoaderWritesParameters() { ++detail::loader_writes_parameters_depth(); }
  ~LoaderWritesParameters() { --detail::loader_writes_parameters_depth(); }
  LoaderWritesParameters(const LoaderWritesParameters&) = delete;
  LoaderWritesParameters& operator=(const LoaderWritesParameters&) = delete;
};

/// True while a LoaderWritesParameters scope is open on this thread.
inline bool loader_writes_parameters() { return detail::loader_writes_parameters_depth() > 0; }

/// A new parameter of `rows` × `cols` (a Matrix, or a RowVector with rows = 1): zeros — or, while a
/// LoaderWritesParameters scope is open, unfilled memory advised for huge pages, which the loader will write.
template <class Dense>
Dense new_parameter(Index rows, Index cols) {
  if (!loader_writes_parameters()) return Dense::Zero(rows, cols);
  Dense m(rows, cols);
  detail::advise_huge_pages(m.data(), static_cast<std::size_t>(m.size()) * sizeof(typename Dense::Scalar));
  return m;
}

}  // namespace eigenformer
