// The streaming indexer top-k kernel (indexer_topk.h says what and why); its CPU reference is
// indexer_topk_reference.cpp, its test tests/cuda/indexer_topk_test.cpp.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/flash_kernel.cuh"
#include "attention/cuda/indexer_topk.h"

namespace spf {

namespace {

using cuda_detail::cp_async16;
using cuda_detail::cp_async_commit;
using cuda_detail::cp_async_wait;
using cuda_detail::ldmatrix_x4;
using cuda_detail::mma_bf16;
using cuda_detail::swz;

constexpr int kRowsMax = 64;  // queries per row (4 warps x 16)
constexpr int kKeys = 64;     // keys per chunk
constexpr int kThreads = 128;
constexpr int kBins = 4096;
constexpr int kFastKeep = IndexerTopKShape::kTwoPassMaxKeep;  // rows keeping at most this many keys
                                                              // may take the two-pass path
constexpr int64_t kSampleStride = 16;      // the sampled path scores every 16th key first
constexpr int64_t kSampledMinKeys = 4096;  // and is tried on rows with at least this many keys

struct TopKParams {
  IndexerTopKShape shape;  // geometry and the per-row budget (row_keep, forced)
  const __nv_bfloat16* qs;
  const __nv_bfloat16* ks;
  int64_t q_row, k_row;
  int64_t n_q, n_kv, q_pos0, n_rows;
  int q_block, k;
  int32_t* cols;
  int32_t* counts;
  // The two-pass path (null: off): per row kFastKeep slots for the keys above the first pass's
  // bin, then `cap` candidate scores and `cap` candidate keys.
  uint32_t* scratch;
  int64_t cap;
  int32_t* fallbacks;  // rows that overflowed the two-pass path (null: not counted)
  int32_t* sampled;    // rows done on the sampled path (null: not counted)
  bool try_sampled;    // rows long enough try the sampled path first
};

// Order-preserving map of an f32 to uint32 (larger float -> larger integer).
__device__ __forceinline__ uint32_t ordered(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// CTAs an SM holds: shared memory allows 5 at D 64 (42 KB each) and 3 at D 128; the register cap
// must not be what limits them.
template <int D>
constexpr int kMinCtas = D == 64 ? 5 : 3;

template <int D>
size_t topk_smem_bytes() {
  static_assert(2 * kKeys * D * 2 >= kFastKeep * 4, "the K buffers hold the merge's keys");
  return size_t(kRowsMax * D + 2 * kKeys * D) * 2 + size_t(kBins + 4 * kKeys + 32) * 4;
}

// Finds, among bins [0, n_bins) counted from the highest, the bin holding the need-th key; warp 0
// only. Writes the bin and the count strictly above it to out[0], out[1].
__device__ void find_bin(const uint32_t* hist, int n_bins, uint32_t need, uint32_t* out) {
  const int lane = threadIdx.x & 31;
  const int per = n_bins / 32;
  uint32_t mine = 0;
  for (int b = 0; b < per; ++b) mine += hist[lane * per + b];
  // suffix[lane] = sum over lanes >= lane.
  uint32_t suffix = mine;
  for (int off = 1; off < 32; off <<= 1) {
    const uint32_t other = __shfl_down_sync(0xffffffffu, suffix, off);
    if (lane + off < 32) suffix += other;
  }
  const uint32_t above_lane = suffix - mine;  // keys in higher lanes
  if (above_lane < need && suffix >= need) {
    uint32_t run = above_lane;
    for (int b = lane * per + per - 1; b >= lane * per; --b) {
      if (run + hist[b] >= need) {
        out[0] = uint32_t(b);
        out[1] = run;
        break;
      }
      run += hist[b];
    }
  }
}

// Keys of a[0, n) (ascending) below x.
__device__ __forceinline__ uint32_t count_below(const int32_t* a, uint32_t n, int32_t x) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (a[mid] < x) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// The need-th largest value t of u[0, n) (1 <= need <= n; device or shared memory), by histogram
// passes over the array, from pass `first` (0: bits 20..31, 1: 8..19, 2: 0..7) with the higher
// bits already known to be `prefix` (values whose higher bits differ are skipped, and `above` of
// them are known to be larger). Writes t and the count of values above it to st[0], st[1]. Called
// by the whole CTA.
__device__ void radix_select(const uint32_t* u, uint32_t n, uint32_t need, int first,
                             uint32_t prefix, uint32_t above, uint32_t* hist, uint32_t* st) {
  const int tid = threadIdx.x, warp = tid >> 5;
  constexpr int shifts[3] = {20, 8, 0};
  constexpr int widths[3] = {12, 12, 8};
  for (int pass = first; pass < 3; ++pass) {
    const int sh = shifts[pass], n_bins = 1 << widths[pass], high = sh + widths[pass];
    for (int b = tid; b < n_bins; b += kThreads) hist[b] = 0;
    __syncthreads();
    for (uint32_t c = tid; c < n; c += kThreads) {
      const uint32_t x = u[c];
      if (high < 32 && (x >> high) != prefix) continue;
      atomicAdd(&hist[(x >> sh) & uint32_t(n_bins - 1)], 1u);
    }
    __syncthreads();
    if (warp == 0) find_bin(hist, n_bins, need - above, st);
    __syncthreads();
    prefix = (prefix << widths[pass]) | st[0];
    above += st[1];
    __syncthreads();
  }
  if (threadIdx.x == 0) st[0] = prefix, st[1] = above;
  __syncthreads();
}

// Of the candidates (ordered scores u, keys j, ascending keys), those above t and the first
// need_eq equal to it, compacted in key order into dst. Returns how many. Called by the whole CTA;
// uses st[6], st[7] and st[16..23].
__device__ uint32_t compact_kept(const uint32_t* cand_u, const int32_t* cand_j, uint32_t n,
                                 uint32_t t, uint32_t need_eq, uint32_t* st, int32_t* dst) {
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const uint32_t lt_mask = (1u << lane) - 1u;
  if (tid == 0) st[6] = 0, st[7] = 0;  // candidates equal to t so far, kept so far
  __syncthreads();
  for (uint32_t base = 0; base < n; base += kThreads) {
    const uint32_t c = base + uint32_t(tid);
    const uint32_t u = c < n ? cand_u[c] : 0u;
    const bool above_t = c < n && u > t, at_t = c < n && u == t;
    const uint32_t at_b = __ballot_sync(0xffffffffu, at_t);
    if (lane == 0) st[16 + warp] = __popc(at_b);
    __syncthreads();
    uint32_t at_rank = st[6] + __popc(at_b & lt_mask);
    for (int w = 0; w < warp; ++w) at_rank += st[16 + w];
    const bool take = above_t || (at_t && at_rank < need_eq);
    const uint32_t take_b = __ballot_sync(0xffffffffu, take);
    if (lane == 0) st[20 + warp] = __popc(take_b);
    __syncthreads();
    uint32_t slot = st[7] + __popc(take_b & lt_mask);
    for (int w = 0; w < warp; ++w) slot += st[20 + w];
    if (take) dst[slot] = cand_j[c];
    __syncthreads();
    if (tid == 0) {
      st[6] += st[16] + st[17] + st[18] + st[19];
      st[7] += st[20] + st[21] + st[22] + st[23];
    }
    __syncthreads();
  }
  const uint32_t kept = st[7];
  __syncthreads();
  return kept;
}

// The rest of a row after the first radix pass, in one more pass over its keys: b is the 12-bit
// bin of the k-th key, need the keys still to take from it, n_above the keys above it. That pass
// writes the keys above the bin (ascending) to the row's scratch and the keys inside it, with their
// ordered scores, as candidates (ascending); the low 20 bits are then resolved over the candidates
// alone, and the two ascending lists are merged into out. Returns false, having written nothing to
// out, when the bin holds more than p.cap keys (the caller then takes the 4-pass path). Called by
// the whole CTA; st is the kernel's state block (32 words), free_smem shared memory for kFastKeep
// keys that the key stream no longer uses (its K buffers).
template <class Stream>
__device__ bool two_pass_rest(const TopKParams& p, int64_t r, uint32_t b, uint32_t need,
                              uint32_t n_above, Stream&& stream, uint32_t* hist, uint32_t* st,
                              int32_t* free_smem, int32_t* out) {
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const uint32_t lt_mask = (1u << lane) - 1u;
  uint32_t* row = p.scratch + r * (kFastKeep + 2 * p.cap);
  int32_t* gt_keys = reinterpret_cast<int32_t*>(row);
  uint32_t* cand_u = row + kFastKeep;
  int32_t* cand_j = reinterpret_cast<int32_t*>(cand_u + p.cap);
  uint32_t* bal = st + 8;
  if (tid == 0) st[4] = 0, st[5] = 0;  // candidates so far, keys above so far
  __syncthreads();
  stream(
      [&](int64_t j, bool valid, uint32_t u) {
        const bool gt = valid && (u >> 20) > b, eq = valid && (u >> 20) == b;
        const uint32_t gt_b = __ballot_sync(0xffffffffu, gt), eq_b = __ballot_sync(0xffffffffu, eq);
        // Warps 0 and 1 hold keys 0..31 and 32..63 of the chunk; warp 1 counts warp 0's first.
        if (lane == 0) bal[warp] = gt_b, bal[2 + warp] = eq_b;
        asm volatile("bar.sync 1, 64;" ::: "memory");
        const uint32_t g_slot = st[5] + (warp == 1 ? __popc(bal[0]) : 0) + __popc(gt_b & lt_mask);
        const uint32_t e_slot = st[4] + (warp == 1 ? __popc(bal[2]) : 0) + __popc(eq_b & lt_mask);
        if (gt) gt_keys[g_slot] = int32_t(j);
        if (eq && e_slot < p.cap) {
          cand_u[e_slot] = u;
          cand_j[e_slot] = int32_t(j);
        }
        asm volatile("bar.sync 1, 64;" ::: "memory");
        if (tid == 0) {
          st[5] += __popc(bal[0]) + __popc(bal[1]);
          st[4] += __popc(bal[2]) + __popc(bal[3]);
        }
      },
      [] {});
  __syncthreads();
  const uint32_t n_eq = st[4];
  if (n_eq > p.cap) return false;  // the same value in every thread

  // Bits 8..19, then 0..7, of the need-th candidate; the chosen ones, compacted in key order into
  // sel (the histogram's words: need <= keep).
  radix_select(cand_u, n_eq, need, 1, b, 0, hist, st);
  const uint32_t t_score = st[0], need_eq = need - st[1];  // candidates equal to t_score to take
  int32_t* sel = reinterpret_cast<int32_t*>(hist);
  compact_kept(cand_u, cand_j, n_eq, t_score, need_eq, st, sel);

  // Merge the two ascending, disjoint lists: each key's slot is its rank in its own list plus the
  // keys of the other list below it (both lists in shared memory for the searches).
  int32_t* gt_s = free_smem;
  for (uint32_t i = tid; i < n_above; i += kThreads) gt_s[i] = gt_keys[i];
  __syncthreads();
  for (uint32_t i = tid; i < n_above; i += kThreads) {
    const int32_t g = gt_s[i];
    out[i + count_below(sel, need, g)] = g;
  }
  for (uint32_t t = tid; t < need; t += kThreads) {
    const int32_t v = sel[t];
    out[t + count_below(gt_s, n_above, v)] = v;
  }
  __syncthreads();
  return true;
}

// The sampled path: one pass over the row's keys plus 1/kSampleStride of one, instead of two. The
// scores of every kSampleStride-th key go to the row's candidate slots, and their want-th largest
// t_s (want: the sample's expected count at or above the row's keep-th score, a quarter more,
// plus 16) estimates a threshold a little below the keep-th score. One pass then writes every key
// scoring >= t_s, with its score, as a candidate (ascending); the keep best of them are the row's
// keys, selected and compacted into out. Exact whenever it succeeds: every key at or above the
// keep-th score scores >= t_s when at least keep keys do. Returns false, having written nothing to
// out, when fewer than keep keys score >= t_s (t_s too high) or more than p.cap do; the caller
// then takes the two-pass path. Needs ceil(visible / kSampleStride) <= p.cap. Called by the whole
// CTA; st is the kernel's state block.
template <class StreamEvery>
__device__ bool sampled_select(const TopKParams& p, int64_t r, uint32_t keep, int64_t visible,
                               StreamEvery&& stream_every, uint32_t* hist, uint32_t* st,
                               int32_t* out) {
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const uint32_t lt_mask = (1u << lane) - 1u;
  uint32_t* cand_u = p.scratch + r * (kFastKeep + 2 * p.cap) + kFastKeep;
  int32_t* cand_j = reinterpret_cast<int32_t*>(cand_u + p.cap);
  constexpr int64_t S = kSampleStride;
  const uint32_t n_s = uint32_t((visible + S - 1) / S);
  stream_every(
      std::integral_constant<int64_t, S>{},
      [&](int64_t j, bool valid, uint32_t u) {
        if (valid) cand_u[j / S] = u;
      },
      [] {});
  const int64_t expect = (int64_t(keep) * n_s * 5 + 4 * visible - 1) / (4 * visible);
  radix_select(cand_u, n_s, uint32_t(min(int64_t(n_s), expect + 16)), 0, 0, 0, hist, st);
  const uint32_t t_s = st[0];
  uint32_t* bal = st + 8;
  if (tid == 0) st[4] = 0;  // keys at or above t_s so far
  __syncthreads();
  stream_every(
      std::integral_constant<int64_t, 1>{},
      [&](int64_t j, bool valid, uint32_t u) {
        const bool take = valid && u >= t_s;
        const uint32_t take_b = __ballot_sync(0xffffffffu, take);
        // Warps 0 and 1 hold keys 0..31 and 32..63 of the chunk; warp 1 counts warp 0's first.
        if (lane == 0) bal[warp] = take_b;
        asm volatile("bar.sync 1, 64;" ::: "memory");
        const uint32_t slot = st[4] + (warp == 1 ? __popc(bal[0]) : 0) + __popc(take_b & lt_mask);
        if (take && slot < p.cap) {
          cand_u[slot] = u;
          cand_j[slot] = int32_t(j);
        }
        asm volatile("bar.sync 1, 64;" ::: "memory");
        if (tid == 0) st[4] += __popc(bal[0]) + __popc(bal[1]);
      },
      [] {});
  __syncthreads();
  const uint32_t n_c = st[4];
  __syncthreads();
  if (n_c > p.cap || n_c < keep) return false;  // the same values in every thread
  radix_select(cand_u, n_c, keep, 0, 0, 0, hist, st);
  const uint32_t t = st[0], need_eq = keep - st[1];
  compact_kept(cand_u, cand_j, n_c, t, need_eq, st, out);
  return true;
}

template <int D>
__global__ void __launch_bounds__(kThreads, kMinCtas<D>) indexer_topk_kernel(const TopKParams p) {
  constexpr int CH = D / 8;
  constexpr int NT = kKeys / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* sK = sQ + kRowsMax * D;
  uint32_t* hist = reinterpret_cast<uint32_t*>(sK + 2 * kKeys * D);
  float* sMax = reinterpret_cast<float*>(hist + kBins);  // [4 warps][kKeys]
  uint32_t* sState = reinterpret_cast<uint32_t*>(sMax + 4 * kKeys);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int64_t r = p.n_rows - 1 - int64_t(blockIdx.x);  // longest rows first
  const int64_t i0 = r * p.q_block;
  const int rows = int(min(int64_t(p.q_block), p.n_q - i0));
  const int64_t visible = min(p.n_kv, p.q_pos0 + i0 + rows);  // keys the row's last query sees
  const int64_t keep = p.shape.row_keep(r);
  const bool take_all = visible <= keep;
  // Forced keys: [0, sink_end) and [win_begin, visible); they outrank every score.
  const int64_t sink_end = p.shape.row_sink_end(r), win_begin = p.shape.row_window_begin(r);

  for (int id = tid; id < kRowsMax * CH; id += kThreads) {
    const int m = id / CH, c = id % CH;
    const bool ok = m < rows;
    cp_async16(sQ + swz<D>(m, c), ok ? p.qs + (i0 + m) * p.q_row + c * 8 : p.qs, ok);
  }
  cp_async_commit();
  // Chunk ch of the keys j = 0, S, 2S, ... (S: the stream's key stride) into K buffer buf.
  auto load_chunk = [&](int64_t ch, int buf, int64_t S) {
    for (int id = tid; id < kKeys * CH; id += kThreads) {
      const int n = id / CH, c = id % CH;
      const int64_t j = (ch * kKeys + n) * S;
      const bool ok = j < p.n_kv;
      cp_async16(sK + buf * kKeys * D + swz<D>(n, c), p.ks + (ok ? j : 0) * p.k_row + c * 8, ok);
    }
  };
  int64_t pos[2];
  for (int h = 0; h < 2; ++h) {
    const int m = warp * 16 + (lane >> 2) + 8 * h;
    pos[h] = m < rows ? p.q_pos0 + i0 + m : -1;
  }
  uint32_t qf[D / 16][4];
  cp_async_wait<0>();
  __syncthreads();
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
    ldmatrix_x4(qf[kk], sQ + swz<D>(warp * 16 + (lane & 15), kk * 2 + (lane >> 4)));

  // One streaming pass over the row's keys j = 0, S, 2S, ... (S = stride, a compile-time constant;
  // 1: every key): fn(j, valid, u) for each (threads 0..63, one key each per chunk, keys ascending
  // across chunks), between barriers.
  auto stream_every = [&](auto stride, auto&& fn, auto&& after_chunk) {
    constexpr int64_t S = decltype(stride)::value;
    const int64_t n_chunks = ((visible + S - 1) / S + kKeys - 1) / kKeys;
    if (n_chunks > 0) load_chunk(0, 0, S);
    cp_async_commit();
    for (int64_t ch = 0; ch < n_chunks; ++ch) {
      const int buf = int(ch & 1);
      if (ch + 1 < n_chunks) {
        load_chunk(ch + 1, buf ^ 1, S);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
      const __nv_bfloat16* kb = sK + buf * kKeys * D;
      float s[NT][4];
#pragma unroll
      for (int t = 0; t < NT; ++t)
        for (int e = 0; e < 4; ++e) s[t][e] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          uint32_t b[4];
          ldmatrix_x4(b, kb + swz<D>(np * 16 + (lane & 7) + ((lane >> 4) << 3),
                                     kk * 2 + ((lane >> 3) & 1)));
          mma_bf16(s[2 * np], qf[kk], b[0], b[1]);
          mma_bf16(s[2 * np + 1], qf[kk], b[2], b[3]);
        }
      }
      // Max over this warp's 16 queries that see each key, then over the 4 warps.
#pragma unroll
      for (int t = 0; t < NT; ++t) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t j = (ch * kKeys + t * 8 + 2 * (lane & 3) + e) * S;
          float v = j <= pos[0] ? s[t][e] : -INFINITY;
          v = fmaxf(v, j <= pos[1] ? s[t][e + 2] : -INFINITY);
          v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 4));
          v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 8));
          v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 16));
          if (lane < 4) sMax[warp * kKeys + t * 8 + 2 * lane + e] = v;
        }
      }
      __syncthreads();
      if (tid < kKeys) {
        const int64_t j = (ch * kKeys + tid) * S;
        const float v = fmaxf(fmaxf(sMax[tid], sMax[kKeys + tid]),
                              fmaxf(sMax[2 * kKeys + tid], sMax[3 * kKeys + tid]));
        // NaN ranks as -inf (as support/select.h); forced keys above +inf's integer.
        const bool forced = j < sink_end || j >= win_begin;
        fn(j, j < visible, forced ? 0xffffffffu : ordered(isnan(v) ? -INFINITY : v));
      }
      after_chunk();
      __syncthreads();  // the K buffer and sMax are reused next chunk
    }
  };
  auto stream = [&](auto&& fn, auto&& after_chunk) {
    stream_every(std::integral_constant<int64_t, 1>{}, fn, after_chunk);
  };
  auto nothing = [] {};

  // Radix passes: 12 + 12 + 8 bits of the k-th largest ordered score. radix_pass(pass) narrows
  // prefix / need / n_above by one pass over the row's keys.
  uint32_t threshold = 0, n_above = 0;  // keys strictly above threshold (uniform after each pass)
  uint32_t need = uint32_t(keep), prefix = 0;
  constexpr int shifts[3] = {20, 8, 0};
  constexpr int widths[3] = {12, 12, 8};
  auto radix_pass = [&](int pass) {
    const int sh = shifts[pass];
    const int n_bins = 1 << widths[pass];
    const int high = sh + widths[pass];  // bits above `high` must equal prefix
    for (int b = tid; b < n_bins; b += kThreads) hist[b] = 0;
    __syncthreads();
    stream(
        [&](int64_t, bool valid, uint32_t u) {
          if (!valid) return;
          if (high < 32 && (u >> high) != prefix) return;
          atomicAdd(&hist[(u >> sh) & uint32_t(n_bins - 1)], 1u);
        },
        nothing);
    if (warp == 0) find_bin(hist, n_bins, need, sState);
    __syncthreads();
    const uint32_t bin = sState[0], above = sState[1];
    prefix = (prefix << widths[pass]) | bin;
    need -= above;
    n_above += above;
    __syncthreads();
  };
  int32_t* out = p.cols + r * int64_t(p.k);
  auto finish = [&](int64_t count) {  // pads the row and writes its count
    for (int64_t s = count + tid; s < p.k; s += kThreads) out[s] = -1;
    if (tid == 0) p.counts[r] = int32_t(count);
  };
  if (!take_all) {
    const bool tries_two_pass = p.scratch != nullptr && keep <= kFastKeep;
    const bool tries_sampled = tries_two_pass && p.try_sampled && visible >= kSampledMinKeys &&
                               (visible + kSampleStride - 1) / kSampleStride <= p.cap &&
                               2 * keep + 512 <= p.cap;
    if (tries_sampled &&
        sampled_select(p, r, uint32_t(keep), visible, stream_every, hist, sState, out)) {
      finish(keep);
      if (tid == 0 && p.sampled != nullptr) atomicAdd(p.sampled, 1);
      return;
    }
    radix_pass(0);
    if (tries_two_pass && two_pass_rest(p, r, prefix, need, n_above, stream, hist, sState,
                                        reinterpret_cast<int32_t*>(sK), out)) {
      finish(keep);  // done in two passes: the keys are written
      return;
    }
    if (tries_two_pass && tid == 0 && p.fallbacks != nullptr) atomicAdd(p.fallbacks, 1);
    radix_pass(1);
    radix_pass(2);
    threshold = prefix;
  }

  // Emission: keys above the threshold, and the first (k - n_above) keys equal to it, ascending.
  const uint32_t need_eq = uint32_t(keep) - n_above;
  if (tid == 0) sState[4] = 0, sState[5] = 0;  // keys equal so far, keys written so far
  __syncthreads();
  uint32_t* bal = sState + 8;  // [0..1] eq ballots, [2..3] selected ballots per warp
  stream(
      [&](int64_t j, bool valid, uint32_t u) {
        const bool gt = valid && (take_all || u > threshold);
        const bool eq = valid && !take_all && u == threshold;
        const uint32_t lt_mask = (1u << lane) - 1u;
        const uint32_t eq_b = __ballot_sync(0xffffffffu, eq);
        // Warps 0 and 1 hold keys 0..31 and 32..63 of the chunk; warp 1 counts warp 0's first.
        if (lane == 0) bal[warp] = eq_b;
        __syncwarp();
        asm volatile("bar.sync 1, 64;" ::: "memory");
        const uint32_t eq_rank =
            sState[4] + (warp == 1 ? __popc(bal[0]) : 0) + __popc(eq_b & lt_mask);
        const bool sel = gt || (eq && eq_rank < need_eq);
        const uint32_t sel_b = __ballot_sync(0xffffffffu, sel);
        if (lane == 0) bal[2 + warp] = sel_b;
        asm volatile("bar.sync 1, 64;" ::: "memory");
        const uint32_t slot =
            sState[5] + (warp == 1 ? __popc(bal[2]) : 0) + __popc(sel_b & lt_mask);
        if (sel && slot < uint32_t(keep)) out[slot] = int32_t(j);
        asm volatile("bar.sync 1, 64;" ::: "memory");
        if (tid == 0) {
          sState[4] += __popc(bal[0]) + __popc(bal[1]);
          sState[5] += __popc(bal[2]) + __popc(bal[3]);
        }
      },
      nothing);
  __syncthreads();
  finish(min(keep, visible));
}

}  // namespace

