// eigenformer/core/vector_instructions.hpp — whether this build compiles the hand-written vector kernels.
//
// The fast paths of layers/linear.hpp (Linear's product kernel for many rows, the decoding kernel for 4 to 8 rows)
// and layers/packed_weight.hpp (int8 activations) are written for AVX-512, and for AVX2 with FMA. The compiler
// says which instructions the build may use (-march=native on a machine that has them; the release preset), so:
//
//     EIGENFORMER_VECTOR_KERNELS  1 in a build with AVX-512 or with AVX2 + FMA (and <immintrin.h> is included),
//                                 0 otherwise (-march=x86-64, other processors): the portable loops only.
//
// Which of the two a kernel takes is decided where it is written (#if defined(__AVX512F__) ... #else ...).
#pragma once

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define EIGENFORMER_VECTOR_KERNELS 1
#include <immintrin.h>
#else
#define EIGENFORMER_VECTOR_KERNELS 0
#endif
