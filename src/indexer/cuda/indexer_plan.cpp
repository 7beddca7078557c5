#include "indexer/cuda/indexer_plan.h"

#include <algorithm>
#include <cstdint>

namespace spf {

int64_t key_slice_tokens(const IndexerConfig& c, int64_t scratch_bytes, int64_t n) {
  const int64_t per_token = int64_t(c.n_groups) * c.d_idx * 4 + int64_t(c.d_model) * 2;
  return std::clamp<int64_t>(scratch_bytes / per_token, 1, std::max<int64_t>(n, 1));
}

IndexerFinishArgs key_finish_args(const IndexerConfig& c, const float* in, int64_t t0, int64_t m,
                                  int64_t q_pos0, const float* inv_freq, uint16_t* rows) {
  IndexerFinishArgs f;
  f.in = in;
  f.n_vec = m * c.n_groups;
  f.dim = c.d_idx;
  f.rope_dims = c.rope_dims;
  f.inv_freq = inv_freq;
  f.pos0 = q_pos0 + t0;
  f.vecs_per_pos = c.n_groups;  // a token's G group keys share its position
  f.out = rows + t0 * c.n_groups * c.d_idx;
  return f;
}

IndexerTopKShape indexer_topk_shape(const Budget& b, int q_block, int d_idx,
                                    const AttentionShape& call) {
  IndexerTopKShape t;
  t.n_q = call.n_q;
  t.n_kv = call.n_kv;
  t.q_pos0 = call.q_pos0;
  t.dim = d_idx;
  t.q_block = q_block;
  if (b.kind == BudgetKind::top_k) t.budget_k = int64_t(b.value);
  if (b.kind == BudgetKind::fraction) t.fraction = b.value;
  t.sink = b.sink;
  t.window = b.window;
  t.k = 1;
  t.k = int(t.width_bound());
  return t;
}

IndexerQuerySlices plan_query_slices(const IndexerConfig& c, const Budget& budget, int q_block,
                                     int64_t scratch_bytes, const AttentionShape& call,
                                     bool copies_hidden) {
  IndexerQuerySlices p;
  const int64_t G = c.n_groups, d = c.d_idx, qb = q_block;
  p.width = indexer_topk_shape(budget, q_block, c.d_idx, call).k;
  // cols + counts per row (shared by q_block queries), the top-k kernel's two-pass scratch per
  // row (one group's call at a time), head projections and mix, bf16 queries, and an aligned copy
  // of the hidden row where one is needed.
  IndexerTopKShape t = indexer_topk_shape(budget, q_block, c.d_idx, call);
  t.k = p.width;
  p.per_query_bytes = (G * (int64_t(p.width) + 1) * 4 + t.two_pass_row_bytes()) / qb + 4 +
                      int64_t(c.n_heads) * (d + 1) * 4 + G * d * 2 +
                      (copies_hidden ? int64_t(c.d_model) * 2 : 0);
  const int64_t fit = std::max<int64_t>(scratch_bytes / p.per_query_bytes, qb);
  p.slice = std::min(fit / qb * qb, call.n_q);
  p.slice_rows = (p.slice + qb - 1) / qb;
  return p;
}

bool hidden_rows_aligned(const void* x, int64_t ldx, int64_t step) {
  const int64_t row_bytes = ldx * 2;
  return reinterpret_cast<uintptr_t>(x) % 256 == 0 && row_bytes % 16 == 0 &&
         (step * row_bytes) % 256 == 0;
}

IndexerTopKShape slice_topk_shape(const IndexerQuerySlices& plan, const Budget& budget, int q_block,
                                  int d_idx, const AttentionShape& slice) {
  IndexerTopKShape t = indexer_topk_shape(budget, q_block, d_idx, slice);
  t.k = plan.width;
  return t;
}

}  // namespace spf
