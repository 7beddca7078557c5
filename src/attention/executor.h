// AttentionExecutor: what computes attention on one device. Backends (dense, SupportAttention)
// decide which keys each query sees and hand the work to an injected executor, so the same backend
// and the same producers run on the host or on a GPU. An executor offers:
//   dense()    causal attention over every key (writes out, and lse when the call asks)
//   sparse()   attention restricted to a validated support (support_view.h), masked causally
//   statistics in tiles, never an n_q x n_kv matrix (statistics.h):
//     row_stats()             per query and head, the max and log-sum-exp of the scaled scores
//     visit_probabilities()   the dense probabilities, tile by tile, to a visitor
//     block_mass()            block-summed, head-group-averaged mass rows to a consumer
//     antidiagonal_scores()   the same rows estimated from strided antidiagonal q.k sums
//                             (XAttention-style), a cheap stand-in for block_mass()
// Executors know no model and no producer. Not thread-safe: one call at a time.
#pragma once

#include "attention/attention.h"
#include "attention/statistics.h"
#include "attention/support_view.h"

namespace spf {

class AttentionExecutor {
 public:
  virtual ~AttentionExecutor() = default;
  virtual const char* name() const = 0;
  virtual Device device() const = 0;

  virtual void dense(const AttentionCall& call) = 0;
  // Over a support validated once (validate_support(), Support::validated(), SupportPlan), in any
  // layout (CSR, fixed-width top-k, BSR): the executor trusts it and does not scan it again.
  virtual void sparse(const AttentionCall& call, const ValidatedSupport& support) = 0;

  // Statistics read q and k only (v and out may be unset).
  virtual RowStats row_stats(const AttentionCall& call, const MassOptions& tiles = {}) = 0;
  virtual void visit_probabilities(const AttentionCall& call, const RowStats& stats,
                                   ProbVisitor& visitor, const MassOptions& tiles = {}) = 0;
  // Number of distinct worker slots a visitor or consumer must provide for.
  virtual int worker_slots() const = 0;
  virtual void block_mass(const AttentionCall& call, const BlockMassSpec& spec,
                          BlockMassConsumer& consumer) = 0;
  // spec.q_block == spec.k_block must be a multiple of stride.
  virtual void antidiagonal_scores(const AttentionCall& call, const BlockMassSpec& spec, int stride,
                                   BlockMassConsumer& consumer) = 0;
};

// The executor of a device: the CPU executor for Device::cpu (attention/cpu/), a registered one
// for other devices (the CUDA library registers its executor when a command installs it). Throws
// spf::Error naming the device when none is registered.
AttentionExecutor& executor_for(Device device);
void register_device_executor(Device device, AttentionExecutor* executor);

// Runs every attention call densely on an executor: the default backend.
class DenseBackend : public AttentionBackend {
 public:
  explicit DenseBackend(AttentionExecutor& executor) : executor_(&executor) {}
  void attend(const AttentionCall& call) override { executor_->dense(call); }
  AttentionExecutor& executor() const { return *executor_; }

 private:
  AttentionExecutor* executor_;
};

}  // namespace spf
