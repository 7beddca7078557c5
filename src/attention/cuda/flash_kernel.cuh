// The flash-attention forward kernel (FlashAttention-2 style, hand-written mma.sync): bf16 inputs,
// fp32 accumulation and online-softmax statistics, one template over the head dim D.
//
// CTA = 4 warps = 64 * MT packed rows (query, head) of one KV head (flash_params.h). Per key chunk
// of BN keys: cp.async brings K/V (double-buffered, 16-byte XOR-swizzled rows so ldmatrix is
// conflict-free) while the previous chunk computes S = Q K^T with m16n8k16 bf16 MMAs (ldmatrix
// operands), masks it, updates the running max / sum in registers (base-2 exponentials), and
// accumulates O += P V with P reused from the S registers as the A operand. Each warp owns
// 16 * MT rows, so softmax statistics never leave the warp's quad of lanes.
//
// The reference beside it is attention/cpu/reference.cpp (and the CPU executor); the tests are in
// tests/cuda/.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "attention/cuda/flash_common.cuh"
#include "attention/cuda/flash_params.h"

namespace spf::cuda_detail {

// MT = m16 tiles per warp (16 or 32 rows each): two tiles share every K and V fragment a warp
// reads from shared memory, halving that traffic per MMA, at the cost of registers.
template <int D, int MT>
struct FlashTile {
  static constexpr int kMTiles = MT;
  static constexpr int kRows = 64 * MT;  // 4 warps x 16 x MT packed rows
  // Keys per chunk: what fits the accumulators (MT * D / 8 * 4 f32 per thread) next to S.
  static constexpr int kKeys = (D == 256 || (MT == 2 && D == 128)) ? 32 : 64;
  static constexpr int kThreads = 128;
  // Q fragments live in registers when they fit; otherwise they are re-read from shared memory.
  static constexpr bool kQInRegs = MT == 1 && D <= 128;
  static constexpr int kChunks = D / 8;  // 16-byte chunks per row
  static constexpr size_t kSmemBytes =
      size_t(kRows * D + 4 * kKeys * D) * 2 + size_t(2 * kKeys) * sizeof(int);
};

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  ptx::ldmatrix_x4(r, smem_addr(p));
}
__device__ __forceinline__ void ldmatrix_x4_at(uint32_t (&r)[4], uint32_t addr) {
  ptx::ldmatrix_x4(r, addr);
}
__device__ __forceinline__ void ldmatrix_x4_trans_at(uint32_t (&r)[4], uint32_t addr) {
  ptx::ldmatrix_x4_trans(r, addr);
}

// Byte offsets of a lane's ldmatrix rows in a swizzled [rows][D] tile, for the four values of
// (chunk pair index & 3): a fragment at chunk pair c (chunks 2c, 2c + 1) of a row block is at
// off[c & 3] + 32 * (c & ~3) + row block offset. The lane reads row `row` (row & 7 == lane & 7)
// and chunk 2c + b, and swz() XORs the chunk with row & 7, so the offset is affine in c except
// for its low two bits: precomputing those four keeps address arithmetic out of the inner loops.
template <int D>
struct LaneOffsets {
  uint32_t off[4];
  __device__ __forceinline__ LaneOffsets(uint32_t base, int row, int b, int lane) {
    const int x_hi = (lane & 7) >> 1, x_lo = lane & 1;
#pragma unroll
    for (int j = 0; j < 4; ++j)
      off[j] = base + uint32_t(row * D + 16 * (j ^ x_hi) + 8 * (b ^ x_lo)) * 2u;
  }
  // Address of chunk pair c, plus a byte offset known at compile time.
  __device__ __forceinline__ uint32_t at(int c, uint32_t extra) const {
    return off[c & 3] + uint32_t(32 * (c & ~3)) + extra;
  }
};

// c += a (16x16, row) * b (16x8, col), bf16 in, f32 accumulate.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Element offset of 16-byte chunk c of row r in a [rows][D] bf16 tile.
template <int D>
__device__ __forceinline__ int swz(int r, int c) {
  return r * D + ((c ^ (r & 7)) << 3);
}

