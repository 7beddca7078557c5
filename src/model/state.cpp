#include "model/state.h"

#include "core/error.h"

namespace spf {

ModelState::ModelState(const ModelConfig& cfg, int64_t capacity, const void* owner, Device device)
    : owner_(owner),
      capacity_(capacity),
      device_(device),
      kv_(device == Device::cpu ? cfg.n_attention_layers() : 0, capacity, cfg.n_kv_heads,
          cfg.head_dim),
      arena_(device),
      layer_arena_(device) {
  const int n_attn = cfg.n_attention_layers();
  side_caches_.reserve(size_t(n_attn));
  for (int i = 0; i < n_attn; ++i) side_caches_.emplace_back(capacity, device);
  const int n_gdn = cfg.n_layers - n_attn;
  if (n_gdn > 0 && device == Device::cpu) {
    const int64_t channels =
        2 * int64_t(cfg.lin_k_heads) * cfg.lin_k_dim + int64_t(cfg.lin_v_heads) * cfg.lin_v_dim;
    const int64_t conv = int64_t(cfg.conv_kernel - 1) * channels;
    const int64_t rec = int64_t(cfg.lin_v_heads) * cfg.lin_k_dim * cfg.lin_v_dim;
    conv_.assign(size_t(n_gdn), std::vector<float>(size_t(conv), 0.0f));
    recurrent_.assign(size_t(n_gdn), std::vector<float>(size_t(rec), 0.0f));
  }
}

SideCache& ModelState::side_cache(int i) {
  SPF_CHECK(i >= 0 && i < n_attention_layers(), "side cache of attention layer ", i,
            " (the model has ", n_attention_layers(), ")");
  return side_caches_[size_t(i)];
}

const SideCache& ModelState::side_cache(int i) const {
  return const_cast<ModelState*>(this)->side_cache(i);
}

}  // namespace spf
