// The chunked gated delta rule on the GPU (gdn_kernels.h: delta_chunked), the UT/WY form of
// gdn::delta_chunked split into three kernels so that only the state recurrence is sequential:
//
// The inputs are the packed fp16 q, k, v of gdn_kernels.h (PackedInputs); every tile comes into
// shared memory by cp.async in 16-byte pieces, all of a tile in flight at once.
//
//  1. prepare (grid chunks x heads): per chunk of 64 tokens, gamma = cumsum(g),
//     L = strictly-lower(beta_i (k_i . k_j) e^(gamma_i - gamma_j)) (tensor cores), X = (I + L)^-1
//     in fp32 by forward substitution (a column per thread, held in registers: no barrier inside
//     the solve) while the other two warps write Kd = e^(gamma_last - gamma_t) k_t (fp16), then
//     W = X diag(beta e^gamma) K and U = X diag(beta) V (tensor cores; X diag(.) in fp16 takes
//     L's shared memory, so 4 CTAs fit an SM). Writes gamma, W, Kd (fp16), U (f32).
//  2. state (grid 16- or 32-column slices of the state x heads, sequential over chunks; 8 warps):
//     the slice S[dk][slice] lives in fp32 mma accumulators; per chunk it stores S (fp16, the
//     chunk's start state, for kernel 3), computes v' = U - W S and S <- e^gamma_last S + Kd^T v'
//     on tensor cores (ldmatrix fragments, two barriers per chunk), while cp.async brings the
//     next three chunks' W, Kd, U slice and gamma_last (a 4-stage ring; 3 stages where shared
//     memory is smaller), so the sequential loop never waits on global memory. Writes v' (fp16) and
//     the final state.
//  3. output (grid chunks x heads): o = e^gamma (Q S_start) + (causal incl. diagonal
//     (Q K^T) * e^(gamma_i - gamma_j)) v' on tensor cores; f32 out, or (mix()) the gated RMS norm
//     of each row straight to bf16.
//
// One template per kernel over the padded key / value dims (64 or 128; smaller dims are
// zero-padded, which changes no sum), dispatched in dispatch_tiles(). All tiles are fp16 in shared
// memory with rows padded by 8 (gdn_mma.cuh); every matmul accumulates in fp32.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "attention/cuda/cuda_check.h"
#include "core/error.h"
#include "model/cuda/gdn_kernels.h"
#include "model/cuda/gdn_mma.cuh"

