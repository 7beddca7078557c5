// Indexer scoring fused with a streaming top-k, on the GPU, and its CPU reference.
//
// Scores s(i, j) = q_idx[i] . k_idx[j] (f32 accumulation of bf16 products) for every causal pair
// (key j <= q_pos0 + i). Rows are blocks of q_block consecutive queries (1: one row per query);
// a row scores key j by the max over its queries that see j. Each row keeps its best keys:
// higher score first, equal scores broken by the lower key index, so the result is a function of
// the scores alone. Output: the fixed-width top-k layout (support_view.h) with one group and
// k_block 1 — cols [n_rows][k] ascending, -1 padded, counts [n_rows] — which the gathered
// attention kernel reads directly (CudaExecutor::sparse_device).
//
// How many keys a row keeps (row_keep): by default min(k, the row's causal keys). Optionally the
// budget rules of support/budget.h, restated here because this layer sits below it: a fixed
// budget_k or a fraction of the row's causal keys, and forced sink keys (the first `sink`) and
// window keys (positions [first query - window + 1, last query]) counted inside the budget, so a
// row keeps min(causal, max(budget, forced)) keys, the forced ones plus the best others. k is then
// only the output width and must be at least width_bound().
//
// The GPU never holds an n_q x n_kv matrix: one CTA per row streams the row's keys in chunks of 64
// (scores by m16n8k16 MMAs, max over the row's queries on chip). The first pass histograms the
// top 12 bits of the order-preserving integer of each f32 score (forced keys rank above every
// score) and finds the bin of the k-th key. Two-pass path (k <= 4096): a second pass writes the
// keys above that bin and, as candidates with their scores, the keys inside it to a per-row
// scratch; the low 20 bits are resolved over the candidates alone (two histograms), and the two
// ascending lists are merged. When the bin holds more keys than the scratch has slots, or k is
// wider, the row takes the 4-pass path: two more radix passes (12 + 8 bits) narrow the k-th score
// to an exact 32-bit threshold and a fourth pass emits the keys above it, plus the lowest-index
// keys equal to it, in ascending order. Sampled path, tried first by rows of >= 4096 keys whose
// sample fits the candidate slots: a pass over every 16th key estimates a threshold just below the
// k-th score, and a single full pass writes the keys above it as candidates, among which the k
// best are selected exactly; when too few or too many keys pass the threshold the row goes on to
// the two-pass path. All paths select the same keys. Recomputing the scores per pass saves all
// global memory traffic but q, k, the output and the candidates.
//
// Exactness: the MMA sums in its own order, so GPU and CPU scores of general inputs may differ in
// the last bits and swap keys whose scores are within that rounding of the k-th score. With
// inputs whose products and partial sums are exact in f32 (small integers, as the test uses)
// every order gives the same scores and the two supports are identical, ties included.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace spf {

#if defined(__CUDACC__)
#define SPF_HOST_DEVICE __host__ __device__
#else
#define SPF_HOST_DEVICE
#endif

struct IndexerTopKShape {
  int64_t n_q = 0, n_kv = 0, q_pos0 = 0;
  int dim = 0;      // indexer head dim: 64 or 128 on the GPU
  int q_block = 1;  // 1 .. 64 queries per row
  int k = 0;        // slots per row (>= 1); without a budget below also the keys kept
  // The budget (all zero: keep min(k, causal) keys). budget_k > 0: that many keys; fraction in
  // (0, 1]: ceil(fraction * causal), at least 1 (support/budget.h's rounding); sink / window:
  // forced keys inside the budget.
  int64_t budget_k = 0;
  double fraction = 0.0;
  int64_t sink = 0, window = 0;
  // Candidate slots per row of the two-pass path (see the kernel): 0 picks the default, > 0 sets
  // it (the tests force overflows with small values), < 0 keeps every row on the 4-pass path.
  int64_t candidate_capacity = 0;
  // Rows with enough keys try the sampled path first (the kernel's comment); false: they start on
  // the two-pass path (the tests compare the paths).
  bool sampled = true;

