// tests/inspect/compare_dumps.cpp — compare(a, b, tolerance) from the command line, for the test that runs a
// family program with --dump against its PyTorch reference (what --compare will do inside the programs).
//
// Usage: inspect_compare_dumps A.safetensors B.safetensors ABSOLUTE_TOLERANCE
// Prints Comparison::to_text(); exit status 0 when the runs agree, 1 when they diverge, 2 on bad input.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "eigenformer/inspect/compare.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s A.safetensors B.safetensors ABSOLUTE_TOLERANCE\n", argv[0]);
    return 2;
  }
  try {
    eigenformer::inspect::Tolerance tolerance;
    tolerance.absolute = std::stod(argv[3]);
    const eigenformer::inspect::Comparison c = eigenformer::inspect::compare(argv[1], argv[2], tolerance);
    std::printf("%s", c.to_text().c_str());
    double worst = 0;
    for (const eigenformer::inspect::TensorComparison& t : c.tensors) {
      if (t.in_a && t.in_b && t.max_error > worst) worst = t.max_error;
    }
    std::printf("largest |a - b| over the tensors both runs hold: %.3g\n", worst);
    return c.agree() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}
