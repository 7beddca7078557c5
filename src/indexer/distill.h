// KL distillation of one scorer on one attention call of a frozen backbone.
//   target  P_g(i, j) = mean over the heads h of group g of the dense softmax p_h(i, j), from the
//           executor's tiled statistics (row_stats + visit_probabilities): one [n][n] row block
//           per group of one layer at a time, never a matrix per head;
//   loss    sum_i KL(P_i || S_i), S_i = the scorer's causal softmax (indexer_model.h);
//   grads   hand-derived: dL/dz_ij = S_ij - P_ij, then through q.k / sqrt(d), RoPE (its
//           transpose), the head mix and the projections (checked against finite differences in
//           tests/indexer).
#pragma once

#include <cstdint>
#include <vector>

#include "attention/attention.h"
#include "attention/executor.h"
#include "indexer/indexer_model.h"

namespace spf {

// P for every group: out [n_groups][n_q][n_kv], row i of group g holds P_g(i, 0 .. n_kv) (zeros
// past the causal keys). Heads are grouped as GQA groups when n_groups == n_kv_heads; n_groups ==
// 1 averages all heads.
void head_averaged_targets(AttentionExecutor& executor, const AttentionCall& call, int n_groups,
                           std::vector<float>& out);

struct DistillScratch {
  std::vector<float> q, k, z, dq, dk, heads, mix, dheads, dmix, row_loss;
};

// Sum over the n queries (positions 0 .. n - 1, keys = the same rows) of KL(P_i || S_i) for
// scorer (layer, group) on inputs x [n][d_model]; P [n][n] as above. When grad is non-null (the
// flat parameter vector's shape), adds grad_scale * d(sum)/d(params) to it.
double distill_scorer(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer,
                      int group, const float* x, int64_t n, const float* P, double grad_scale,
                      float* grad, DistillScratch& scratch);

// The scorer's causal log-softmax rows, [n][n] (entries past the causal keys undefined): for
// metrics.
void scorer_log_probs(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer,
                      int group, const float* x, int64_t n, std::vector<float>& out,
                      DistillScratch& scratch);

}  // namespace spf
