// CpuExecutor: the AttentionExecutor of the host — fp32, OpenMP over tiles, OpenBLAS sgemm inside
// (dense.h, sparse.h, mass.h, block_mass.h, antidiagonal.h). cpu_executor() is a shared default
// instance with default tiling; construct one to tune tiles.
#pragma once

#include "attention/cpu/dense.h"
#include "attention/cpu/sparse.h"
#include "attention/executor.h"

namespace spf {

struct CpuExecutorOptions {
  DenseOptions dense;
  SparseOptions sparse;
};

class CpuExecutor final : public AttentionExecutor {
 public:
  explicit CpuExecutor(CpuExecutorOptions options = {}) : options_(options) {}
  const char* name() const override { return "cpu"; }
  Device device() const override { return Device::cpu; }
  void dense(const AttentionCall& call) override;
  void sparse(const AttentionCall& call, const ValidatedSupport& support) override;
  RowStats row_stats(const AttentionCall& call, const MassOptions& tiles) override;
  void visit_probabilities(const AttentionCall& call, const RowStats& stats, ProbVisitor& visitor,
                           const MassOptions& tiles) override;
  int worker_slots() const override;
  void block_mass(const AttentionCall& call, const BlockMassSpec& spec,
                  BlockMassConsumer& consumer) override;
  void antidiagonal_scores(const AttentionCall& call, const BlockMassSpec& spec, int stride,
                           BlockMassConsumer& consumer) override;
  const CpuExecutorOptions& options() const { return options_; }

 private:
  CpuExecutorOptions options_;
};

// A process-wide CpuExecutor with default options (stateless between calls).
CpuExecutor& cpu_executor();

}  // namespace spf
