#include "support/top_k_support.h"

#include <algorithm>

#include "core/error.h"

namespace spf {

ValidatedSupport TopKSupport::validated() const {
  validate_dims("top-k support");
  SPF_CHECK(k >= 0, "top-k support: k = ", k, " (must be >= 0)");
  const int64_t rows = n_rows() * n_groups;
  SPF_CHECK(int64_t(counts.size()) == rows, "top-k support: ", counts.size(),
            " counts, expected n_groups * n_rows = ", rows);
  SPF_CHECK(int64_t(cols.size()) == rows * k, "top-k support: ", cols.size(),
            " column slots, expected n_groups * n_rows * k = ", rows * k);
  return validate_support(view());
}

TopKSupport to_top_k(const Support& s) {
  return to_top_k(s, int(s.validated().max_row_entries()));
}

TopKSupport to_top_k(const Support& s, int k) {
  const ValidatedSupport v = s.validated();
  SPF_CHECK(k >= v.max_row_entries(), "to_top_k: width k = ", k, " but a row holds ",
            v.max_row_entries(), " columns (a narrower layout would drop some)");
  TopKSupport t;
  static_cast<SupportDims&>(t) = s;
  t.k = k;
  const int64_t rows = s.n_rows() * s.n_groups;
  t.cols.assign(size_t(rows) * size_t(k), -1);
  t.counts.resize(size_t(rows));
  for (int g = 0; g < s.n_groups; ++g) {
    for (int64_t r = 0; r < s.n_rows(); ++r) {
      const auto row = s.row(g, r);
      const size_t i = size_t(int64_t(g) * s.n_rows() + r);
      std::copy(row.begin(), row.end(), t.cols.begin() + ptrdiff_t(i * size_t(k)));
      t.counts[i] = int32_t(row.size());
    }
  }
  return t;
}

Support to_csr(const TopKSupport& t) {
  const ValidatedSupport v = t.validated();
  Support s;
  static_cast<SupportDims&>(s) = t;
  s.row_ptr.reserve(size_t(t.n_rows() * t.n_groups) + 1);
  s.row_ptr.push_back(0);
  s.cols.reserve(size_t(v.entries()));
  for (int g = 0; g < t.n_groups; ++g) {
    for (int64_t r = 0; r < t.n_rows(); ++r) {
      const auto row = t.row(g, r);
      s.cols.insert(s.cols.end(), row.begin(), row.end());
      s.row_ptr.push_back(int64_t(s.cols.size()));
    }
  }
  return s;
}

}  // namespace spf
