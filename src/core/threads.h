// Thread-level parallelism goes through these helpers (OpenMP underneath), so the thread count is
// controlled in one place (OMP_NUM_THREADS or set_num_threads).
#pragma once

#include <cblas.h>
#include <omp.h>

#include <cstdint>

namespace spf {

inline int num_threads() {
  return omp_get_max_threads();
}
// OpenBLAS keeps its own count, read once at start-up from the environment; it is set here too,
// so that a BLAS guard restoring "its" count (blas_threads.h) cannot undo a --threads choice
// (with OpenMP OpenBLAS, setting its count sets OpenMP's).
inline void set_num_threads(int n) {
  if (n <= 0) return;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

// Calls fn(i) for i in [0, n), spread over threads; fn must be safe to run concurrently.
template <class Fn>
void parallel_for(int64_t n, Fn&& fn) {
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

}  // namespace spf
