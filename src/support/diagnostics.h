// How far a support is from dense attention on one call, computed in tiles (the dense probabilities
// are streamed by the mass statistics, never stored):
//   density          admitted (query, key) pairs / causal pairs (averaged over groups)
//   retained_mass    mean over queries and heads of the probability mass (dense softmax) that falls
//                    inside the head's support row; for a shared support this is the mean over
//                    queries of the head-averaged mass inside the support. 1 for the full support.
//   rel_error        ||o_sparse - o_dense|| / ||o_dense|| over the whole output (Frobenius)
//   critical_pairs   (query, key) pairs where some head's probability exceeds the threshold
//   critical_dropped those of them where the support drops the key for at least one such head
#pragma once

#include <cstdint>

#include "attention/attention.h"
#include "attention/executor.h"
#include "support/support.h"

namespace spf {

struct SupportDiagnostics {
  double density = 0.0;
  double retained_mass = 0.0;
  double rel_error = 0.0;
  int64_t critical_pairs = 0;
  int64_t critical_dropped = 0;
  double critical_threshold = 0.0;
  double critical_dropped_fraction() const {
    return critical_pairs > 0 ? double(critical_dropped) / double(critical_pairs) : 0.0;
  }
};

// Density, retained mass and head-critical counts of `support` on this call (reads q and k; the
// dense probabilities come from the executor's statistics).
SupportDiagnostics support_mass_diagnostics(AttentionExecutor& executor, const AttentionCall& call,
                                            const Support& support,
                                            float critical_threshold = 0.1f);

// ||a - b|| / ||b|| over n floats (0 when both are 0).
double relative_error(const float* a, const float* b, int64_t n);

// Everything above; sparse_out is the executor's output for this support, dense_out the dense
// output (computed here when null). Both are host f32 [n_q][n_heads][head_dim]: diagnostics are an
// analysis tool, run with a host executor.
SupportDiagnostics diagnose_support(AttentionExecutor& executor, const AttentionCall& call,
                                    const Support& support, const float* sparse_out,
                                    const float* dense_out = nullptr,
                                    float critical_threshold = 0.1f);

}  // namespace spf
