// Device-side random fill for benchmarks and large tests (host fills of GB-sized tensors are slow).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/fill.h"

namespace spf {

namespace {

__global__ void fill_uniform_bf16_kernel(__nv_bfloat16* p, int64_t n, uint64_t seed, float lo,
                                         float hi) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    // splitmix64 of (seed, i): independent, reproducible values.
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + uint64_t(i) + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float u = float(z >> 40) * (1.0f / 16777216.0f);
    p[i] = __float2bfloat16(lo + (hi - lo) * u);
  }
}

}  // namespace

void cuda_fill_uniform_bf16(void* p, int64_t n, uint64_t seed, float lo, float hi, void* stream) {
  fill_uniform_bf16_kernel<<<1024, 256, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<__nv_bfloat16*>(p), n, seed, lo, hi);
  SPF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spf
