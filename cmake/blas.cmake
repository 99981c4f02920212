# cmake/blas.cmake — the optional switch that hands Eigen's matrix products to an external BLAS.
#
#     cmake --preset release -B build/blas -DEIGENFORMER_USE_BLAS=ON
#
# OFF (the default): the library stays header-only with Eigen as its only dependency, and every product is
# Eigen's own GEMM. ON: this project's own programs — tests, examples, benchmarks — are compiled with
# EIGEN_USE_BLAS, so Eigen calls the Fortran BLAS symbols (sgemm_, dgemm_, sgemv_, ...) for its matrix products
# instead of its own kernels, and are linked with the BLAS library found here. The installed package does not
# change: a program that uses eigenformer and wants the same defines EIGEN_USE_BLAS and links a BLAS itself.
#
# Which BLAS: EIGENFORMER_BLAS_LIBRARY (a cache variable: pass a path to choose another). OpenBLAS is looked for
# first — Debian's libopenblas0-pthread ships libopenblas.so.0 without a development package — then any
# libblas. A plain libblas.so (Debian's libblas-dev) is the netlib reference BLAS at link time and whatever
# `update-alternatives` selects for libblas.so.3 at run time: slow unless that is OpenBLAS.
# When the library is OpenBLAS (it exports openblas_set_num_threads), EIGENFORMER_OPENBLAS is defined too, and
# set_threads (core/threads.hpp) sets OpenBLAS's thread count: with EIGEN_USE_BLAS, Eigen does not run a
# product on its own threads, OpenBLAS does.
option(EIGENFORMER_USE_BLAS "Hand Eigen's matrix products to an external BLAS (OpenBLAS) in the tests, examples and benchmarks" OFF)

if(EIGENFORMER_USE_BLAS)
  find_library(EIGENFORMER_BLAS_LIBRARY
    NAMES openblas libopenblas.so.0 blas libblas.so.3
    PATH_SUFFIXES openblas-pthread openblas-openmp openblas
    DOC "The BLAS library EIGENFORMER_USE_BLAS links (OpenBLAS preferred)")
  if(NOT EIGENFORMER_BLAS_LIBRARY)
    message(FATAL_ERROR "EIGENFORMER_USE_BLAS=ON but no BLAS library was found (Debian: libopenblas0-pthread); "
                        "pass -DEIGENFORMER_BLAS_LIBRARY=/path/to/libopenblas.so.0")
  endif()

  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_LIBRARIES ${EIGENFORMER_BLAS_LIBRARY})
  # Eigen's binding calls the Fortran symbols: the library must have them.
  check_cxx_source_compiles("
    extern \"C\" void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*,
                             const float*, const int*, const float*, const int*, const float*, float*, const int*);
    int main() {
      const int zero = 0, one = 1;
      float a = 0;
      sgemm_(\"N\", \"N\", &zero, &zero, &zero, &a, &a, &one, &a, &one, &a, &a, &one);
      return 0;
    }" EIGENFORMER_BLAS_HAS_SGEMM)
  check_cxx_source_compiles("
    extern \"C\" void openblas_set_num_threads(int);
    int main() { openblas_set_num_threads(1); return 0; }" EIGENFORMER_BLAS_IS_OPENBLAS)
  unset(CMAKE_REQUIRED_LIBRARIES)
  if(NOT EIGENFORMER_BLAS_HAS_SGEMM)
    message(FATAL_ERROR "EIGENFORMER_USE_BLAS=ON: ${EIGENFORMER_BLAS_LIBRARY} has no sgemm_ (Fortran BLAS)")
  endif()

  # Directory-wide, for the targets defined after this point (tests, examples, bench); not the INTERFACE target.
  add_compile_definitions(EIGEN_USE_BLAS)
  if(EIGENFORMER_BLAS_IS_OPENBLAS)
    add_compile_definitions(EIGENFORMER_OPENBLAS)
  endif()
  link_libraries(${EIGENFORMER_BLAS_LIBRARY})
  message(STATUS "eigenformer: Eigen's products go to ${EIGENFORMER_BLAS_LIBRARY} (EIGEN_USE_BLAS; OpenBLAS: ${EIGENFORMER_BLAS_IS_OPENBLAS})")
endif()
