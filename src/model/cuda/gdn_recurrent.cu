// The token-by-token gated delta rule on the GPU (gdn_kernels.h: delta_recurrent), fp32
// throughout: the decode form, and the reference the chunked kernels are tested against.
//
// One CTA per (value head, 32 state columns): lane l owns column l of the slice, the 8 warps split
// the dk rows (warp w takes rows w, w + 8, ...), and the slice S[dk][32] stays in shared memory
// for the whole call. Per token: decay and the prediction r = S^T k (partial sums per warp, added
// by warp 0), delta = beta (v - r), S += k delta^T and o = S^T q (again per warp, then summed).
#include <cuda_runtime.h>

#include <algorithm>

#include "attention/cuda/cuda_check.h"
#include "core/error.h"
#include "model/cuda/gdn_kernels.h"

namespace spf::cuda::gdn {

namespace {

constexpr int kCols = 32;  // state columns per CTA (one per lane)
constexpr int kRowWarps = 8;

struct RecurrentParams {
  const float* q;
  const float* k;
  const float* v;
  int64_t stride;
  const float* beta;
  const float* g;
  int64_t T;
  int nv, dk, dv, group;
  float* state;
  float* out;
};

__global__ void __launch_bounds__(kCols* kRowWarps)
    delta_recurrent_kernel(const RecurrentParams p) {
  extern __shared__ float smem[];
  const int dk = p.dk;
  float* sS = smem;                          // [dk][kCols]
  float* sq = sS + dk * kCols;               // [dk]
  float* sk = sq + dk;                       // [dk]
  float* sred = sk + dk;                     // [kRowWarps][kCols]
  float* sdelta = sred + kRowWarps * kCols;  // [kCols]

  const int tid = threadIdx.x, lane = tid & 31, rw = tid >> 5;
  const int h = blockIdx.y, kh = h / p.group;
  const int c = int(blockIdx.x) * kCols + lane;
  const bool valid = c < p.dv;
  float* S = p.state + int64_t(h) * dk * p.dv;
  for (int i = rw; i < dk; i += kRowWarps)
    sS[i * kCols + lane] = valid ? S[int64_t(i) * p.dv + c] : 0.0f;

  const int64_t ldo = int64_t(p.nv) * p.dv;
  for (int64_t t = 0; t < p.T; ++t) {
    const float* qt = p.q + t * p.stride + int64_t(kh) * dk;
    const float* kt = p.k + t * p.stride + int64_t(kh) * dk;
    for (int i = tid; i < dk; i += kCols * kRowWarps) {
      sq[i] = qt[i];
      sk[i] = kt[i];
    }
    __syncthreads();
    const float decay = expf(p.g[t * p.nv + h]);
    float part = 0.0f;
    for (int i = rw; i < dk; i += kRowWarps) {
      const float s = sS[i * kCols + lane] * decay;
      sS[i * kCols + lane] = s;
      part += sk[i] * s;
    }
    sred[rw * kCols + lane] = part;
    __syncthreads();
    if (rw == 0) {
      float r = 0.0f;
      for (int w = 0; w < kRowWarps; ++w) r += sred[w * kCols + lane];
      const float vc = valid ? p.v[t * p.stride + int64_t(h) * p.dv + c] : 0.0f;
      sdelta[lane] = p.beta[t * p.nv + h] * (vc - r);
    }
    __syncthreads();
    const float delta = sdelta[lane];
    float o = 0.0f;
    for (int i = rw; i < dk; i += kRowWarps) {
      const float s = sS[i * kCols + lane] + sk[i] * delta;
      sS[i * kCols + lane] = s;
      o += sq[i] * s;
    }
    sred[rw * kCols + lane] = o;
    __syncthreads();
    if (rw == 0 && valid) {
      float sum = 0.0f;
      for (int w = 0; w < kRowWarps; ++w) sum += sred[w * kCols + lane];
      p.out[t * ldo + int64_t(h) * p.dv + c] = sum;
    }
    // The next token's writes of sq / sk / sred come after reads that precede the barrier above
    // (sred is rewritten only after the next token's second barrier).
  }
  __syncthreads();
  for (int i = rw; i < dk; i += kRowWarps)
    if (valid) S[int64_t(i) * p.dv + c] = sS[i * kCols + lane];
}

}  // namespace

void delta_recurrent(const Dims& d, int64_t T, const DeltaInputs& in, float* state, float* out,
                     void* stream) {
  d.validate();
  SPF_CHECK(T >= 0, "gdn cuda: negative token count ", T);
  if (T == 0) return;
  SPF_CHECK(in.q && in.k && in.v && in.beta && in.g && state && out,
            "gdn cuda: null input pointer");
  SPF_CHECK(in.stride >= std::max<int64_t>(d.key_dim(), d.value_dim()), "gdn cuda: row stride ",
            in.stride, " shorter than a head block");
  const size_t smem = (size_t(d.dk) * (kCols + 2) + kRowWarps * kCols + kCols) * sizeof(float);
  SPF_CHECK(smem <= 200 * 1024, "gdn cuda: dk ", d.dk, " too large for the recurrent kernel");
  static const bool opted = [] {
    SPF_CUDA_CHECK(cudaFuncSetAttribute(delta_recurrent_kernel,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
    return true;
  }();
  (void)opted;
  const RecurrentParams p{in.q, in.k, in.v, in.stride,   in.beta, in.g, T,
                          d.nv, d.dk, d.dv, d.nv / d.nk, state,   out};
  const dim3 grid(unsigned((d.dv + kCols - 1) / kCols), unsigned(d.nv));
  delta_recurrent_kernel<<<grid, kCols * kRowWarps, smem, static_cast<cudaStream_t>(stream)>>>(p);
  SPF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spf::cuda::gdn
