// The Hopper flash-attention forward kernel: the contract of flash_kernel.cuh (dense, block and
// token key walks of flash_params.h, GQA-packed rows, causal and validity masks, optional lse),
// with the two matrix products on warpgroup MMAs (wgmma, sm_90a) instead of per-warp mma.sync.
//
// CTA = 2 warpgroups = 128 packed rows of one KV head, 64 per warpgroup. Q and each key chunk's
// K and V sit in shared memory in the 128B-swizzled panelled layout (sm90/wgmma.cuh), brought by
// cp.async from all threads, double-buffered. Per chunk a warpgroup computes S = Q K^T with both
// operands read from shared memory by the tensor cores (no ldmatrix, no per-warp B fragments),
// applies the masks and the online softmax in registers (flash_common.cuh), and accumulates
// O += P V with P from registers (the S fragment re-packed to bf16) and V read MN-major. The two
// warpgroups run their softmax and MMAs independently, so one's exponentials overlap the other's
// MMAs.
//
// Why this and not mma.sync: the mma.sync kernel is issue- and latency-bound (its profile in
// docs/results/attention-h200.md); wgmma issues a 64 x N x 16 product per instruction from shared
// memory and runs it asynchronously. Built only for sm_90a (the file compiles to an empty kernel
// elsewhere and flash_wgmma_available() is false), so the mma.sync kernel stays the portable path
// and this file's reference: tests/cuda run every case through both.
#include <cuda_runtime.h>

#include <type_traits>
#include <utility>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/flash_common.cuh"
#include "attention/cuda/sm90/wgmma.cuh"
#include "attention/cuda/sm90/wgmma_ops.cuh"
#include "core/dispatch.h"

