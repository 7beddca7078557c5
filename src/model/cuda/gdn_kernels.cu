// The element-wise and per-row parts of the GPU Gated DeltaNet mixer (gdn_kernels.h): conv +
// SiLU, L2 normalisation, gates, gated RMS norm, and mix() chaining them around the delta rule
// (gdn_recurrent.cu, gdn_chunked.cu). Plain fp32 kernels: one thread per element, or one warp per
// (token, head) row where a row reduces.
#include <cuda_bf16.h>
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
__global__ void conv_state_kernel(const float* m, int64_t T, int64_t C, int K, float* conv_state) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const int K1 = K - 1;
  for (int r = 0; r < K1; ++r) {
    const int64_t tau = T - K1 + r;
    conv_state[r * C + c] = tau >= 0 ? m[tau * C + c] : conv_state[(K1 + tau) * C + c];
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

// One warp per (token, value head); out may be o itself (Out = float).
template <class Out>
__global__ void gated_rms_norm_kernel(const float* o, const float* z, int64_t T, int nv, int dv,
                                      const float* w, float eps, Out* out) {
  const int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (row >= T * nv) return;
  const float* x = o + row * dv;
  const float* zz = z + row * dv;
  float ss = 0.0f;
  for (int c = lane; c < dv; c += 32) ss += x[c] * x[c];
  const float inv = 1.0f / sqrtf(warp_sum(ss) / float(dv) + eps);
  for (int c = lane; c < dv; c += 32) store(out + row * dv + c, w[c] * (x[c] * inv) * silu(zz[c]));
}

template <class Out>
void launch_gated_rms_norm(const float* o, const float* z, int64_t T, int nv, int dv,
                           const float* w, float eps, Out* out, void* stream) {
  SPF_CHECK(T >= 0 && nv > 0 && dv > 0, "gdn cuda norm: bad shape T=", T, " nv=", nv, " dv=", dv);
  if (T == 0) return;
  gated_rms_norm_kernel<Out>
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
    conv_state_kernel<<<blocks_for(C), kBlock, 0, as_stream(stream)>>>(m, T, C, K, conv_state);
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

void mix(const Dims& d, int K, int64_t T, const float* m, const float* z, const float* a,
         const float* b, const MixerWeights& w, float eps, float* conv_state, float* state,
         uint16_t* out, Arena& scratch, void* stream, DeltaMode mode) {
  d.validate();
  SPF_CHECK(K >= 1 && T >= 0, "gdn cuda mix: bad shape T=", T, " K=", K);
  if (mode == DeltaMode::automatic)
    mode = T <= kRecurrentMaxTokens ? DeltaMode::recurrent : DeltaMode::chunked;
  SPF_CHECK(mode == DeltaMode::recurrent || (d.dk <= kChunkedMaxDim && d.dv <= kChunkedMaxDim),
            "gdn cuda mix: the chunked form supports dk, dv <= ", kChunkedMaxDim, " (got dk=", d.dk,
            " dv=", d.dv, ")");
  if (T == 0) return;
  SPF_CHECK(m && z && a && b && w.conv_w && w.A_log && w.dt_bias && w.norm_w && conv_state &&
                state && out,
            "gdn cuda mix: null pointer");
  const int64_t C = d.channels();
  const TensorView xv = scratch.alloc(DType::f32, {T * C});
  SPF_CHECK(xv.device == Device::cuda, "gdn cuda mix: scratch arena is on ", device_name(xv.device),
            ", not cuda");
  float* x = xv.data<float>();
  conv_silu(m, T, C, K, w.conv_w, conv_state, x, stream);
  l2_normalize(x, T, C, d.nk, d.dk, 1.0f / std::sqrt(float(d.dk)), stream);
  l2_normalize(x + d.key_dim(), T, C, d.nk, d.dk, 1.0f, stream);
  float* beta = scratch.alloc(DType::f32, {T * d.nv}).data<float>();
  float* g = scratch.alloc(DType::f32, {T * d.nv}).data<float>();
  gates(b, a, T, d.nv, w.A_log, w.dt_bias, beta, g, stream);
  float* o = scratch.alloc(DType::f32, {T * d.value_dim()}).data<float>();
  const DeltaInputs in{x, x + d.key_dim(), x + 2 * d.key_dim(), C, beta, g};
  if (mode == DeltaMode::recurrent) {
    delta_recurrent(d, T, in, state, o, stream);
  } else {
    delta_chunked(d, T, in, state, o, scratch, stream);
  }
  launch_gated_rms_norm(o, z, T, d.nv, d.dv, w.norm_w, eps, out, stream);
}

}  // namespace spf::cuda::gdn
