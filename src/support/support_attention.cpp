#include "support/support_attention.h"

#include "core/error.h"
#include "core/timer.h"

namespace spf {

SupportAttention::SupportAttention(std::unique_ptr<SupportProducer> producer,
                                   AttentionExecutor& executor, SupportAttentionOptions options)
    : producer_(std::move(producer)), executor_(&executor), options_(options) {
  SPF_CHECK(producer_ != nullptr, "support attention: no producer given");
  SPF_CHECK(options_.dense_layers >= 0, "support attention: dense_layers = ", options_.dense_layers,
            " (must be >= 0)");
}

void SupportAttention::run_dense(const AttentionCall& call, bool record) {
  Stopwatch sw;
  executor_->dense(call);
  if (!record) return;
  LayerDiagnostics d;
  d.layer = call.layer;
  d.attention_layer = call.attention_layer;
  d.n_q = call.shape.n_q;
  d.n_kv = call.shape.n_kv;
  d.dense = true;
  d.support.density = 1.0;
  d.support.retained_mass = 1.0;
  d.support.critical_threshold = options_.critical_threshold;
  d.attend_seconds = sw.seconds();
  diagnostics_.push_back(d);
}

void SupportAttention::attend(const AttentionCall& call) {
  call.validate();
  producer_->observe(call);
  const bool deselected = !options_.sparse_layers.empty() &&
                          (size_t(call.attention_layer) >= options_.sparse_layers.size() ||
                           options_.sparse_layers[size_t(call.attention_layer)] == 0);
  if (call.attention_layer < options_.dense_layers || deselected ||
      (options_.dense_decode && call.shape.n_q == 1)) {
    run_dense(call, options_.diagnostics);
    return;
  }
  Stopwatch sw;
  const Support support = producer_->produce(call, *executor_);
  const double produce_s = sw.seconds();
  const ValidatedSupport plan = support.validated();  // the one scan; the executor trusts it
  SPF_CHECK(support.n_q == call.shape.n_q && support.n_kv == call.shape.n_kv &&
                support.q_pos0 == call.shape.q_pos0,
            "support attention: producer ", producer_->name(),
            " returned a support for another call");
  if (observer_) observer_(call, support);

  sw.reset();
  const bool full = plan.full();
  const bool run_dense = full && options_.full_support_dense;
  if (run_dense) {
    executor_->dense(call);
  } else {
    executor_->sparse(call, plan);
  }
  const double attend_s = sw.seconds();
  if (!options_.diagnostics) return;

  LayerDiagnostics d;
  d.layer = call.layer;
  d.attention_layer = call.attention_layer;
  d.n_q = call.shape.n_q;
  d.n_kv = call.shape.n_kv;
  d.dense = run_dense;
  d.produce_seconds = produce_s;
  d.attend_seconds = attend_s;
  if (run_dense) {
    d.support = support_mass_diagnostics(*executor_, call, support, options_.critical_threshold);
    d.support.rel_error = 0.0;
  } else {
    d.support = diagnose_support(*executor_, call, support, call.out.data<const float>(), nullptr,
                                 options_.critical_threshold);
  }
  diagnostics_.push_back(d);
}

}  // namespace spf
