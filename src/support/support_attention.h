// SupportAttention: the backend for sparse prefill = a producer + an executor. For every attention
// call it lets the producer observe the call (side caches), asks it for a Support and runs the
// executor's sparse attention on it; the executor is injected (CPU now, CUDA later), and the
// producer reads dense statistics from the same executor. Options:
//   dense_layers       attention layers [0, dense_layers) run dense (attention_layer index)
//   sparse_layers      one flag per attention layer (layer_selection.h, --sparse-layers): layers
//                      whose flag is 0, or beyond the vector, run dense; empty = every layer
//   dense_decode       calls with a single query (decode steps) run dense
//   diagnostics        after each sparse call, also compare with dense (support/diagnostics.h) and
//                      record one LayerDiagnostics per call (costs a dense pass plus two mass
//                      passes)
//   full_support_dense a support that admits every causal pair runs the executor's dense path
//                      (identical up to rounding, less work); off: the sparse path runs anyway
// Not thread-safe: one call at a time (as the model makes them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/executor.h"
#include "support/diagnostics.h"
#include "support/producer.h"

namespace spf {

struct SupportAttentionOptions {
  int dense_layers = 0;
  std::vector<uint8_t> sparse_layers;
  bool dense_decode = true;
  bool diagnostics = false;
  bool full_support_dense = true;
  float critical_threshold = 0.1f;
};

struct LayerDiagnostics {
  int layer = 0;
  int attention_layer = 0;
  int64_t n_q = 0;
  int64_t n_kv = 0;
  // Ran on the dense executor: a dense layer or decode step (support fields set to density 1,
  // retained mass 1, error 0 without measuring) or a full support (measured).
  bool dense = false;
  SupportDiagnostics support;
  double produce_seconds = 0.0;  // time in the producer
  double attend_seconds = 0.0;   // time in the executor
};

class SupportAttention : public AttentionBackend {
 public:
  SupportAttention(std::unique_ptr<SupportProducer> producer, AttentionExecutor& executor,
                   SupportAttentionOptions options = {});
  void attend(const AttentionCall& call) override;

  const SupportProducer& producer() const { return *producer_; }
  AttentionExecutor& executor() const { return *executor_; }
  const SupportAttentionOptions& options() const { return options_; }
  // One entry per call while options().diagnostics is on.
  const std::vector<LayerDiagnostics>& diagnostics() const { return diagnostics_; }
  void clear_diagnostics() { diagnostics_.clear(); }
  // Called with every produced support before it is executed (export, analysis). Must not keep it.
  void set_observer(std::function<void(const AttentionCall&, const Support&)> observer) {
    observer_ = std::move(observer);
  }

 private:
  void run_dense(const AttentionCall& call, bool record);
  std::unique_ptr<SupportProducer> producer_;
  AttentionExecutor* executor_;
  SupportAttentionOptions options_;
  std::vector<LayerDiagnostics> diagnostics_;
  std::function<void(const AttentionCall&, const Support&)> observer_;
};

}  // namespace spf
