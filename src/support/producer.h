// SupportProducer: makes the Support of one attention call (which keys each query block may see).
// Every producer returns a validated, causal support whose rows honour the budget exactly
// (budget.h). Methods are named by a spec string (method_spec.h: "oracle:block64:groups=head",
// "vertical_slash:probe=128", ...; `spf methods` lists them); make_producer(spec, budget) builds
// one:
//
//   dense           the full causal support (budget ignored)
//   oracle          top keys (or key blocks) by the true attention mass, from the dense statistics
//   streaming       sink tokens + the most recent keys (StreamingLLM)
//   vertical_slash  columns and diagonals ranked by the attention of the last probe queries
//   antidiagonal    key blocks ranked by strided antidiagonal q.k sums, softmax-normalized per row
//                   (alias: xattention)
//   random          random columns at the same budget (seeded; a floor)
//   indexer         indexer:FILE, a learned indexer (src/indexer registers it: a higher layer)
//
// Head-independent methods (dense, streaming, random) always emit one shared group.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attention/attention.h"
#include "attention/executor.h"
#include "support/budget.h"
#include "support/method_spec.h"
#include "support/support.h"

namespace spf {

// n_groups of a support in this mode for the shape: 1, n_kv_heads or n_heads. (GroupMode and its
// spellings live in method_spec.h.)
int n_groups_for(GroupMode mode, const AttentionShape& shape);

struct ProducerOptions {
  Budget budget;  // default: 100% (the full causal support)
  int block = 1;  // 1: token granularity; B: B-query rows and B-key columns
  GroupMode groups = GroupMode::shared;
  uint64_t seed = 0;       // random
  int probe_queries = 64;  // vertical_slash: the last queries whose attention is probed
  int stride = 8;          // antidiagonal: sampling stride (block must be a multiple)

  // Throws spf::Error for a bad budget, block < 1 or probe_queries / stride < 1.
  void validate() const;
};

class SupportProducer {
 public:
  virtual ~SupportProducer() = default;
  // The support for this call; dense statistics, when needed, come from the executor (so a
  // device executor gives a device producer). Throws spf::Error on an invalid call.
  virtual Support produce(const AttentionCall& call, AttentionExecutor& executor) = 0;
  // Called on every attention call, before any support is produced, also for calls that run
  // densely (dense layers, decode steps): a producer that keeps per-token state (an indexer's keys
  // in call.side_cache) appends this call's rows here. Default: nothing.
  virtual void observe(const AttentionCall& call) { (void)call; }
  // Method and options, e.g. "oracle(frac=0.05,block=64,per_head)": names runs in reports.
  virtual std::string name() const = 0;
};

// The producer of a parsed spec at a budget. Throws spf::Error for a reserved method (indexer: not
// in this build yet), a spec and budget that disagree (producer_options) or options the producer
// rejects.
std::unique_ptr<SupportProducer> make_producer(const MethodSpec& spec, const Budget& budget);

// The options of `spec` at `budget`. The spec's sink/window join the budget's: where both are
// non-zero they must be equal (a streaming spec has sink=4 unless it says otherwise), else throws
// naming both, so that no setting is silently overridden.
ProducerOptions producer_options(const MethodSpec& spec, const Budget& budget);

// The low-level factory by bare method name (spec parsing already done). Throws spf::Error for an
// unknown method (listing the known ones) or options the method cannot use.
std::unique_ptr<SupportProducer> make_producer(std::string_view method,
                                               const ProducerOptions& options);
// The methods make_producer can build (the available ones of method_catalog()).
std::vector<std::string> producer_methods();
// Throws spf::Error (listing the known methods) unless `method` names a producer; checks the name
// only, so it also serves before options are known (make_producer may reject options, e.g. an
// antidiagonal block that is not a multiple of its stride).
void check_producer_method(std::string_view method);

// Producers of methods implemented above this library (the learned indexer, src/indexer): the
// factory make_producer(spec, budget) calls for `method`. Registering again replaces it. Until
// one is registered, make_producer refuses the method with a line saying so.
using ProducerFactory = std::unique_ptr<SupportProducer> (*)(const MethodSpec& spec,
                                                             const ProducerOptions& options);
void register_producer_factory(std::string_view method, ProducerFactory factory);

// "method(budget,block=B,groups)" for name() implementations.
std::string describe_producer(std::string_view method, const ProducerOptions& options);

}  // namespace spf
