// Attention statistics as every executor reports them, whatever its device: per-row softmax
// statistics, dense probability tiles handed to a visitor, and block-summed, head-group-averaged
// mass rows handed to a consumer. Producers that need dense statistics (the oracle,
// vertical-slash, antidiagonal) read these types only, so any executor serves them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace spf {

// Query and key tiling of a statistics pass (an executor may round to its own tile sizes).
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

// Block mass M_g(r, c) of a batch of query blocks: the mean over the heads h of group g of
//   sum_{i in query block r} sum_{j in key block c} p_h(i, j)
// (or an executor's estimate of it, for the antidiagonal scores). Rows come in batches (one query
// tile each), so a consumer works in O(tile x n_cols) memory.
struct BlockMassRows {
  int64_t row0 = 0;    // first query block of this batch
  int64_t n_rows = 0;  // query blocks in the batch
  int64_t n_cols = 0;  // key blocks of the whole call
  int n_groups = 1;
  int slot = 0;
  const float* mass = nullptr;  // [n_groups][n_rows][n_cols]
  std::span<const float> row(int g, int64_t r) const {
    return {mass + (g * n_rows + r) * n_cols, size_t(n_cols)};
  }
};

class BlockMassConsumer {
 public:
  virtual ~BlockMassConsumer() = default;
  // Called once per batch from a worker thread; batches of different slots run concurrently, so
  // write only per-slot scratch or per-row outputs. Must not throw.
  virtual void on_rows(const BlockMassRows& rows) = 0;
};

// Which block mass: q_block consecutive queries of the call per row, k_block keys (aligned to
// position 0) per column, n_groups head groups (1, n_kv_heads or n_heads; as in a Support).
struct BlockMassSpec {
  int q_block = 1;
  int k_block = 1;
  int n_groups = 1;
};

}  // namespace spf
