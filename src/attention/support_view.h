// SupportView: a non-owning view of a Support's CSR arrays (see support/support.h for the meaning
// of rows, columns and groups). Executors read supports through this view so that the attention
// layer does not depend on the support layer above it; Support::view() makes one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace spf {

// The group a head reads when a support has n_groups groups: 1 (shared by all heads), n_kv_heads
// (one per KV group) or n_heads (one per head). Throws spf::Error for any other n_groups.
int group_of_head(int h, int n_groups, int n_heads, int n_kv_heads);

struct SupportView {
  int64_t n_q = 0;
  int64_t n_kv = 0;
  int64_t q_pos0 = 0;
  int q_block = 1;
  int k_block = 1;
  int n_groups = 1;
  const int64_t* row_ptr = nullptr;  // n_groups * n_rows() + 1 entries
  const int32_t* cols = nullptr;

  int64_t n_rows() const { return (n_q + q_block - 1) / q_block; }
  std::span<const int32_t> row(int g, int64_t r) const {
    const int64_t i = int64_t(g) * n_rows() + r;
    return {cols + row_ptr[i], size_t(row_ptr[i + 1] - row_ptr[i])};
  }
};

}  // namespace spf