namespace spf::cuda::gdn {

namespace {

using namespace gdn_detail;

constexpr int kThreads = 128;  // 4 warps: each owns 16 of a chunk's 64 token rows

struct ChunkParams {
  const f16* q;  // packed (PackedInputs): head h at h * k_pitch (q, k) or h * v_pitch (v)
  const f16* k;
  const f16* v;
  int64_t stride;
  int k_pitch, v_pitch;
  const float* beta;  // [T][nv]
  const float* g;     // [T][nv]
  int64_t T;
  int nv, dk, dv;
  int group;     // value heads per key head
  int slice;     // state columns per CTA of the state pass (16 or 32)
  float* gamma;  // [T][nv] cumulative log-decay within each chunk
  f16* w;        // [T][nv][DKP]
  f16* kd;       // [T][nv][DKP] e^(gamma_last - gamma_t) k_t, gamma_last of the token's chunk
  float* u;      // [T][nv][DVP]
  f16* vnew;     // [T][nv][DVP] v' = U - W S
  f16* h;        // [chunks][nv][DVP][DKP] each chunk's start state, transposed ([column][row])
  float* state;  // [nv][dk][dv]
  float* out;    // [T][nv * dv] f32, when `normed` is null
  // mix()'s fused epilogue: normed [T][nv * dv] (bf16) = the gated RMS norm of o with z, norm_w.
  uint16_t* normed;
  const uint16_t* z;
  const float* norm_w;
  float eps;
};

__device__ __forceinline__ float silu(float x) {
  return x / (1.0f + expf(-x));
}

constexpr int padded_dim(int d) {
  return d <= 64 ? 64 : 128;
}

__device__ __forceinline__ void zero(float (&acc)[8][4]) {
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[nt][e] = 0.0f;
}

using ptx::cp_async16;
using ptx::cp_async4;
using ptx::cp_async_commit;
using ptx::cp_async_wait;
using ptx::cp_async_wait_all;
using ptx::smem_addr;

// ROWS x DIM fp16 (row r at src + r * ld elements, 16-byte aligned) into a tile [ROWS][DIM + kPad]
// by cp.async: rows at or past n and columns at or past `cols` (a multiple of 8) are zero-filled.
// Every thread issues its ROWS * DIM / 8 / kThreads copies before any completes; the caller
// commits, waits and syncs.
template <int DIM, int ROWS = kChunk>
__device__ __forceinline__ void async_tile(f16* dst, const f16* src, int64_t ld, int n, int cols,
                                           int tid) {
  constexpr int kVec = DIM / 8;
  static_assert(ROWS * kVec % kThreads == 0, "tile pieces must split evenly over the threads");
#pragma unroll
  for (int it = 0; it < ROWS * kVec / kThreads; ++it) {
    const int idx = tid + it * kThreads;
    const int r = idx / kVec, cv = idx % kVec;
    const bool ok = r < n && cv * 8 < cols;
    cp_async16(dst + r * (DIM + kPad) + cv * 8, ok ? src + r * ld + cv * 8 : src, ok);
  }
}

// ---- 1. prepare ----

// acc[8][4] += A[m0, m0 + 16) x [0, K)  *  B [0, K) x [n0, n0 + 64) by ldmatrix fragments: A
// m-major (lda), B k-major (b[k * ldb + n], kBkn) or n-major (b[n * ldb + k]).
template <int K, bool kBkn>
__device__ __forceinline__ void warp_mma_16x64_sm(float (&acc)[8][4], const f16* a_tile, int lda,
                                                  int m0, const f16* b_tile, int ldb, int n0,
                                                  int lane) {
#pragma unroll
  for (int k0 = 0; k0 < K; k0 += 16) {
    uint32_t a[4];
    ldsm_a_mk(a, a_tile, lda, m0, k0, lane);
#pragma unroll
    for (int nt = 0; nt < 8; nt += 2) {
      uint32_t b0[2], b1[2];
      if constexpr (kBkn) {
        ldsm_b_kn_x2(b0, b1, b_tile, ldb, k0, n0 + 8 * nt, lane);
      } else {
        ldsm_b_nk_x2(b0, b1, b_tile, ldb, k0, n0 + 8 * nt, lane);
      }
      mma_f16(acc[nt], a, b0);
      mma_f16(acc[nt + 1], a, b1);
    }
  }
}

// Y[r0, r0 + 16) x [0, N) = T[r0, r0 + 16) x [0, BT) * X (k-major), 64 columns at a time:
// store(r, c, y[r][c], y[r][c + 1]) for each adjacent pair of a lane's columns in rows r < n.
template <int BT, int N, class Store>
__device__ __forceinline__ void strip_product(const f16* t, int ldt, int r0, const f16* x, int ldx,
                                              int n, int lane, Store store) {
  for (int n0 = 0; n0 < N; n0 += 64) {
    float acc[8][4];
    zero(acc);
    warp_mma_16x64_sm<BT, true>(acc, t, ldt, r0, x, ldx, n0, lane);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; e += 2) {
        const int r = r0 + c_row(lane, e), c = n0 + 8 * nt + c_col(lane, e);
        if (r < n) store(r, c, acc[nt][e], acc[nt][e + 1]);
      }
  }
}

// Column c of Y = (I + L)^-1 (L strictly lower, sL[i * ld + j], rows 16-byte aligned) by forward
// substitution in fp32: y[i] = [i == c] - sum_{j < i} L[i][j] y[j]. Column c >= J0 is zero above
// row J0, so the sums start there (J0 a multiple of 4); four partial sums per row keep the FMA
// chains short. L's rows are read as float4 broadcasts (every thread reads the same row).
template <int J0, int N>
__device__ __forceinline__ void solve_unit_lower_column(const float* sL, int ld, int c,
                                                        float (&y)[N]) {
#pragma unroll
  for (int i = 0; i < J0; ++i) y[i] = 0.0f;
#pragma unroll
  for (int i = J0; i < N; ++i) {
    float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int j = J0; j < i; j += 4) {
      const float4 l = *reinterpret_cast<const float4*>(sL + i * ld + j);
      const float l4[4] = {l.x, l.y, l.z, l.w};
#pragma unroll
      for (int u = 0; u < 4; ++u)
        if (j + u < i) part[u] += l4[u] * y[j + u];
    }
    y[i] = (i == c ? 1.0f : 0.0f) - ((part[0] + part[1]) + (part[2] + part[3]));
  }
}

template <int DKP, int DVP>
struct PrepareSmem {
  static constexpr int kLK = DKP + kPad, kLV = DVP + kPad, kLT = kChunk + kPad, kLA = kChunk + 8;
  // K, V; then L (f32), which Tw and Tu (fp16) replace once the solve has read it.
  static constexpr size_t kL = size_t(kChunk) * kLA * 4;
  static constexpr size_t kT = size_t(2 * kChunk * kLT) * 2;
  static_assert(kT <= kL, "Tw and Tu must fit in L's place");
  static constexpr size_t kBytes = size_t(kChunk) * (kLK + kLV) * 2 + kL + size_t(2 * kChunk) * 4;
};