  SPF_HOST_DEVICE int64_t n_rows() const { return (n_q + q_block - 1) / q_block; }
  bool has_budget() const { return budget_k > 0 || fraction > 0.0 || sink > 0 || window > 0; }
  // Causal keys of row r: those its last query sees.
  SPF_HOST_DEVICE int64_t row_visible(int64_t r) const {
    const int64_t last = (r + 1) * q_block < n_q ? (r + 1) * q_block : n_q;
    return q_pos0 + last < n_kv ? q_pos0 + last : n_kv;
  }
  // Forced keys of row r: [0, sink_end) and [window_begin, visible) (window_begin = visible when
  // there is no window), the same columns as support/select.h's forced_columns.
  SPF_HOST_DEVICE int64_t row_sink_end(int64_t r) const {
    const int64_t v = row_visible(r);
    return sink < v ? sink : v;
  }
  SPF_HOST_DEVICE int64_t row_window_begin(int64_t r) const {
    if (window <= 0) return row_visible(r);
    const int64_t first = q_pos0 + r * q_block - window + 1;
    return first > 0 ? first : 0;
  }
  SPF_HOST_DEVICE bool forced(int64_t r, int64_t j) const {
    return j < row_sink_end(r) || (j >= row_window_begin(r) && j < row_visible(r));
  }
  // Keys row r keeps.
  SPF_HOST_DEVICE int64_t row_keep(int64_t r) const {
    const int64_t v = row_visible(r);
    int64_t budget = k;
    if (budget_k > 0) budget = budget_k;
    if (fraction > 0.0) {
      // As budget_columns(): the slack keeps 0.07 * 100 from rounding up to 8.
      budget = int64_t(ceil(fraction * double(v) * (1.0 - 1e-12)));
      budget = budget < 1 ? 1 : budget;
    }
    const int64_t sink_end = row_sink_end(r);
    const int64_t win = row_window_begin(r) > sink_end ? row_window_begin(r) : sink_end;
    const int64_t n_forced = sink_end + (v - win);
    const int64_t keep = budget > n_forced ? budget : n_forced;
    return keep < v ? keep : v;
  }
  // The two-pass path (see the .cu): taken when k <= kTwoPassMaxKeep and candidate_capacity >= 0;
  // its candidate slots per row, and the device scratch per row it allocates for the call (0 on
  // the 4-pass path), which a caller bounding its memory counts per row.
  static constexpr int kTwoPassMaxKeep = 4096;
  bool two_pass() const { return candidate_capacity >= 0 && k <= kTwoPassMaxKeep; }
  int64_t candidate_slots() const;
  int64_t two_pass_row_bytes() const;
  // An upper bound of row_keep over the rows (the width a caller allocates): the longest row's
  // budget or sink + window + q_block - 1, whichever is larger, at most n_kv.
  int64_t width_bound() const;
  // Throws spf::Error naming the first inconsistency (k below width_bound() with a budget).
  void validate() const;
};

// q_idx bf16 [n_q][dim], k_idx bf16 [n_kv][dim] (device, rows packed); cols / counts device arrays
// of n_rows * k and n_rows int32. On a cudaStream_t (null: the default stream). Optional device
// int32 counters, the cost diagnostics of the data-dependent paths: fallback_rows is incremented
// once per row that tried the two-pass path and overflowed its candidate slots, so took the
// 4-pass path; sampled_rows once per row done on the sampled path.
// The kernel's revision: its costs change with it, so measurements of it (the dense fallback's
// cost model) name it and are not reused across revisions.
inline constexpr const char* kIndexerTopKRevision = "sampled-1";

void cuda_indexer_topk(const IndexerTopKShape& shape, const TensorView& q_idx,
                       const TensorView& k_idx, int32_t* cols, int32_t* counts,
                       void* stream = nullptr, int32_t* fallback_rows = nullptr,
                       int32_t* sampled_rows = nullptr);

// The CPU reference: f32 scores summed in index order, the same selection rule (forced keys first,
// then higher score, then lower index). q [n_q][dim], k [n_kv][dim] host f32. cols [n_rows][k]
// ascending with -1 padding, counts [n_rows].
void indexer_topk_reference(const IndexerTopKShape& shape, const float* q, const float* k,
                            std::vector<int32_t>& cols, std::vector<int32_t>& counts);

// The reference's score of key j for row r (max over the row's queries that see j; -inf if none).
float indexer_row_score(const IndexerTopKShape& shape, const float* q, const float* k, int64_t r,
                        int64_t j);

}  // namespace spf
