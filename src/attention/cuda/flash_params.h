// The launch parameters of the flash-attention kernel (flash_kernel.cuh), shared by the host side
// (cuda_executor.cpp) and the device side (flash_attention.cu). Plain data only.
//
// One kernel serves dense, block-sparse and gathered token-sparse attention: a CTA owns a tile of
// `q_tile` consecutive queries x `pack` heads that share one KV head (and one support row), so K/V
// rows are read once for all of them, and walks a sequence of key chunks of the kernel's BN keys:
//   kDense   chunks 0, 1, ... up to the tile's last causal key
//   kBlocks  the columns of the tile's support row, each a block of k_block keys (a multiple of BN)
//   kTokens  the columns of the tile's support row taken BN at a time, each one key (gathered)
// Keys outside [0, n_kv), in a query's future, or past a row's count are masked, so a support that
// lives on the device needs no host scan to be memory-safe.
#pragma once

#include <cstdint>

namespace spf::cuda_detail {

enum class KeyWalk : int { kDense = 0, kBlocks = 1, kTokens = 2 };

// Which kernel runs a call: kMma (flash_kernel.cuh, mma.sync: sm_80 and later; m_tiles picks its
// tile) or kWgmma (sm90/flash_wgmma.cu: Hopper warpgroup MMAs, built for sm_90a only).
enum class FlashKernel : int { kMma = 0, kWgmma = 1 };

struct FlashParams {
  const void* q = nullptr;  // bf16 [n_q][n_heads][D], rows q_row elements apart
  const void* k = nullptr;  // bf16 [n_kv][n_kv_heads][D]
  const void* v = nullptr;
  void* out = nullptr;   // bf16 [n_q][n_heads][D]
  float* lse = nullptr;  // optional f32 [n_q][n_heads], packed
  int64_t q_row = 0, k_row = 0, v_row = 0, o_row = 0;
  int64_t n_q = 0, n_kv = 0, q_pos0 = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale_log2 = 0.0f;  // scale * log2(e): scores are exponentiated base 2

  FlashKernel kernel = FlashKernel::kMma;
  int wgmma_keys = 0;            // kWgmma: keys per chunk (0: the default of the head dim)
  bool wgmma_pipelined = false;  // kWgmma: the software-pipelined schedule
  int m_tiles = 1;      // kMma: m16 tiles per warp (1 or 2): the CTA holds 64 * m_tiles packed rows
  int pack = 1;         // heads per CTA (divides the GQA group)
  int q_tile = 1;       // queries per CTA; pack * q_tile <= the CTA's rows
  int64_t n_tiles = 0;  // ceil(n_q / q_tile)

  KeyWalk walk = KeyWalk::kDense;
  // Support rows (walk != kDense): row i = g * n_rows + r owns cols[begin(i) .. begin(i) +
  // count(i)) with begin/count from row_ptr (CSR, n + 1 entries) or, when row_ptr is null, i *
  // row_width and counts[i] (the fixed-width top-k layout).
  const int32_t* cols = nullptr;
  const int64_t* row_ptr = nullptr;
  const int32_t* counts = nullptr;
  int64_t row_width = 0;
  int64_t n_rows = 0;
  int q_block = 1, k_block = 1;
  int group_div = 1;  // support group of a CTA = (first head) / group_div
};

// Launches p.kernel for p.head_dim (64, 128 or 256) (and p.m_tiles) on a cudaStream_t; throws
// spf::Error for any other head_dim, an m_tiles without a kernel, a kernel this build or GPU
// lacks, or a launch failure.
void launch_flash_attention(const FlashParams& p, void* stream);
// The m_tiles used when none is asked for, and the tile geometry of a kernel: packed rows per CTA
// and keys per chunk (block supports need k_block % chunk == 0). m_tiles is ignored for kWgmma.
int flash_default_m_tiles(int head_dim);
int flash_rows(FlashKernel kernel, int head_dim, int m_tiles);
int flash_key_chunk(FlashKernel kernel, int head_dim, int m_tiles, int wgmma_keys = 0);

// The wgmma kernel (sm90/flash_wgmma.cu): whether this build has it (compiled for sm_90a) and
// the current device runs it (compute capability 9.0); its launcher and geometry.
bool flash_wgmma_available();
void launch_flash_wgmma(const FlashParams& p, void* stream);
int flash_wgmma_rows(int head_dim);
int flash_wgmma_key_chunk(int head_dim, int keys = 0);

}  // namespace spf::cuda_detail