void cuda_indexer_topk(const IndexerTopKShape& shape, const TensorView& q_idx,
                       const TensorView& k_idx, int32_t* cols, int32_t* counts, void* stream,
                       int32_t* fallback_rows, int32_t* sampled_rows) {
  shape.validate();
  SPF_CHECK(shape.dim == 64 || shape.dim == 128, "indexer top-k: dim ", shape.dim,
            " has no GPU kernel (64, 128)");
  q_idx.expect("indexer q", DType::bf16, Device::cuda, {shape.n_q, shape.dim});
  k_idx.expect("indexer k", DType::bf16, Device::cuda, {-1, shape.dim});
  SPF_CHECK(k_idx.dim(0) >= shape.n_kv, "indexer top-k: k holds ", k_idx.dim(0),
            " rows, fewer than n_kv = ", shape.n_kv);
  SPF_CHECK(cols != nullptr && counts != nullptr, "indexer top-k: no output arrays");
  TopKParams p;
  p.shape = shape;
  p.qs = static_cast<const __nv_bfloat16*>(q_idx.ptr);
  p.ks = static_cast<const __nv_bfloat16*>(k_idx.ptr);
  p.q_row = q_idx.stride[0];
  p.k_row = k_idx.stride[0];
  p.n_q = shape.n_q;
  p.n_kv = shape.n_kv;
  p.q_pos0 = shape.q_pos0;
  p.n_rows = shape.n_rows();
  p.q_block = shape.q_block;
  p.k = shape.k;
  p.cols = cols;
  p.counts = counts;
  p.fallbacks = fallback_rows;
  p.sampled = sampled_rows;
  p.try_sampled = shape.sampled;
  SPF_CHECK(p.n_rows < (int64_t(1) << 31), "indexer top-k: too many rows");
  // The two-pass path's per-row scratch (IndexerTopKShape::two_pass_row_bytes), stream-ordered;
  // without memory pools on the device every row takes the 4-pass path.
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  p.scratch = nullptr;
  p.cap = shape.candidate_slots();
  int dev = 0, pools = 0;
  SPF_CUDA_CHECK(cudaGetDevice(&dev));
  SPF_CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, dev));
  if (shape.two_pass() && pools != 0 && p.n_rows > 0) {
    const size_t bytes = size_t(p.n_rows) * size_t(shape.two_pass_row_bytes());
    SPF_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&p.scratch), bytes, st));
  }
  auto launch = [&](auto kernel, size_t smem) {
    SPF_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    kernel<<<unsigned(p.n_rows), kThreads, smem, st>>>(p);
    SPF_CUDA_CHECK(cudaGetLastError());
  };
  if (shape.dim == 64) {
    launch(indexer_topk_kernel<64>, topk_smem_bytes<64>());
  } else {
    launch(indexer_topk_kernel<128>, topk_smem_bytes<128>());
  }
  if (p.scratch != nullptr) SPF_CUDA_CHECK(cudaFreeAsync(p.scratch, st));
}

}  // namespace spf
