// The indexer producer (method indexer:FILE, support/method_spec.h): a support from a trained (or
// random-init) indexer file, no dense statistics needed.
//   observe()  every call (dense layers and decode steps included): the scorer keys of the call's
//              hidden rows go to the layer's side cache, [pos][n_groups * d_idx], so chunked
//              prefill, decode and later turns score against every earlier position.
//   produce()  token granularity: each query's keys by q.k over the cached keys, top by the
//              budget (select.h: sink/window forced inside it);
//              block granularity (the block-shared form): per query block the mean of its
//              queries, scored against each key block by log-sum-exp of q.k / sqrt(d_idx) over
//              its keys, top key blocks by the budget.
// groups=shared needs a shared-scorer file, groups=kv a per-KV-group one (one support per group).
#pragma once

#include <memory>
#include <string>

#include "indexer/checkpoint.h"
#include "support/producer.h"

namespace spf {

class IndexerProducer : public SupportProducer {
 public:
  // Loads and checks the file; throws spf::Error (one line) for a missing, corrupt or mismatched
  // file or a groups mode the file does not have.
  IndexerProducer(const std::string& path, ProducerOptions options);
  IndexerProducer(std::shared_ptr<const IndexerFile> file, std::string path,
                  ProducerOptions options);
  void observe(const AttentionCall& call) override;
  Support produce(const AttentionCall& call, AttentionExecutor& executor) override;
  std::string name() const override;
  const IndexerFile& file() const { return *file_; }

 private:
  void check_call(const AttentionCall& call) const;
  std::shared_ptr<const IndexerFile> file_;
  std::string path_;
  ProducerOptions options_;
  std::vector<float> inv_freq_;
};

// Registers "indexer" with make_producer (support/producer.h); idempotent. Commands and libraries
// that build producers from specs call it once.
void install_indexer_method();

}  // namespace spf
