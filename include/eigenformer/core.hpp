// eigenformer/core.hpp — the bottom layer (core/): errors, tensors and their layout, files, named parameters.
// Includes nothing of eigenformer above it.
#pragma once

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/types.hpp"
#include "eigenformer/core/tensor.hpp"
#include "eigenformer/core/threads.hpp"
#include "eigenformer/core/utf8.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/dtype.hpp"
#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/memory.hpp"
#include "eigenformer/core/allocator.hpp"
#include "eigenformer/core/parameter_memory.hpp"
#include "eigenformer/core/vector_instructions.hpp"
#include "eigenformer/core/sum_exp.hpp"