template <int DKP, int DVP>
__global__ void __launch_bounds__(kThreads) chunk_prepare_kernel(const ChunkParams p) {
  using L = PrepareSmem<DKP, DVP>;
  constexpr int BT = kChunk, LK = L::kLK, LV = L::kLV, LT = L::kLT, LA = L::kLA;
  extern __shared__ __align__(16) unsigned char smem[];
  f16* sK = reinterpret_cast<f16*>(smem);              // [BT][LK]
  f16* sV = sK + BT * LK;                              // [BT][LV]
  float* sL = reinterpret_cast<float*>(sV + BT * LV);  // [BT][LA] strictly lower L
  f16* sTw = reinterpret_cast<f16*>(sL);               // [BT][LT] X diag(beta e^gamma), after L
  f16* sTu = sTw + BT * LT;                            // [BT][LT] X diag(beta), after L
  float* sGam = reinterpret_cast<float*>(smem + L::kBytes) - 2 * BT;
  float* sBeta = sGam + BT;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int h = blockIdx.y, kh = h / p.group;
  const int64_t t0 = int64_t(blockIdx.x) * BT;
  const int n = int(min(int64_t(BT), p.T - t0));

  // K first (needed at once), V in its own group (needed last).
  async_tile<DKP>(sK, p.k + t0 * p.stride + int64_t(kh) * p.k_pitch, p.stride, n, p.k_pitch, tid);
  cp_async_commit();
  async_tile<DVP>(sV, p.v + t0 * p.stride + int64_t(h) * p.v_pitch, p.stride, n, p.v_pitch, tid);
  cp_async_commit();
  if (tid < BT) sBeta[tid] = tid < n ? p.beta[(t0 + tid) * p.nv + h] : 0.0f;
  if (warp == 0) {
    // Inclusive scan of g over the chunk, two tokens per lane.
    const int i0 = 2 * lane;
    const float g0 = i0 < n ? p.g[(t0 + i0) * p.nv + h] : 0.0f;
    const float g1 = i0 + 1 < n ? p.g[(t0 + i0 + 1) * p.nv + h] : 0.0f;
    float incl = g0 + g1;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, incl, off);
      if (lane >= off) incl += y;
    }
    const float before = incl - (g0 + g1);
    sGam[i0] = before + g0;
    sGam[i0 + 1] = before + g0 + g1;
    if (i0 < n) p.gamma[(t0 + i0) * p.nv + h] = before + g0;
    if (i0 + 1 < n) p.gamma[(t0 + i0 + 1) * p.nv + h] = before + g0 + g1;
  }
  cp_async_wait<1>();  // K
  __syncthreads();

  // L = strictly-lower(beta_i e^(gamma_i - gamma_j) K K^T); this warp's 16 rows.
  {
    float acc[8][4];
    zero(acc);
    warp_mma_16x64_sm<DKP, false>(acc, sK, LK, 16 * warp, sK, LK, 0, lane);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int i = 16 * warp + c_row(lane, e), j = 8 * nt + c_col(lane, e);
        sL[i * LA + j] = j < i ? sBeta[i] * expf(sGam[i] - sGam[j]) * acc[nt][e] : 0.0f;
      }
  }
  __syncthreads();

  // Warps 0 and 1: X = (I + L)^-1, a column per thread, in registers. Warps 2 and 3 meanwhile:
  // Kd = e^(gamma_last - gamma_t) k_t (fp16) for the state pass (sK is zero past dk).
  float x[BT];
  if (warp < 2) {
    if (warp == 0) {
      solve_unit_lower_column<0>(sL, LA, tid, x);
    } else {
      solve_unit_lower_column<32>(sL, LA, tid, x);
    }
  } else {
    const float g_last = sGam[n - 1];
    constexpr int kVec = DKP / 8;
    for (int idx = tid - 64; idx < n * kVec; idx += kThreads - 64) {
      const int r = idx / kVec, c = 8 * (idx % kVec);
      const float f = expf(g_last - sGam[r]);
      const uint4 raw = *reinterpret_cast<const uint4*>(sK + r * LK + c);
      const __half2* k2 = reinterpret_cast<const __half2*>(&raw);
      uint32_t o[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float2 kk = __half22float2(k2[u]);
        const __half2 y = __floats2half2_rn(f * kk.x, f * kk.y);
        o[u] = *reinterpret_cast<const uint32_t*>(&y);
      }
      *reinterpret_cast<uint4*>(p.kd + ((t0 + r) * p.nv + h) * DKP + c) =
          make_uint4(o[0], o[1], o[2], o[3]);
    }
  }
  __syncthreads();  // every read of L is done: Tw and Tu take its place
  if (warp < 2) {
    const int c = tid;
    const float bu = sBeta[c], bw = sBeta[c] * expf(sGam[c]);
#pragma unroll
    for (int i = 0; i < BT; ++i) {
      sTu[i * LT + c] = __float2half_rn(x[i] * bu);
      sTw[i * LT + c] = __float2half_rn(x[i] * bw);
    }
  }
  cp_async_wait<0>();  // V
  __syncthreads();

  // W = Tw K (fp16 out), U = Tu V (f32 out).
  const int r0 = 16 * warp;
  strip_product<BT, DKP>(sTw, LT, r0, sK, LK, n, lane, [&](int r, int c, float a, float b) {
    *reinterpret_cast<__half2*>(p.w + ((t0 + r) * p.nv + h) * DKP + c) = __floats2half2_rn(a, b);
  });
  strip_product<BT, DVP>(sTu, LT, r0, sV, LV, n, lane, [&](int r, int c, float a, float b) {
    *reinterpret_cast<float2*>(p.u + ((t0 + r) * p.nv + h) * DVP + c) = make_float2(a, b);
  });
}

