// gdn_mma_check.h: one warp loads every fragment both ways from a shared-memory tile whose
// elements hold their own index (distinct bit patterns), and counts the registers that differ.
#include <cuda_runtime.h>

#include "attention/cuda/cuda_check.h"
#include "model/cuda/gdn_mma.cuh"
#include "model/cuda/gdn_mma_check.h"

namespace spf::cuda::gdn {

namespace {

using namespace gdn_detail;

constexpr int kRows = 64;
constexpr int kMaxLd = 136;  // the widest pitch of the kernels (128 + kPad)

__global__ void fragment_check_kernel(unsigned long long* mismatches) {
  __shared__ __align__(16) f16 tile[kRows * kMaxLd];
  const int lane = threadIdx.x;
  for (int i = lane; i < kRows * kMaxLd; i += 32) tile[i] = __ushort_as_half(uint16_t(i + 1));
  __syncwarp();
  unsigned long long bad = 0;
  auto count = [&](const uint32_t* a, const uint32_t* b, int n) {
    for (int r = 0; r < n; ++r) bad += a[r] != b[r];
  };
  // The kernels' pitches: 64 + 8, 128 + 8, and the state pass's 16 + 8 and 32 + 8 (v').
  const int lds[4] = {72, 136, 24, 40};
  for (const int ld : lds) {
    const int cols = ld - kPad;  // elements of a row that a tile may read
    for (int r0 = 0; r0 + 16 <= kRows; r0 += 16)
      for (int c0 = 0; c0 + 16 <= cols; c0 += 16) {
        uint32_t x[4], y[4];
        // A, m-major: m = row, k = column.
        load_a_mk(x, tile, ld, r0, c0, lane);
        ldsm_a_mk(y, tile, ld, r0, c0, lane);
        count(x, y, 4);
        // A, k-major: k = row, m = column.
        load_a_km(x, tile, ld, c0, r0, lane);
        ldsm_a_km(y, tile, ld, c0, r0, lane);
        count(x, y, 4);
        // B, n-major (n = row, k = column) and k-major (k = row, n = column), one and two n-tiles.
        uint32_t b0[2], b1[2], p0[2], p1[2];
        load_b_nk(p0, tile, ld, c0, r0, lane);
        load_b_nk(p1, tile, ld, c0, r0 + 8, lane);
        ldsm_b_nk_x2(b0, b1, tile, ld, c0, r0, lane);
        count(p0, b0, 2);
        count(p1, b1, 2);
        ldsm_b_nk(b0, tile, ld, c0, r0, lane);
        count(p0, b0, 2);
        load_b_kn(p0, tile, ld, r0, c0, lane);
        load_b_kn(p1, tile, ld, r0, c0 + 8, lane);
        ldsm_b_kn_x2(b0, b1, tile, ld, r0, c0, lane);
        count(p0, b0, 2);
        count(p1, b1, 2);
        ldsm_b_kn(b0, tile, ld, r0, c0, lane);
        count(p0, b0, 2);
      }
  }
  atomicAdd(mismatches, bad);
}

}  // namespace

int64_t fragment_loader_mismatches() {
  unsigned long long* d = nullptr;
  SPF_CUDA_CHECK(cudaMalloc(&d, sizeof *d));
  SPF_CUDA_CHECK(cudaMemset(d, 0, sizeof *d));
  fragment_check_kernel<<<1, 32>>>(d);
  SPF_CUDA_CHECK(cudaGetLastError());
  unsigned long long h = 0;
  SPF_CUDA_CHECK(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost));
  SPF_CUDA_CHECK(cudaFree(d));
  return int64_t(h);
}

}  // namespace spf::cuda::gdn
