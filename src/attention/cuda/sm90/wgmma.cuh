// The Hopper (sm_90a) building blocks of the wgmma flash kernel: shared-memory matrix descriptors
// for 128-byte-swizzled tiles, the warpgroup MMA fences, and the panelled tile layout both K-major
// and MN-major operands are read from.
//
// Tile layout ("panelled", the canonical 128B-swizzle layout of the PTX ISA): a [rows][D] bf16
// tile is stored as D / 64 panels of [rows][64]; a panel row is 128 bytes, and its eight 16-byte
// pieces are XOR-permuted by (row % 8), so eight consecutive rows form one 1024-byte swizzle
// atom. The tile base must be 1024-byte aligned. As a K-major operand (Q and K: the reduction runs
// along D) one wgmma k16 step reads 32 bytes of each row of one panel (start + 32 * (k % 4),
// 8-row groups 1024 bytes apart); as an MN-major operand (V in P V: the reduction runs along the
// rows) a k16 step reads 16 rows (2048 bytes) of every panel, panels `rows * 128` bytes apart.
#pragma once

#include <cstdint>

namespace spf::cuda_detail::sm90 {

// Byte offset of 16-byte piece c (of D / 8) of row r in a panelled tile of `rows` rows.
__device__ __forceinline__ uint32_t panel_offset(int rows, int r, int c) {
  return uint32_t((c >> 3) * rows * 128 + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}

// A wgmma shared-memory descriptor: start address, leading and stride byte offsets (all in
// 16-byte units), 128-byte swizzle.
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr, uint32_t leading, uint32_t stride) {
  return uint64_t((addr & 0x3FFFFu) >> 4) | (uint64_t(leading >> 4) << 16) |
         (uint64_t(stride >> 4) << 32) | (uint64_t(1) << 62);
}
// K-major: 8-row groups 1024 bytes apart (the leading offset is unused with swizzling).
__device__ __forceinline__ uint64_t desc_k_major(uint32_t addr) {
  return smem_desc(addr, 16, 1024);
}
// MN-major over a panelled tile of `rows` rows: panels rows * 128 bytes apart along N, 8-row
// groups along K 1024 bytes apart.
__device__ __forceinline__ uint64_t desc_mn_major(uint32_t addr, int rows) {
  return smem_desc(addr, uint32_t(rows) * 128u, 1024);
}

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving reads or writes of accumulator registers across the
// asynchronous MMA's issue and wait.
template <int N>
__device__ __forceinline__ void fence_registers(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
// Makes the generic-proxy writes (cp.async) to shared memory visible to the async proxy (wgmma).
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

}  // namespace spf::cuda_detail::sm90
