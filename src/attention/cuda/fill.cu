#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/fill.h"

namespace spf {

namespace {

// splitmix64 of (seed, i): independent, reproducible bits per element.
__device__ __forceinline__ uint64_t hash(uint64_t seed, int64_t i) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + uint64_t(i) + 1;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// [0, 1) from the top 24 bits.
__device__ __forceinline__ float unit(uint64_t z) {
  return float(z >> 40) * (1.0f / 16777216.0f);
}

enum class Kind { uniform_bf16, normal_bf16, uniform_f32, constant_f32 };

template <Kind K>
__global__ void fill_kernel(void* p, int64_t n, uint64_t seed, float a, float b) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (K == Kind::constant_f32) {
      static_cast<float*>(p)[i] = a;
    } else {
      const uint64_t z = hash(seed, i);
      if constexpr (K == Kind::uniform_bf16) {
        static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(a + (b - a) * unit(z));
      } else if constexpr (K == Kind::uniform_f32) {
        static_cast<float*>(p)[i] = a + (b - a) * unit(z);
      } else {  // normal(0, a): u1 in (0, 1], u2 from the hash of the hash
        const float u1 = 1.0f - unit(z), u2 = unit(hash(z, 0));
        static_cast<__nv_bfloat16*>(p)[i] =
            __float2bfloat16(a * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2));
      }
    }
  }
}

template <Kind K>
void launch(void* p, int64_t n, uint64_t seed, float a, float b, void* stream) {
  if (n <= 0) return;
  fill_kernel<K><<<1024, 256, 0, static_cast<cudaStream_t>(stream)>>>(p, n, seed, a, b);
  SPF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void cuda_fill_uniform_bf16(void* p, int64_t n, uint64_t seed, float lo, float hi, void* stream) {
  launch<Kind::uniform_bf16>(p, n, seed, lo, hi, stream);
}

void cuda_fill_normal_bf16(void* p, int64_t n, uint64_t seed, float std, void* stream) {
  launch<Kind::normal_bf16>(p, n, seed, std, 0.0f, stream);
}

void cuda_fill_uniform_f32(float* p, int64_t n, uint64_t seed, float lo, float hi, void* stream) {
  launch<Kind::uniform_f32>(p, n, seed, lo, hi, stream);
}

void cuda_fill_f32(float* p, int64_t n, float value, void* stream) {
  launch<Kind::constant_f32>(p, n, 0, value, 0.0f, stream);
}

}  // namespace spf
