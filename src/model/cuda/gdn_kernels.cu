// The element-wise and per-row parts of the GPU Gated DeltaNet mixer (gdn_kernels.h): conv +
// SiLU, L2 normalisation, gates, gated RMS norm, packing of the chunked form's inputs, and mix()
// chaining them around the delta rule (gdn_recurrent.cu, gdn_chunked.cu). Plain fp32 arithmetic:
// one thread per element, or one warp per (token, head) row where a row reduces. mix()'s prologue
// fuses conv + SiLU + L2 normalisation into one pass over m (8 channels per thread, 16-byte
// accesses, a shuffle sum per head row; a warp per (token, head) row for other shapes).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "attention/cuda/cuda_check.h"
#include "core/error.h"
#include "model/cuda/gdn_kernels.h"

namespace spf::cuda::gdn {

namespace {

constexpr int kBlock = 256;

cudaStream_t as_stream(void* s) {
  return static_cast<cudaStream_t>(s);
}

unsigned blocks_for(int64_t n, int per_block = kBlock) {
  const int64_t b = (n + per_block - 1) / per_block;
  SPF_CHECK(b < (int64_t(1) << 31), "gdn cuda: launch of ", n, " items too large");
  return unsigned(b);
}

__device__ __forceinline__ float silu(float x) {
  return x / (1.0f + expf(-x));
}

__device__ __forceinline__ float to_f32(float x) {
  return x;
}
__device__ __forceinline__ float to_f32(uint16_t x) {
  return __bfloat162float(__ushort_as_bfloat16(x));
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

__global__ void conv_silu_kernel(const float* m, int64_t T, int64_t C, int K, const float* w,
                                 const float* conv_state, float* out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= T * C) return;
  const int64_t t = idx / C, c = idx % C;
  const int K1 = K - 1;
  float acc = 0.0f;
  for (int j = 0; j < K; ++j) {
    const int64_t tau = t - K1 + j;
    const float x = tau >= 0 ? m[tau * C + c] : conv_state[(K1 + tau) * C + c];
    acc += w[c * K + j] * x;
  }
  out[idx] = silu(acc);
}

// conv_state <- the last K-1 rows of (conv_state ++ m); one thread per channel, rows in ascending
// order, so a row of the old state is read before it is overwritten.
template <class In>
__global__ void conv_state_kernel(const In* m, int64_t T, int64_t C, int K, float* conv_state) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const int K1 = K - 1;
  for (int r = 0; r < K1; ++r) {
    const int64_t tau = T - K1 + r;
    conv_state[r * C + c] = tau >= 0 ? to_f32(m[tau * C + c]) : conv_state[(K1 + tau) * C + c];
  }
}

// One warp per (token, head).
__global__ void l2_normalize_kernel(float* x, int64_t T, int64_t stride, int n_heads, int dim,
                                    float scale) {
  const int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (row >= T * n_heads) return;
  float* v = x + (row / n_heads) * stride + (row % n_heads) * int64_t(dim);
  float ss = 0.0f;
  for (int i = lane; i < dim; i += 32) ss += v[i] * v[i];
  const float f = scale / sqrtf(warp_sum(ss) + 1e-6f);
  for (int i = lane; i < dim; i += 32) v[i] *= f;
}

__global__ void gates_kernel(const float* b, const float* a, int64_t T, int nv, const float* A_log,
                             const float* dt_bias, float* beta, float* g) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= T * nv) return;
  const int h = int(i % nv);
  beta[i] = 1.0f / (1.0f + expf(-b[i]));
  const float x = a[i] + dt_bias[h];
  const float softplus = x > 20.0f ? x : log1pf(expf(x));  // PyTorch's threshold
  g[i] = -expf(A_log[h]) * softplus;
}

__device__ __forceinline__ void store(float* p, float x) {
  *p = x;
}
__device__ __forceinline__ void store(uint16_t* p, float x) {
  *p = __bfloat16_as_ushort(__float2bfloat16_rn(x));
}
// The chunked form's packed inputs (PackedInputs) are fp16.
__device__ __forceinline__ void store(__half* p, float x) {
  *p = __float2half_rn(x);
}

