#include "support/support.h"

#include <algorithm>

#include "core/error.h"

namespace spf {

int Support::group_of_head(int h, int n_heads, int n_kv_heads) const {
  return spf::group_of_head(h, n_groups, n_heads, n_kv_heads);
}

ValidatedSupport Support::validated() const {
  validate_dims();
  const int64_t rows = n_rows() * n_groups;
  SPF_CHECK(int64_t(row_ptr.size()) == rows + 1, "support: row_ptr has ", row_ptr.size(),
            " entries, expected n_groups * n_rows + 1 = ", rows + 1);
  SPF_CHECK(row_ptr.front() == 0 && row_ptr.back() == int64_t(cols.size()),
            "support: row_ptr spans [", row_ptr.front(), ", ", row_ptr.back(), "] but there are ",
            cols.size(), " columns");
  return validate_support(view());
}

int64_t Support::admitted_pairs() const {
  int64_t total = 0;
  for (int g = 0; g < n_groups; ++g) {
    for (int64_t r = 0; r < n_rows(); ++r) {
      for (const int32_t c : row(g, r)) total += column_pairs(r, c);
    }
  }
  return total;
}

double Support::density() const {
  return double(admitted_pairs()) / (double(n_groups) * double(causal_pairs()));
}

Support support_layout(const AttentionShape& shape, int q_block, int k_block, int n_groups) {
  Support s;
  s.n_q = shape.n_q;
  s.n_kv = shape.n_kv;
  s.q_pos0 = shape.q_pos0;
  s.q_block = q_block;
  s.k_block = k_block;
  s.n_groups = n_groups;
  SPF_CHECK(q_block >= 1 && k_block >= 1, "support: block sizes q_block = ", q_block,
            ", k_block = ", k_block, " (must be >= 1)");
  SPF_CHECK(n_groups >= 1, "support: n_groups = ", n_groups, " (must be >= 1)");
  return s;
}

Support dense_support(const Support& layout) {
  Support s = layout;
  s.row_ptr.assign(1, 0);
  s.cols.clear();
  for (int g = 0; g < s.n_groups; ++g) {
    for (int64_t r = 0; r < s.n_rows(); ++r) {
      for (int64_t c = 0; c < s.causal_cols(r); ++c) s.cols.push_back(int32_t(c));
      s.row_ptr.push_back(int64_t(s.cols.size()));
    }
  }
  s.validate();
  return s;
}

Support support_from_rows(const Support& layout, std::vector<std::vector<int32_t>> rows) {
  Support s = layout;
  SPF_CHECK(int64_t(rows.size()) == s.n_rows() * s.n_groups, "support: got ", rows.size(),
            " rows, expected n_groups * n_rows = ", s.n_rows() * s.n_groups);
  size_t total = 0;
  for (auto& row : rows) {
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    total += row.size();
  }
  s.row_ptr.assign(1, 0);
  s.row_ptr.reserve(rows.size() + 1);
  s.cols.clear();
  s.cols.reserve(total);
  for (const auto& row : rows) {
    s.cols.insert(s.cols.end(), row.begin(), row.end());
    s.row_ptr.push_back(int64_t(s.cols.size()));
  }
  s.validate();
  return s;
}

}  // namespace spf