template <int D, int MT>
__global__ void __launch_bounds__(128) flash_forward_kernel(const FlashParams p) {
  using Tile = FlashTile<D, MT>;
  constexpr int BM = Tile::kRows, BN = Tile::kKeys, CH = Tile::kChunks;
  constexpr int NT = BN / 8;  // S n-tiles per m-tile
  constexpr int DT = D / 8;   // O n-tiles per m-tile
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* sK = sQ + BM * D;
  __nv_bfloat16* sV = sK + 2 * BN * D;
  int* sIdx = reinterpret_cast<int*>(sV + 2 * BN * D);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const CtaTile ct = cta_tile(p);
  const int head0 = ct.head0, kvh = ct.kvh, rows_used = ct.rows_used;
  const int64_t q0 = ct.q0, q_last = ct.q_last, pos_first = ct.pos_first;

  const TileKeys walk = tile_keys(p, head0, q0, q_last, BN);
  const int32_t* list = walk.list;
  const int64_t count = walk.count, n_iters = walk.n_iters;
  const int sub = walk.sub;

  const __nv_bfloat16* kg = static_cast<const __nv_bfloat16*>(p.k) + int64_t(kvh) * D;
  const __nv_bfloat16* vg = static_cast<const __nv_bfloat16*>(p.v) + int64_t(kvh) * D;

  load_q_tile<D, BM, Tile::kThreads>(p, ct, tid, [&](int r, int c) { return sQ + swz<D>(r, c); });
  cp_async_commit();

  auto load_chunk = [&](int64_t it, int buf) {
    __nv_bfloat16* kd = sK + buf * BN * D;
    __nv_bfloat16* vd = sV + buf * BN * D;
    const int64_t first = chunk_first_key(p, list, sub, BN, it);
    for (int id = tid; id < BN * CH; id += Tile::kThreads) {
      const int n = id / CH, c = id % CH;
      const int key = key_of(p, list, count, BN, it, first, n);
      const bool ok = key >= 0;
      const int64_t kk = ok ? key : 0;
      cp_async16(kd + swz<D>(n, c), kg + kk * p.k_row + c * 8, ok);
      cp_async16(vd + swz<D>(n, c), vg + kk * p.v_row + c * 8, ok);
    }
    if (tid < BN) sIdx[buf * BN + tid] = key_of(p, list, count, BN, it, first, tid);
  };

  // Rows of this thread: m-tile mt of the warp holds rows warp * 16 * MT + mt * 16 + lane / 4
  // (+ 8 for the second half, index h); a row past the tile sees no key.
  auto row_of = [&](int mt, int h) { return (warp * MT + mt) * 16 + (lane >> 2) + 8 * h; };
  int64_t pos[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = row_of(mt, h);
      pos[mt][h] = r < rows_used ? p.q_pos0 + q0 + r / p.pack : -1;
    }
  }

  float o[MT][DT][4];
  float m_run[MT][2], l_run[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int t = 0; t < DT; ++t)
      for (int e = 0; e < 4; ++e) o[mt][t][e] = 0.0f;
    for (int h = 0; h < 2; ++h) m_run[mt][h] = -INFINITY, l_run[mt][h] = 0.0f;
  }
  uint32_t qf[Tile::kQInRegs ? D / 16 : 1][4];
  // ldmatrix lanes: Q (A operand) rows 0..15 of an m-tile, chunk + lane / 16; K (B operand,
  // non-transposed) keys 0..7 / 8..15 by lane / 16, chunk + (lane / 8) % 2; V (B operand,
  // transposed) keys 0..7 / 8..15 by (lane / 8) % 2, chunk + lane / 16.
  const LaneOffsets<D> q_lane(smem_addr(sQ), warp * MT * 16 + (lane & 15), lane >> 4, lane);
  const LaneOffsets<D> k_lane(smem_addr(sK), (lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1,
                              lane);
  const LaneOffsets<D> v_lane(smem_addr(sV), (lane & 7) + (((lane >> 3) & 1) << 3), lane >> 4,
                              lane);

  if (n_iters > 0) load_chunk(0, 0);
  cp_async_commit();
  for (int64_t it = 0; it < n_iters; ++it) {
    const int buf = int(it & 1);
    if (it + 1 < n_iters) {
      load_chunk(it + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t buf_bytes = uint32_t(buf * BN * D * 2);
    const int* ib = sIdx + buf * BN;
    if constexpr (Tile::kQInRegs) {
      if (it == 0) {
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) ldmatrix_x4_at(qf[kk], q_lane.at(kk, 0));
      }
    }

    // S = Q K^T: each K fragment serves all MT m-tiles.
    float s[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int t = 0; t < NT; ++t)
        for (int e = 0; e < 4; ++e) s[mt][t][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        if constexpr (Tile::kQInRegs) {
          for (int e = 0; e < 4; ++e) a[mt][e] = qf[kk][e];
        } else {
          ldmatrix_x4_at(a[mt], q_lane.at(kk, uint32_t(mt * 16 * D * 2)));
        }
      }
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t b[4];
        ldmatrix_x4_at(b, k_lane.at(kk, buf_bytes + uint32_t(np * 16 * D * 2)));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_bf16(s[mt][2 * np], a[mt], b[0], b[1]);
          mma_bf16(s[mt][2 * np + 1], a[mt], b[2], b[3]);
        }
      }
    }

    // Mask (only chunks that can hold an invalid, future or missing key), then the online-softmax
    // update in base 2: p = 2^(s * scale * log2 e - m).
    const bool need_mask = chunk_needs_mask(ib, BN, pos_first);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      float corr[2];
      softmax_step(s[mt], ib, need_mask, pos[mt], p.scale_log2, lane, m_run[mt], l_run[mt], corr);
#pragma unroll
      for (int t = 0; t < DT; ++t) {
        o[mt][t][0] *= corr[0];
        o[mt][t][1] *= corr[0];
        o[mt][t][2] *= corr[1];
        o[mt][t][3] *= corr[1];
      }
    }

    // O += P V, P straight from the S registers; each V fragment serves all MT m-tiles.
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        a[mt][0] = pack_bf16(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        a[mt][1] = pack_bf16(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        a[mt][2] = pack_bf16(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        a[mt][3] = pack_bf16(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans_at(b, v_lane.at(dp, buf_bytes + uint32_t(kk * 16 * D * 2)));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_bf16(o[mt][2 * dp], a[mt], b[0], b[1]);
          mma_bf16(o[mt][2 * dp + 1], a[mt], b[2], b[3]);
        }
      }
    }
    __syncthreads();  // this buffer is refilled by the next iteration's prefetch
  }
  cp_async_wait<0>();

  // Epilogue: O / l and lse per row.
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
    store_rows(p, o[mt], m_run[mt], l_run[mt], row_of(mt, 0), rows_used, q0, head0, lane);
}

}  // namespace spf::cuda_detail
