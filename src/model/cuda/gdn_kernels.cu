// The element-wise and per-row parts of the GPU Gated DeltaNet mixer (gdn_kernels.h): conv +
// SiLU, L2 normalisation, gates, gated RMS norm, packing of the chunked form's inputs, and mix()
// chaining them around the delta rule (gdn_recurrent.cu, gdn_chunked.cu). Plain fp32 arithmetic:
// one thread per element, or one warp per (token, head) row where a row reduces. mix()'s prologue
// fuses conv + SiLU + L2 normalisation into one pass over m (a warp per (token, head) row).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

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
// elements, the pitch past the head dim zero). A block is 8 warps on 8 consecutive tokens of one
// head row, so the conv's overlapping reads of m hit L1. The conv is computed twice (for the
// norm, then for the store): cheaper than holding a row of any length in registers.
constexpr int kTokensPerBlock = kBlock / 32;

struct PrologueShape {
  int64_t T, C;
  int K, nk, dk, dv;
  float q_scale;
  int64_t out_stride;
  int k_pitch, v_pitch;
};

template <class In, class Out>
__global__ void conv_norm_kernel(const In* m, const float* w, const float* conv_state,
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
              uint16_t* out, Arena& scratch, void* stream, DeltaMode mode) {
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
                   d.dk,
                   d.dv,
                   1.0f / std::sqrt(float(d.dk)),
                   chunked ? packed_channels(d) : C,
                   chunked ? head_pitch(d.dk) : d.dk,
                   chunked ? head_pitch(d.dv) : d.dv};
  const TensorView xv = scratch.alloc(chunked ? DType::f16 : DType::f32, {T * ps.out_stride});
  SPF_CHECK(xv.device == Device::cuda, "gdn cuda mix: scratch arena is on ", device_name(xv.device),
            ", not cuda");
  const dim3 grid(blocks_for(T, kTokensPerBlock), unsigned(2 * d.nk + d.nv));
  if (chunked) {
    conv_norm_kernel<In, __half><<<grid, kBlock, 0, as_stream(stream)>>>(
        m, w.conv_w, conv_state, ps, static_cast<__half*>(xv.ptr));
  } else {
    conv_norm_kernel<In, float>
        <<<grid, kBlock, 0, as_stream(stream)>>>(m, w.conv_w, conv_state, ps, xv.data<float>());
  }
  SPF_CUDA_CHECK(cudaGetLastError());
  if (K > 1) {  // after the prologue has read the old state
    conv_state_kernel<In><<<blocks_for(C), kBlock, 0, as_stream(stream)>>>(m, T, C, K, conv_state);
    SPF_CUDA_CHECK(cudaGetLastError());
  }
  float* beta = scratch.alloc(DType::f32, {T * d.nv}).data<float>();
  float* g = scratch.alloc(DType::f32, {T * d.nv}).data<float>();
  gates(b, a, T, d.nv, w.A_log, w.dt_bias, beta, g, stream);
  if (chunked) {
    const uint16_t* x = static_cast<const uint16_t*>(xv.ptr);
    SPF_CHECK(reinterpret_cast<uintptr_t>(x) % 16 == 0,
              "gdn cuda mix: scratch not 16-byte aligned");
    const int64_t kv0 = int64_t(d.nk) * ps.k_pitch;
    // The gated norm runs in the chunked output kernel.
    delta_chunked(d, T, PackedInputs{x, x + kv0, x + 2 * kv0, ps.out_stride, beta, g}, state,
                  GatedNormOut{z, w.norm_w, eps, out}, scratch, stream);
    return;
  }
  float* o = scratch.alloc(DType::f32, {T * d.value_dim()}).data<float>();
  const float* x = xv.data<float>();
  delta_recurrent(d, T, {x, x + d.key_dim(), x + 2 * d.key_dim(), C, beta, g}, state, o, stream);
  launch_gated_rms_norm(o, z, T, d.nv, d.dv, w.norm_w, eps, out, stream);
}

}  // namespace

void mix(const Dims& d, int K, int64_t T, const uint16_t* m, const uint16_t* z, const float* a,
         const float* b, const MixerWeights& w, float eps, float* conv_state, float* state,
         uint16_t* out, Arena& scratch, void* stream, DeltaMode mode) {
  mix_impl(d, K, T, m, z, a, b, w, eps, conv_state, state, out, scratch, stream, mode);
}

void mix(const Dims& d, int K, int64_t T, const float* m, const uint16_t* z, const float* a,
         const float* b, const MixerWeights& w, float eps, float* conv_state, float* state,
         uint16_t* out, Arena& scratch, void* stream, DeltaMode mode) {
  mix_impl(d, K, T, m, z, a, b, w, eps, conv_state, state, out, scratch, stream, mode);
}

}  // namespace spf::cuda::gdn
