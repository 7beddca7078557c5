#include "attention/cpu/cpu_executor.h"

#include "attention/cpu/antidiagonal.h"
#include "attention/cpu/block_mass.h"
#include "attention/cpu/mass.h"

namespace spf {

namespace {

// The CPU block-mass pass reports through the executor's consumer interface.
class ForwardRows final : public BlockMassVisitor {
 public:
  ForwardRows(const AttentionShape& shape, const BlockMassSpec& spec, BlockMassConsumer& consumer)
      : BlockMassVisitor(shape, spec.q_block, spec.k_block, spec.n_groups), consumer_(consumer) {}

 protected:
  void on_rows(const BlockMassRows& rows) override { consumer_.on_rows(rows); }

 private:
  BlockMassConsumer& consumer_;
};

}  // namespace

void CpuExecutor::dense(const AttentionCall& call) {
  dense_attention(call, options_.dense);
}

void CpuExecutor::sparse(const AttentionCall& call, const ValidatedSupport& support) {
  sparse_attention(call, support, options_.sparse);
}

RowStats CpuExecutor::row_stats(const AttentionCall& call, const MassOptions& tiles) {
  return spf::row_stats(call, tiles);
}

void CpuExecutor::visit_probabilities(const AttentionCall& call, const RowStats& stats,
                                      ProbVisitor& visitor, const MassOptions& tiles) {
  spf::visit_probabilities(call, stats, visitor, tiles);
}

int CpuExecutor::worker_slots() const {
  return mass_slots();
}

void CpuExecutor::block_mass(const AttentionCall& call, const BlockMassSpec& spec,
                             BlockMassConsumer& consumer) {
  ForwardRows visitor(call.shape, spec, consumer);
  visitor.run(call, spf::row_stats(call, visitor.options()));
}

void CpuExecutor::antidiagonal_scores(const AttentionCall& call, const BlockMassSpec& spec,
                                      int stride, BlockMassConsumer& consumer) {
  cpu_antidiagonal_scores(call, spec, stride, consumer);
}

CpuExecutor& cpu_executor() {
  static CpuExecutor executor;
  return executor;
}

}  // namespace spf
