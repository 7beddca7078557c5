// The measured cost model behind the dense fallback of sparse prefill: for one GPU, one attention
// shape (query / KV heads, head_dim), one indexer geometry and one budget, the prompt length below
// which the indexer's sparse path (projections + scoring + top-k + gathered attention) costs more
// than dense attention — so the serving path runs dense there and sparse prefill is never slower
// than dense. calibrate() times both paths on synthetic calls (n_q = n_kv = n, random bf16 data;
// the cost does not depend on the values) over a grid of lengths; the threshold is the shortest
// grid length from which sparse wins at every longer grid length. Entries are stored as JSON
// (one file per machine, e.g. ~/.cache/spf/sparse-cost.json), keyed by device name, shape and
// attention kernel, so a GPU is measured once per kernel. A chunked prefill call (n_q < n_kv) is
// decided by its n_kv: the approximation is stated, not hidden.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "indexer/cuda/cuda_indexer_backend.h"

namespace spf {

struct SparseCostKey {
  std::string device;  // cudaDeviceProp::name
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  std::string indexer;  // IndexerConfig::variant() and d_idx
  std::string budget;   // Budget::str()
  int q_block = 1;
  // The attention kernel dense calls of this head_dim take (CudaAttentionKernel's name) and the
  // indexer top-k kernel's revision: an entry measured with other kernels is not reused.
  std::string kernel;
  std::string topk;
  std::string str() const;
};

struct SparseCostSample {
  int64_t n = 0;
  double dense_ms = 0, sparse_ms = 0;
};

struct SparseCostEntry {
  int64_t dense_below = 0;  // run dense when n_kv < this (INT64_MAX: sparse never wins)
  std::vector<SparseCostSample> samples;
};

class SparseCostModel {
 public:
  // An empty model when the file does not exist; throws spf::Error (one line) for a corrupt one.
  static SparseCostModel load(const std::string& path);
  // Written to a temp file and renamed.
  void save(const std::string& path) const;
  std::optional<SparseCostEntry> find(const SparseCostKey& key) const;
  void set(const SparseCostKey& key, SparseCostEntry entry);
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, SparseCostEntry> entries_;
};

// The key of an indexer backend's options on this GPU for an attention shape.
SparseCostKey sparse_cost_key(const IndexerConfig& indexer, const CudaIndexerOptions& options,
                              int n_heads, int n_kv_heads, int head_dim);

// Times dense attention and the indexer backend (options.dense_below ignored) at each length
// (median of `repeats` after one warm-up) and derives the threshold.
SparseCostEntry calibrate_sparse_cost(const IndexerWeights& weights, CudaIndexerOptions options,
                                      int n_heads, int n_kv_heads, int head_dim,
                                      const std::vector<int64_t>& lengths, int repeats = 3);

// The threshold rule of calibrate_sparse_cost over given samples (sorted by n): the shortest n
// from which sparse is faster at every longer sample; INT64_MAX when the longest does not win.
int64_t dense_below_from(const std::vector<SparseCostSample>& samples);

}  // namespace spf
