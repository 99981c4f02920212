// eigenformer/core/types.hpp — the few plain types shared by every layer of the library, Eigen-free.
#pragma once

#include <cstdint>
#include <vector>

namespace eigenformer {

/// One token id: an index into a vocabulary (the largest, o200k_base, has ~200k entries).
using TokenId = std::int32_t;

/// A sequence of token ids, as tokenizers produce it and generation extends it.
using TokenSequence = std::vector<TokenId>;

}  // namespace eigenformer
