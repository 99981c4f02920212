// eigenformer/attention.hpp — attention (attention/): THE core (attention.hpp), the KV cache, the context
// that travels down a forward call, and multi-head attention made of layers/linear.hpp around the core.
#pragma once

#include "eigenformer/attention/attention.hpp"
#include "eigenformer/attention/kv_cache.hpp"
#include "eigenformer/attention/forward_context.hpp"
#include "eigenformer/attention/multi_head_attention.hpp"