// ---- 2. state pass ----

// 8 warps: the v' tile (64 tokens x SLICE) and the state slice (DKP x SLICE) split over more warps
// than the 4 of the parallel kernels, so that the sequential loop has more independent work per
// SM to hide each step's latency chain (S -> v' -> S).
constexpr int kStateThreads = 256;
constexpr int kStateWarps = kStateThreads / 32;

// STAGES: the next chunks' W, Kd and U are in flight while one computes, STAGES - 1 of them (4
// where the GPU's shared memory allows, 3 on sm_80's 163 KB; state_stages()).
template <int DKP, int SLICE, int STAGES>
struct StateSmem {
  static constexpr int kStages = STAGES;
  static_assert(STAGES >= 2, "the ring needs a stage to fill while one computes");
  static constexpr int kLK = DKP + kPad, kLV = SLICE + kPad, kLU = SLICE + 8;
  // Per stage: W, Kd (fp16), the U slice (f32) and the chunk's gamma_last (padded to 16 bytes).
  static constexpr size_t kStage = size_t(2 * kChunk * kLK) * 2 + size_t(kChunk * kLU) * 4 + 16;
  static constexpr size_t kBytes = kStages * kStage + size_t(SLICE * kLK + kChunk * kLV) * 2;
  static_assert(kStage % 16 == 0, "stages must keep 16-byte alignment");
};

template <int DKP, int DVP, int SLICE, int STAGES>
__global__ void __launch_bounds__(kStateThreads) chunk_state_kernel(const ChunkParams p) {
  using L = StateSmem<DKP, SLICE, STAGES>;
  constexpr int BT = kChunk, LK = L::kLK, LV = L::kLV, LU = L::kLU, kStages = L::kStages;
  constexpr int NT = SLICE / 8;  // 8-column n-tiles of the slice
  // v' = U - W S: warp w computes tokens 16 (w % 4).. and n-tiles [(w / 4) NTV, +NTV).
  constexpr int NTV = NT / 2;
  // S <- decay S + Kd^T v': warps as WM (state rows, 16 each) x WN (n-tiles, NTS each).
  constexpr int WM = DKP / 16 < kStateWarps ? DKP / 16 : kStateWarps;
  constexpr int WN = kStateWarps / WM;
  constexpr int NTS = NT / WN;
  static_assert(NTV >= 1 && NTV <= 2 && NTS >= 1 && NTS * WN == NT && WM * 16 == DKP,
                "state pass tiling");
  extern __shared__ __align__(16) unsigned char smem[];
  // Stage s: W [BT][LK], Kd [BT][LK], U [BT][LU], gamma_last; then S^T and v'.
  auto sW = [&](int st) { return reinterpret_cast<f16*>(smem + st * L::kStage); };
  auto sKd = [&](int st) { return sW(st) + BT * LK; };
  auto sU = [&](int st) { return reinterpret_cast<float*>(sKd(st) + BT * LK); };
  auto sG = [&](int st) { return sU(st) + BT * LU; };
  f16* sS = reinterpret_cast<f16*>(smem + kStages * L::kStage);  // [SLICE][LK] slice, transposed
  f16* sVn = sS + SLICE * LK;                                    // [BT][LV] v'

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int h = blockIdx.y;
  const int c_base = int(blockIdx.x) * SLICE;
  const int dk = p.dk, dv = p.dv;
  float* S_global = p.state + int64_t(h) * dk * dv;
  const int64_t n_chunks = (p.T + BT - 1) / BT;

  // Chunk `chunk`'s W, Kd, U slice and gamma_last into stage st (rows past the sequence
  // zero-filled); nothing past the last chunk. The caller commits.
  auto prefetch = [&](int64_t chunk, int st) {
    if (chunk >= n_chunks) return;
    const int64_t t0 = chunk * BT;
    const int n = int(min(int64_t(BT), p.T - t0));
    constexpr int kVec = DKP / 8;
    static_assert(BT * kVec % kStateThreads == 0, "tile pieces must split evenly");
#pragma unroll
    for (int it = 0; it < BT * kVec / kStateThreads; ++it) {
      const int idx = tid + it * kStateThreads;
      const int r = idx / kVec, cv = idx % kVec;
      const int64_t at = ((t0 + min(r, n - 1)) * p.nv + h) * DKP + cv * 8;
      cp_async16(sW(st) + r * LK + cv * 8, p.w + at, r < n);
      cp_async16(sKd(st) + r * LK + cv * 8, p.kd + at, r < n);
    }
    for (int idx = tid; idx < BT * (SLICE / 4); idx += kStateThreads) {
      const int r = idx / (SLICE / 4), cv = idx % (SLICE / 4);
      const int64_t at = ((t0 + min(r, n - 1)) * p.nv + h) * DVP + c_base + cv * 4;
      cp_async16(sU(st) + r * LU + cv * 4, p.u + at, r < n);
    }
    if (tid == 0) cp_async4(sG(st), p.gamma + (t0 + n - 1) * p.nv + h);
  };

  // This warp's part of the state: rows 16 sm.., n-tiles [sn NTS, +NTS).
  const int sm = warp % WM, sn = warp / WM;
  float S[NTS][4];
#pragma unroll
  for (int nt = 0; nt < NTS; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = 16 * sm + c_row(lane, e);
      const int c = c_base + 8 * (sn * NTS + nt) + c_col(lane, e);
      S[nt][e] = (i < dk && c < dv) ? S_global[int64_t(i) * dv + c] : 0.0f;
    }

#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    prefetch(st, st);
    cp_async_commit();
  }
  const int vm = warp % 4, vn = warp / 4;  // the v' tile of this warp
  for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
    const int st = int(chunk % kStages);
    const int64_t t0 = chunk * BT;
    const int n = int(min(int64_t(BT), p.T - t0));

    // The chunk's start state, fp16, transposed: the B operand of W S and kernel 3's input. (sS
    // was last read before the previous chunk's second barrier.)
