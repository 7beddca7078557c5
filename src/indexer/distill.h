// KL distillation of one scorer on one attention call of a frozen backbone.
//   target  P_g(i, j) = mean over the heads h of group g of the dense softmax p_h(i, j), from the
//           executor's tiled statistics (row_stats + visit_probabilities): one [n][n] row block
//           per group of one layer at a time, never a matrix per head;
//   loss    sum_i KL(P_i || S_i), S_i = the scorer's causal softmax (indexer_model.h), plus
//           optionally (DistillLoss) LAMBDA times a term on T_i = the top k_i = ceil(FRAC (i + 1))
//           keys of P_i (the oracle's selected set, as in metrics.h), P~_i = P_i restricted to T_i
//           and renormalised:
//             "kl+topk:LAMBDA[:FRAC]"   KL(P~_i || S~_i), S~_i = S_i renormalised over T_i: the
//                                       order inside T_i only (no gradient to keys outside it);
//             "kl+topce:LAMBDA[:FRAC]"  CE(P~_i, S_i) = -sum_{j in T_i} P~_ij log S_ij against the
//                                       FULL causal softmax: pulls T_i up and every other key down
//                                       (= KL to a target sharpened toward T_i, up to a constant);
//   grads   hand-derived: dL/dz_ij = S_ij - P_ij, plus LAMBDA (S~_ij - P~_ij) for j in T_i
//           (topk) or LAMBDA (S_ij - P~_ij [j in T_i]) for every causal j (topce), then through
//           q.k / sqrt(d), RoPE (its transpose), the head mix and the projections (checked against
//           finite differences in tests/indexer).
#pragma once

#include <cstdint>
#include <string>
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

// The training objective. topk_lambda == 0 is plain KL (the default, computed exactly as before
// the option existed).
struct DistillLoss {
  enum class TopTerm {
    restricted_kl,  // "kl+topk": KL(P~_i || S~_i), both renormalised over T_i
    full_ce,        // "kl+topce": -sum_{T_i} P~_ij log S_ij, S_i the full causal softmax
  };
  double topk_lambda = 0;   // weight of the top-k term
  double topk_frac = 0.05;  // the set T_i: top ceil(frac * (i + 1)) keys of P_i
  TopTerm top_term = TopTerm::restricted_kl;
  bool is_kl() const { return topk_lambda == 0; }
  // "kl", "kl+topk:LAMBDA:FRAC" or "kl+topce:LAMBDA:FRAC" (round-trips through
  // parse_distill_loss).
  std::string spec() const;
  bool operator==(const DistillLoss&) const = default;
};
// "kl" | "kl+topk:LAMBDA[:FRAC]" | "kl+topce:LAMBDA[:FRAC]" (FRAC a fraction in (0, 1] or a
// percentage "5%"; default 5%).
// Throws spf::Error naming the spec otherwise.
DistillLoss parse_distill_loss(const std::string& spec);

// Keys kept of `avail` at fraction frac: ceil(frac * avail), at least 1 (metrics.h's k_i) — the
// count a fraction budget grants (support/budget.h), so metrics and serving agree.
int64_t topk_keep(double frac, int64_t avail);

struct DistillScratch {
  std::vector<float> q, k, z, dq, dk, heads, mix, dheads, dmix, row_loss, row_topk;
};

// The two terms of the objective, summed over queries.
struct DistillTerms {
  double kl = 0;    // sum_i KL(P_i || S_i)
  double topk = 0;  // sum_i of the top-k term, KL(P~_i || S~_i) or CE(P~_i, S_i) (0 for plain KL)
};

// Sum over the n queries (positions 0 .. n - 1, keys = the same rows) of the objective (KL(P_i ||
// S_i) + lambda * the top-k term) for scorer (layer, group) on inputs x [n][d_model]; P [n][n] as
// above. When grad is non-null (the flat parameter vector's shape), adds grad_scale *
// d(sum)/d(params) to it. terms, when non-null, receives the two sums.
double distill_scorer(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer,
                      int group, const float* x, int64_t n, const float* P, double grad_scale,
                      float* grad, DistillScratch& scratch, const DistillLoss& loss = {},
                      DistillTerms* terms = nullptr);

// The scorer's causal log-softmax rows, [n][n] (entries past the causal keys undefined): for
// metrics.
void scorer_log_probs(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer,
                      int group, const float* x, int64_t n, std::vector<float>& out,
                      DistillScratch& scratch);

}  // namespace spf
