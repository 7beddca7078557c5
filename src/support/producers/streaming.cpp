#include "support/producers/streaming.h"

#include "core/error.h"
#include "support/select.h"

namespace spf {

StreamingProducer::StreamingProducer(ProducerOptions options) : options_(options) {
  options_.validate();
  // StreamingLLM keeps 4 attention-sink tokens; an explicit sink count (even via sink=N) overrides.
  if (options_.budget.sink == 0) options_.budget.sink = kDefaultStreamingSink;
  SPF_CHECK(options_.budget.kind != BudgetKind::top_p, "streaming support: budget ",
            options_.budget.str(),
            " is top-p, which needs attention scores (use k=N or a fraction)");
}

Support StreamingProducer::produce(const AttentionCall& call, AttentionExecutor& /*executor*/) {
  call.shape.validate();
  const Support layout = support_layout(call.shape, options_.block, options_.block, 1);
  // Recency as the score: later columns win, so the budget left after the sink goes to the newest
  // keys.
  return select_support(layout, options_.budget, [](int, int64_t, std::span<float> score) {
    for (size_t c = 0; c < score.size(); ++c) score[c] = float(c);
  });
}

}  // namespace spf