#pragma unroll
    for (int nt = 0; nt < NTS; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int i = 16 * sm + c_row(lane, e), c = 8 * (sn * NTS + nt) + c_col(lane, e);
        sS[c * LK + i] = __float2half_rn(S[nt][e]);
      }
    // Groups committed so far: kStages - 1 + chunk; this chunk's is number chunk.
    cp_async_wait<kStages - 2>();
    __syncthreads();
    // Every thread is past the previous chunk, so its stage can be refilled: kStages - 1 ahead.
    prefetch(chunk + kStages - 1, int((chunk + kStages - 1) % kStages));
    cp_async_commit();

    // The chunk's start state for the output kernel: rows c_base.. of h[chunk][head] ([col][row]).
    {
      f16* hdst = p.h + ((chunk * p.nv + h) * DVP + c_base) * DKP;
      constexpr int kVec = DKP / 8;
      for (int idx = tid; idx < SLICE * kVec; idx += kStateThreads) {
        const int c = idx / kVec, cv = idx % kVec;
        *reinterpret_cast<uint4*>(hdst + c * DKP + cv * 8) =
            *reinterpret_cast<const uint4*>(sS + c * LK + cv * 8);
      }
    }

    // v' = U - W S for this warp's 16 tokens and NTV n-tiles.
    {
      const f16* w_tile = sW(st);
      const float* u_tile = sU(st);
      float acc[NTV][4] = {};
#pragma unroll
      for (int k0 = 0; k0 < DKP; k0 += 16) {
        uint32_t a[4];
        ldsm_a_mk(a, w_tile, LK, 16 * vm, k0, lane);
        if constexpr (NTV == 2) {
          uint32_t b0[2], b1[2];
          ldsm_b_nk_x2(b0, b1, sS, LK, k0, 16 * vn, lane);
          mma_f16(acc[0], a, b0);
          mma_f16(acc[NTV - 1], a, b1);
        } else {
          uint32_t b[2];
          ldsm_b_nk(b, sS, LK, k0, 8 * vn, lane);
          mma_f16(acc[0], a, b);
        }
      }
#pragma unroll
      for (int nt = 0; nt < NTV; ++nt)
#pragma unroll
        for (int e = 0; e < 4; e += 2) {
          const int r = 16 * vm + c_row(lane, e), c = 8 * (vn * NTV + nt) + c_col(lane, e);
          const float2 u = *reinterpret_cast<const float2*>(u_tile + r * LU + c);
          const __half2 vb = __floats2half2_rn(u.x - acc[nt][e], u.y - acc[nt][e + 1]);
          *reinterpret_cast<__half2*>(sVn + r * LV + c) = vb;
          if (r < n)
            *reinterpret_cast<__half2*>(p.vnew + ((t0 + r) * p.nv + h) * DVP + c_base + c) = vb;
        }
    }
    __syncthreads();

    // S <- e^gamma_last S + Kd^T v'. (Stage st and sVn are next written after the next chunk's
    // first barrier.)
    const float decay = expf(*sG(st));
#pragma unroll
    for (int nt = 0; nt < NTS; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) S[nt][e] *= decay;
    const f16* kd_tile = sKd(st);
#pragma unroll
    for (int k0 = 0; k0 < BT; k0 += 16) {
      uint32_t a[4];
      ldsm_a_km(a, kd_tile, LK, 16 * sm, k0, lane);
      if constexpr (NTS % 2 == 0) {
#pragma unroll
        for (int nt = 0; nt < NTS; nt += 2) {
          uint32_t b0[2], b1[2];
          ldsm_b_kn_x2(b0, b1, sVn, LV, k0, 8 * (sn * NTS + nt), lane);
          mma_f16(S[nt], a, b0);
          mma_f16(S[nt + 1], a, b1);
        }
      } else {
#pragma unroll
        for (int nt = 0; nt < NTS; ++nt) {
          uint32_t b[2];
          ldsm_b_kn(b, sVn, LV, k0, 8 * (sn * NTS + nt), lane);
          mma_f16(S[nt], a, b);
        }
      }
    }
  }
  cp_async_wait_all();  // nothing is left in flight at exit (the last groups are empty)

