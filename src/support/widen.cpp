#include "support/widen.h"

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace spf {

Support widen_to_blocks(const Support& s, int q_block, int k_block) {
  s.validate();
  SPF_CHECK(q_block >= 1 && k_block >= 1, "widen_to_blocks: q_block = ", q_block,
            ", k_block = ", k_block, " (must be >= 1)");
  Support layout = s;
  layout.q_block = q_block;
  layout.k_block = k_block;
  layout.row_ptr.clear();
  layout.cols.clear();
  const int64_t rows = layout.n_rows();
  std::vector<std::vector<int32_t>> out(size_t(rows * s.n_groups));
  for (int g = 0; g < s.n_groups; ++g) {
    for (int64_t nr = 0; nr < rows; ++nr) {
      const int64_t first = nr * q_block, last = std::min((nr + 1) * q_block, s.n_q) - 1;
      auto& cols = out[size_t(g * rows + nr)];
      // Each input row r sharing queries with the new row contributes the keys of its columns
      // that one of the shared queries sees: [a, min(b, last shared position + 1)).
      for (int64_t r = first / s.q_block; r <= last / s.q_block; ++r) {
        const int64_t seen_to = s.q_pos0 + std::min(last, (r + 1) * s.q_block - 1) + 1;
        for (const int32_t c : s.row(g, r)) {
          const int64_t a = int64_t(c) * s.k_block;
          const int64_t b = std::min({a + s.k_block, s.n_kv, seen_to});
          for (int64_t nc = a / k_block; a < b && nc <= (b - 1) / k_block; ++nc) {
            cols.push_back(int32_t(nc));
          }
        }
      }
    }
  }
  return support_from_rows(layout, std::move(out));  // sorts and deduplicates the unions
}

Support widen_query_block(const Support& s, int q_block) {
  return widen_to_blocks(s, q_block, s.k_block);
}

Support widen_key_block(const Support& s, int k_block) {
  return widen_to_blocks(s, s.q_block, k_block);
}

}  // namespace spf
