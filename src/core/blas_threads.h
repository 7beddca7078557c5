// OpenBLAS must run single-threaded while our OpenMP workers each call sgemm on their own tile:
// otherwise every tile call would try to fan out over the BLAS thread pool (oversubscription and
// lock contention). The guard is process-global; executors are entered from one thread at a time.
#pragma once

#include <cblas.h>

namespace spf::detail {

class BlasSingleThread {
 public:
  BlasSingleThread() : saved_(openblas_get_num_threads()) {
    if (saved_ != 1) openblas_set_num_threads(1);
  }
  ~BlasSingleThread() {
    if (saved_ != 1) openblas_set_num_threads(saved_);
  }
  BlasSingleThread(const BlasSingleThread&) = delete;
  BlasSingleThread& operator=(const BlasSingleThread&) = delete;

 private:
  int saved_;
};

}  // namespace spf::detail
