#include "support/producers/antidiagonal.h"

#include "core/error.h"
#include "support/select.h"

namespace spf {

AntidiagonalProducer::AntidiagonalProducer(ProducerOptions options) : options_(options) {
  options_.validate();
  SPF_CHECK(options_.block >= options_.stride && options_.block % options_.stride == 0,
            "antidiagonal support: block size ", options_.block,
            " must be a multiple of the stride ", options_.stride,
            " (use block:", options_.stride * 8, " for instance)");
}

std::string AntidiagonalProducer::name() const {
  return describe_producer("antidiagonal", options_) +
         "[stride=" + std::to_string(options_.stride) + "]";
}

Support AntidiagonalProducer::produce(const AttentionCall& call, AttentionExecutor& executor) {
  call.shape.validate();
  const AttentionShape& s = call.shape;
  const int n_groups = n_groups_for(options_.groups, s);
  const Support layout = support_layout(s, options_.block, options_.block, n_groups);
  std::vector<std::vector<int32_t>> rows(size_t(n_groups) * size_t(layout.n_rows()));
  SelectRows select(layout, options_.budget, rows);
  executor.antidiagonal_scores(call, {options_.block, options_.block, n_groups}, options_.stride,
                               select);
  return support_from_rows(layout, std::move(rows));
}

}  // namespace spf
