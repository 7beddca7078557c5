// Block antidiagonal selection (in the spirit of XAttention): the executor's antidiagonal scores
// (attention/executor.h: strided antidiagonal q.k sums, softmax-normalized per query run, summed
// per (query block, key block), averaged over each group's heads) rank the key blocks, and each
// query block keeps its best by the budget: k / fraction, or top-p as the cumulative score
// threshold.
#pragma once

#include "support/producer.h"

namespace spf {

class AntidiagonalProducer : public SupportProducer {
 public:
  // Throws spf::Error unless block >= stride and block % stride == 0.
  explicit AntidiagonalProducer(ProducerOptions options);
  Support produce(const AttentionCall& call, AttentionExecutor& executor) override;
  std::string name() const override;

 private:
  ProducerOptions options_;
};

}  // namespace spf
