// Support: which keys each query (or query block) of one attention layer may attend to.
// Producers (dense, oracle, indexer, baselines) make Supports; executors consume them.
//
// Rows: query i belongs to row i / q_block (q_block = 1 gives one row per query).
// Columns: a column index c names keys [c * k_block, (c + 1) * k_block) at absolute positions
// (k_block = 1: token granularity; k_block > 1: key blocks aligned to position 0).
// Groups: one support shared by all heads (n_groups = 1, the head-averaged setting), or one per KV
// group (n_groups = n_kv_heads), or one per query head (n_groups = n_heads).
// Storage is CSR: row (g, r) owns cols[row_ptr[g * n_rows + r] .. row_ptr[g * n_rows + r + 1]), sorted
// ascending, no duplicates. Always causal: no column starts after the last query of its row; keys of a
// column that lie in the future of a particular query are masked by the executor.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace spf {

struct Support {
  int64_t n_q = 0;
  int64_t n_kv = 0;
  int64_t q_pos0 = 0;
  int q_block = 1;
  int k_block = 1;
  int n_groups = 1;
  std::vector<int64_t> row_ptr;  // n_groups * n_rows() + 1 entries
  std::vector<int32_t> cols;

  int64_t n_rows() const { return (n_q + q_block - 1) / q_block; }
  int64_t n_cols() const { return (n_kv + k_block - 1) / k_block; }
  std::span<const int32_t> row(int g, int64_t r) const {
    const int64_t i = int64_t(g) * n_rows() + r;
    return {cols.data() + row_ptr[size_t(i)], size_t(row_ptr[size_t(i) + 1] - row_ptr[size_t(i)])};
  }
  // Which group head h (of n_heads, n_kv_heads) reads.
  int group_of_head(int h, int n_heads, int n_kv_heads) const;
  // Throws spf::Error describing the first violation (unsorted, duplicate, out of range, acausal,
  // wrong row_ptr size).
  void validate() const;
  // Number of (query, key) pairs the support admits after causal clipping, summed over groups.
  int64_t admitted_pairs() const;
};

}  // namespace spf
