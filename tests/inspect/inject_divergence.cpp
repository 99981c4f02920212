// tests/inspect/inject_divergence.cpp — a copy of a dump with one value changed: the reference a test hands to a
// family program's --compare, to check that the program names the right layer, head and position.
//
// Usage: inspect_inject_divergence IN.safetensors OUT.safetensors TENSOR FLAT_INDEX DELTA
// Every tensor of IN is written to OUT in F64, TENSOR's value at FLAT_INDEX (row-major) increased by DELTA.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "eigenformer/core/safetensors.hpp"

int main(int argc, char** argv) {
  using namespace eigenformer;
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s IN.safetensors OUT.safetensors TENSOR FLAT_INDEX DELTA\n", argv[0]);
    return 2;
  }
  try {
    SafeTensorsReader in(argv[1]);
    SafeTensorsWriter out;
    const std::string target = argv[3];
    const std::size_t index = static_cast<std::size_t>(std::stoull(argv[4]));
    const double delta = std::stod(argv[5]);
    bool found = false;
    std::vector<std::vector<double>> keep;  // the writer holds pointers until write()
    keep.reserve(in.tensors().size());
    for (const TensorInfo& info : in.tensors()) {
      keep.push_back(in.read<double>(info.name));
      if (info.name == target) {
        if (index >= keep.back().size()) throw ValueError(detail::cat(target, " has only ", keep.back().size(), " values"));
        keep.back()[index] += delta;
        found = true;
      }
      out.add(info.name, info.shape, keep.back().data(), DType::F64);
    }
    if (!found) throw ValueError(detail::cat(argv[1], " holds no tensor '", target, "'"));
    out.write(argv[2]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
