// SupportAttention: the backend for sparse prefill. For every attention call it asks its producer
// for a Support and runs the sparse executor on it. Options:
//   dense_layers       attention layers [0, dense_layers) run dense (attention_layer index)
//   dense_decode       calls with a single query (decode steps) run dense
//   diagnostics        after each sparse call, also compare with dense (support/diagnostics.h) and
//                      record one LayerDiagnostics per call (costs a dense pass plus two mass
//                      passes)
// A support that admits every causal pair runs on the dense executor: identical result, less work.
// Not thread-safe: one call at a time (as the model makes them).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/cpu/dense.h"
#include "attention/cpu/sparse.h"
#include "support/diagnostics.h"
#include "support/producer.h"

namespace spf {

struct SupportAttentionOptions {
  int dense_layers = 0;
  bool dense_decode = true;
  bool diagnostics = false;
  float critical_threshold = 0.1f;
  DenseOptions dense;
  SparseOptions sparse;
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
  explicit SupportAttention(std::unique_ptr<SupportProducer> producer,
                            SupportAttentionOptions options = {});
  void attend(const AttentionCall& call) override;

  const SupportProducer& producer() const { return *producer_; }
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
  SupportAttentionOptions options_;
  std::vector<LayerDiagnostics> diagnostics_;
  std::function<void(const AttentionCall&, const Support&)> observer_;
};

}  // namespace spf
