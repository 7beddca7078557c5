// The indexer's mix + RoPE + bf16 tail on the GPU (indexer_finish.h); reference in
// indexer_finish_reference.cpp, test in tests/model_cuda/cuda_indexer_test.cpp.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "attention/cuda/cuda_check.h"
#include "core/error.h"
#include "indexer/cuda/indexer_finish.h"

namespace spf {

namespace {

// Element c of vector v after the head mix; explicit roundings keep nvcc from fusing into FMAs.
__device__ __forceinline__ float mixed(const IndexerFinishArgs& a, int64_t v, int c) {
  if (a.mix == nullptr) return a.in[v * a.dim + c];
  float acc = 0.0f;
  for (int h = 0; h < a.heads; ++h)
    acc = __fadd_rn(acc, __fmul_rn(a.mix[v * a.heads + h], a.in[(v * a.heads + h) * a.dim + c]));
  return acc;
}

// One thread per output element.
__global__ void indexer_finish_kernel(const IndexerFinishArgs a) {
  const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (id >= a.n_vec * a.dim) return;
  const int64_t v = id / a.dim;
  const int e = int(id % a.dim);
  const int half = a.rope_dims / 2;
  float r = mixed(a, v, e);
  if (e < 2 * half) {
    const int i = e < half ? e : e - half;
    const float pos = float(double(a.pos0 + v / a.vecs_per_pos));
    float sn, cs;
    sincosf(__fmul_rn(pos, a.inv_freq[i]), &sn, &cs);
    if (a.inverse) sn = -sn;
    if (e < half) {
      const float b = mixed(a, v, e + half);
      r = __fsub_rn(__fmul_rn(r, cs), __fmul_rn(b, sn));
    } else {
      const float x = mixed(a, v, i);
      r = __fadd_rn(__fmul_rn(r, cs), __fmul_rn(x, sn));
    }
  }
  if (a.out_f32 != nullptr) {
    a.out_f32[id] = r;
  } else {
    reinterpret_cast<__nv_bfloat16*>(a.out)[id] = __float2bfloat16_rn(r);
  }
}

}  // namespace

void cuda_indexer_finish(const IndexerFinishArgs& a, void* stream) {
  SPF_CHECK(a.in != nullptr && (a.out != nullptr) != (a.out_f32 != nullptr) && a.in != a.out_f32 &&
                a.n_vec >= 0 && a.dim >= 1 && a.heads >= 1 && a.vecs_per_pos >= 1 &&
                a.rope_dims >= 0 && a.rope_dims <= a.dim &&
                (a.rope_dims == 0 || a.inv_freq != nullptr) && (a.heads == 1 || a.mix != nullptr),
            "indexer finish: bad arguments (n_vec ", a.n_vec, ", dim ", a.dim, ", heads ", a.heads,
            ", rope_dims ", a.rope_dims, ")");
  const int64_t n = a.n_vec * a.dim;
  if (n == 0) return;
  constexpr int kThreads = 256;
  indexer_finish_kernel<<<unsigned((n + kThreads - 1) / kThreads), kThreads, 0,
                          static_cast<cudaStream_t>(stream)>>>(a);
  SPF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spf
