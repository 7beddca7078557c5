#include "support/producers/oracle.h"

#include "support/select.h"

namespace spf {

OracleProducer::OracleProducer(ProducerOptions options) : options_(options) {
  options_.validate();
}

Support OracleProducer::produce(const AttentionCall& call, AttentionExecutor& executor) {
  call.shape.validate();
  const Support layout = support_layout(call.shape, options_.block, options_.block,
                                        n_groups_for(options_.groups, call.shape));
  std::vector<std::vector<int32_t>> rows(size_t(layout.n_groups) * size_t(layout.n_rows()));
  SelectRows select(layout, options_.budget, rows);
  executor.block_mass(call, {layout.q_block, layout.k_block, layout.n_groups}, select);
  return support_from_rows(layout, std::move(rows));
}

}  // namespace spf
