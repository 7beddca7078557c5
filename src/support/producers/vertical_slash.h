// Vertical-slash support (in the spirit of MInference): the attention of the last probe_queries
// queries (exact, from the tiled statistics) estimates the importance of every key column (vertical
// lines: mass per key) and of every diagonal (slash lines: mass per query-key offset), averaged
// over the heads of each group. A column of a row scores max(vertical(c), slash(offset of c)); each
// row keeps the best-scoring columns up to the budget, i.e. the union of the top vertical and slash
// lines that exactly fills it. At block granularity lines are summed per key block and block
// offset. Needs a top_k or fraction budget.
#pragma once

#include "support/producer.h"

namespace spf {

class VerticalSlashProducer : public SupportProducer {
 public:
  explicit VerticalSlashProducer(ProducerOptions options);
  Support produce(const AttentionCall& call, AttentionExecutor& executor) override;
  std::string name() const override { return describe_producer("vertical_slash", options_); }

 private:
  ProducerOptions options_;
};

}  // namespace spf
