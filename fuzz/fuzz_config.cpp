// fuzz/fuzz_config.cpp — config.json of one family (examples/<family>/<family>_config.hpp) on arbitrary bytes.
// Compiled three times, with EIGENFORMER_FUZZ_FAMILY 1 (llama), 2 (bert) or 3 (t5).
//
// Anything the reader accepts must describe a model it can lay out (the stack configs build, the parameter
// count is positive), and must survive the save path: to_json() read back gives the same config.json.
#include "fuzz_common.hpp"

#include <eigenformer/core/json.hpp>
#include <eigenformer/models/config.hpp>

#if EIGENFORMER_FUZZ_FAMILY == 1
#include "llama/llama_config.hpp"
using FamilyConfig = eigenformer::LlamaConfig;
#elif EIGENFORMER_FUZZ_FAMILY == 2
#include "bert/bert_config.hpp"
using FamilyConfig = eigenformer::BertConfig;
#elif EIGENFORMER_FUZZ_FAMILY == 3
#include "t5/t5_config.hpp"
using FamilyConfig = eigenformer::T5Config;
#else
#error "define EIGENFORMER_FUZZ_FAMILY as 1 (llama), 2 (bert) or 3 (t5)"
#endif

using namespace eigenformer;

namespace {

void lay_out(const FamilyConfig& f) {
#if EIGENFORMER_FUZZ_FAMILY == 1
  (void)f.stack();
  EIGENFORMER_FUZZ_CHECK(f.parameter_count() > 0);
#elif EIGENFORMER_FUZZ_FAMILY == 2
  (void)f.encoder();
#else
  (void)f.stacks();
  EIGENFORMER_FUZZ_CHECK(f.parameter_count() > 0);
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_typed([&] {
    const FamilyConfig config = FamilyConfig::from(ModelConfig(json::parse(text, "config.json"), "config.json"));
    lay_out(config);
    // The save path: what we write must read back to the same file.
    const json::Value saved = config.to_json();
    bool reread = false;
    fuzz::expect_typed([&] {
      const FamilyConfig again = FamilyConfig::from(ModelConfig(saved, "saved config.json"));
      EIGENFORMER_FUZZ_CHECK(json::dump(again.to_json()) == json::dump(saved));
      reread = true;
    });
    EIGENFORMER_FUZZ_CHECK(reread);
  });
  return 0;
}
