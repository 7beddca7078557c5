// Random support at the same budget: each row keeps the budget's forced columns plus uniformly
// random other columns, seeded by (seed, layer, row) so results do not depend on the thread
// schedule. A floor for every other method. Needs a top_k or fraction budget.
#pragma once

#include "support/producer.h"

namespace spf {

class RandomProducer : public SupportProducer {
 public:
  explicit RandomProducer(ProducerOptions options);
  Support produce(const AttentionCall& call, AttentionExecutor& executor) override;
  std::string name() const override { return describe_producer("random", options_); }

 private:
  ProducerOptions options_;
};

}  // namespace spf
