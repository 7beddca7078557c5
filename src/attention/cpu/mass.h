// Attention-mass statistics on the CPU, computed in tiles (never an n_q x n_kv matrix):
//   pass 1, row_stats():           per query and head, the row max and log-sum-exp of the scaled
//                                  scores over its causal keys (an online softmax without values);
//   pass 2, visit_probabilities(): the key tiles again, turned into normalized probabilities
//                                  p_h(i, j) = exp(scale q_i.k_j - lse_h(i)) and handed to a
//                                  visitor.
// Memory per thread: one (query tile x key tile) block of probabilities for every head, plus what
// the visitor keeps (block_mass.h keeps O(query tile x n_kv)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attention/attention.h"
#include "attention/statistics.h"

namespace spf {

// Pass 1. Reads call.q and call.k only (v and out may be null).
RowStats row_stats(const AttentionCall& call, const MassOptions& options = {});

// Number of distinct worker slots a visitor must provide for (the OpenMP thread count).
int mass_slots();

// Pass 2. `stats` must come from row_stats() on the same q and k.
void visit_probabilities(const AttentionCall& call, const RowStats& stats, ProbVisitor& visitor,
                         const MassOptions& options = {});

}  // namespace spf
