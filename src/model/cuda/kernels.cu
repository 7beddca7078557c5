#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

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

// One block per row. Vec: 4 floats a load (dim and the row stride multiples of 4, x 16-byte
// aligned); the second pass re-reads the row from cache, so DRAM sees it once.
template <bool Vec>
__global__ void rms_norm_kernel(const float* x, int64_t ldx, int64_t dim, const float* w, float eps,
                                bool plus_one, uint16_t* out) {
  const int64_t t = blockIdx.x;
  const float* row = x + t * ldx;
  uint16_t* dst = out + t * dim;
  float ss = 0;
  if constexpr (Vec) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    for (int64_t c = threadIdx.x; c < dim / 4; c += blockDim.x) {
      const float4 v = r4[c];
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) ss += row[c] * row[c];
  }
  const float inv = rsqrtf(block_sum(ss) / float(dim) + eps);
  const auto scale = [&](float v, int64_t c) {
    return to_bf16(v * inv * (plus_one ? 1.0f + w[c] : w[c]));
  };
  if constexpr (Vec) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    for (int64_t c = threadIdx.x; c < dim / 4; c += blockDim.x) {
      const float4 v = r4[c];
      const uint2 o{uint32_t(scale(v.x, 4 * c)) | uint32_t(scale(v.y, 4 * c + 1)) << 16,
                    uint32_t(scale(v.z, 4 * c + 2)) | uint32_t(scale(v.w, 4 * c + 3)) << 16};
      reinterpret_cast<uint2*>(dst)[c] = o;
    }
  } else {
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) dst[c] = scale(row[c], c);
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

// 8 bf16 a 16-byte load, for rows whose widths and starts are multiples of 8 elements.
struct Bf16x8 {
  uint4 bits;
  __device__ float get(int i) const {
    const uint32_t w = (&bits.x)[i / 2];
    return to_f32(uint16_t(i % 2 ? w >> 16 : w & 0xffffu));
  }
  __device__ void set(int i, float f) {
    uint32_t& w = (&bits.x)[i / 2];
    const uint32_t b = to_bf16(f);
    w = i % 2 ? (w & 0xffffu) | (b << 16) : (w & 0xffff0000u) | b;
  }
};

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// One block per token row (rows up to 2^31: blockIdx.x), no per-element division.
template <bool Vec>
__global__ void swiglu_kernel(const uint16_t* gu, int64_t I, uint16_t* out) {
  const int64_t t = blockIdx.x;
  const uint16_t* g = gu + t * 2 * I;
  const uint16_t* u = g + I;
  uint16_t* o = out + t * I;
  if constexpr (Vec) {
    for (int64_t c = threadIdx.x; c < I / 8; c += blockDim.x) {
      const Bf16x8 gv{reinterpret_cast<const uint4*>(g)[c]},
          uv{reinterpret_cast<const uint4*>(u)[c]};
      Bf16x8 r;
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const float x = gv.get(e);
        r.set(e, x * sigmoid_f(x) * uv.get(e));
      }
      reinterpret_cast<uint4*>(o)[c] = r.bits;
    }
  } else {
    for (int64_t i = threadIdx.x; i < I; i += blockDim.x) {
      const float x = to_f32(g[i]);
      o[i] = to_bf16(x * sigmoid_f(x) * to_f32(u[i]));
    }
  }
}

// One block per token row; Vec when head_dim and the gate's strides are multiples of 8.
template <bool Vec>
__global__ void sigmoid_gate_kernel(uint16_t* att, const uint16_t* gate, int64_t gate_ld,
                                    int64_t gate_head_ld, int heads, int head_dim) {
  const int64_t t = blockIdx.x;
  uint16_t* a = att + t * int64_t(heads) * head_dim;
  const uint16_t* gr = gate + t * gate_ld;
  if constexpr (Vec) {
    const int per_head = head_dim / 8;
    for (int c = threadIdx.x; c < heads * per_head; c += blockDim.x) {
      const int h = c / per_head, d8 = c % per_head;
      const Bf16x8 gv{reinterpret_cast<const uint4*>(gr + h * gate_head_ld)[d8]};
      Bf16x8 av{reinterpret_cast<const uint4*>(a)[c]};
#pragma unroll
      for (int e = 0; e < 8; ++e) av.set(e, av.get(e) * sigmoid_f(gv.get(e)));
      reinterpret_cast<uint4*>(a)[c] = av.bits;
    }
  } else {
    for (int c = threadIdx.x; c < heads * head_dim; c += blockDim.x) {
      const int h = c / head_dim, d = c % head_dim;
      a[c] = to_bf16(to_f32(a[c]) * sigmoid_f(to_f32(gr[h * gate_head_ld + d])));
    }
  }
}

