// The row kernels of the indexer trainer on the GPU (cuda_distill_backend.h): everything of
// distill.cpp's objective that is neither a matmul nor the mix + RoPE tail (indexer_finish.h).
// Row-major f32 unless noted; every launch runs on `stream` (a cudaStream_t, null: the default
// stream). One block per row, reductions in a fixed order: the same inputs give the same bits on
// the same GPU (what exact resume needs).
//
// The CPU reference of the whole pipeline is distill.cpp (head_averaged_targets + distill_scorer);
// tests/model_cuda/cuda_distill_test.cpp compares against it.
#pragma once

#include <cstdint>

namespace spf::cuda {

// out[r][c] = bf16 x[r][c] (row stride ld elements) as f32, [rows][cols] packed.
void distill_bf16_to_f32(const void* x, int64_t rows, int64_t cols, int64_t ld, float* out,
                         void* stream);

// One head's share of the dense targets for query rows row0 .. row0 + rows - 1 of a call whose
// queries sit at positions 0.. over n_keys keys: s [rows][lds] holds q.k (unscaled) for keys
// 0 .. min(n_keys, row0 + rows) - 1. Row r (query i = row0 + r) gets
//   p[r][j] (+)= weight * softmax_{j <= i}(scale * s[r][j])   for j <= i,   0 for i < j < n_keys
// (assigned when first, else added), p [rows][n_keys].
void distill_target_rows(const float* s, int64_t lds, int64_t rows, int64_t row0, int64_t n_keys,
                         float scale, float weight, bool first, float* p, void* stream);

// The KL objective of n query rows in place: z [n][n] holds the scorer's logits
// z_ij = q_i . k_j / sqrt(d); on return z_ij = gscale * (S_ij - P_ij) for j <= i and 0 above
// (S = causal softmax of z, P [n][n] the targets), and row_kl[i] = sum_{j <= i, P > 0}
// P_ij (log P_ij - log S_ij).
void distill_kl_rows(float* z, const float* p, int64_t n, float gscale, float* row_kl,
                     void* stream);

// The backward of the lightning heads' mix q[t] = sum_h mix[t][h] heads[t][h d ..] (heads
// [n][H d], mix [n][H]; the forward and RoPE are cuda_indexer_finish, indexer_finish.h) from
// g = dL/dq [n][d]: dheads[t][h d + e] = mix[t][h] g[t][e], dmix[t][h] = heads[t][h d ..] . g[t].
void distill_mix_backward(const float* heads, const float* mix, const float* g, int64_t n, int H,
                          int d, float* dheads, float* dmix, void* stream);

}  // namespace spf::cuda
