// Per-call GPU time of the indexer's work and of the attention, from CUDA events recorded on the
// call's stream: a call is a sequence of marks, each closing an interval of one part since the
// previous mark. Nothing synchronizes until take() reads the finished calls, so timing does not
// serialize the forward (the events only cost their records).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace spf {

struct IndexerCallTiming {
  int layer = 0;
  int attention_layer = 0;
  int64_t n_q = 0;
  int64_t n_kv = 0;
  bool sparse = false;        // false: the dense path (keys still appended)
  double indexer_ms = 0.0;    // projections, RoPE, key append, scoring + top-k
  double topk_ms = 0.0;       // of indexer_ms: the fused scoring + top-k kernel alone
  double attention_ms = 0.0;  // the executor's dense or gathered sparse attention
};

class CallTimer {
 public:
  // indexer: projections, RoPE, key append; topk: the scoring + top-k (both count in
  // indexer_ms); attention: the executor.
  enum class Part { indexer, topk, attention };
  CallTimer();
  ~CallTimer();
  CallTimer(const CallTimer&) = delete;
  CallTimer& operator=(const CallTimer&) = delete;

  // Starts a call on stream (a cudaStream_t; null: the default stream).
  void begin(const IndexerCallTiming& meta, void* stream);
  // Closes the interval since the last mark as `part`.
  void mark(Part part);
  void end();
  // Waits for the recorded calls and returns their times (oldest first); clears them.
  std::vector<IndexerCallTiming> take();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spf
