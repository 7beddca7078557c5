// Brute-force references for the support tests: head-group-averaged block mass from the
// double-precision probabilities (N x N: short sequences only).
#pragma once

#include <vector>

#include "attention/attention_inputs.h"
#include "attention/cpu/reference.h"
#include "support/support.h"

namespace spf::test {

// mass[g][r][c] as in attention/cpu/block_mass.h, in double precision.
inline std::vector<double> reference_block_mass(const AttnInputs& in, int q_block, int k_block,
                                                int n_groups) {
  const AttentionShape& s = in.shape;
  const std::vector<double> p = reference_probabilities(s, in.q.data(), in.k.data());
  const int64_t rows = (s.n_q + q_block - 1) / q_block, cols = (s.n_kv + k_block - 1) / k_block;
  std::vector<double> m(size_t(n_groups * rows * cols), 0.0);
  const int per_group = s.n_heads / n_groups;
  for (int h = 0; h < s.n_heads; ++h) {
    const int g = group_of_head(h, n_groups, s.n_heads, s.n_kv_heads);
    for (int64_t i = 0; i < s.n_q; ++i) {
      for (int64_t j = 0; j < s.n_kv; ++j) {
        m[size_t((g * rows + i / q_block) * cols + j / k_block)] +=
            p[size_t((h * s.n_q + i) * s.n_kv + j)] / per_group;
      }
    }
  }
  return m;
}

inline std::vector<int32_t> row_vec(const Support& s, int g, int64_t r) {
  const auto row = s.row(g, r);
  return {row.begin(), row.end()};
}

}  // namespace spf::test
