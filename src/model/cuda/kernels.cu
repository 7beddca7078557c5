#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "attention/cuda/cuda_check.h"
#include "core/error.h"
#include "model/cuda/kernels.h"

namespace spf::cuda {

namespace {

__device__ __forceinline__ float to_f32(uint16_t b) {
  return __bfloat162float(__ushort_as_bfloat16(b));
}
__device__ __forceinline__ uint16_t to_bf16(float f) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
}
__device__ __forceinline__ float sigmoid_f(float x) {
  return 1.0f / (1.0f + expf(-x));
}

cudaStream_t as_stream(void* s) {
  return static_cast<cudaStream_t>(s);
}

// Blocks for a grid-stride loop over count elements.
unsigned grid_for(int64_t count, int threads) {
  return unsigned(std::min<int64_t>((count + threads - 1) / threads, 65536));
}

void check_launch() {
  SPF_CUDA_CHECK(cudaGetLastError());
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ float block_sum(float v) {
  __shared__ float partial[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  float s = lane < warps ? partial[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  __syncthreads();  // partial is reused by the next call
  return s;
}

__global__ void embed_kernel(const uint16_t* table, int64_t hidden, const int32_t* ids,
                             float* out) {
  const int64_t t = blockIdx.x;
  const uint16_t* row = table + int64_t(ids[t]) * hidden;
  for (int64_t c = threadIdx.x; c < hidden; c += blockDim.x) out[t * hidden + c] = to_f32(row[c]);
}

__global__ void rms_norm_kernel(const float* x, int64_t ldx, int64_t dim, const float* w, float eps,
                                bool plus_one, uint16_t* out) {
  const int64_t t = blockIdx.x;
  const float* row = x + t * ldx;
  float ss = 0;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) ss += row[c] * row[c];
  const float inv = rsqrtf(block_sum(ss) / float(dim) + eps);
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    const float g = plus_one ? 1.0f + w[c] : w[c];
    out[t * dim + c] = to_bf16(row[c] * inv * g);
  }
}

// One warp per (token, head); the head's values staged in shared memory (head_dim <= 512).
constexpr int kRopeWarps = 4;
constexpr int kMaxHeadDim = 512;

__global__ void head_norm_rope_kernel(HeadNormRope a) {
  __shared__ float vals[kRopeWarps][kMaxHeadDim];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t item = int64_t(blockIdx.x) * kRopeWarps + warp;
  if (item >= a.n * a.heads) return;
  const int64_t t = item / a.heads;
  const int h = int(item % a.heads);
  const uint16_t* src = a.src + t * a.src_ld + h * a.src_head_ld;
  float* v = vals[warp];
  float ss = 0;
  for (int i = lane; i < a.head_dim; i += 32) {
    v[i] = to_f32(src[i]);
    ss += v[i] * v[i];
  }
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  if (a.norm != nullptr) {
    const float inv = rsqrtf(ss / float(a.head_dim) + a.eps);
    for (int i = lane; i < a.head_dim; i += 32)
      v[i] = v[i] * inv * (a.plus_one ? 1.0f + a.norm[i] : a.norm[i]);
  }
  __syncwarp();
  const int half = a.rot / 2;
  const float pos = float(a.pos0 + t);
  uint16_t* dst = a.dst + t * a.dst_ld + int64_t(h) * a.head_dim;
  for (int i = lane; i < a.head_dim; i += 32) {
    float r = v[i];
    if (i < a.rot) {
      const int j = i < half ? i : i - half;
      float sn, cs;
      sincosf(pos * a.inv_freq[j], &sn, &cs);
      r = i < half ? v[i] * cs - v[i + half] * sn : v[i] * cs + v[i - half] * sn;
    }
    dst[i] = to_bf16(r);
  }
}

__global__ void swiglu_kernel(const uint16_t* gu, int64_t n, int64_t I, uint16_t* out) {
  const int64_t total = n * I;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = e / I, i = e % I;
    const float g = to_f32(gu[t * 2 * I + i]), u = to_f32(gu[t * 2 * I + I + i]);
    out[e] = to_bf16(g * sigmoid_f(g) * u);
  }
}

__global__ void sigmoid_gate_kernel(uint16_t* att, const uint16_t* gate, int64_t gate_ld,
                                    int64_t gate_head_ld, int64_t n, int heads, int head_dim) {
  const int64_t total = n * heads * head_dim;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = e / (int64_t(heads) * head_dim);
    const int h = int(e / head_dim % heads), d = int(e % head_dim);
    const float g = to_f32(gate[t * gate_ld + h * gate_head_ld + d]);
    att[e] = to_bf16(to_f32(att[e]) * sigmoid_f(g));
  }
}

