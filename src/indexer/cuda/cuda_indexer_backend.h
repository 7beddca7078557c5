// CudaIndexerBackend: the head-collapsed indexer's serving path on the GPU, an AttentionBackend
// whose every step stays on the device. For each attention call (bf16 device q/k/v/out, the
// layer's normalised input `hidden` bf16 [n_q][d_model], a device side cache):
//
//   1. keys     hidden x wk (cuBLASLt, f32 out) -> RoPE at the call's positions -> bf16 rows
//               [pos][n_groups * d_idx] appended to the side cache. Every call does this, dense
//               layers and decode steps included, so later chunks, decode and turns score
//               against every earlier position (as IndexerProducer::observe on the host).
//   2. dense?   the call runs the executor's dense attention when its layer is not selected
//               (--sparse-layers), it is a decode step (dense_decode), n_kv < dense_below (the
//               hook for a measured cost model), or the budget keeps every key of every query.
//   3. queries  hidden x wq (and, with lightning heads, x ww for the per-token head weights, mixed
//               on the device) -> RoPE -> bf16 [n_q][d_idx], per group.
//   4. top-k    cuda_indexer_topk (attention/cuda/indexer_topk.h) over the cached keys: the
//               budget's keys per row, forced sink/window keys inside it, fixed-width layout.
//   5. attend   CudaExecutor::sparse_device over that device support (gathered tokens).
// Long calls run step 1 in token slices and steps 3-5 in query slices (multiples of q_block) so
// the scratch stays within scratch_bytes; indexer_plan.h holds that index arithmetic.
//
// Against the CPU IndexerProducer: token granularity (q_block 1) selects the same keys from the
// same scores; budgets, sink and window follow support/budget.h exactly. Differences: weights,
// keys and queries are bf16 on the device (f32 on the host), so general inputs may swap keys
// whose scores are within rounding of a row's k-th score. The block-shared form differs by
// design: here q_block queries share one list of *token* keys, each key scored by the max of q.k
// over the block's queries that see it (what the top-k kernel computes); the CPU form pools the
// block's queries (mean) and scores *key blocks* of the same size by log-sum-exp over their keys.
// Top-p budgets have no fixed key count and are refused.
//
// Not thread-safe: one call at a time, as the model makes them (one GEMM engine, one scratch).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/cuda/cuda_executor.h"
#include "indexer/cuda/call_timer.h"
#include "indexer/indexer_model.h"
#include "support/budget.h"
#include "support/layer_selection.h"

namespace spf {

// Top-k rows by path: those that overflowed the two-pass path's candidate slots and took the
// 4-pass path, and those done on the sampled path.
struct TopKPathRows {
  int64_t four_pass = 0, sampled = 0;
};

struct CudaIndexerOptions {
  Budget budget = Budget::top_k(2048);         // top_k or fraction, optional sink / window
  LayerSelection sparse_layers;                // default: every attention layer
  int q_block = 1;                             // 1: per-query keys; 2..64: block-shared key lists
  int64_t dense_below = 0;                     // calls with fewer keys run dense
  bool dense_decode = true;                    // single-query calls run dense
  bool timing = false;                         // CUDA-event times per call (take_timings)
  int64_t scratch_bytes = int64_t(256) << 20;  // bound on the per-slice query scratch
};

class CudaIndexerBackend : public AttentionBackend {
 public:
  // Checks the options against the weights first (one-line spf::Error, no device touched: a bad
  // budget or q_block, a top-p budget, an indexer dim without a kernel, a layer list outside the
  // indexer's layers), then uploads the weights (bf16) to the device.
  CudaIndexerBackend(const IndexerWeights& weights, CudaIndexerOptions options,
                     CudaExecutor& executor = cuda_executor());
  ~CudaIndexerBackend() override;

  void attend(const AttentionCall& call) override;
  // Whether attend(call) takes the sparse path (false: dense, keys still appended).
  bool runs_sparse(const AttentionCall& call) const;

  // With options().timing: the calls since the last take, oldest first (waits for the GPU).
  std::vector<IndexerCallTiming> take_timings();
  // With timing on: the top-k rows of the data-dependent paths (attention/cuda/indexer_topk.h),
  // summed over the calls since the last take (synchronizes; zeros without timing).
  TopKPathRows take_topk_path_rows();
  // Called with every device support before it is executed (per query slice, with the slice's
  // call), for tests and export. Must not keep the view.
  void set_support_observer(
      std::function<void(const AttentionCall&, const DeviceSupportView&)> observer);

  const CudaIndexerOptions& options() const;
  const IndexerConfig& config() const;
  // "indexer-cuda(k=2048,q_block=1,rope32of64,heads1,shared)".
  std::string name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The checks the constructor runs before touching the device (exposed for tests).
void check_cuda_indexer_options(const IndexerConfig& config, const CudaIndexerOptions& options);

}  // namespace spf
