// How close an indexer's choice is to the oracle's, per attention layer, on one forward of
// held-out text from position 0 (dense attention runs the model; each layer is measured on the
// way, one [n][n] row block at a time):
//   kl              mean over queries of KL(P_i || S_i), P = dense head-averaged probabilities
//                   (per KV group for a per-group indexer), S = the indexer's softmax
//   per fraction f (each query keeps k_i = ceil(f * (i + 1)) keys, no sink or window):
//     recall        |indexer top-k_i  ∩  oracle top-k_i| / k_i        (oracle = top keys by P)
//     mass          sum of P_i over the indexer's top-k_i (retained dense mass)
//     oracle_mass   sum of P_i over the oracle's top-k_i
//     block_mass    the block-shared indexer (query blocks of `block`, pooled query, key blocks by
//                   log-sum-exp, ceil(f * visible blocks) per row): mass of P_i in the chosen
//                   blocks; block_oracle_mass the same with blocks ranked by true block mass.
//                   mass - block_mass is the realization gap of the block-shared form.
// Averages are over queries (and groups).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "indexer/indexer_model.h"
#include "model/model.h"

namespace spf {

struct BudgetMetrics {
  double fraction = 0;
  double recall = 0, mass = 0, oracle_mass = 0, block_mass = 0, block_oracle_mass = 0;
  // Sums over queries, layers or groups are scaled into means with these (fraction is kept).
  void add(const BudgetMetrics& o) {
    recall += o.recall, mass += o.mass, oracle_mass += o.oracle_mass;
    block_mass += o.block_mass, block_oracle_mass += o.block_oracle_mass;
  }
  void scale(double s) {
    recall *= s, mass *= s, oracle_mass *= s, block_mass *= s, block_oracle_mass *= s;
  }
};

struct LayerMetrics {
  int layer = 0;
  double kl = 0;
  std::vector<BudgetMetrics> budgets;
  void scale(double s) {
    kl *= s;
    for (BudgetMetrics& b : budgets) b.scale(s);
  }
};

std::vector<LayerMetrics> indexer_metrics(const Model& model, const IndexerWeights& w,
                                          std::span<const int32_t> ids,
                                          const std::vector<double>& fractions, int block);

// The mean of each field over layers (layer = -1).
LayerMetrics mean_metrics(const std::vector<LayerMetrics>& layers);

}  // namespace spf