template <class T>
__global__ void add_bias_kernel(T* y, int64_t ld, const float* bias, int64_t n, int64_t cols) {
  const int64_t total = n * cols;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = e / cols, c = e % cols;
    if constexpr (sizeof(T) == 2) {
      y[t * ld + c] = to_bf16(to_f32(y[t * ld + c]) + bias[c]);
    } else {
      y[t * ld + c] += bias[c];
    }
  }
}

int norm_threads(int64_t dim) {
  return dim >= 2048 ? 1024 : dim >= 512 ? 256 : 128;
}

}  // namespace

void embed_rows(const uint16_t* table, int64_t hidden, const int32_t* ids, int64_t n, float* out,
                void* stream) {
  if (n <= 0) return;
  embed_kernel<<<unsigned(n), 256, 0, as_stream(stream)>>>(table, hidden, ids, out);
  check_launch();
}

void rms_norm_to_bf16(const float* x, int64_t ldx, int64_t n, int64_t dim, const float* w,
                      float eps, bool plus_one, uint16_t* out, void* stream) {
  if (n <= 0) return;
  rms_norm_kernel<<<unsigned(n), norm_threads(dim), 0, as_stream(stream)>>>(x, ldx, dim, w, eps,
                                                                            plus_one, out);
  check_launch();
}

void head_norm_rope(const HeadNormRope& a, void* stream) {
  SPF_CHECK(a.head_dim > 0 && a.head_dim <= kMaxHeadDim, "head_norm_rope: head_dim ", a.head_dim,
            " outside 1..", kMaxHeadDim);
  SPF_CHECK(a.rot >= 0 && a.rot <= a.head_dim && a.rot % 2 == 0, "head_norm_rope: rotary dims ",
            a.rot, " must be even and <= head_dim ", a.head_dim);
  const int64_t items = a.n * a.heads;
  if (items <= 0) return;
  const unsigned blocks = unsigned((items + kRopeWarps - 1) / kRopeWarps);
  head_norm_rope_kernel<<<blocks, kRopeWarps * 32, 0, as_stream(stream)>>>(a);
  check_launch();
}

void swiglu(const uint16_t* gu, int64_t n, int64_t I, uint16_t* out, void* stream) {
  if (n * I <= 0) return;
  swiglu_kernel<<<grid_for(n * I, 256), 256, 0, as_stream(stream)>>>(gu, n, I, out);
  check_launch();
}

void sigmoid_gate(uint16_t* att, const uint16_t* gate, int64_t gate_ld, int64_t gate_head_ld,
                  int64_t n, int heads, int head_dim, void* stream) {
  const int64_t total = n * heads * head_dim;
  if (total <= 0) return;
  sigmoid_gate_kernel<<<grid_for(total, 256), 256, 0, as_stream(stream)>>>(
      att, gate, gate_ld, gate_head_ld, n, heads, head_dim);
  check_launch();
}

void add_bias_bf16(uint16_t* y, int64_t ld, const float* bias, int64_t n, int64_t cols,
                   void* stream) {
  if (n * cols <= 0) return;
  add_bias_kernel<<<grid_for(n * cols, 256), 256, 0, as_stream(stream)>>>(y, ld, bias, n, cols);
  check_launch();
}

void add_bias_f32(float* y, int64_t ld, const float* bias, int64_t n, int64_t cols, void* stream) {
  if (n * cols <= 0) return;
  add_bias_kernel<<<grid_for(n * cols, 256), 256, 0, as_stream(stream)>>>(y, ld, bias, n, cols);
  check_launch();
}

}  // namespace spf::cuda
