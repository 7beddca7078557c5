// Block-summed, head-group-averaged attention mass, reduced from pass-2 probability tiles:
//   M_g(r, c) = mean over heads h of group g of  sum_{i in query block r} sum_{j in key block c}
//   p_h(i, j)
// Query blocks are q_block consecutive queries of the call (row r = i / q_block); key blocks are
// k_block keys aligned to position 0; groups are as in a Support (1 = all heads, n_kv_heads,
// n_heads). q_block = k_block = 1 with one group is the head-averaged mass per (query, key).
//
// The rows of one query tile are accumulated per worker slot and handed to on_rows() as soon as the
// tile is complete, so a consumer (top-k selection, for instance) works in O(tile x n_kv) memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "attention/cpu/mass.h"

namespace spf {

class BlockMassVisitor : public ProbVisitor {
 public:
  // Picks a query tile that is a multiple of q_block and keeps the per-slot buffer bounded.
  BlockMassVisitor(const AttentionShape& shape, int q_block, int k_block, int n_groups);

  // Runs pass 2 over the call (pass 1 given) with this visitor's tiling.
  void run(const AttentionCall& call, const RowStats& stats);

  void tile(const ProbTile& t) override;
  void rows_done(int64_t q0, int64_t nq, int slot) override;
  const MassOptions& options() const { return options_; }

 protected:
  // Called once per query tile from its worker thread; must not throw.
  virtual void on_rows(const BlockMassRows& rows) = 0;

 private:
  AttentionShape shape_;
  int q_block_, k_block_, n_groups_;
  int64_t n_cols_;
  int64_t rows_per_tile_;
  MassOptions options_;
  std::vector<int> group_;               // group of each head
  std::vector<float> weight_;            // 1 / heads in the head's group
  std::vector<std::vector<float>> acc_;  // per slot: [n_groups][rows_per_tile][n_cols]
};

// The whole [n_groups][n_rows][n_cols] matrix, for analysis and tests (O(rows x cols) memory).
std::vector<float> block_mass(const AttentionCall& call, int q_block, int k_block, int n_groups);

}  // namespace spf
