// Instantiates the flash-attention kernel for the specialised head dims (the one dispatch point,
// core/dispatch.h) and launches it.
#include <cuda_runtime.h>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/flash_kernel.cuh"
#include "core/dispatch.h"

namespace spf::cuda_detail {

int flash_key_chunk(int head_dim) {
  return dispatch_head_dim(head_dim, [](auto hd) { return FlashTile<decltype(hd)::value>::kKeys; });
}

void launch_flash_attention(const FlashParams& p, void* stream) {
  dispatch_head_dim(p.head_dim, [&](auto hd) {
    constexpr int D = decltype(hd)::value;
    using Tile = FlashTile<D>;
    static const bool configured = [] {
      SPF_CUDA_CHECK(cudaFuncSetAttribute(flash_forward_kernel<D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(Tile::kSmemBytes)));
      return true;
    }();
    (void)configured;
    SPF_CHECK(p.n_tiles >= 1 && p.n_tiles < (int64_t(1) << 31), "flash attention: ", p.n_tiles,
              " query tiles do not fit one grid");
    const dim3 grid(unsigned(p.n_tiles), unsigned(p.n_heads / p.pack));
    flash_forward_kernel<D>
        <<<grid, Tile::kThreads, Tile::kSmemBytes, static_cast<cudaStream_t>(stream)>>>(p);
    SPF_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace spf::cuda_detail
