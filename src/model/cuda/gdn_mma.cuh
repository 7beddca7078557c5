// Warp-level tensor-core building blocks of the chunked Gated DeltaNet kernels: fragments of the
// mma.sync m16n8k16 fp16 instruction (fp32 accumulation) read from fp16 tiles in shared memory,
// for either storage order of each operand, so every matmul of the chunked delta rule reads its
// tiles as they were stored (no transposed copies). The kernels use the ldmatrix forms (ldsm_*:
// one instruction per fragment); the plain 32-bit / 16-bit load forms (load_*) define what each
// must return, and gdn_mma_check.h compares the two on the device.
//
// The operands are fp16, not bf16: every one of them is bounded (unit keys, decays <= 1, states and
// values of activation size), and fp16's 11-bit significand keeps 8x more of each rounded operand;
// with bf16 operands the rounding of q, k and v alone moved the mixer's outputs by up to 2%.
//
// Fragment layout (PTX ISA, mma.m16n8k16 .f16 and .bf16 alike), with g = lane / 4, t = lane % 4:
//   A (16 x 16, m x k): a[0] = (g, 2t..2t+1), a[1] = (g+8, 2t..), a[2] = (g, 2t+8..),
//                       a[3] = (g+8, 2t+8..)             (low half = lower column)
//   B (16 x 8,  k x n): b[0] = (2t..2t+1, g), b[1] = (2t+8..2t+9, g)
//   C (16 x 8,  m x n): c[0], c[1] = (g, 2t), (g, 2t+1); c[2], c[3] = (g+8, 2t), (g+8, 2t+1)
// Tiles are padded by 8 elements per row (kPad), which makes all loads below conflict-free for
// row lengths that are multiples of 64 elements.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "attention/cuda/ptx.cuh"