// mix()'s prologue: per (token, head row) — q heads, then k heads, then v heads along the channel
// axis — x = SiLU(causal conv(m)), L2-normalised (times `q_scale` for q) for q and k, written at
// the row's place in `out` ([T][out_stride]; q / k heads every k_pitch, v heads every v_pitch
// elements, the pitch past the head dim zero). Two kernels compute the same values:
//  - conv_norm_vec_kernel (dk and dv multiples of 8, 16-byte aligned arrays, K <= 4): a thread
//    owns 8 consecutive channels of a head row and walks kConvTokens tokens in order, so m is read
//    once in 16-byte pieces (plus K - 1 rows of history per walk), the conv weights and the conv
//    window stay in registers, the conv is computed once, and the row's norm is a shuffle sum over
//    the `lanes` threads of the row (a power of two, so rows never straddle a warp).
//  - conv_norm_row_kernel (any shape): a warp per (token, head row), 8 warps on 8 consecutive
//    tokens of one row so the conv's overlapping reads of m hit L1; the conv is computed twice
//    (for the norm, then for the store): cheaper than holding a row of any length in registers.
// Both sum the conv taps in the same order (oldest first, from 0) and scale the same way; only the
// order of the norm's sum of squares differs.
constexpr int kTokensPerBlock = kBlock / 32;
constexpr int kVecChannels = 8;   // channels per thread of the vector kernel (16 bytes of bf16)
constexpr int kConvTokens = 32;   // tokens walked by each thread of the vector kernel
constexpr int kVecMaxTaps = 4;    // the vector kernel's largest conv width (Qwen3.5: 4)
constexpr int kVecMaxLanes = 32;  // threads per head row: head dims up to 256
// Threads per block of the vector kernel: small blocks fill the SMs in finer steps of registers.
constexpr int kVecBlock = 128;

struct PrologueShape {
  int64_t T, C;
  int K, nk, nv, dk, dv;
  float q_scale;
  int64_t out_stride;
  int k_pitch, v_pitch;
};

template <class In, class Out>
__global__ void conv_norm_row_kernel(const In* m, const float* w, const float* conv_state,
                                     const PrologueShape s, Out* out) {
  const int64_t t = int64_t(blockIdx.x) * kTokensPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (t >= s.T) return;
  const int row = int(blockIdx.y);
  const bool is_key = row < 2 * s.nk;  // q or k
  const int dim = is_key ? s.dk : s.dv;
  const int64_t in0 =
      is_key ? int64_t(row) * s.dk : 2 * int64_t(s.nk) * s.dk + int64_t(row - 2 * s.nk) * s.dv;
  const int64_t out0 = is_key ? int64_t(row) * s.k_pitch
                              : 2 * int64_t(s.nk) * s.k_pitch + int64_t(row - 2 * s.nk) * s.v_pitch;
  const int pitch = is_key ? s.k_pitch : s.v_pitch;
  const int K1 = s.K - 1;
  auto conv = [&](int i) {
    const int64_t c = in0 + i;
    float acc = 0.0f;
    for (int j = 0; j < s.K; ++j) {
      const int64_t tau = t - K1 + j;
      const float x = tau >= 0 ? to_f32(m[tau * s.C + c]) : conv_state[(K1 + tau) * s.C + c];
      acc += w[c * s.K + j] * x;
    }
    return silu(acc);
  };
  float f = 1.0f;
  if (is_key) {
    float ss = 0.0f;
    for (int i = lane; i < dim; i += 32) {
      const float y = conv(i);
      ss += y * y;
    }
    f = (row < s.nk ? s.q_scale : 1.0f) / sqrtf(warp_sum(ss) + 1e-6f);
  }
  Out* o = out + t * s.out_stride + out0;
  for (int i = lane; i < pitch; i += 32) store(o + i, i < dim ? f * conv(i) : 0.0f);
}

