// Indexer scoring fused with a streaming top-k, on the GPU, and its CPU reference.
//
// Scores s(i, j) = q_idx[i] . k_idx[j] (f32 accumulation of bf16 products) for every causal pair
// (key j <= q_pos0 + i). Rows are blocks of q_block consecutive queries (1: one row per query);
// a row scores key j by the max over its queries that see j. Each row keeps its k best keys:
// higher score first, equal scores broken by the lower key index, so the result is a function of
// the scores alone. Output: the fixed-width top-k layout (support_view.h) with one group and
// k_block 1 — cols [n_rows][k] ascending, -1 padded, counts [n_rows] = min(k, the row's causal
// keys) — which the gathered attention kernel reads directly (CudaExecutor::sparse_device).
//
// The GPU never holds an n_q x n_kv matrix: one CTA per row streams the row's keys in chunks of 64
// (scores by m16n8k16 MMAs, max over the row's queries on chip) four times: three radix passes
// narrow the k-th score to an exact 32-bit threshold (12 + 12 + 8 bits of the order-preserving
// integer of the f32 score, histograms in shared memory), the fourth emits the keys above it, plus
// the lowest-index keys equal to it, in ascending order. Recomputing scores costs 4 score passes
// and saves all global memory traffic but q and k.
//
// Exactness: the MMA sums in its own order, so GPU and CPU scores of general inputs may differ in
// the last bits and swap keys whose scores are within that rounding of the k-th score. With
// inputs whose products and partial sums are exact in f32 (small integers, as the test uses)
// every order gives the same scores and the two supports are identical, ties included.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace spf {

struct IndexerTopKShape {
  int64_t n_q = 0, n_kv = 0, q_pos0 = 0;
  int dim = 0;      // indexer head dim: 64 or 128 on the GPU
  int q_block = 1;  // 1 .. 64 queries per row
  int k = 0;        // keys kept per row (>= 1)
  int64_t n_rows() const { return (n_q + q_block - 1) / q_block; }
  // Throws spf::Error naming the first inconsistency.
  void validate() const;
};

// q_idx bf16 [n_q][dim], k_idx bf16 [n_kv][dim] (device, rows packed); cols / counts device arrays
// of n_rows * k and n_rows int32. On a cudaStream_t (null: the default stream).
void cuda_indexer_topk(const IndexerTopKShape& shape, const TensorView& q_idx,
                       const TensorView& k_idx, int32_t* cols, int32_t* counts,
                       void* stream = nullptr);

// The CPU reference: f32 scores summed in index order, the same selection rule. q [n_q][dim],
// k [n_kv][dim] host f32. cols [n_rows][k] ascending with -1 padding, counts [n_rows].
void indexer_topk_reference(const IndexerTopKShape& shape, const float* q, const float* k,
                            std::vector<int32_t>& cols, std::vector<int32_t>& counts);

// The reference's score of key j for row r (max over the row's queries that see j; -inf if none).
float indexer_row_score(const IndexerTopKShape& shape, const float* q, const float* k, int64_t r,
                        int64_t j);

}  // namespace spf
