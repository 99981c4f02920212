// fuzz/fuzz_checkpoint_index.cpp — a sharded checkpoint's model.safetensors.index.json (models/checkpoint.hpp).
//
// A scratch folder holds the config.json and the two real shards of tests/fixtures/models/llama-gqa-sharded;
// the input becomes its index. The folder must be refused with a typed error (a shard that is not a plain file
// name in the folder, a tensor the shards do not hold, a shard's tensor the index does not list, ...) or
// opened, and then every tensor it lists reads from its shard.
#include "fuzz_common.hpp"

#include <eigenformer/models/checkpoint.hpp>

#include <filesystem>
#include <vector>

using namespace eigenformer;

namespace {

const std::string& folder() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    const fs::path source = fs::path(EIGENFORMER_FIXTURE_DIR) / "models" / "llama-gqa-sharded";
    const fs::path target = fs::path(fuzz::scratch_dir()) / "checkpoint";
    fs::create_directories(target);
    for (const char* name : {"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
      fs::copy_file(source / name, target / name, fs::copy_options::overwrite_existing);
    }
    return target.string();
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& dir = folder();
  fuzz::write_scratch("checkpoint/model.safetensors.index.json", std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::expect_typed([&] {
    Checkpoint checkpoint(dir);
    EIGENFORMER_FUZZ_CHECK(checkpoint.sharded());
    for (const TensorInfo& t : checkpoint.tensors()) {
      std::vector<float> values(static_cast<std::size_t>(t.numel()));
      checkpoint.read_into(t, values.data());
    }
  });
  return 0;
}
