// Row selection shared by the producers: given a score per causal column of one support row, keep
// the budget's forced columns (sink, local window) and fill the rest of the budget with the best
// scores. Exact rules in budget.h. Ties between equal scores go to the lower column, so results are
// deterministic whatever the thread schedule.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "attention/statistics.h"
#include "support/budget.h"
#include "support/support.h"

namespace spf {

struct RowGeometry {
  int64_t first_pos = 0;  // absolute position of the row's first query
  int64_t last_pos = 0;   // ... and of its last
  int64_t avail = 0;      // causal columns: [0, avail)
  int k_block = 1;
};

RowGeometry row_geometry(const Support& layout, int64_t r);

// The sink and window columns of a row, ascending, within [0, avail).
void forced_columns(const Budget& budget, const RowGeometry& row, std::vector<int32_t>& out);

// Writes the selected columns of the row, ascending, to out. score has avail entries (larger is
// better; NaN counts as -inf); top_p needs non-negative scores. Does not throw except for
// allocation.
void select_columns(const Budget& budget, const RowGeometry& row, std::span<const float> score,
                    std::vector<int32_t>& out);

// A whole support from per-row scores: rows of all groups are scored (score(g, r, out) fills out,
// one entry per causal column of row r) and selected in parallel. score must be thread-safe, not
// throw.
using RowScorer = std::function<void(int g, int64_t r, std::span<float> out)>;
Support select_support(const Support& layout, const Budget& budget, const RowScorer& score);

// The same for scorers that fill a tile of rows at once (one matrix product): score(g, r0, r1, out,
// ld) fills out[(r - r0) * ld + c] for the rows r0 <= r < r1 of group g and every causal column c
// of row r; ld is the causal column count of row r1 - 1 (the tile's widest), entries past a row's
// own columns are ignored. Tiles of tile_rows rows (the last may be shorter) run in parallel; the
// selection is select_columns per row, so the result equals select_support's for equal scores.
using TileScorer = std::function<void(int g, int64_t r0, int64_t r1, float* out, int64_t ld)>;
Support select_support_tiled(const Support& layout, const Budget& budget, int64_t tile_rows,
                             const TileScorer& score);

// Selection from an executor's block-mass rows (the oracle's true mass, the antidiagonal
// estimate): each row of each batch keeps its columns by the budget into rows[g * n_rows + r].
class SelectRows : public BlockMassConsumer {
 public:
  SelectRows(const Support& layout, const Budget& budget, std::vector<std::vector<int32_t>>& rows)
      : layout_(layout), budget_(budget), rows_(rows) {}
  void on_rows(const BlockMassRows& m) override;

 private:
  const Support& layout_;
  const Budget& budget_;
  std::vector<std::vector<int32_t>>& rows_;
};

}  // namespace spf
