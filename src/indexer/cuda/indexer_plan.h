// The host-side index arithmetic of CudaIndexerBackend, apart from the device so that it can be
// tested without a GPU: how a call's keys are appended in token slices (which rows of the side
// cache, at which positions) and how its queries are cut into slices for top-k and attention
// (slice length, row width, each slice's top-k shape).
//
// Invariants (tests/model_cuda/cuda_indexer_test.cpp checks them on the CPU):
//   keys     slice [t0, t0 + m) of a call at q_pos0 writes side-cache rows q_pos0 + t0 .. + m, each
//            [n_groups][d_idx], the G vectors of a token at that token's position.
//   queries  slices start at multiples of q_block (relative to the call's q_pos0, where the rows
//            of the whole call start), so slice row r is call row i0 / q_block + r with the same
//            visible keys, forced keys and budget; one width serves every slice.
#pragma once

#include <cstdint>

#include "attention/attention.h"
#include "attention/cuda/indexer_topk.h"
#include "indexer/cuda/indexer_finish.h"
#include "indexer/indexer_model.h"
#include "support/budget.h"

namespace spf {

// Tokens per key-append slice: the f32 GEMM output and a possible aligned copy of the hidden rows
// of one slice fit scratch_bytes (at least 1, at most n).
int64_t key_slice_tokens(const IndexerConfig& c, int64_t scratch_bytes, int64_t n);

// The finish (RoPE + bf16) arguments of key slice [t0, t0 + m) of a call at q_pos0: `in` the
// slice's f32 GEMM output [m][n_groups * d_idx], `rows` the side cache's row q_pos0 (the call's
// first), bf16 [.][n_groups][d_idx].
IndexerFinishArgs key_finish_args(const IndexerConfig& c, const float* in, int64_t t0, int64_t m,
                                  int64_t q_pos0, const float* inv_freq, uint16_t* rows);

// The top-k shape of a call (or a query slice of one) under the budget; k is its width bound.
IndexerTopKShape indexer_topk_shape(const Budget& budget, int q_block, int d_idx,
                                    const AttentionShape& call);

struct IndexerQuerySlices {
  int width = 0;                // row width of every slice: the whole call's bound
  int64_t slice = 0;            // queries per slice (the last may be shorter)
  int64_t slice_rows = 0;       // rows of a full slice
  int64_t per_query_bytes = 0;  // scratch per query the slice length was derived from
  int64_t count(int64_t n_q) const { return (n_q + slice - 1) / slice; }
};

// copies_hidden: whether the slices' hidden rows need a packed copy (hidden_rows_aligned false);
// the copy is the largest share of a query's scratch for wide models (2 d_model bytes), and fewer,
// longer slices keep the top-k kernel's grid full.
IndexerQuerySlices plan_query_slices(const IndexerConfig& c, const Budget& budget, int q_block,
                                     int64_t scratch_bytes, const AttentionShape& call,
                                     bool copies_hidden = true);

// Whether bf16 rows at x with leading dimension ldx (elements) are GEMM-ready (256-byte aligned
// start, 16-byte aligned rows) at every row offset that is a multiple of `step` (0: at x only).
bool hidden_rows_aligned(const void* x, int64_t ldx, int64_t step);

// The top-k shape of query slice [i0, i0 + n) of the call, at the plan's width.
IndexerTopKShape slice_topk_shape(const IndexerQuerySlices& plan, const Budget& budget, int q_block,
                                  int d_idx, const AttentionShape& slice);

}  // namespace spf