namespace spf::cuda::gdn_detail {

using f16 = __half;

constexpr int kPad = 8;     // elements of padding per shared-memory tile row
constexpr int kChunk = 64;  // tokens per chunk of the chunked form

__device__ __forceinline__ uint32_t pack_f16(f16 lo, f16 hi) {
  return uint32_t(__half_as_ushort(lo)) | (uint32_t(__half_as_ushort(hi)) << 16);
}
__device__ __forceinline__ uint32_t ld32(const f16* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

// c += a * b.
__device__ __forceinline__ void mma_f16(float (&c)[4], const uint32_t (&a)[4],
                                        const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// A fragment at (m0, k0) of a matrix stored m-major: element (m, k) at s[m * ld + k].
__device__ __forceinline__ void load_a_mk(uint32_t (&a)[4], const f16* s, int ld, int m0, int k0,
                                          int lane) {
  const f16* p = s + (m0 + (lane >> 2)) * ld + k0 + 2 * (lane & 3);
  a[0] = ld32(p);
  a[1] = ld32(p + 8 * ld);
  a[2] = ld32(p + 8);
  a[3] = ld32(p + 8 * ld + 8);
}

// A fragment at (m0, k0) of a matrix stored k-major: element (m, k) at s[k * ld + m].
__device__ __forceinline__ void load_a_km(uint32_t (&a)[4], const f16* s, int ld, int m0, int k0,
                                          int lane) {
  const f16* p = s + (k0 + 2 * (lane & 3)) * ld + m0 + (lane >> 2);
  a[0] = pack_f16(p[0], p[ld]);
  a[1] = pack_f16(p[8], p[ld + 8]);
  a[2] = pack_f16(p[8 * ld], p[9 * ld]);
  a[3] = pack_f16(p[8 * ld + 8], p[9 * ld + 8]);
}

// B fragment at (k0, n0) of a matrix stored n-major: element (k, n) at s[n * ld + k].
__device__ __forceinline__ void load_b_nk(uint32_t (&b)[2], const f16* s, int ld, int k0, int n0,
                                          int lane) {
  const f16* p = s + (n0 + (lane >> 2)) * ld + k0 + 2 * (lane & 3);
  b[0] = ld32(p);
  b[1] = ld32(p + 8);
}

// B fragment at (k0, n0) of a matrix stored k-major: element (k, n) at s[k * ld + n].
__device__ __forceinline__ void load_b_kn(uint32_t (&b)[2], const f16* s, int ld, int k0, int n0,
                                          int lane) {
  const f16* p = s + (k0 + 2 * (lane & 3)) * ld + n0 + (lane >> 2);
  b[0] = pack_f16(p[0], p[ld]);
  b[1] = pack_f16(p[8 * ld], p[9 * ld]);
}

// ldmatrix forms of the loaders above (one instruction per fragment, or per pair of B fragments):
// lane l supplies the address of row l % 8 of 8 x 8 matrix l / 8 (16 bytes, 16-byte aligned:
// ld and the column offsets must be multiples of 8); matrix i lands in register i, element
// (row g, columns 2t..2t+1) per lane, or with .trans (rows 2t..2t+1, column g).
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const f16* p) {
  ptx::ldmatrix_x4(r, ptx::smem_addr(p));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const f16* p) {
  ptx::ldmatrix_x4_trans(r, ptx::smem_addr(p));
}
__device__ __forceinline__ void ldsm_x2(uint32_t (&r)[2], const f16* p) {
  ptx::ldmatrix_x2(r, ptx::smem_addr(p));
}
__device__ __forceinline__ void ldsm_x2_trans(uint32_t (&r)[2], const f16* p) {
  ptx::ldmatrix_x2_trans(r, ptx::smem_addr(p));
}

// = load_a_mk: matrices (m0, k0), (m0 + 8, k0), (m0, k0 + 8), (m0 + 8, k0 + 8).
__device__ __forceinline__ void ldsm_a_mk(uint32_t (&a)[4], const f16* s, int ld, int m0, int k0,
                                          int lane) {
  ldsm_x4(a, s + (m0 + (lane & 15)) * ld + k0 + (lane >> 4) * 8);
}
// = load_a_km (s[k * ld + m]): stored blocks (k0, m0), (k0, m0 + 8), (k0 + 8, m0), (k0 + 8, m0 +
// 8), transposed.
__device__ __forceinline__ void ldsm_a_km(uint32_t (&a)[4], const f16* s, int ld, int m0, int k0,
                                          int lane) {
  ldsm_x4_trans(a, s + (k0 + (lane & 7) + ((lane >> 4) & 1) * 8) * ld + m0 + ((lane >> 3) & 1) * 8);
}
// = load_b_nk for the n-tiles at n0 and n0 + 8 (b0 and b1): stored blocks (n0, k0), (n0, k0 + 8),
// (n0 + 8, k0), (n0 + 8, k0 + 8).
__device__ __forceinline__ void ldsm_b_nk_x2(uint32_t (&b0)[2], uint32_t (&b1)[2], const f16* s,
                                             int ld, int k0, int n0, int lane) {
  uint32_t r[4];
  ldsm_x4(r, s + (n0 + (lane & 7) + (lane >> 4) * 8) * ld + k0 + ((lane >> 3) & 1) * 8);
  b0[0] = r[0], b0[1] = r[1], b1[0] = r[2], b1[1] = r[3];
}
// = load_b_nk for one n-tile (lanes 16..31's addresses are ignored).
__device__ __forceinline__ void ldsm_b_nk(uint32_t (&b)[2], const f16* s, int ld, int k0, int n0,
                                          int lane) {
  ldsm_x2(b, s + (n0 + (lane & 7)) * ld + k0 + ((lane >> 3) & 1) * 8);
}
// = load_b_kn (s[k * ld + n]) for the n-tiles at n0 and n0 + 8: stored blocks (k0, n0),
// (k0 + 8, n0), (k0, n0 + 8), (k0 + 8, n0 + 8), transposed.
__device__ __forceinline__ void ldsm_b_kn_x2(uint32_t (&b0)[2], uint32_t (&b1)[2], const f16* s,
                                             int ld, int k0, int n0, int lane) {
  uint32_t r[4];
  ldsm_x4_trans(r, s + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + n0 + (lane >> 4) * 8);
  b0[0] = r[0], b0[1] = r[1], b1[0] = r[2], b1[1] = r[3];
}
// = load_b_kn for one n-tile.
__device__ __forceinline__ void ldsm_b_kn(uint32_t (&b)[2], const f16* s, int ld, int k0, int n0,
                                          int lane) {
  ldsm_x2_trans(b, s + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + n0);
}

// Row / column of accumulator element e (0..3) of a C fragment, relative to the tile origin.
__device__ __forceinline__ int c_row(int lane, int e) {
  return (lane >> 2) + (e >= 2 ? 8 : 0);
}
__device__ __forceinline__ int c_col(int lane, int e) {
  return 2 * (lane & 3) + (e & 1);
}

}  // namespace spf::cuda::gdn_detail
