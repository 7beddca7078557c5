#include "support/bsr_support.h"

#include <limits>

#include "core/error.h"

namespace spf {

ValidatedSupport BsrSupport::validated() const {
  validate_dims("bsr support");
  const int64_t rows = n_rows() * n_groups;
  SPF_CHECK(int64_t(row_ptr.size()) == rows + 1, "bsr support: row_ptr has ", row_ptr.size(),
            " entries, expected n_groups * n_rows + 1 = ", rows + 1);
  SPF_CHECK(row_ptr.front() == 0 && row_ptr.back() == int64_t(cols.size()),
            "bsr support: row_ptr spans [", row_ptr.front(), ", ", row_ptr.back(),
            "] but there are ", cols.size(), " columns");
  return validate_support(view());
}

BsrSupport to_bsr(const Support& s, int q_block) {
  SPF_CHECK(s.q_block == q_block, "to_bsr: the support has q_block = ", s.q_block,
            ", not the requested ", q_block, " (widen_query_block converts, adding pairs)");
  s.validate();
  SPF_CHECK(s.cols.size() <= size_t(std::numeric_limits<int32_t>::max()), "to_bsr: ", s.cols.size(),
            " columns do not fit int32 row pointers");
  BsrSupport b;
  static_cast<SupportDims&>(b) = s;
  b.row_ptr.assign(s.row_ptr.begin(), s.row_ptr.end());  // each fits: row_ptr.back() is the max
  b.cols = s.cols;
  return b;
}

Support to_csr(const BsrSupport& b) {
  b.validate();
  Support s;
  static_cast<SupportDims&>(s) = b;
  s.row_ptr.assign(b.row_ptr.begin(), b.row_ptr.end());
  s.cols = b.cols;
  return s;
}

}  // namespace spf