// One block per row.
template <class T>
__global__ void add_bias_kernel(T* y, int64_t ld, const float* bias, int64_t cols) {
  T* row = y + int64_t(blockIdx.x) * ld;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    if constexpr (sizeof(T) == 2) {
      row[c] = to_bf16(to_f32(row[c]) + bias[c]);
    } else {
      row[c] += bias[c];
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
  SPF_CHECK(n < (int64_t(1) << 31), "rms_norm: ", n, " rows exceed one grid");
  const bool vec = dim % 4 == 0 && ldx % 4 == 0 && aligned16(x) && aligned16(out);
  const unsigned threads = unsigned(norm_threads(vec ? dim / 4 : dim));
  if (vec) {
    rms_norm_kernel<true>
        <<<unsigned(n), threads, 0, as_stream(stream)>>>(x, ldx, dim, w, eps, plus_one, out);
  } else {
    rms_norm_kernel<false>
        <<<unsigned(n), threads, 0, as_stream(stream)>>>(x, ldx, dim, w, eps, plus_one, out);
  }
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
  SPF_CHECK(n < (int64_t(1) << 31), "swiglu: ", n, " rows exceed one grid");
  const bool vec = I % 8 == 0 && aligned16(gu) && aligned16(out);
  const int threads = int(std::clamp<int64_t>((vec ? I / 8 : I + 31) / 32 * 32, 64, 256));
  if (vec) {
    swiglu_kernel<true><<<unsigned(n), threads, 0, as_stream(stream)>>>(gu, I, out);
  } else {
    swiglu_kernel<false><<<unsigned(n), threads, 0, as_stream(stream)>>>(gu, I, out);
  }
  check_launch();
}

void sigmoid_gate(uint16_t* att, const uint16_t* gate, int64_t gate_ld, int64_t gate_head_ld,
                  int64_t n, int heads, int head_dim, void* stream) {
  const int64_t total = n * heads * head_dim;
  if (total <= 0) return;
  SPF_CHECK(n < (int64_t(1) << 31), "sigmoid_gate: ", n, " rows exceed one grid");
  const bool vec = head_dim % 8 == 0 && gate_ld % 8 == 0 && gate_head_ld % 8 == 0 &&
                   aligned16(att) && aligned16(gate);
  if (vec) {
    sigmoid_gate_kernel<true><<<unsigned(n), 128, 0, as_stream(stream)>>>(
        att, gate, gate_ld, gate_head_ld, heads, head_dim);
  } else {
    sigmoid_gate_kernel<false><<<unsigned(n), 128, 0, as_stream(stream)>>>(
        att, gate, gate_ld, gate_head_ld, heads, head_dim);
  }
  check_launch();
}

void add_bias_bf16(uint16_t* y, int64_t ld, const float* bias, int64_t n, int64_t cols,
                   void* stream) {
  if (n * cols <= 0) return;
  SPF_CHECK(n < (int64_t(1) << 31), "add_bias: ", n, " rows exceed one grid");
  add_bias_kernel<<<unsigned(n), 256, 0, as_stream(stream)>>>(y, ld, bias, cols);
  check_launch();
}

void add_bias_f32(float* y, int64_t ld, const float* bias, int64_t n, int64_t cols, void* stream) {
  if (n * cols <= 0) return;
  SPF_CHECK(n < (int64_t(1) << 31), "add_bias: ", n, " rows exceed one grid");
  add_bias_kernel<<<unsigned(n), 256, 0, as_stream(stream)>>>(y, ld, bias, cols);
  check_launch();
}

}  // namespace spf::cuda
