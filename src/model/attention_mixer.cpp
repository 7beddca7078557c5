#include "model/attention_mixer.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include "model/linear.h"
#include "model/ops.h"

namespace spf {

namespace {

const float* ptr_or_null(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}

}  // namespace

AttentionMixer::AttentionMixer(const ModelConfig& cfg, AttentionWeights weights, int slot,
                               const std::vector<float>& inv_freq)
    : cfg_(cfg), w_(std::move(weights)), slot_(slot), inv_freq_(inv_freq) {}

void AttentionMixer::forward(const float* h, float* out, MixerContext& ctx) const {
  using Clock = std::chrono::steady_clock;
  const int64_t n = ctx.n, pos0 = ctx.pos0, H = cfg_.hidden, D = cfg_.head_dim;
  const int Hq = cfg_.n_heads, Hkv = cfg_.n_kv_heads;
  const int64_t qd = Hq * D, kvd = Hkv * D;
  Arena& arena = ctx.state.layer_arena();
  float* q = arena.alloc_array<float>(n * qd);
  float* k = arena.alloc_array<float>(n * kvd);
  float* v = arena.alloc_array<float>(n * kvd);
  float* att = arena.alloc_array<float>(n * qd);
  float* gate = nullptr;

  if (cfg_.attn_output_gate) {
    // q_proj rows are [query D | gate D] per head.
    float* qg = arena.alloc_array<float>(n * 2 * qd);
    gate = arena.alloc_array<float>(n * qd);
    linear(h, n, w_.q, ptr_or_null(w_.bq), qg);
    for (int64_t t = 0; t < n; ++t)
      for (int hh = 0; hh < Hq; ++hh) {
        const float* src = qg + (t * Hq + hh) * 2 * D;
        std::memcpy(q + (t * Hq + hh) * D, src, size_t(D) * sizeof(float));
        std::memcpy(gate + (t * Hq + hh) * D, src + D, size_t(D) * sizeof(float));
      }
  } else {
    linear(h, n, w_.q, ptr_or_null(w_.bq), q);
  }
  linear(h, n, w_.k, ptr_or_null(w_.bk), k);
  linear(h, n, w_.v, ptr_or_null(w_.bv), v);
  if (cfg_.qk_norm) {
    ops::rms_norm(q, n * Hq, D, w_.q_norm.data(), cfg_.rms_eps, cfg_.norm_plus_one, q);
    ops::rms_norm(k, n * Hkv, D, w_.k_norm.data(), cfg_.rms_eps, cfg_.norm_plus_one, k);
  }
  ops::rope_inplace(q, n, Hq, int(D), cfg_.rope.rotary_dim, inv_freq_.data(), pos0);
  ops::rope_inplace(k, n, Hkv, int(D), cfg_.rope.rotary_dim, inv_freq_.data(), pos0);
  ctx.capture(trace::kQ, TensorView::of(q, {n, Hq, D}));
  ctx.capture(trace::kK, TensorView::of(k, {n, Hkv, D}));
  ctx.capture(trace::kV, TensorView::of(v, {n, Hkv, D}));
  KvCache& cache = ctx.state.kv();
  cache.store(slot_, pos0, n, k, v);

  AttentionCall call;
  call.layer = ctx.layer;
  call.attention_layer = slot_;
  call.shape = {n, pos0 + n, pos0, Hq, Hkv, int(D), 1.0f / std::sqrt(float(D))};
  call.q = TensorView::of(q, {n, Hq, D});
  call.k = TensorView::of(cache.k(slot_), {pos0 + n, Hkv, D});
  call.v = TensorView::of(cache.v(slot_), {pos0 + n, Hkv, D});
  call.out = TensorView::of(att, {n, Hq, D});
  call.hidden = TensorView::of(h, {n, H});
  call.side_cache = &ctx.state.side_cache(slot_);
  const Clock::time_point t0 = Clock::now();
  ctx.backend.attend(call);
  ctx.stats.core_s[size_t(MixerKind::attention)] +=
      std::chrono::duration<double>(Clock::now() - t0).count();
  ctx.capture(trace::kAttnOut, call.out);

  if (gate != nullptr) {
#pragma omp parallel for simd if (n * qd > 65536)
    for (int64_t i = 0; i < n * qd; ++i) att[i] *= ops::sigmoid(gate[i]);
  }
  linear(att, n, w_.o, ptr_or_null(w_.bo), out);
}

}  // namespace spf
