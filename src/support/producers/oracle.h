// The attention-mass oracle: runs the dense statistics in tiles (attention/cpu/mass.h) and keeps,
// per support row, the columns with the largest true attention mass
//   token granularity: per query, its keys by head-averaged probability;
//   block granularity: per query block, its key blocks by probability summed over the block's
//   queries and keys;
// averaged over all heads (shared), the heads of each KV group (per_kv_group) or one head
// (per_head). Budgets k / fraction / top-p with sink and window as in budget.h. Rows are selected
// as soon as their query tile is done, so memory stays O(tile x n_kv) per thread.
#pragma once

#include "support/producer.h"

namespace spf {

class OracleProducer : public SupportProducer {
 public:
  explicit OracleProducer(ProducerOptions options);
  Support produce(const AttentionCall& call, AttentionExecutor& executor) override;
  std::string name() const override { return describe_producer("oracle", options_); }

 private:
  ProducerOptions options_;
};

}  // namespace spf
