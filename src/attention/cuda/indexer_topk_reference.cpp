#include <algorithm>
#include <cmath>
#include <numeric>

#include "attention/cuda/indexer_topk.h"
#include "core/error.h"

namespace spf {

void IndexerTopKShape::validate() const {
  SPF_CHECK(n_q >= 1 && q_pos0 >= 0 && n_kv >= q_pos0 + n_q, "indexer top-k: n_q ", n_q,
            ", q_pos0 ", q_pos0, ", n_kv ", n_kv, " are inconsistent");
  SPF_CHECK(n_kv < (int64_t(1) << 31), "indexer top-k: n_kv ", n_kv, " does not fit int32");
  SPF_CHECK(q_block >= 1 && q_block <= 64, "indexer top-k: q_block ", q_block, " outside 1..64");
  SPF_CHECK(k >= 1, "indexer top-k: k = ", k, " must be >= 1");
  SPF_CHECK(dim >= 1, "indexer top-k: dim = ", dim);
  SPF_CHECK(budget_k >= 0 && sink >= 0 && window >= 0 && fraction >= 0.0 && fraction <= 1.0,
            "indexer top-k: budget k ", budget_k, ", fraction ", fraction, ", sink ", sink,
            ", window ", window, " (need k, sink, window >= 0 and a fraction in [0, 1])");
  SPF_CHECK(budget_k == 0 || fraction == 0.0,
            "indexer top-k: a budget is a key count or a fraction, not both");
  SPF_CHECK(int64_t(k) >= width_bound(), "indexer top-k: width k = ", k,
            " is below the widest row's bound ", width_bound());
}

int64_t IndexerTopKShape::width_bound() const {
  const int64_t v = row_visible(n_rows() - 1);  // the longest row
  int64_t budget = std::min<int64_t>(k, v);
  if (budget_k > 0) budget = budget_k;
  if (fraction > 0.0) budget = row_keep(n_rows() - 1);  // monotone in the causal keys
  const int64_t forced = std::min(sink, v) + (window > 0 ? window + q_block - 1 : 0);
  return std::min(v, std::max(budget, forced));
}

int64_t IndexerTopKShape::candidate_slots() const {
  // n_kv / 16 (at least 4096) holds the k-th key's first-pass bin (1/8 of an octave of scores)
  // for all but strongly concentrated score distributions; a row that overflows it falls back.
  return candidate_capacity > 0 ? candidate_capacity : std::max<int64_t>(4096, (n_kv + 15) / 16);
}

int64_t IndexerTopKShape::two_pass_row_bytes() const {
  return two_pass() ? (kTwoPassMaxKeep + 2 * candidate_slots()) * int64_t(sizeof(uint32_t)) : 0;
}

float indexer_row_score(const IndexerTopKShape& s, const float* q, const float* k, int64_t r,
                        int64_t j) {
  float best = -INFINITY;
  const int64_t i_end = std::min(s.n_q, (r + 1) * s.q_block);
  for (int64_t i = r * s.q_block; i < i_end; ++i) {
    if (j > s.q_pos0 + i) continue;
    float acc = 0.0f;
    for (int c = 0; c < s.dim; ++c) acc += q[i * s.dim + c] * k[j * s.dim + c];
    best = std::max(best, acc);
  }
  return best;
}

void indexer_topk_reference(const IndexerTopKShape& s, const float* q, const float* k,
                            std::vector<int32_t>& cols, std::vector<int32_t>& counts) {
  s.validate();
  const int64_t rows = s.n_rows();
  cols.assign(size_t(rows * s.k), -1);
  counts.assign(size_t(rows), 0);
  std::vector<float> score;
  std::vector<int32_t> order;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t visible = std::min(s.n_kv, s.q_pos0 + std::min(s.n_q, (r + 1) * s.q_block));
    score.resize(size_t(visible));
    for (int64_t j = 0; j < visible; ++j) score[size_t(j)] = indexer_row_score(s, q, k, r, j);
    order.resize(size_t(visible));
    std::iota(order.begin(), order.end(), 0);
    const int64_t keep = s.row_keep(r);
    // Forced keys first; then higher score; equal scores: lower index first.
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int32_t a, int32_t b) {
      const bool fa = s.forced(r, a), fb = s.forced(r, b);
      if (fa != fb) return fa;
      return score[size_t(a)] > score[size_t(b)] || (score[size_t(a)] == score[size_t(b)] && a < b);
    });
    std::sort(order.begin(), order.begin() + keep);
    std::copy_n(order.begin(), keep, cols.begin() + r * s.k);
    counts[size_t(r)] = int32_t(keep);
  }
}

}  // namespace spf
