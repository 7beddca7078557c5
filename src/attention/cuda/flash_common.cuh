// Device helpers shared by the flash kernels (flash_kernel.cuh: mma.sync, sm_80 and later;
// sm90/flash_wgmma.cu: wgmma, sm_90a): the cp.async copies of ptx.cuh, base-2 exponentials, bf16
// packing, and the key walk of flash_params.h (which keys a chunk holds, masked when invalid).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "attention/cuda/flash_params.h"
#include "attention/cuda/ptx.cuh"

namespace spf::cuda_detail {

using ptx::cp_async16;
using ptx::cp_async_commit;
using ptx::cp_async_wait;
using ptx::smem_addr;

// 2^x on the SFU, flushing subnormal results to zero (-inf gives 0); softmax weights that small
// do not matter next to the row's maximum, which is 1.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// The CTA's share of a call: query tile q0 .. q_last (grid x, the latest tiles first: they have
// the most keys) and heads head0 .. head0 + pack - 1 of KV head kvh (grid y); rows_used packed
// rows (query, head) hold data.
struct CtaTile {
  int64_t q0, q_last, pos_first;
  int head0, kvh, rows_used;
};
__device__ __forceinline__ CtaTile cta_tile(const FlashParams& p) {
  CtaTile t;
  const int64_t tile = p.n_tiles - 1 - int64_t(blockIdx.x);
  t.head0 = int(blockIdx.y) * p.pack;
  t.kvh = t.head0 / (p.n_heads / p.n_kv_heads);
  t.q0 = tile * p.q_tile;
  t.q_last = min(t.q0 + p.q_tile, p.n_q) - 1;
  t.rows_used = p.pack * int(t.q_last - t.q0 + 1);
  t.pos_first = p.q_pos0 + t.q0;
  return t;
}

// The Q tile by cp.async: packed row r is query q0 + r / pack, head head0 + r % pack; its 16-byte
// piece c goes to dst(r, c) (the kernel's shared-memory layout); rows past rows_used are zeros.
template <int D, int BM, int THREADS, class Dst>
__device__ __forceinline__ void load_q_tile(const FlashParams& p, const CtaTile& t, int tid,
                                            Dst dst) {
  constexpr int CH = D / 8;
  const __nv_bfloat16* qg = static_cast<const __nv_bfloat16*>(p.q);
  for (int id = tid; id < BM * CH; id += THREADS) {
    const int r = id / CH, c = id % CH;
    const bool ok = r < t.rows_used;
    const __nv_bfloat16* src =
        ok ? qg + (t.q0 + r / p.pack) * p.q_row + int64_t(t.head0 + r % p.pack) * D + c * 8 : qg;
    cp_async16(dst(r, c), src, ok);
  }
}

// The key chunks of BN keys a CTA walks (queries q0..q_last, first head head0): all causal
// chunks (dense), or its support row's columns (count of them; `sub` chunks per block column).
struct TileKeys {
  const int32_t* list = nullptr;
  int64_t count = 0, n_iters = 0;
  int sub = 1;
};
__device__ __forceinline__ TileKeys tile_keys(const FlashParams& p, int head0, int64_t q0,
                                              int64_t q_last, int bn) {
  TileKeys w;
  if (p.walk == KeyWalk::kDense) {
    w.n_iters = (min(p.q_pos0 + q_last + 1, p.n_kv) + bn - 1) / bn;
    return w;
  }
  const int64_t row = int64_t(head0 / p.group_div) * p.n_rows + q0 / p.q_block;
  int64_t begin;
  if (p.row_ptr != nullptr) {
    begin = p.row_ptr[row];
    w.count = p.row_ptr[row + 1] - begin;
  } else {
    begin = row * p.row_width;
    w.count = min(int64_t(p.counts[row]), p.row_width);
  }
  w.count = max(w.count, int64_t(0));
  w.list = p.cols + begin;
  if (p.walk == KeyWalk::kBlocks) {
    w.sub = p.k_block / bn;
    w.n_iters = w.count * w.sub;
  } else {
    w.n_iters = (w.count + bn - 1) / bn;
  }
  return w;
}

// The keys of chunk `it`: contiguous from first_key(it) (dense and block walks; -1 when the
// chunk's block column is invalid) or gathered from the list (token walk).
__device__ __forceinline__ int64_t chunk_first_key(const FlashParams& p, const int32_t* list,
                                                   int sub, int bn, int64_t it) {
  if (p.walk == KeyWalk::kDense) return it * bn;
  if (p.walk == KeyWalk::kTokens) return -1;
  const int64_t c = it / sub;  // one division per chunk, not per key
  const int32_t col = list[c];
  return col < 0 ? -1 : int64_t(col) * p.k_block + (it - c * sub) * bn;
}

// Key index of slot n of a chunk, or -1 when the slot holds no valid key.
__device__ __forceinline__ int key_of(const FlashParams& p, const int32_t* list, int64_t count,
                                      int bn, int64_t it, int64_t first, int n) {
  int64_t key;
  if (p.walk == KeyWalk::kTokens) {
    const int64_t slot = it * bn + n;
    key = slot < count ? int64_t(list[slot]) : -1;
  } else {
    key = first < 0 ? -1 : first + n;
  }
  return (key >= 0 && key < p.n_kv) ? int(key) : -1;
}

// Whether a chunk's scores need the mask: whether it can hold an invalid, future or missing key
// for some row of the tile. ib holds the chunk's key indices, ascending with -1 for the slots past
// a list's end (every walk's chunks are: dense and block chunks are runs, token lists are sorted).
// So the last slot is the largest key, and a chunk whose slots are all valid keys no later than the
// tile's first row position pos_first has nothing to mask, whatever the walk.
__device__ __forceinline__ bool chunk_needs_mask(const int* ib, int bn, int64_t pos_first) {
  const int first = ib[0], last = ib[bn - 1];
  return first < 0 || last < 0 || int64_t(last) > pos_first;
}

// One key chunk's online-softmax step for a thread's two rows (h = 0: row r, 1: row r + 8 of an
// m16 tile) in the m16n8 fragment layout (s[t][e]: key 8 t + 2 (lane % 4) + e % 2 of row e / 2),
// in base 2: masks invalid and future keys when need_mask (ib: the chunk's key indices, -1 for
// none; pos: the rows' positions, -1 for a row past the tile), updates the running max and sum,
// overwrites s with p = 2^(s * scale_log2 - m) and returns in corr the factors that rescale O.
template <int NT>
__device__ __forceinline__ void softmax_step(float (&s)[NT][4], const int* ib, bool need_mask,
                                             const int64_t (&pos)[2], float scale_log2, int lane,
                                             float (&m_run)[2], float (&l_run)[2],
                                             float (&corr)[2]) {
  float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int t = 0; t < NT; ++t) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if (need_mask) {
        const int key = ib[t * 8 + 2 * (lane & 3) + (e & 1)];
        if (key < 0 || key > pos[e >> 1]) s[t][e] = -INFINITY;
      }
      mx[e >> 1] = fmaxf(mx[e >> 1], s[t][e]);
    }
  }
  float m_use[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
    // Statistics in base-2 units of the scaled score (scale > 0 keeps the max the max).
    const float m_new = fmaxf(m_run[h], mx[h] * scale_log2);
    m_use[h] = m_new == -INFINITY ? 0.0f : m_new;  // a row with no key yet stays at zero
    corr[h] = fast_exp2(m_run[h] - m_use[h]);
    m_run[h] = m_new;
  }
  float rs[2] = {0.0f, 0.0f};