// 8 channels of one row of m as loaded (16 bytes of bf16, or 32 of f32), and as floats.
template <class In>
struct Raw8;
template <>
struct Raw8<uint16_t> {
  uint4 a;
  __device__ __forceinline__ void load(const uint16_t* p) {
    a = __ldg(reinterpret_cast<const uint4*>(p));
  }
  __device__ __forceinline__ void zero() { a = make_uint4(0, 0, 0, 0); }
  __device__ __forceinline__ void to_floats(float (&x)[8]) const {
    const uint32_t u[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      x[2 * i] = __uint_as_float(u[i] << 16);  // the lower address holds the lower half
      x[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
    }
  }
};
template <>
struct Raw8<float> {
  float4 a, b;
  __device__ __forceinline__ void load(const float* p) {
    a = __ldg(reinterpret_cast<const float4*>(p));
    b = __ldg(reinterpret_cast<const float4*>(p) + 1);
  }
  __device__ __forceinline__ void zero() { a = b = make_float4(0.0f, 0.0f, 0.0f, 0.0f); }
  __device__ __forceinline__ void to_floats(float (&x)[8]) const {
    x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w, x[4] = b.x, x[5] = b.y, x[6] = b.z, x[7] = b.w;
  }
};

__device__ __forceinline__ void load8_f32(const float* p, float (&x)[8]) {
  Raw8<float> r;
  r.load(p);
  r.to_floats(x);
}

__device__ __forceinline__ uint32_t half2_bits(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}
// 8 values to 16-byte aligned p: fp16 (one 16-byte store) or f32 (two).
__device__ __forceinline__ void store8(__half* p, const float (&y)[8]) {
  *reinterpret_cast<uint4*>(p) = make_uint4(half2_bits(y[0], y[1]), half2_bits(y[2], y[3]),
                                            half2_bits(y[4], y[5]), half2_bits(y[6], y[7]));
}
__device__ __forceinline__ void store8(float* p, const float (&y)[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(y[0], y[1], y[2], y[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(y[4], y[5], y[6], y[7]);
}

// Block: kVecBlock / lanes head rows (blockIdx.y) x kConvTokens tokens (blockIdx.x); thread `j` of
// a row owns channels [8 j, 8 j + 8) of it. Threads past the row's dim (or past the last row) carry
// zeros through the loop so that every lane of a warp reaches each shuffle.
template <class In, class Out, int K>
__global__ void __launch_bounds__(kVecBlock)
    conv_norm_vec_kernel(const In* m, const float* w, const float* conv_state,
                         const PrologueShape s, int lanes, Out* out) {
  constexpr int K1 = K - 1;
  constexpr int kHist = K1 > 0 ? K1 : 1;
  const int row = int(blockIdx.y) * (kVecBlock / lanes) + int(threadIdx.x) / lanes;
  const int j = int(threadIdx.x) % lanes;
  const bool is_key = row < 2 * s.nk;
  const int dim = is_key ? s.dk : s.dv;
  const bool active = row < 2 * s.nk + s.nv && kVecChannels * j < dim;
  const int64_t c =
      (is_key ? int64_t(row) * s.dk : 2 * int64_t(s.nk) * s.dk + int64_t(row - 2 * s.nk) * s.dv) +
      kVecChannels * j;
  const int64_t o0 =
      (is_key ? int64_t(row) * s.k_pitch
              : 2 * int64_t(s.nk) * s.k_pitch + int64_t(row - 2 * s.nk) * s.v_pitch) +
      kVecChannels * j;
  const float scale = row < s.nk ? s.q_scale : 1.0f;
  const int64_t t0 = int64_t(blockIdx.x) * kConvTokens;
  const int64_t t_end = min(t0 + kConvTokens, s.T);

  // wt[tap][i] = w[(c + i) * K + tap]: the 8 K weights of these channels are contiguous.
  float wt[K][kVecChannels];
  float hist[kHist][kVecChannels];  // hist[r]: the conv input of token t - K1 + r
#pragma unroll
  for (int e = 0; e < K * kVecChannels; ++e) wt[e % K][e / K] = 0.0f;
#pragma unroll
  for (int r = 0; r < kHist; ++r)
#pragma unroll
    for (int i = 0; i < kVecChannels; ++i) hist[r][i] = 0.0f;
  // A ring of the next kDepth tokens' loads (64 bytes per thread) stays in flight during the math.
  constexpr int kDepth = 64 / int(kVecChannels * sizeof(In));
  Raw8<In> ring[kDepth];
#pragma unroll
  for (int i = 0; i < kDepth; ++i) ring[i].zero();
  if (active) {
#pragma unroll
    for (int q = 0; q < K * kVecChannels / 4; ++q) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(w + c * K) + q);
      const float e4[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int u = 0; u < 4; ++u) wt[(4 * q + u) % K][(4 * q + u) / K] = e4[u];
    }
#pragma unroll
    for (int r = 0; r < K1; ++r) {
      const int64_t tau = t0 - K1 + r;
      if (tau >= 0) {
        Raw8<In> x;
        x.load(m + tau * s.C + c);
        x.to_floats(hist[r]);
      } else {
        load8_f32(conv_state + (K1 + tau) * s.C + c, hist[r]);
      }
    }
#pragma unroll
    for (int i = 0; i < kDepth; ++i)
      if (t0 + i < t_end) ring[i].load(m + (t0 + i) * s.C + c);
  }
  for (int64_t tb = t0; tb < t_end; tb += kDepth) {
#pragma unroll
    for (int i = 0; i < kDepth; ++i) {
      const int64_t t = tb + i;
      if (t >= t_end) break;  // uniform over the block: every lane reaches the same shuffles
      float x[kVecChannels], y[kVecChannels];
      ring[i].to_floats(x);
      if (active && t + kDepth < t_end) ring[i].load(m + (t + kDepth) * s.C + c);
      float ss = 0.0f;
#pragma unroll
      for (int e = 0; e < kVecChannels; ++e) {
        float acc = 0.0f;
#pragma unroll
        for (int r = 0; r < K1; ++r) acc += wt[r][e] * hist[r][e];
        acc += wt[K1][e] * x[e];
        y[e] = silu(acc);
        ss += y[e] * y[e];
      }
      for (int off = lanes / 2; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
      const float f = is_key ? scale / sqrtf(ss + 1e-6f) : 1.0f;
#pragma unroll
      for (int e = 0; e < kVecChannels; ++e) y[e] *= f;
      if (active) store8(out + t * s.out_stride + o0, y);
#pragma unroll
      for (int r = 0; r + 1 < K1; ++r)
#pragma unroll
        for (int e = 0; e < kVecChannels; ++e) hist[r][e] = hist[r + 1][e];
      if constexpr (K1 > 0) {
#pragma unroll
        for (int e = 0; e < kVecChannels; ++e) hist[K1 - 1][e] = x[e];
      }
    }
  }
}

// Threads per head row of conv_norm_vec_kernel (a power of two covering max(dk, dv) / 8), or 0
// where the shape or the arrays' alignment needs conv_norm_row_kernel.
int vec_prologue_lanes(const PrologueShape& s, const void* m, const float* w,
                       const float* conv_state, const void* out) {
  auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  if (s.K < 1 || s.K > kVecMaxTaps || s.dk % kVecChannels != 0 || s.dv % kVecChannels != 0 ||
      s.k_pitch % kVecChannels != 0 || s.v_pitch % kVecChannels != 0 ||
      s.out_stride % kVecChannels != 0 || !aligned(m) || !aligned(w) || !aligned(conv_state) ||
      !aligned(out))
    return 0;
  const int groups = std::max(s.dk, s.dv) / kVecChannels;
  int lanes = 1;
  while (lanes < groups) lanes *= 2;
  return lanes <= kVecMaxLanes ? lanes : 0;
}

template <class In, class Out>
void launch_conv_norm(const In* m, const float* w, const float* conv_state, const PrologueShape& s,
                      Out* out, cudaStream_t stream) {
  const unsigned rows = unsigned(2 * s.nk + s.nv);
  const int lanes = vec_prologue_lanes(s, m, w, conv_state, out);
  if (lanes == 0) {
    conv_norm_row_kernel<In, Out>
        <<<dim3(blocks_for(s.T, kTokensPerBlock), rows), kBlock, 0, stream>>>(m, w, conv_state, s,
                                                                              out);
    SPF_CUDA_CHECK(cudaGetLastError());
    return;
  }
  const unsigned rows_per_block = unsigned(kVecBlock / lanes);
  const dim3 grid(blocks_for(s.T, kConvTokens), (rows + rows_per_block - 1) / rows_per_block);
  auto go = [&](auto taps) {
    conv_norm_vec_kernel<In, Out, decltype(taps)::value>
        <<<grid, kVecBlock, 0, stream>>>(m, w, conv_state, s, lanes, out);
  };
  switch (s.K) {
    case 1:
      go(std::integral_constant<int, 1>{});
      break;
    case 2:
      go(std::integral_constant<int, 2>{});
      break;
    case 3:
      go(std::integral_constant<int, 3>{});
      break;
    default:
      go(std::integral_constant<int, 4>{});
      break;
  }
  SPF_CUDA_CHECK(cudaGetLastError());
}

// f32 delta-rule inputs -> the packed fp16 layout of PackedInputs, one thread per packed element.
__global__ void pack_kernel(const float* q, const float* k, const float* v, int64_t stride,
                            int64_t T, int nk, int nv, int dk, int dv, int kp, int vp,
                            __half* out) {
  const int64_t Cp = 2 * int64_t(nk) * kp + int64_t(nv) * vp;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= T * Cp) return;
  const int64_t t = idx / Cp;
  const int c = int(idx % Cp);
  float x = 0.0f;
  if (c < 2 * nk * kp) {
    const int head = c / kp, i = c % kp;
    const float* src = head < nk ? q + int64_t(head) * dk : k + int64_t(head - nk) * dk;
    if (i < dk) x = src[t * stride + i];
  } else {
    const int head = (c - 2 * nk * kp) / vp, i = (c - 2 * nk * kp) % vp;
    if (i < dv) x = v[t * stride + int64_t(head) * dv + i];
  }
  store(out + idx, x);
}

// One warp per (token, value head); out may be o itself (Out = float).
template <class Z, class Out>
__global__ void gated_rms_norm_kernel(const float* o, const Z* z, int64_t T, int nv, int dv,
                                      const float* w, float eps, Out* out) {
  const int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (row >= T * nv) return;
  const float* x = o + row * dv;
  const Z* zz = z + row * dv;
  float ss = 0.0f;
  for (int c = lane; c < dv; c += 32) ss += x[c] * x[c];
  const float inv = 1.0f / sqrtf(warp_sum(ss) / float(dv) + eps);
  for (int c = lane; c < dv; c += 32)
    store(out + row * dv + c, w[c] * (x[c] * inv) * silu(to_f32(zz[c])));
}

template <class Z, class Out>
void launch_gated_rms_norm(const float* o, const Z* z, int64_t T, int nv, int dv, const float* w,
                           float eps, Out* out, void* stream) {
  SPF_CHECK(T >= 0 && nv > 0 && dv > 0, "gdn cuda norm: bad shape T=", T, " nv=", nv, " dv=", dv);
  if (T == 0) return;
  gated_rms_norm_kernel<Z, Out>
      <<<blocks_for(T * nv * 32), kBlock, 0, as_stream(stream)>>>(o, z, T, nv, dv, w, eps, out);
  SPF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void conv_silu(const float* m, int64_t T, int64_t C, int K, const float* w, float* conv_state,
               float* out, void* stream) {
  SPF_CHECK(K >= 1 && C > 0 && T >= 0, "gdn cuda conv: bad shape T=", T, " C=", C, " K=", K);
  SPF_CHECK(out + T * C <= m || m + T * C <= out,
            "gdn cuda conv: out must not overlap m (no in-place conv on the GPU)");
  if (T == 0) return;
  conv_silu_kernel<<<blocks_for(T * C), kBlock, 0, as_stream(stream)>>>(m, T, C, K, w, conv_state,
                                                                        out);
  SPF_CUDA_CHECK(cudaGetLastError());
  if (K > 1) {
    conv_state_kernel<float>
        <<<blocks_for(C), kBlock, 0, as_stream(stream)>>>(m, T, C, K, conv_state);
    SPF_CUDA_CHECK(cudaGetLastError());
  }
}

void l2_normalize(float* x, int64_t T, int64_t stride, int n_heads, int dim, float scale,
                  void* stream) {
  SPF_CHECK(T >= 0 && n_heads > 0 && dim > 0 && stride >= int64_t(n_heads) * dim,
            "gdn cuda l2 norm: bad shape T=", T, " heads=", n_heads, " dim=", dim,
            " stride=", stride);
  if (T == 0) return;
  l2_normalize_kernel<<<blocks_for(T * n_heads * 32), kBlock, 0, as_stream(stream)>>>(
      x, T, stride, n_heads, dim, scale);
  SPF_CUDA_CHECK(cudaGetLastError());
}

void gates(const float* b, const float* a, int64_t T, int nv, const float* A_log,
           const float* dt_bias, float* beta, float* g, void* stream) {
  SPF_CHECK(T >= 0 && nv > 0, "gdn cuda gates: bad shape T=", T, " nv=", nv);
  if (T == 0) return;
  gates_kernel<<<blocks_for(T * nv), kBlock, 0, as_stream(stream)>>>(b, a, T, nv, A_log, dt_bias,
                                                                     beta, g);
  SPF_CUDA_CHECK(cudaGetLastError());
}

void gated_rms_norm(float* o, const float* z, int64_t T, int nv, int dv, const float* w, float eps,
                    void* stream) {
  launch_gated_rms_norm(o, z, T, nv, dv, w, eps, o, stream);
}

int64_t packed_channels(const Dims& d) {
  return 2 * int64_t(d.nk) * head_pitch(d.dk) + int64_t(d.nv) * head_pitch(d.dv);
}

PackedInputs pack_inputs(const Dims& d, int64_t T, const DeltaInputs& in, Arena& scratch,
                         void* stream) {
  d.validate();
  SPF_CHECK(T >= 0, "gdn cuda pack: negative token count ", T);
  const int64_t Cp = packed_channels(d);
  const TensorView xv = scratch.alloc(DType::f16, {std::max<int64_t>(T, 1) * Cp});
  SPF_CHECK(xv.device == Device::cuda, "gdn cuda pack: scratch arena is on ",
            device_name(xv.device), ", not cuda");
  uint16_t* x = static_cast<uint16_t*>(xv.ptr);
  SPF_CHECK(reinterpret_cast<uintptr_t>(x) % 16 == 0, "gdn cuda pack: scratch not 16-byte aligned");
  if (T > 0) {
    SPF_CHECK(in.q && in.k && in.v, "gdn cuda pack: null input pointer");
    pack_kernel<<<blocks_for(T * Cp), kBlock, 0, as_stream(stream)>>>(
        in.q, in.k, in.v, in.stride, T, d.nk, d.nv, d.dk, d.dv, head_pitch(d.dk), head_pitch(d.dv),
        reinterpret_cast<__half*>(x));
    SPF_CUDA_CHECK(cudaGetLastError());
  }
  const int64_t kv0 = int64_t(d.nk) * head_pitch(d.dk);
  return {x, x + kv0, x + 2 * kv0, Cp, in.beta, in.g};
}

namespace {

// mix() for m in bf16 bits (In = uint16_t) or f32.
template <class In>
void mix_impl(const Dims& d, int K, int64_t T, const In* m, const uint16_t* z, const float* a,
              const float* b, const MixerWeights& w, float eps, float* conv_state, float* state,
              uint16_t* out, Arena& scratch, void* stream, DeltaMode mode, NormPlacement norm) {
  d.validate();
  SPF_CHECK(K >= 1 && T >= 0, "gdn cuda mix: bad shape T=", T, " K=", K);
  if (mode == DeltaMode::automatic)
    mode = T <= kRecurrentMaxTokens ? DeltaMode::recurrent : DeltaMode::chunked;
  SPF_CHECK(mode == DeltaMode::recurrent || (d.dk <= kChunkedMaxDim && d.dv <= kChunkedMaxDim),
            "gdn cuda mix: the chunked form supports dk, dv <= ", kChunkedMaxDim, " (got dk=", d.dk,
            " dv=", d.dv, ")");
  SPF_CHECK(2 * d.nk + d.nv <= 65535, "gdn cuda mix: too many heads");
  if (T == 0) return;
  SPF_CHECK(m && z && a && b && w.conv_w && w.A_log && w.dt_bias && w.norm_w && conv_state &&
                state && out,
            "gdn cuda mix: null pointer");
  const int64_t C = d.channels();
  const bool chunked = mode == DeltaMode::chunked;
  PrologueShape ps{T,
                   C,
                   K,
                   d.nk,
                   d.nv,
                   d.dk,
                   d.dv,
                   1.0f / std::sqrt(float(d.dk)),
                   chunked ? packed_channels(d) : C,
                   chunked ? head_pitch(d.dk) : d.dk,
                   chunked ? head_pitch(d.dv) : d.dv};
  const TensorView xv = scratch.alloc(chunked ? DType::f16 : DType::f32, {T * ps.out_stride});
  SPF_CHECK(xv.device == Device::cuda, "gdn cuda mix: scratch arena is on ", device_name(xv.device),
            ", not cuda");
  if (chunked) {
    launch_conv_norm(m, w.conv_w, conv_state, ps, static_cast<__half*>(xv.ptr), as_stream(stream));
  } else {
    launch_conv_norm(m, w.conv_w, conv_state, ps, xv.data<float>(), as_stream(stream));
  }
  if (K > 1) {  // after the prologue has read the old state
    conv_state_kernel<In><<<blocks_for(C), kBlock, 0, as_stream(stream)>>>(m, T, C, K, conv_state);
    SPF_CUDA_CHECK(cudaGetLastError());
  }
  float* beta = scratch.alloc(DType::f32, {T * d.nv}).data<float>();
  float* g = scratch.alloc(DType::f32, {T * d.nv}).data<float>();
  gates(b, a, T, d.nv, w.A_log, w.dt_bias, beta, g, stream);
  // The delta rule's f32 output, then its gated RMS norm to bf16 (unless fused into the chunked
  // output kernel).
  auto f32_out = [&] { return scratch.alloc(DType::f32, {T * d.value_dim()}).data<float>(); };
  float* o = nullptr;
  if (chunked) {
    const uint16_t* x = static_cast<const uint16_t*>(xv.ptr);
    SPF_CHECK(reinterpret_cast<uintptr_t>(x) % 16 == 0,
              "gdn cuda mix: scratch not 16-byte aligned");
    const int64_t kv0 = int64_t(d.nk) * ps.k_pitch;
    const PackedInputs in{x, x + kv0, x + 2 * kv0, ps.out_stride, beta, g};
    if (norm == NormPlacement::fused) {
      delta_chunked(d, T, in, state, GatedNormOut{z, w.norm_w, eps, out}, scratch, stream);
      return;
    }
    o = f32_out();
    delta_chunked(d, T, in, state, o, scratch, stream);
  } else {
    o = f32_out();
    const float* x = xv.data<float>();
    delta_recurrent(d, T, {x, x + d.key_dim(), x + 2 * d.key_dim(), C, beta, g}, state, o, stream);
  }
  launch_gated_rms_norm(o, z, T, d.nv, d.dv, w.norm_w, eps, out, stream);
}

}  // namespace

void mix(const Dims& d, int K, int64_t T, const uint16_t* m, const uint16_t* z, const float* a,
         const float* b, const MixerWeights& w, float eps, float* conv_state, float* state,
         uint16_t* out, Arena& scratch, void* stream, DeltaMode mode, NormPlacement norm) {
  mix_impl(d, K, T, m, z, a, b, w, eps, conv_state, state, out, scratch, stream, mode, norm);
}

void mix(const Dims& d, int K, int64_t T, const float* m, const uint16_t* z, const float* a,
         const float* b, const MixerWeights& w, float eps, float* conv_state, float* state,
         uint16_t* out, Arena& scratch, void* stream, DeltaMode mode, NormPlacement norm) {
  mix_impl(d, K, T, m, z, a, b, w, eps, conv_state, state, out, scratch, stream, mode, norm);
}

}  // namespace spf::cuda::gdn
