// One error style for CUDA runtime calls: SPF_CUDA_CHECK(expr) throws spf::Error naming the call,
// the CUDA error string and where.
#pragma once

#include <cuda_runtime.h>

#include "core/error.h"

#define SPF_CUDA_CHECK(expr)                                                                       \
  do {                                                                                             \
    const cudaError_t spf_cuda_err_ = (expr);                                                      \
    SPF_CHECK(spf_cuda_err_ == cudaSuccess, #expr, " failed: ", cudaGetErrorString(spf_cuda_err_), \
              " (", __FILE__, ":", __LINE__, ")");                                                 \
  } while (0)