#pragma unroll
  for (int t = 0; t < NT; ++t) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float pe = fast_exp2(fmaf(s[t][e], scale_log2, -m_use[e >> 1]));
      s[t][e] = pe;
      rs[e >> 1] += pe;
    }
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) l_run[h] = l_run[h] * corr[h] + rs[h];
}

// The epilogue of a thread's two rows: O / l (0 for a row that saw no key) as bf16, and lse =
// ln 2 * (m + log2 l) (-inf when none). o[t][e]: column 8 t + 2 (lane % 4) + e % 2 of row e / 2;
// rows past rows_used are not stored.
template <int DT>
__device__ __forceinline__ void store_rows(const FlashParams& p, const float (&o)[DT][4],
                                           const float (&m_run)[2], const float (&l_run)[2],
                                           int row0, int rows_used, int64_t q0, int head0,
                                           int lane) {
  constexpr int D = DT * 8;
  __nv_bfloat16* og = static_cast<__nv_bfloat16*>(p.out);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float l = l_run[h];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int r = row0 + 8 * h;
    if (r >= rows_used) continue;
    const int64_t qi = q0 + r / p.pack;
    const int head = head0 + r % p.pack;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    __nv_bfloat16* orow = og + qi * p.o_row + int64_t(head) * D + 2 * (lane & 3);
#pragma unroll
    for (int t = 0; t < DT; ++t) {
      *reinterpret_cast<__nv_bfloat162*>(orow + t * 8) =
          __floats2bfloat162_rn(o[t][2 * h] * inv, o[t][2 * h + 1] * inv);
    }
    if (p.lse != nullptr && (lane & 3) == 0) {
      p.lse[qi * p.n_heads + head] =
          l > 0.0f ? (m_run[h] + log2f(l)) * 0.6931471805599453f : -INFINITY;
    }
  }
}

}  // namespace spf::cuda_detail
