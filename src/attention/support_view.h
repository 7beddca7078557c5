// Non-owning views of a support, the only form in which executors see one (the attention layer does
// not depend on the support layer above it; support/support.h documents the meaning). Three
// layouts share one geometry (SupportDims):
//   SupportView      CSR: row (g, r) owns cols[row_ptr[i] .. row_ptr[i + 1]), i = g * n_rows + r,
//                    int64 row pointers (the Support's own arrays).
//   TopKSupportView  fixed width: row i owns cols[i * k .. i * k + counts[i]); slots
//                    [counts[i], k) hold -1. The layout gathered GPU kernels read (top-k keys per
//                    query).
//   BsrSupportView   block-sparse rows: as CSR with int32 row pointers; rows are blocks of q_block
//                    queries, columns blocks of k_block keys. Columns that straddle a row's queries
//                    (the diagonal blocks) are masked causally per query by the executor.
// In every layout a row's columns are ascending, unique, in [0, n_cols) and causal (none starts
// after the row's last query).
//
// Plan once, run many: validate_support() scans a view once and returns a ValidatedSupport, the
// only way to obtain one, carrying what the scan measured (admitted pairs, entries, longest row).
// Executors that take a ValidatedSupport trust it and do not scan again. A view, validated or not,
// is valid only while the arrays it points to live and are not modified.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

namespace spf {

// The group a head reads when a support has n_groups groups: 1 (shared by all heads), n_kv_heads
// (one per KV group) or n_heads (one per head). Throws spf::Error for any other n_groups.
int group_of_head(int h, int n_groups, int n_heads, int n_kv_heads);

// Geometry shared by every layout. Row r holds queries [r * q_block, min((r + 1) * q_block, n_q))
// at absolute positions q_pos0 + i; column c names keys [c * k_block, (c + 1) * k_block), aligned
// to position 0 and clipped to n_kv.
struct SupportDims {
  int64_t n_q = 0;
  int64_t n_kv = 0;
  int64_t q_pos0 = 0;
  int q_block = 1;
  int k_block = 1;
  int n_groups = 1;

  int64_t n_rows() const { return (n_q + q_block - 1) / q_block; }
  int64_t n_cols() const { return (n_kv + k_block - 1) / k_block; }
  // Absolute positions of the first and last query of row r.
  int64_t row_first_pos(int64_t r) const { return q_pos0 + r * q_block; }
  int64_t row_last_pos(int64_t r) const { return q_pos0 + std::min((r + 1) * q_block, n_q) - 1; }
  // Columns row r may hold (those starting at or before its last query): [0, causal_cols(r)).
  int64_t causal_cols(int64_t r) const { return std::min(row_last_pos(r) / k_block + 1, n_cols()); }
  // Causal (query, key) pairs of one group: the sum over queries of their visible keys.
  int64_t causal_pairs() const { return n_q * (q_pos0 + 1) + n_q * (n_q - 1) / 2; }
  // (query, key) pairs that column c admits in row r after causal clipping.
  int64_t column_pairs(int64_t r, int64_t c) const;
  bool same_dims(const SupportDims& o) const {
    return n_q == o.n_q && n_kv == o.n_kv && q_pos0 == o.q_pos0 && q_block == o.q_block &&
           k_block == o.k_block && n_groups == o.n_groups;
  }
  // Throws spf::Error (prefixed with `what`) unless n_q >= 1, q_pos0 >= 0, n_kv >= q_pos0 + n_q,
  // both blocks >= 1, n_groups >= 1 and column indices fit int32.
  void validate_dims(const char* what = "support") const;
};

// CSR.
struct SupportView : SupportDims {
  const int64_t* row_ptr = nullptr;  // n_groups * n_rows() + 1 entries
  const int32_t* cols = nullptr;

  std::span<const int32_t> row(int g, int64_t r) const {
    const int64_t i = int64_t(g) * n_rows() + r;
    return {cols + row_ptr[i], size_t(row_ptr[i + 1] - row_ptr[i])};
  }
};

// Fixed width: k slots per row, the first counts[i] used, the rest -1.
struct TopKSupportView : SupportDims {
  int k = 0;
  const int32_t* cols = nullptr;    // [n_groups * n_rows()][k]
  const int32_t* counts = nullptr;  // [n_groups * n_rows()]

  std::span<const int32_t> row(int g, int64_t r) const {
    const int64_t i = int64_t(g) * n_rows() + r;
    return {cols + i * k, size_t(counts[i])};
  }
};

// Block-sparse rows with int32 row pointers.
struct BsrSupportView : SupportDims {
  const int32_t* row_ptr = nullptr;  // n_groups * n_rows() + 1 entries
  const int32_t* cols = nullptr;

  std::span<const int32_t> row(int g, int64_t r) const {
    const int64_t i = int64_t(g) * n_rows() + r;
    return {cols + row_ptr[i], size_t(row_ptr[i + 1] - row_ptr[i])};
  }
};

class ValidatedSupport;
ValidatedSupport validate_support(const SupportView& view);
ValidatedSupport validate_support(const TopKSupportView& view);
ValidatedSupport validate_support(const BsrSupportView& view);

// A view that passed validate_support(), with what the scan measured.
class ValidatedSupport {
 public:
  using View = std::variant<SupportView, TopKSupportView, BsrSupportView>;

  const View& view() const { return view_; }
  const SupportDims& dims() const {
    return std::visit([](const auto& v) -> const SupportDims& { return v; }, view_);
  }
  // Stored columns over all rows and groups, and the most any row holds.
  int64_t entries() const { return entries_; }
  int64_t max_row_entries() const { return max_row_entries_; }
  // (query, key) pairs admitted after causal clipping, summed over groups.
  int64_t admitted_pairs() const { return admitted_pairs_; }
  // admitted_pairs() / (n_groups * causal pairs): 1 for the full causal support.
  double density() const {
    return double(admitted_pairs_) / (double(dims().n_groups) * double(dims().causal_pairs()));
  }
  bool full() const { return admitted_pairs_ == int64_t(dims().n_groups) * dims().causal_pairs(); }

 private:
  ValidatedSupport(View view, int64_t entries, int64_t max_row_entries, int64_t admitted_pairs)
      : view_(view),
        entries_(entries),
        max_row_entries_(max_row_entries),
        admitted_pairs_(admitted_pairs) {}
  friend ValidatedSupport validate_support(const SupportView& view);
  friend ValidatedSupport validate_support(const TopKSupportView& view);
  friend ValidatedSupport validate_support(const BsrSupportView& view);

  View view_;
  int64_t entries_ = 0;
  int64_t max_row_entries_ = 0;
  int64_t admitted_pairs_ = 0;
};

}  // namespace spf