#pragma unroll
  for (int nt = 0; nt < NTS; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = 16 * sm + c_row(lane, e);
      const int c = c_base + 8 * (sn * NTS + nt) + c_col(lane, e);
      if (i < dk && c < dv) S_global[int64_t(i) * dv + c] = S[nt][e];
    }
}

// ---- 3. output ----

template <int DKP, int DVP>
struct OutputSmem {
  static constexpr int kLK = DKP + kPad, kLV = DVP + kPad, kLT = kChunk + kPad;
  static constexpr size_t kBytes =
      size_t(2 * kChunk * kLK + DVP * kLK + kChunk * kLV + kChunk * kLT) * 2 + size_t(kChunk) * 4;
};

template <int DKP, int DVP>
__global__ void __launch_bounds__(kThreads) chunk_output_kernel(const ChunkParams p) {
  using L = OutputSmem<DKP, DVP>;
  constexpr int BT = kChunk, LK = L::kLK, LV = L::kLV, LT = L::kLT;
  extern __shared__ __align__(16) unsigned char smem[];
  f16* sQ = reinterpret_cast<f16*>(smem);  // [BT][LK]
  f16* sK = sQ + BT * LK;                  // [BT][LK]
  f16* sH = sK + BT * LK;                  // [DVP][LK] start state, transposed
  f16* sVn = sH + DVP * LK;                // [BT][LV]
  f16* sP = sVn + BT * LV;                 // [BT][LT]
  float* sGam = reinterpret_cast<float*>(sP + BT * LT);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int h = blockIdx.y, kh = h / p.group;
  const int64_t chunk = blockIdx.x, t0 = chunk * BT;
  const int n = int(min(int64_t(BT), p.T - t0));

  const int64_t qk0 = t0 * p.stride + int64_t(kh) * p.k_pitch;
  async_tile<DKP>(sQ, p.q + qk0, p.stride, n, p.k_pitch, tid);
  async_tile<DKP>(sK, p.k + qk0, p.stride, n, p.k_pitch, tid);
  // The state pass writes the first ceil(dv / slice) * slice rows of h and columns of v'; h's other
  // rows are zero here, v's other columns only reach output columns that are not stored.
  const int h_rows = (p.dv + p.slice - 1) / p.slice * p.slice;
  async_tile<DKP, DVP>(sH, p.h + (chunk * p.nv + h) * DVP * DKP, DKP, h_rows, DKP, tid);
  async_tile<DVP>(sVn, p.vnew + (t0 * p.nv + h) * DVP, int64_t(p.nv) * DVP, n, DVP, tid);
  cp_async_commit();
  if (tid < BT) sGam[tid] = tid < n ? p.gamma[(t0 + tid) * p.nv + h] : 0.0f;
  cp_async_wait_all();
  __syncthreads();

  const int r0 = 16 * warp;
  // P = (Q K^T) e^(gamma_i - gamma_j) for j <= i, this warp's rows (read back by this warp only).
  {
    float acc[8][4];
    zero(acc);
    warp_mma_16x64_sm<DKP, false>(acc, sQ, LK, r0, sK, LK, 0, lane);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int i = r0 + c_row(lane, e), j = 8 * nt + c_col(lane, e);
        sP[i * LT + j] = __float2half_rn(j <= i ? acc[nt][e] * expf(sGam[i] - sGam[j]) : 0.0f);
      }
  }
  __syncwarp();

  float row_scale[2];
  for (int e = 0; e < 2; ++e) row_scale[e] = expf(sGam[r0 + (lane >> 2) + 8 * e]);
  // All DVP columns stay in registers so that the fused norm sees whole rows.
  constexpr int NH = DVP / 64;
  float acc[NH][8][4];
#pragma unroll
  for (int nh = 0; nh < NH; ++nh) {
    const int n0 = 64 * nh;
    zero(acc[nh]);
    warp_mma_16x64_sm<DKP, false>(acc[nh], sQ, LK, r0, sH, LK, n0, lane);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[nh][nt][e] *= row_scale[e >> 1];
    warp_mma_16x64_sm<BT, true>(acc[nh], sP, LT, r0, sVn, LV, n0, lane);
  }
  const int64_t row_len = int64_t(p.nv) * p.dv;
  if (p.normed == nullptr) {
#pragma unroll
    for (int nh = 0; nh < NH; ++nh)
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = r0 + c_row(lane, e), c = 64 * nh + 8 * nt + c_col(lane, e);
          if (r < n && c < p.dv) p.out[(t0 + r) * row_len + int64_t(h) * p.dv + c] = acc[nh][nt][e];
        }
    return;
  }
  // Gated RMS norm of each row (as gated_rms_norm_kernel): a row's columns are spread over the 4
  // lanes of a quad; columns past dv (v' columns the state pass did not write) are left out.
  float ss[2] = {0.0f, 0.0f};
