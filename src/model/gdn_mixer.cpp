#include "model/gdn_mixer.h"

#include <chrono>

#include "model/linear.h"

namespace spf {

GdnMixer::GdnMixer(const ModelConfig& cfg, GdnWeights weights, int slot)
    : cfg_(cfg),
      dims_{cfg.lin_k_heads, cfg.lin_v_heads, cfg.lin_k_dim, cfg.lin_v_dim},
      w_(std::move(weights)),
      slot_(slot) {
  dims_.validate();
}

void GdnMixer::forward(const float* h, float* out, MixerContext& ctx) const {
  using Clock = std::chrono::steady_clock;
  const int64_t n = ctx.n, C = dims_.channels(), VD = dims_.value_dim(), NV = dims_.nv;
  Arena& arena = ctx.state.layer_arena();
  float* m = arena.alloc_array<float>(n * C);
  float* z = arena.alloc_array<float>(n * VD);
  float* b = arena.alloc_array<float>(n * NV);
  float* a = arena.alloc_array<float>(n * NV);
  float* o = arena.alloc_array<float>(n * VD);
  linear(h, n, w_.qkv, nullptr, m);
  linear(h, n, w_.z, nullptr, z);
  linear(h, n, w_.b, nullptr, b);
  linear(h, n, w_.a, nullptr, a);
  const Clock::time_point t0 = Clock::now();
  const gdn::MixerWeights mw{w_.conv.data(), w_.A_log.data(), w_.dt_bias.data(), w_.norm.data()};
  gdn::mix(dims_, cfg_.conv_kernel, n, m, z, a, b, mw, cfg_.rms_eps, ctx.state.gdn_conv(slot_),
           ctx.state.gdn_recurrent(slot_), o);
  ctx.stats.core_s[size_t(MixerKind::gated_deltanet)] +=
      std::chrono::duration<double>(Clock::now() - t0).count();
  linear(o, n, w_.out, nullptr, out);
}

}  // namespace spf
