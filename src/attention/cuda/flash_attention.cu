// Instantiates the mma.sync flash-attention kernel for the specialised head dims (the one
// dispatch point, core/dispatch.h) and its m-tile variants, and launches it or, for
// FlashKernel::kWgmma, the Hopper kernel of sm90/ (stubs here when the build has no sm_90a code).
#include <cuda_runtime.h>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/flash_kernel.cuh"
#include "core/dispatch.h"

namespace spf::cuda_detail {

namespace {

// The m-tile variants built per head dim: D = 256 has no registers for a second m-tile.
constexpr int max_m_tiles(int d) {
  return d == 256 ? 1 : 2;
}

template <class Fn>
decltype(auto) dispatch_tiles(int head_dim, int m_tiles, Fn&& fn) {
  return dispatch_head_dim(head_dim, [&](auto hd) {
    constexpr int D = decltype(hd)::value;
    SPF_CHECK(m_tiles >= 1 && m_tiles <= max_m_tiles(D), "flash attention: no kernel with ",
              m_tiles, " m-tiles per warp for head_dim ", D, " (1..", max_m_tiles(D), ")");
    if constexpr (max_m_tiles(D) >= 2) {
      if (m_tiles == 2) return fn(FlashTile<D, 2>{});
    }
    return fn(FlashTile<D, 1>{});
  });
}

}  // namespace

int flash_default_m_tiles(int head_dim) {
  return head_dim == 256 ? 1 : 2;
}

int flash_rows(FlashKernel kernel, int head_dim, int m_tiles) {
  if (kernel == FlashKernel::kWgmma) return flash_wgmma_rows(head_dim);
  return dispatch_tiles(head_dim, m_tiles, [](auto tile) { return decltype(tile)::kRows; });
}

int flash_key_chunk(FlashKernel kernel, int head_dim, int m_tiles, int wgmma_keys) {
  if (kernel == FlashKernel::kWgmma) return flash_wgmma_key_chunk(head_dim, wgmma_keys);
  return dispatch_tiles(head_dim, m_tiles, [](auto tile) { return decltype(tile)::kKeys; });
}

void launch_flash_attention(const FlashParams& p, void* stream) {
  if (p.kernel == FlashKernel::kWgmma) {
    launch_flash_wgmma(p, stream);
    return;
  }
  dispatch_tiles(p.head_dim, p.m_tiles, [&](auto tile) {
    using Tile = decltype(tile);
    constexpr int D = Tile::kChunks * 8;
    constexpr int MT = Tile::kMTiles;
    static const bool configured = [] {
      SPF_CUDA_CHECK(cudaFuncSetAttribute(flash_forward_kernel<D, MT>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(Tile::kSmemBytes)));
      return true;
    }();
    (void)configured;
    SPF_CHECK(p.n_tiles >= 1 && p.n_tiles < (int64_t(1) << 31), "flash attention: ", p.n_tiles,
              " query tiles do not fit one grid");
    SPF_CHECK(p.pack * p.q_tile <= Tile::kRows, "flash attention: ", p.pack, " heads x ", p.q_tile,
              " queries exceed the ", Tile::kRows, "-row tile");
    const dim3 grid(unsigned(p.n_tiles), unsigned(p.n_heads / p.pack));
    flash_forward_kernel<D, MT>
        <<<grid, Tile::kThreads, Tile::kSmemBytes, static_cast<cudaStream_t>(stream)>>>(p);
    SPF_CUDA_CHECK(cudaGetLastError());
  });
}

#if !defined(SPF_HAVE_SM90A)
// A build without sm_90 code has no wgmma kernel.
bool flash_wgmma_available() {
  return false;
}
void launch_flash_wgmma(const FlashParams&, void*) {
  fail("flash attention: this build has no wgmma kernel (configure with 90 in SPF_CUDA_ARCHS)");
}
int flash_wgmma_rows(int) {
  fail("flash attention: this build has no wgmma kernel");
}
int flash_wgmma_key_chunk(int, int) {
  fail("flash attention: this build has no wgmma kernel");
}
#endif

}  // namespace spf::cuda_detail
