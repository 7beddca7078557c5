// StreamingLLM-style support: the budget's sink tokens (kDefaultStreamingSink when the budget names
// none, as StreamingLLM does) plus the most recent keys up to the budget (the local window grows to
// fill whatever the sink leaves). Needs a top_k or fraction budget.
#pragma once

#include "support/producer.h"

namespace spf {

inline constexpr int64_t kDefaultStreamingSink = 4;

class StreamingProducer : public SupportProducer {
 public:
  explicit StreamingProducer(ProducerOptions options);
  Support produce(const AttentionCall& call, AttentionExecutor& executor) override;
  std::string name() const override { return describe_producer("streaming", options_); }

 private:
  ProducerOptions options_;
};

}  // namespace spf