#pragma unroll
  for (int nh = 0; nh < NH; ++nh)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = 64 * nh + 8 * nt + c_col(lane, e);
        if (c < p.dv) ss[e >> 1] += acc[nh][nt][e] * acc[nh][nt][e];
      }
  float inv[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    ss[i] += __shfl_xor_sync(0xffffffffu, ss[i], 1);
    ss[i] += __shfl_xor_sync(0xffffffffu, ss[i], 2);
    inv[i] = 1.0f / sqrtf(ss[i] / float(p.dv) + p.eps);
  }
#pragma unroll
  for (int nh = 0; nh < NH; ++nh)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = r0 + c_row(lane, e), c = 64 * nh + 8 * nt + c_col(lane, e);
        if (r < n && c < p.dv) {
          const int64_t at = (t0 + r) * row_len + int64_t(h) * p.dv + c;
          const float zz = __bfloat162float(__ushort_as_bfloat16(p.z[at]));
          const float y = p.norm_w[c] * (acc[nh][nt][e] * inv[e >> 1]) * silu(zz);
          p.normed[at] = __bfloat16_as_ushort(__float2bfloat16_rn(y));
        }
      }
}

// ---- host side ----

template <int V>
using Int = std::integral_constant<int, V>;

// The one place that maps (dk, dv) to the kernels' padded tile dims.
template <class F>
void dispatch_tiles(int dk, int dv, F&& f) {
  auto with_dv = [&](auto dkp) {
    if (dv <= 64) {
      f(dkp, Int<64>{});
    } else {
      f(dkp, Int<128>{});
    }
  };
  if (dk <= 64) {
    with_dv(Int<64>{});
  } else {
    with_dv(Int<128>{});
  }
}

