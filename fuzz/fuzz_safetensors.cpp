// fuzz/fuzz_safetensors.cpp — the safetensors reader (core/safetensors.hpp) on arbitrary bytes.
//
// The input is written to a scratch file and opened as a .safetensors file: the header must be refused with
// a FormatError (or FileError) or accepted, and every accepted tensor must be readable in full, converted to
// double, from within the file — the reader promised "the tensors tile the data buffer exactly".
#include "fuzz_common.hpp"

#include <eigenformer/core/safetensors.hpp>

#include <vector>

using namespace eigenformer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_scratch("input.safetensors", std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::expect_typed([&] {
    SafeTensorsReader reader(path);
    std::uint64_t covered = 0;
    for (const TensorInfo& t : reader.tensors()) {
      // 1) What the header promised: in bounds, and no more values than bytes.
      EIGENFORMER_FUZZ_CHECK(t.begin <= t.end && t.end <= size);
      EIGENFORMER_FUZZ_CHECK(static_cast<std::uint64_t>(t.numel()) <= t.end - t.begin || t.numel() == 0);
      covered += t.end - t.begin;
      // 2) Every tensor reads, through the same conversion the model loaders use.
      std::vector<double> values(static_cast<std::size_t>(t.numel()));
      reader.read_into(t, values.data());
      EIGENFORMER_FUZZ_CHECK(reader.find(t.name) != nullptr);
    }
    EIGENFORMER_FUZZ_CHECK(covered <= size);
  });
  return 0;
}
