// Support: which keys each query (or query block) of one attention layer may attend to.
// Producers (dense, oracle, indexer, baselines) make Supports; executors consume them.
//
// Rows: query i belongs to row i / q_block (q_block = 1 gives one row per query).
// Columns: a column index c names keys [c * k_block, (c + 1) * k_block) at absolute positions
// (k_block = 1: token granularity; k_block > 1: key blocks aligned to position 0).
// Groups: one support shared by all heads (n_groups = 1, the head-averaged setting), or one per KV
// group (n_groups = n_kv_heads), or one per query head (n_groups = n_heads).
// Storage is CSR: row (g, r) owns cols[row_ptr[g * n_rows + r] .. row_ptr[g * n_rows + r + 1]),
// sorted ascending, no duplicates. Always causal: no column starts after the last query of its row;
// keys of a column that lie in the future of a particular query are masked by the executor.
// The geometry (SupportDims) and the executors' views live in attention/support_view.h.
//
// Other layouts of the same meaning, with lossless conversions: top_k_support.h (fixed width, for
// gathered GPU kernels) and bsr_support.h (int32 block rows). Conversions that add pairs are in
// widen.h; a support validated once and kept for many runs is a SupportPlan (plan.h).
// Builders below; producers in producer.h; the backend that applies them in support_attention.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "attention/attention.h"
#include "attention/support_view.h"

namespace spf {

struct Support : SupportDims {
  std::vector<int64_t> row_ptr;  // n_groups * n_rows() + 1 entries
  std::vector<int32_t> cols;

  std::span<const int32_t> row(int g, int64_t r) const {
    const int64_t i = int64_t(g) * n_rows() + r;
    return {cols.data() + row_ptr[size_t(i)], size_t(row_ptr[size_t(i) + 1] - row_ptr[size_t(i)])};
  }
  // Which group head h (of n_heads, n_kv_heads) reads.
  int group_of_head(int h, int n_heads, int n_kv_heads) const;
  // One scan: throws spf::Error describing the first violation (bad dimensions, wrong row_ptr
  // size, unsorted, duplicate, out of range, acausal); returns the executors' validated view with
  // the admitted pair count (valid while the support lives and is not modified).
  ValidatedSupport validated() const;
  void validate() const { (void)validated(); }
  // Number of (query, key) pairs the support admits after causal clipping, summed over groups.
  int64_t admitted_pairs() const;
  // admitted_pairs() / (n_groups * causal_pairs()): 1 for the full causal support.
  double density() const;
  // The executors' view of this support (valid while the support lives and is not modified).
  SupportView view() const { return SupportView{SupportDims(*this), row_ptr.data(), cols.data()}; }
};

// An empty support laid out for a call: dimensions from the shape, no rows yet.
Support support_layout(const AttentionShape& shape, int q_block, int k_block, int n_groups);

// The full causal support of a layout: every causal column of every row, in every group.
Support dense_support(const Support& layout);
inline Support dense_support(const AttentionShape& shape, int block = 1) {
  return dense_support(support_layout(shape, block, block, 1));
}

// Fills a layout from per-row column lists, rows[g * n_rows + r] (each sorted and deduplicated
// here), then validates: throws spf::Error on an out-of-range or acausal column or a wrong row
// count.
Support support_from_rows(const Support& layout, std::vector<std::vector<int32_t>> rows);

}  // namespace spf
