// eigenformer/core/threads.hpp — how many threads the library uses, and the one loop it runs on them.
//
// One setting for the whole library:
//     EIGENFORMER_THREADS=N     in the environment, read once, the first time the setting is asked for
//     set_threads(N)            in code (the family programs' --threads N calls this); overrides the variable
// Without either, one thread: results and timings stay what they were, and a machine shared with other work
// is not oversubscribed (decoding meets its threads at every product; a thread that waits for a busy core stalls
// the step). Opt in with the variable or --threads.
//
// Threads come from OpenMP and are optional: the library stays header-only with Eigen as its only dependency.
// A program compiled without OpenMP (no -fopenmp; in CMake, no OpenMP::OpenMP_CXX) runs everything on one
// thread whatever the setting says, and threads() returns 1. Eigen's own threading stays off
// (Eigen::setNbThreads(1)): its threads wait for each other by spinning, which on a shared machine made a
// training step 15× slower on 2 threads than on 1; the library shares out its products itself. In a build that
// hands large products to OpenBLAS (EIGENFORMER_USE_BLAS, cmake/blas.cmake) the setting goes to OpenBLAS too
// (openblas_set_num_threads), which then threads each product.
//
// Where the library uses the threads itself (each place keeps its one-thread reference beside it):
//   layers/linear.hpp        decoding's matrix-vector products (T = 1): output rows split into fixed chunks;
//                            the matrix products of prompts, encoders and training (product_threaded): fixed
//                            runs of the result's rows or columns
//   attention/attention.hpp  the single-query path of the attention core: one (batch, head) per task; the
//                            tiled path: one (batch, head, query tile) per task
// Both split the work in a way that does not depend on the thread count, so the results are bit-identical
// with 1, 2 or N threads (tests/speed/test_threads.cpp checks it).
//
// Measuring with 2 threads: pin them (OMP_PROC_BIND=true OMP_PLACES=cores); docs/performance.md.
#pragma once

#include <cstdlib>
#include <string>

#include <Eigen/Core>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(EIGEN_USE_BLAS) && defined(EIGENFORMER_OPENBLAS)
// A build with -DEIGENFORMER_USE_BLAS=ON linked with OpenBLAS (cmake/blas.cmake): Eigen hands its matrix products
// to OpenBLAS, which runs them on threads of its own, so the setting goes to OpenBLAS as well.
extern "C" void openblas_set_num_threads(int);
#endif

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/tensor.hpp"

namespace eigenformer {

namespace detail {

/// The process-wide setting: 0 until first read or set.
inline int& thread_setting() {
  static int threads = 0;
  return threads;
}

/// EIGENFORMER_THREADS parsed: a whole number ≥ 1, or ValueError naming the variable and the text.
inline int threads_from_environment(const char* text) {
  char* end = nullptr;
  const long n = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || n < 1 || n > 4096) {
    throw ValueError(detail::cat("[threads] EIGENFORMER_THREADS='", text, "' is not a thread count (a whole number from 1 to 4096)"));
  }
  return static_cast<int>(n);
}

}  // namespace detail

/// Sets the thread count for eigenformer's own loops (Eigen's threading stays off: see the top of this file).
/// n ≥ 1 (ValueError otherwise). Without
/// OpenMP the call is accepted and changes nothing: everything stays on one thread.
/// Call it before starting work, not from inside a parallel loop.
inline void set_threads(int n) {
  if (n < 1) throw ValueError(detail::cat("[set_threads] the thread count must be at least 1, got ", n));
  detail::thread_setting() = n;
  Eigen::setNbThreads(1);
#if defined(EIGEN_USE_BLAS) && defined(EIGENFORMER_OPENBLAS)
  openblas_set_num_threads(n);
#endif
}

/// The thread count in effect: set_threads' value, else EIGENFORMER_THREADS, else 1; always 1 in a build
/// without OpenMP.
inline int threads() {
#ifdef _OPENMP
  int& setting = detail::thread_setting();
  if (setting == 0) {
    const char* text = std::getenv("EIGENFORMER_THREADS");
    set_threads(text != nullptr && *text != '\0' ? detail::threads_from_environment(text) : 1);
  }
  return setting;
#else
  return 1;
#endif
}

/// Runs task(i) for i = 0 .. tasks−1 on threads() threads, statically shared out (thread k takes a contiguous
/// run of tasks). Each task must write only its own outputs; which thread runs a task never changes its result.
/// With one thread, or one task, or without OpenMP, it is a plain loop. Call it only from one thread at a time
/// (nested calls run serially: OpenMP does not nest by default).
template <class Task>
void parallel_for(Index tasks, const Task& task) {
#ifdef _OPENMP
  const int n = threads();
  if (n > 1 && tasks > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(n)
    for (Index i = 0; i < tasks; ++i) task(i);
    return;
  }
#endif
  for (Index i = 0; i < tasks; ++i) task(i);
}

}  // namespace eigenformer
