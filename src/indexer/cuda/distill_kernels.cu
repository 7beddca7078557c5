// The indexer trainer's row kernels (distill_kernels.h). Reference: distill.cpp, through
// tests/model_cuda/cuda_distill_test.cpp.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cfloat>

#include "attention/cuda/cuda_check.h"
#include "core/error.h"
#include "indexer/cuda/distill_kernels.h"

namespace spf::cuda {

namespace {

constexpr int kThreads = 256;

cudaStream_t as_stream(void* s) {
  return static_cast<cudaStream_t>(s);
}

// Reduction of one value per thread over the block, the same tree every time; every thread gets
// the result. `red` holds kThreads / 32 floats.
template <bool kMax>
__device__ float block_reduce(float v, float* red) {
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // red may still be read from the previous reduction
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = red[0];
  for (int w = 1; w < kThreads / 32; ++w) v = kMax ? fmaxf(v, red[w]) : v + red[w];
  return v;
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16* x, int64_t rows, int64_t cols, int64_t ld,
                                   float* out) {
  const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (id >= rows * cols) return;
  const int64_t r = id / cols, c = id % cols;
  out[id] = __bfloat162float(x[r * ld + c]);
}

__global__ void target_rows_kernel(const float* s, int64_t lds, int64_t row0, int64_t n_keys,
                                   float scale, float weight, bool first, float* p) {
  __shared__ float red[kThreads / 32];
  const int64_t r = blockIdx.x, i = row0 + r;
  const int64_t visible = i + 1 < n_keys ? i + 1 : n_keys;
  const float* row = s + r * lds;
  float m = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < visible; j += kThreads) m = fmaxf(m, scale * row[j]);
  m = block_reduce<true>(m, red);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < visible; j += kThreads) sum += expf(scale * row[j] - m);
  sum = block_reduce<false>(sum, red);
  const float f = weight / sum;
  float* out = p + r * n_keys;
  for (int64_t j = threadIdx.x; j < n_keys; j += kThreads) {
    const float v = j < visible ? f * expf(scale * row[j] - m) : 0.0f;
    out[j] = first ? v : out[j] + v;
  }
}

__global__ void kl_rows_kernel(float* z, const float* p, int64_t n, float gscale, float* row_kl) {
  __shared__ float red[kThreads / 32];
  const int64_t i = blockIdx.x;
  float* row = z + i * n;
  const float* target = p + i * n;
  float m = -FLT_MAX;
  for (int64_t j = threadIdx.x; j <= i; j += kThreads) m = fmaxf(m, row[j]);
  m = block_reduce<true>(m, red);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j <= i; j += kThreads) sum += expf(row[j] - m);
  sum = block_reduce<false>(sum, red);
  const float lse = m + logf(sum);
  float kl = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    if (j > i) {
      row[j] = 0.0f;
      continue;
    }
    const float ls = row[j] - lse, pj = target[j];
    if (pj > 0.0f) kl += pj * (logf(pj) - ls);
    row[j] = gscale * (expf(ls) - pj);
  }
  kl = block_reduce<false>(kl, red);
  if (threadIdx.x == 0) row_kl[i] = kl;
}

// One warp per (token, head): dmix by a warp sum, dheads element-wise.
__global__ void mix_backward_kernel(const float* heads, const float* mix, const float* g, int64_t n,
                                    int H, int d, float* dheads, float* dmix) {
  const int64_t pair = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (pair >= n * H) return;
  const int64_t t = pair / H;
  const float m = mix[pair];
  const float* q = heads + pair * d;
  const float* gt = g + t * d;
  float* dh = dheads + pair * d;
  float dot = 0.0f;
  for (int e = lane; e < d; e += 32) {
    dh[e] = m * gt[e];
    dot += q[e] * gt[e];
  }
  for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
  if (lane == 0) dmix[pair] = dot;
}

unsigned blocks_for(int64_t n) {
  return unsigned((n + kThreads - 1) / kThreads);
}

}  // namespace

void distill_bf16_to_f32(const void* x, int64_t rows, int64_t cols, int64_t ld, float* out,
                         void* stream) {
  SPF_CHECK(x != nullptr && out != nullptr && rows >= 0 && cols >= 1 && ld >= cols,
            "distill bf16_to_f32: bad arguments (rows ", rows, ", cols ", cols, ", ld ", ld, ")");
  if (rows == 0) return;
  bf16_to_f32_kernel<<<blocks_for(rows * cols), kThreads, 0, as_stream(stream)>>>(
      static_cast<const __nv_bfloat16*>(x), rows, cols, ld, out);
  SPF_CUDA_CHECK(cudaGetLastError());
}

void distill_target_rows(const float* s, int64_t lds, int64_t rows, int64_t row0, int64_t n_keys,
                         float scale, float weight, bool first, float* p, void* stream) {
  SPF_CHECK(s != nullptr && p != nullptr && rows >= 0 && row0 >= 0 && n_keys >= row0 + rows &&
                lds >= (row0 + rows < n_keys ? row0 + rows : n_keys),
            "distill targets: bad arguments (rows ", rows, " at ", row0, ", keys ", n_keys,
            ", lds ", lds, ")");
  if (rows == 0) return;
  target_rows_kernel<<<unsigned(rows), kThreads, 0, as_stream(stream)>>>(s, lds, row0, n_keys,
                                                                         scale, weight, first, p);
  SPF_CUDA_CHECK(cudaGetLastError());
}

void distill_kl_rows(float* z, const float* p, int64_t n, float gscale, float* row_kl,
                     void* stream) {
  SPF_CHECK(z != nullptr && p != nullptr && row_kl != nullptr && n >= 0,
            "distill KL rows: bad arguments (n ", n, ")");
  if (n == 0) return;
  kl_rows_kernel<<<unsigned(n), kThreads, 0, as_stream(stream)>>>(z, p, n, gscale, row_kl);
  SPF_CUDA_CHECK(cudaGetLastError());
}

void distill_mix_backward(const float* heads, const float* mix, const float* g, int64_t n, int H,
                          int d, float* dheads, float* dmix, void* stream) {
  SPF_CHECK(heads != nullptr && mix != nullptr && g != nullptr && dheads != nullptr &&
                dmix != nullptr && n >= 0 && H >= 1 && d >= 1,
            "distill mix backward: bad arguments (n ", n, ", H ", H, ", d ", d, ")");
  if (n == 0) return;
  mix_backward_kernel<<<blocks_for(n * H * 32), kThreads, 0, as_stream(stream)>>>(
      heads, mix, g, n, H, d, dheads, dmix);
  SPF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spf::cuda