namespace spf::cuda_detail {

namespace {

using namespace sm90;

template <int D, int BN>
struct WgTile {
  static constexpr int kDim = D;
  static constexpr int kWarpgroups = 2;
  static constexpr int kRows = 64 * kWarpgroups;
  // Keys per chunk: S (kKeys / 2 f32 per thread) lives next to O (D / 2) in the registers.
  static constexpr int kKeys = BN;
  static constexpr int kThreads = 128 * kWarpgroups;
  static constexpr int kMinBlocks = D == 64 && BN == 64 ? 2 : 1;  // 119 registers
  static constexpr uint32_t kQBytes = kRows * D * 2;
  static constexpr uint32_t kKvBytes = kKeys * D * 2;  // one of K, V for one chunk
  // 1024 bytes of slack to align the tiles to the swizzle atom.
  static constexpr size_t kSmemBytes = 1024 + kQBytes + 4 * kKvBytes + 2 * kKeys * sizeof(int);
};

template <int N>
__device__ __forceinline__ void mma_ss(float (&d)[N / 2], uint64_t a, uint64_t b, int acc) {
  if constexpr (N == 64) wgmma_ss_n64(d, a, b, acc);
  if constexpr (N == 128) wgmma_ss_n128(d, a, b, acc);
  if constexpr (N == 256) wgmma_ss_n256(d, a, b, acc);
}
template <int N>
__device__ __forceinline__ void mma_rs_tb(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b) {
  if constexpr (N == 64) wgmma_rs_n64_tb(d, a, b, 1);
  if constexpr (N == 128) wgmma_rs_n128_tb(d, a, b, 1);
  if constexpr (N == 256) wgmma_rs_n256_tb(d, a, b, 1);
}

// PIPE: the software-pipelined schedule (below) instead of the plain one, each chunk's S, softmax
// and P V in turn.
template <int D, int KEYS, bool PIPE>
__global__ void __launch_bounds__(WgTile<D, KEYS>::kThreads, WgTile<D, KEYS>::kMinBlocks)
    flash_wgmma_kernel(const FlashParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Tile = WgTile<D, KEYS>;
  constexpr int BM = Tile::kRows, BN = Tile::kKeys, CH = D / 8;
  constexpr int NT = BN / 8;  // S n8 blocks per thread row pair
  constexpr int DT = D / 8;   // O n8 blocks
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  unsigned char* base = smem_raw + ((1024u - (raw & 1023u)) & 1023u);
  unsigned char* sQ = base;
  unsigned char* sK = sQ + Tile::kQBytes;
  unsigned char* sV = sK + 2 * Tile::kKvBytes;
  int* sIdx = reinterpret_cast<int*>(sV + 2 * Tile::kKvBytes);

  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const CtaTile ct = cta_tile(p);
  const int head0 = ct.head0, kvh = ct.kvh, rows_used = ct.rows_used;
  const int64_t q0 = ct.q0, q_last = ct.q_last, pos_first = ct.pos_first;
  const TileKeys walk = tile_keys(p, head0, q0, q_last, BN);

  const __nv_bfloat16* kg = static_cast<const __nv_bfloat16*>(p.k) + int64_t(kvh) * D;
  const __nv_bfloat16* vg = static_cast<const __nv_bfloat16*>(p.v) + int64_t(kvh) * D;

  load_q_tile<D, BM, Tile::kThreads>(p, ct, tid,
                                     [&](int r, int c) { return sQ + panel_offset(BM, r, c); });

  // K (with the chunk's key indices) or V of chunk `it` into buffer `buf` (see the pipeline
  // below for when each is loaded).
  auto load_rows = [&](int64_t it, int buf, const __nv_bfloat16* g, int64_t row_stride,
                       unsigned char* dst) {
    const int64_t first = chunk_first_key(p, walk.list, walk.sub, BN, it);
    for (int id = tid; id < BN * CH; id += Tile::kThreads) {
      const int n = id / CH, c = id % CH;
      const int key = key_of(p, walk.list, walk.count, BN, it, first, n);
      const bool ok = key >= 0;
      cp_async16(dst + buf * Tile::kKvBytes + panel_offset(BN, n, c),
                 g + (ok ? key : 0) * row_stride + c * 8, ok);
    }
    return first;
  };
  auto load_k = [&](int64_t it, int buf) {
    const int64_t first = load_rows(it, buf, kg, p.k_row, sK);
    if (tid < BN) sIdx[buf * BN + tid] = key_of(p, walk.list, walk.count, BN, it, first, tid);
  };
  auto load_v = [&](int64_t it, int buf) { (void)load_rows(it, buf, vg, p.v_row, sV); };
  // K and V of one chunk in one pass (one key lookup per row for both).
  auto load_kv = [&](int64_t it, int buf) {
    const int64_t first = chunk_first_key(p, walk.list, walk.sub, BN, it);
    for (int id = tid; id < BN * CH; id += Tile::kThreads) {
      const int n = id / CH, c = id % CH;
      const int key = key_of(p, walk.list, walk.count, BN, it, first, n);
      const bool ok = key >= 0;
      const int64_t kk = ok ? key : 0;
      const uint32_t off = buf * Tile::kKvBytes + panel_offset(BN, n, c);
      cp_async16(sK + off, kg + kk * p.k_row + c * 8, ok);
      cp_async16(sV + off, vg + kk * p.v_row + c * 8, ok);
    }
    if (tid < BN) sIdx[buf * BN + tid] = key_of(p, walk.list, walk.count, BN, it, first, tid);
  };

  // This thread's rows: warp `warp` of warpgroup wg holds rows 64 wg + 16 warp + lane / 4 (+ 8).
  const int row0 = 64 * wg + 16 * warp + (lane >> 2);
  int64_t pos[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = row0 + 8 * h;
    pos[h] = r < rows_used ? p.q_pos0 + q0 + r / p.pack : -1;
  }

  float o[DT][4];
  float s[NT][4];
#pragma unroll
  for (int t = 0; t < DT; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[t][e] = 0.0f;
#pragma unroll
  for (int t = 0; t < NT; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[t][e] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
  float(&o_flat)[DT * 4] = reinterpret_cast<float(&)[DT * 4]>(o);
  float(&s_flat)[NT * 4] = reinterpret_cast<float(&)[NT * 4]>(s);

  const uint32_t q_base = smem_addr(sQ) + uint32_t(wg * 64 * 128);
  // S = Q K^T of the chunk in K buffer `buf` over D / 16 k-steps: panel kk / 4, 32 bytes per step
  // within it.
  auto issue_s = [&](int buf) {
    const uint32_t k_base = smem_addr(sK) + uint32_t(buf) * Tile::kKvBytes;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const uint32_t step = uint32_t((kk & 3) * 32);
      mma_ss<BN>(s_flat, desc_k_major(q_base + uint32_t((kk >> 2) * BM * 128) + step),
                 desc_k_major(k_base + uint32_t((kk >> 2) * BN * 128) + step), kk > 0 ? 1 : 0);
    }
    wgmma_commit();
  };
  // O += P V of the chunk in V buffer `buf` over BN / 16 k-steps of 16 keys (2048 bytes of each
  // panel of V), P (bf16 A fragments) from registers.
  uint32_t pa[BN / 16][4];
  auto issue_pv = [&](int buf) {
    const uint32_t v_base = smem_addr(sV) + uint32_t(buf) * Tile::kKvBytes;
    fence_registers(o_flat);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk)
      mma_rs_tb<D>(o_flat, pa[kk], desc_mn_major(v_base + uint32_t(kk) * 2048u, BN));
    wgmma_commit();
  };

  // The softmax of chunk it (S in registers, landed) and the re-packing of P for the next P V.
  auto softmax_chunk = [&](int64_t it) {
    const int* ib = sIdx + int(it & 1) * BN;
    const bool need_mask = chunk_needs_mask(ib, BN, pos_first);
    float corr[2];
    softmax_step(s, ib, need_mask, pos, p.scale_log2, lane, m_run, l_run, corr);
    return std::pair<float, float>(corr[0], corr[1]);
  };
  auto rescale_and_pack = [&](std::pair<float, float> corr) {
#pragma unroll
    for (int t = 0; t < DT; ++t) {
      o[t][0] *= corr.first;
      o[t][1] *= corr.first;
      o[t][2] *= corr.second;
      o[t][3] *= corr.second;
    }
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      pa[kk][0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
      pa[kk][1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
      pa[kk][2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[kk][3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
  };
  // Every thread's copies have landed, and both warpgroups are done with the products that read
  // the buffers the next loads refill.
  auto landed = [] {
    cp_async_wait<0>();
    fence_proxy_async();
    __syncthreads();
  };

  const int64_t n = walk.n_iters;
  if constexpr (!PIPE) {
    // Plain schedule: K and V of chunk it + 1 load while chunk it computes.
    if (n > 0) load_kv(0, 0);
    cp_async_commit();
    for (int64_t it = 0; it < n; ++it) {
      landed();
      if (it + 1 < n) load_kv(it + 1, int((it + 1) & 1));
      cp_async_commit();
      issue_s(int(it & 1));
      wgmma_wait<0>();
      fence_registers(s_flat);
      rescale_and_pack(softmax_chunk(it));
      issue_pv(int(it & 1));
      wgmma_wait<0>();
      fence_registers(o_flat);
    }
  } else if (n > 0) {
    // Software pipeline: iteration it issues S of chunk it and P V of chunk it - 1, then runs the
    // softmax of chunk it while the tensor cores still work on P V (and on the other warpgroup's
    // products). K of chunk it + 1 and V of chunk it are loaded meanwhile; both have landed by
    // the next iteration's barrier. The first chunk has no P V before it; the last P V follows.
    load_k(0, 0);
    cp_async_commit();
    landed();
    if (n > 1) load_k(1, 1);
    load_v(0, 0);
    cp_async_commit();
    issue_s(0);
    wgmma_wait<0>();
    fence_registers(s_flat);
    rescale_and_pack(softmax_chunk(0));
    for (int64_t it = 1; it < n; ++it) {
      landed();
      if (it + 1 < n) load_k(it + 1, int((it + 1) & 1));
      load_v(it, int(it & 1));
      cp_async_commit();
      issue_s(int(it & 1));
      issue_pv(int((it - 1) & 1));
      wgmma_wait<1>();
      fence_registers(s_flat);
      const std::pair<float, float> corr = softmax_chunk(it);
      wgmma_wait<0>();
      fence_registers(o_flat);
      rescale_and_pack(corr);
    }
    landed();
    issue_pv(int((n - 1) & 1));
    wgmma_wait<0>();
    fence_registers(o_flat);
  }
  cp_async_wait<0>();
  store_rows(p, o, m_run, l_run, row0, rows_used, q0, head0, lane);
#else
  (void)p;
#endif
}

// The key-chunk variants built per head dim, the first one the default (keys 0): d = 64 and 256
// default to 64 keys (d = 64: two CTAs per SM; d = 256: O alone takes 128 registers), d = 128 to
// 128.
template <class Fn>
decltype(auto) dispatch_keys(int head_dim, int keys, Fn&& fn) {
  return dispatch_head_dim(head_dim, [&](auto hd) {
    constexpr int D = decltype(hd)::value;
    if constexpr (D == 64) {
      if (keys == 128) return fn(WgTile<64, 128>{});
      SPF_CHECK(keys == 0 || keys == 64, "flash attention: no wgmma kernel with ", keys,
                " keys per chunk for head_dim 64 (64, 128)");
      return fn(WgTile<64, 64>{});
    } else if constexpr (D == 128) {
      if (keys == 64) return fn(WgTile<128, 64>{});
      SPF_CHECK(keys == 0 || keys == 128, "flash attention: no wgmma kernel with ", keys,
                " keys per chunk for head_dim 128 (128, 64)");
      return fn(WgTile<128, 128>{});
    } else {
      SPF_CHECK(keys == 0 || keys == 64, "flash attention: no wgmma kernel with ", keys,
                " keys per chunk for head_dim 256 (64)");
      return fn(WgTile<256, 64>{});
    }
  });
}

bool device_is_sm90() {
  static const bool yes = [] {
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
      return false;
    }
    return major == 9 && minor == 0;
  }();
  return yes;
}

}  // namespace

bool flash_wgmma_available() {
  return device_is_sm90();
}

int flash_wgmma_rows(int head_dim) {
  return dispatch_keys(head_dim, 0, [](auto tile) { return decltype(tile)::kRows; });
}

int flash_wgmma_key_chunk(int head_dim, int keys) {
  return dispatch_keys(head_dim, keys, [](auto tile) { return decltype(tile)::kKeys; });
}

void launch_flash_wgmma(const FlashParams& p, void* stream) {
  SPF_CHECK(flash_wgmma_available(),
            "flash attention: the wgmma kernel needs a compute capability 9.0 GPU (sm_90a)");
  dispatch_keys(p.head_dim, p.wgmma_keys, [&](auto tile) {
    using Tile = decltype(tile);
    constexpr int D = Tile::kDim, BN = Tile::kKeys;
    // One instantiation per schedule, so each kernel gets its own one-time shared-memory opt-in
    // (both kernels have the same pointer type: a lambda taking the pointer would share the
    // static).
    const auto launch = [&](auto pipelined) {
      constexpr auto kernel = flash_wgmma_kernel<D, BN, decltype(pipelined)::value>;
      static const bool configured = [&] {
        SPF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            int(Tile::kSmemBytes)));
        return true;
      }();
      (void)configured;
      SPF_CHECK(p.n_tiles >= 1 && p.n_tiles < (int64_t(1) << 31), "flash attention: ", p.n_tiles,
                " query tiles do not fit one grid");
      SPF_CHECK(p.pack * p.q_tile <= Tile::kRows, "flash attention: ", p.pack, " heads x ",
                p.q_tile, " queries exceed the ", Tile::kRows, "-row tile");
      SPF_CHECK(p.walk != KeyWalk::kBlocks || p.k_block % BN == 0,
                "flash attention: block walk with k_block ", p.k_block,
                " needs a multiple of the wgmma kernel's chunk ", BN);
      const dim3 grid(unsigned(p.n_tiles), unsigned(p.n_heads / p.pack));
      kernel<<<grid, Tile::kThreads, Tile::kSmemBytes, static_cast<cudaStream_t>(stream)>>>(p);
      SPF_CUDA_CHECK(cudaGetLastError());
    };
    if (p.wgmma_pipelined) {
      launch(std::true_type{});
    } else {
      launch(std::false_type{});
    }
  });
}

}  // namespace spf::cuda_detail
