#include "attention/support_view.h"

#include <limits>

#include "core/error.h"

namespace spf {

int group_of_head(int h, int n_groups, int n_heads, int n_kv_heads) {
  SPF_CHECK(h >= 0 && h < n_heads, "support: head ", h, " out of range [0, ", n_heads, ")");
  // When two of these counts coincide the mappings agree, so the order of the tests does not
  // matter.
  if (n_groups == 1) return 0;
  if (n_groups == n_kv_heads) return h / (n_heads / n_kv_heads);
  if (n_groups == n_heads) return h;
  fail("support: n_groups = ", n_groups, " matches neither 1, n_kv_heads = ", n_kv_heads,
       " nor n_heads = ", n_heads);
}

int64_t SupportDims::column_pairs(int64_t r, int64_t c) const {
  // Sum over query positions p in [lo, hi] of the keys of [a, a + len) visible to p, i.e. of
  // clamp(p - a + 1, 0, len): an arithmetic series where the column is partly visible, then len
  // each.
  const int64_t lo = row_first_pos(r), hi = row_last_pos(r);
  const int64_t a = c * k_block, len = std::min<int64_t>(k_block, n_kv - a);
  int64_t total = 0;
  const int64_t r0 = std::max(lo, a), r1 = std::min(hi, a + len - 1);
  if (r0 <= r1) total += (r0 - a + 1 + r1 - a + 1) * (r1 - r0 + 1) / 2;
  const int64_t f0 = std::max(lo, a + len);
  if (f0 <= hi) total += (hi - f0 + 1) * len;
  return total;
}

void SupportDims::validate_dims(const char* what) const {
  SPF_CHECK(n_q >= 1 && q_pos0 >= 0 && n_kv >= q_pos0 + n_q, what, ": n_q = ", n_q,
            ", q_pos0 = ", q_pos0, ", n_kv = ", n_kv,
            " (need n_q >= 1, q_pos0 >= 0 and n_kv >= q_pos0 + n_q)");
  SPF_CHECK(q_block >= 1 && k_block >= 1, what, ": block sizes q_block = ", q_block,
            ", k_block = ", k_block, " (must be >= 1)");
  SPF_CHECK(n_groups >= 1, what, ": n_groups = ", n_groups, " (must be >= 1)");
  SPF_CHECK(n_cols() <= std::numeric_limits<int32_t>::max(), what, ": ", n_cols(),
            " columns do not fit int32 indices");
}

namespace {

// What one scan accumulates over the rows of a view.
struct ScanTotals {
  int64_t entries = 0;
  int64_t max_row = 0;
  int64_t pairs = 0;
};

// Checks one row's columns (ascending, unique, in range, causal) and adds them to the totals.
void scan_row(const char* what, const SupportDims& d, int g, int64_t r,
              std::span<const int32_t> row, ScanTotals& t) {
  const int64_t n_cols = d.n_cols(), limit = d.causal_cols(r);
  int64_t prev = -1;
  for (const int32_t c : row) {
    SPF_CHECK(c >= 0 && c < n_cols, what, ": group ", g, " row ", r, " column ", c,
              " out of range [0, ", n_cols, ")");
    SPF_CHECK(c > prev, what, ": group ", g, " row ", r, " column ", c,
              prev == c ? " is duplicated" : " is out of order");
    SPF_CHECK(c < limit, what, ": group ", g, " row ", r, " column ", c, " starts at key ",
              int64_t(c) * d.k_block, ", after the row's last query (position ", d.row_last_pos(r),
              ")");
    t.pairs += d.column_pairs(r, c);
    prev = c;
  }
  t.entries += int64_t(row.size());
  t.max_row = std::max(t.max_row, int64_t(row.size()));
}

// Row pointers of CSR and BSR: start at 0, never decrease; then every row's columns.
template <class View>
ScanTotals scan_row_ptr_layout(const char* what, const View& v) {
  v.validate_dims(what);
  SPF_CHECK(v.row_ptr != nullptr, what, ": no row pointers");
  const int64_t rows = v.n_rows();
  SPF_CHECK(v.row_ptr[0] == 0, what, ": row_ptr starts at ", v.row_ptr[0], ", not 0");
  SPF_CHECK(v.cols != nullptr || v.row_ptr[int64_t(v.n_groups) * rows] == 0, what,
            ": no column array");
  ScanTotals t;
  for (int g = 0; g < v.n_groups; ++g) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = int64_t(g) * rows + r;
      SPF_CHECK(v.row_ptr[i] <= v.row_ptr[i + 1], what, ": row_ptr decreases at group ", g, " row ",
                r);
      scan_row(what, v, g, r, v.row(g, r), t);
    }
  }
  return t;
}

}  // namespace

ValidatedSupport validate_support(const SupportView& view) {
  const ScanTotals t = scan_row_ptr_layout("support", view);
  return ValidatedSupport(view, t.entries, t.max_row, t.pairs);
}

ValidatedSupport validate_support(const BsrSupportView& view) {
  const ScanTotals t = scan_row_ptr_layout("bsr support", view);
  return ValidatedSupport(view, t.entries, t.max_row, t.pairs);
}

ValidatedSupport validate_support(const TopKSupportView& view) {
  const char* what = "top-k support";
  view.validate_dims(what);
  SPF_CHECK(view.k >= 0, what, ": k = ", view.k, " (must be >= 0)");
  const int64_t rows = view.n_rows();
  SPF_CHECK(view.counts != nullptr, what, ": no count array");
  SPF_CHECK(view.cols != nullptr || view.k == 0, what, ": no column array");
  ScanTotals t;
  for (int g = 0; g < view.n_groups; ++g) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = int64_t(g) * rows + r;
      const int32_t n = view.counts[i];
      SPF_CHECK(n >= 0 && n <= view.k, what, ": group ", g, " row ", r, " count ", n,
                " out of range [0, k = ", view.k, "]");
      for (int64_t slot = n; slot < view.k; ++slot) {
        const int32_t c = view.cols[i * view.k + slot];
        SPF_CHECK(c == -1, what, ": group ", g, " row ", r, " slot ", slot, " holds ", c,
                  " past the row's count ", n, " (padding must be -1)");
      }
      scan_row(what, view, g, r, view.row(g, r), t);
    }
  }
  return ValidatedSupport(view, t.entries, t.max_row, t.pairs);
}

}  // namespace spf
