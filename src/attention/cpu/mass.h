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

namespace spf {

struct MassOptions {
  int q_tile = 64;   // queries per work item (all heads)
  int k_tile = 256;  // keys per tile
};

struct RowStats {
  int64_t n_q = 0;
  int n_heads = 0;
  std::vector<float> max;  // [n_q][n_heads]: max of scale * q.k over the causal keys
  std::vector<float> lse;  // [n_q][n_heads]: log sum exp of the same
  float lse_at(int64_t i, int h) const { return lse[size_t(i * n_heads + h)]; }
};

// Pass 1. Reads call.q and call.k only (v and out may be null).
RowStats row_stats(const AttentionCall& call, const MassOptions& options = {});

// Probabilities of queries [q0, q0 + nq) (indices into the call) and keys [k0, k0 + nk) (absolute
// positions) for every head, 0 where the key is in the query's future.
struct ProbTile {
  int64_t q0 = 0, nq = 0, k0 = 0, nk = 0;
  int n_heads = 0;
  int slot = 0;              // worker slot in [0, mass_slots()): index per-thread scratch with it
  const float* p = nullptr;  // [n_heads][nq][nk]
  float at(int h, int64_t i, int64_t j) const { return p[(h * nq + i) * nk + j]; }
  const float* row(int h, int64_t i) const { return p + (h * nq + i) * nk; }
};

// Receives pass 2. For one query tile, all tile() calls come from one thread, in increasing k0 (up
// to the tile's last causal key), then rows_done(); different query tiles run concurrently, each
// with its slot, so a visitor writes only per-slot scratch or per-query outputs.
class ProbVisitor {
 public:
  virtual ~ProbVisitor() = default;
  virtual void tile(const ProbTile& t) = 0;
  virtual void rows_done(int64_t q0, int64_t nq, int slot) { (void)q0, (void)nq, (void)slot; }
};

// Number of distinct worker slots a visitor must provide for (the OpenMP thread count).
int mass_slots();

// Pass 2. `stats` must come from row_stats() on the same q and k.
void visit_probabilities(const AttentionCall& call, const RowStats& stats, ProbVisitor& visitor,
                         const MassOptions& options = {});

}  // namespace spf