// Opts a kernel in to `bytes` of dynamic shared memory (once per kernel: a template parameter, so
// each kernel has its own flag) and launches it.
template <auto kernel, int kBlockThreads = kThreads>
void launch(dim3 grid, size_t bytes, cudaStream_t stream, const ChunkParams& p) {
  static const bool opted = [&] {
    SPF_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    return true;
  }();
  (void)opted;
  kernel<<<grid, kBlockThreads, bytes, stream>>>(p);
  SPF_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

namespace {

// The state pass's slice width: 16 columns when 32-column slices would leave over half the SMs
// idle (few heads), else 32 (fewer re-reads of W and Kd per chunk).
int auto_state_columns(const Dims& d) {
  static const int sms = [] {
    int dev = 0, n = 0;
    SPF_CUDA_CHECK(cudaGetDevice(&dev));
    SPF_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
  }();
  return int64_t(d.nv) * ((d.dv + 31) / 32) * 2 <= sms ? 16 : 32;
}

// The opt-in shared memory per block of the current GPU (227 KB on sm_90, 163 KB on sm_80).
size_t state_smem_limit() {
  static const size_t bytes = [] {
    int dev = 0, n = 0;
    SPF_CUDA_CHECK(cudaGetDevice(&dev));
    SPF_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return size_t(n);
  }();
  return bytes;
}

// delta_chunked on packed inputs; the output is f32 `out`, or (fused) the gated RMS norm in bf16.
void chunked_impl(const Dims& d, int64_t T, const PackedInputs& in, float* state, float* out,
                  const GatedNormOut* fused, Arena& scratch, void* stream, int state_columns) {
  d.validate();
  SPF_CHECK(T >= 0, "gdn cuda: negative token count ", T);
  SPF_CHECK(d.dk <= kChunkedMaxDim && d.dv <= kChunkedMaxDim,
            "gdn cuda: the chunked form supports dk, dv <= ", kChunkedMaxDim, " (got dk=", d.dk,
            " dv=", d.dv, ")");
  if (T == 0) return;
  SPF_CHECK(in.q && in.k && in.v && in.beta && in.g && state && (out || fused),
            "gdn cuda: null input pointer");
  SPF_CHECK(!fused || (fused->z && fused->w && fused->out), "gdn cuda: null norm pointer");
  SPF_CHECK(state_columns == 0 || state_columns == 16 || state_columns == 32,
            "gdn cuda: state_columns must be 0 (auto), 16 or 32, not ", state_columns);
  if (state_columns == 0) state_columns = auto_state_columns(d);
  const int kp = head_pitch(d.dk), vp = head_pitch(d.dv);
  SPF_CHECK(in.stride >= std::max<int64_t>(int64_t(d.nk) * kp, int64_t(d.nv) * vp),
            "gdn cuda: row stride ", in.stride, " shorter than a head block");
  auto aligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  SPF_CHECK(in.stride % 8 == 0 && aligned(in.q) && aligned(in.k) && aligned(in.v),
            "gdn cuda: packed inputs need 16-byte aligned rows (stride ", in.stride, ")");

  const int dkp = padded_dim(d.dk), dvp = padded_dim(d.dv);
  const int64_t n_chunks = (T + kChunk - 1) / kChunk;
  SPF_CHECK(n_chunks < (int64_t(1) << 31), "gdn cuda: too many tokens (", T, ")");
  ChunkParams p{};
  p.q = reinterpret_cast<const f16*>(in.q);
  p.k = reinterpret_cast<const f16*>(in.k);
  p.v = reinterpret_cast<const f16*>(in.v);
  p.stride = in.stride;
  p.k_pitch = kp;
  p.v_pitch = vp;
  p.beta = in.beta;
  p.g = in.g;
  p.T = T;
  p.nv = d.nv;
  p.dk = d.dk;
  p.dv = d.dv;
  p.group = d.nv / d.nk;
  const TensorView gamma = scratch.alloc(DType::f32, {T * d.nv});
  SPF_CHECK(gamma.device == Device::cuda, "gdn cuda: scratch arena is on ",
            device_name(gamma.device), ", not cuda");
  p.gamma = gamma.data<float>();
  p.w = static_cast<f16*>(scratch.alloc(DType::f16, {T * d.nv * dkp}).ptr);
  p.kd = static_cast<f16*>(scratch.alloc(DType::f16, {T * d.nv * dkp}).ptr);
  p.u = scratch.alloc(DType::f32, {T * d.nv * dvp}).data<float>();
  p.vnew = static_cast<f16*>(scratch.alloc(DType::f16, {T * d.nv * dvp}).ptr);
  p.h = static_cast<f16*>(scratch.alloc(DType::f16, {n_chunks * d.nv * dvp * dkp}).ptr);
  p.state = state;
  p.out = out;
  p.slice = state_columns;
  if (fused) {
    p.normed = fused->out;
    p.z = fused->z;
    p.norm_w = fused->w;
    p.eps = fused->eps;
  }

  cudaStream_t s = static_cast<cudaStream_t>(stream);
  dispatch_tiles(d.dk, d.dv, [&](auto dk_tile, auto dv_tile) {
    constexpr int DKP = decltype(dk_tile)::value, DVP = decltype(dv_tile)::value;
    const dim3 chunks_by_heads(unsigned(n_chunks), unsigned(d.nv));
    launch<chunk_prepare_kernel<DKP, DVP>>(chunks_by_heads, PrepareSmem<DKP, DVP>::kBytes, s, p);
    const dim3 slices_by_heads(unsigned((d.dv + p.slice - 1) / p.slice), unsigned(d.nv));
    auto state_pass = [&](auto slice, auto stages) {
      constexpr int SLICE = decltype(slice)::value, STAGES = decltype(stages)::value;
      launch<chunk_state_kernel<DKP, DVP, SLICE, STAGES>, kStateThreads>(
          slices_by_heads, StateSmem<DKP, SLICE, STAGES>::kBytes, s, p);
    };
    const bool deep = StateSmem<DKP, 32, 4>::kBytes <= state_smem_limit();
    if (p.slice == 16) {
      deep ? state_pass(Int<16>{}, Int<4>{}) : state_pass(Int<16>{}, Int<3>{});
    } else {
      deep ? state_pass(Int<32>{}, Int<4>{}) : state_pass(Int<32>{}, Int<3>{});
    }
    launch<chunk_output_kernel<DKP, DVP>>(chunks_by_heads, OutputSmem<DKP, DVP>::kBytes, s, p);
  });
}

}  // namespace

void delta_chunked(const Dims& d, int64_t T, const PackedInputs& in, float* state, float* out,
                   Arena& scratch, void* stream, int state_columns) {
  chunked_impl(d, T, in, state, out, nullptr, scratch, stream, state_columns);
}

void delta_chunked(const Dims& d, int64_t T, const PackedInputs& in, float* state,
                   const GatedNormOut& out, Arena& scratch, void* stream, int state_columns) {
  chunked_impl(d, T, in, state, nullptr, &out, scratch, stream, state_columns);
}

void delta_chunked(const Dims& d, int64_t T, const DeltaInputs& in, float* state, float* out,
                   Arena& scratch, void* stream, int state_columns) {
  d.validate();
  SPF_CHECK(T >= 0, "gdn cuda: negative token count ", T);
  SPF_CHECK(d.dk <= kChunkedMaxDim && d.dv <= kChunkedMaxDim,
            "gdn cuda: the chunked form supports dk, dv <= ", kChunkedMaxDim, " (got dk=", d.dk,
            " dv=", d.dv, ")");
  if (T == 0) return;
  SPF_CHECK(in.stride >= std::max<int64_t>(d.key_dim(), d.value_dim()), "gdn cuda: row stride ",
            in.stride, " shorter than a head block");
  SPF_CHECK(state_columns == 0 || state_columns == 16 || state_columns == 32,
            "gdn cuda: state_columns must be 0 (auto), 16 or 32, not ", state_columns);
  delta_chunked(d, T, pack_inputs(d, T, in, scratch, stream), state, out, scratch, stream,
                state_columns);
}

}  // namespace spf::cuda::gdn
