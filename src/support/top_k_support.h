// TopKSupport: a Support in fixed-width layout, the form gathered GPU kernels read (e.g. the top
// 2048 keys of each query). Same rows, columns, groups, q_block and k_block as the CSR Support
// (support.h); row i = g * n_rows + r owns cols[i * k .. i * k + counts[i]), ascending, and the
// remaining slots of the row hold -1.
//
// to_top_k / to_csr are lossless: to_csr(to_top_k(s)) == s for every valid s, and
// to_top_k(to_csr(t), t.k) == t for every valid t.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attention/support_view.h"
#include "support/support.h"

namespace spf {

struct TopKSupport : SupportDims {
  int k = 0;
  std::vector<int32_t> cols;    // [n_groups * n_rows()][k], -1 past each row's count
  std::vector<int32_t> counts;  // [n_groups * n_rows()]

  std::span<const int32_t> row(int g, int64_t r) const {
    const size_t i = size_t(int64_t(g) * n_rows() + r);
    return {cols.data() + i * size_t(k), size_t(counts[i])};
  }
  // One scan: array sizes, then validate_support(view()); throws spf::Error on the first
  // violation. The result is valid while this support lives and is not modified.
  ValidatedSupport validated() const;
  void validate() const { (void)validated(); }
  TopKSupportView view() const {
    return TopKSupportView{SupportDims(*this), k, cols.data(), counts.data()};
  }
};

// Width = the longest row of s (validated first).
TopKSupport to_top_k(const Support& s);
// Width k; throws spf::Error when a row holds more than k columns (that would drop some).
TopKSupport to_top_k(const Support& s, int k);
Support to_csr(const TopKSupport& s);

}  // namespace spf
