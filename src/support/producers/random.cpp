#include "support/producers/random.h"

#include "core/error.h"
#include "core/splitmix.h"
#include "support/select.h"

namespace spf {

RandomProducer::RandomProducer(ProducerOptions options) : options_(options) {
  options_.validate();
  SPF_CHECK(options_.budget.kind != BudgetKind::top_p, "random support: budget ",
            options_.budget.str(),
            " is top-p, which needs attention scores (use k=N or a fraction)");
}

Support RandomProducer::produce(const AttentionCall& call, AttentionExecutor& /*executor*/) {
  call.shape.validate();
  const Support layout = support_layout(call.shape, options_.block, options_.block, 1);
  const uint64_t base = splitmix64(options_.seed ^ splitmix64(uint64_t(call.layer) + 0x51ed27ull));
  return select_support(layout, options_.budget, [base](int, int64_t r, std::span<float> score) {
    const uint64_t row_seed = splitmix64(base ^ uint64_t(r));
    for (size_t c = 0; c < score.size(); ++c)
      score[c] = float(splitmix64(row_seed + c) >> 40);  // 24 random bits
  });
}

}  // namespace spf
