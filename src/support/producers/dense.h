// The full causal support at the configured granularity (the budget is ignored): the baseline every
// other producer is compared with, and the check that the sparse path reproduces dense attention.
#pragma once

#include "support/producer.h"

namespace spf {

class DenseProducer : public SupportProducer {
 public:
  explicit DenseProducer(ProducerOptions options) : options_(options) { options_.validate(); }
  Support produce(const AttentionCall& call, AttentionExecutor& /*executor*/) override {
    call.shape.validate();
    return dense_support(call.shape, options_.block);
  }
  std::string name() const override {
    return "dense(block=" + std::to_string(options_.block) + ")";
  }

 private:
  ProducerOptions options_;
};

}  // namespace spf
