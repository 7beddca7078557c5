// BsrSupport: a Support in block-sparse-row layout with a fixed query block, the form block GPU
// kernels read. Block row r holds queries [r * q_block, (r + 1) * q_block) (the last one may be
// short), block column c keys [c * k_block, (c + 1) * k_block) aligned to position 0; row pointers
// and block-column indices are int32. A block column that straddles a row's queries (the diagonal
// block) is masked causally per query by the executor, exactly as in the CSR Support (support.h).
//
// to_bsr / to_csr are lossless: to_csr(to_bsr(s, s.q_block)) == s and to_bsr(to_csr(b), b.q_block)
// == b. to_bsr never changes granularity: turning token rows into query blocks adds pairs and is
// the explicit widen_query_block (widen.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attention/support_view.h"
#include "support/support.h"

namespace spf {

struct BsrSupport : SupportDims {
  std::vector<int32_t> row_ptr;  // n_groups * n_rows() + 1 entries
  std::vector<int32_t> cols;

  std::span<const int32_t> row(int g, int64_t r) const {
    const size_t i = size_t(int64_t(g) * n_rows() + r);
    return {cols.data() + row_ptr[i], size_t(row_ptr[i + 1] - row_ptr[i])};
  }
  // One scan: array sizes, then validate_support(view()); throws spf::Error on the first
  // violation. The result is valid while this support lives and is not modified.
  ValidatedSupport validated() const;
  void validate() const { (void)validated(); }
  BsrSupportView view() const {
    return BsrSupportView{SupportDims(*this), row_ptr.data(), cols.data()};
  }
};

// Throws spf::Error when s.q_block != q_block (no silent widening) or s holds more columns than
// int32 row pointers address.
BsrSupport to_bsr(const Support& s, int q_block);
Support to_csr(const BsrSupport& b);

}  // namespace spf
