#include "model/llama_family.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "model/kv_cache.h"
#include "model/ops.h"
#include "model/weights.h"

namespace spf {

namespace {

class DenseState final : public ModelState {
 public:
  DenseState(const ModelConfig& c, int64_t cap) : cache(c.n_layers, cap, c.n_kv_heads, c.head_dim) {
    capacity_ = cap;
  }
  void advance(int64_t n) { n_past_ += n; }
  KvCache cache;
};

struct Layer {
  std::vector<float> attn_norm, wq, wk, wv, wo, bq, bk, bv, bo, q_norm, k_norm;
  std::vector<float> ffn_norm, w_gate, w_up, w_down;
};

class LlamaFamilyModel final : public Model {
 public:
  LlamaFamilyModel(const ModelConfig& cfg, const TensorSource& src) : cfg_(cfg) {
    WeightLoader w(src, cfg_);
    const int64_t H = cfg.hidden, V = cfg.vocab_size, I = cfg.intermediate, D = cfg.head_dim;
    const int64_t qd = int64_t(cfg.n_heads) * D, kvd = int64_t(cfg.n_kv_heads) * D;
    embed_ = w.get("model.embed_tokens.weight", {V, H});
    norm_ = w.get("model.norm.weight", {H});
    // Tied: the head is the embedding, as in HF, even when a checkpoint also stores lm_head.weight.
    if (!cfg.tie_embeddings) lm_head_ = w.get("lm_head.weight", {V, H});
    layers_.resize(size_t(cfg.n_layers));
    for (int i = 0; i < cfg.n_layers; ++i) {
      Layer& L = layers_[size_t(i)];
      auto n = [&](const char* s) { return WeightLoader::layer(i, s); };
      L.attn_norm = w.get(n("input_layernorm.weight"), {H});
      L.wq = w.get(n("self_attn.q_proj.weight"), {qd, H});
      L.wk = w.get(n("self_attn.k_proj.weight"), {kvd, H});
      L.wv = w.get(n("self_attn.v_proj.weight"), {kvd, H});
      L.wo = w.get(n("self_attn.o_proj.weight"), {H, qd});
      if (cfg.qkv_bias) {
        L.bq = w.get(n("self_attn.q_proj.bias"), {qd});
        L.bk = w.get(n("self_attn.k_proj.bias"), {kvd});
        L.bv = w.get(n("self_attn.v_proj.bias"), {kvd});
      }
      if (cfg.o_bias) L.bo = w.get(n("self_attn.o_proj.bias"), {H});
      if (cfg.qk_norm) {
        L.q_norm = w.get(n("self_attn.q_norm.weight"), {D});
        L.k_norm = w.get(n("self_attn.k_norm.weight"), {D});
      }
      L.ffn_norm = w.get(n("post_attention_layernorm.weight"), {H});
      L.w_gate = w.get(n("mlp.gate_proj.weight"), {I, H});
      L.w_up = w.get(n("mlp.up_proj.weight"), {I, H});
      L.w_down = w.get(n("mlp.down_proj.weight"), {H, I});
    }
    const RopeConfig& r = cfg.rope;
    inv_freq_ = ops::rope_inv_freq(r.rotary_dim, r.theta, r.type.c_str(), r.factor,
                                   r.low_freq_factor, r.high_freq_factor, r.original_max_position);
  }

  const ModelConfig& config() const override { return cfg_; }

  std::unique_ptr<ModelState> new_state(int64_t max_tokens) const override {
    SPF_CHECK(max_tokens > 0, "state capacity must be positive");
    SPF_CHECK(max_tokens <= cfg_.max_context, "sequence of ", max_tokens,
              " tokens exceeds the model's context of ", cfg_.max_context, " tokens");
    return std::make_unique<DenseState>(cfg_, max_tokens);
  }

  void forward(std::span<const int32_t> tokens, ModelState& state_base, AttentionBackend& attention,
               LogitsMode mode, std::span<float> logits) const override {
    auto* state = dynamic_cast<DenseState*>(&state_base);
    SPF_CHECK(state != nullptr, "model state was not created by this model");
    const int64_t n = int64_t(tokens.size());
    if (n == 0) return;
    const int64_t pos0 = state->n_past();
    SPF_CHECK(pos0 + n <= state->capacity(), "sequence of ", pos0 + n,
              " tokens exceeds the state's capacity of ", state->capacity(), " tokens");
    const int64_t H = cfg_.hidden, V = cfg_.vocab_size, I = cfg_.intermediate, D = cfg_.head_dim;
    const int Hq = cfg_.n_heads, Hkv = cfg_.n_kv_heads;
    const int64_t qd = Hq * D, kvd = Hkv * D;
    const int64_t n_logits = mode == LogitsMode::all ? n : 1;
    SPF_CHECK(int64_t(logits.size()) == n_logits * V, "logits buffer has ", logits.size(),
              " floats, expected ", n_logits * V);

    std::vector<float> x(size_t(n * H)), h(size_t(n * H));
    for (int64_t t = 0; t < n; ++t) {
      const int32_t id = tokens[size_t(t)];
      SPF_CHECK(id >= 0 && id < V, "token id ", id, " at position ", pos0 + t,
                " is outside the vocabulary [0, ", V, ")");
      std::memcpy(x.data() + t * H, embed_.data() + int64_t(id) * H, size_t(H) * sizeof(float));
    }
    std::vector<float> q(size_t(n * qd)), k(size_t(n * kvd)), v(size_t(n * kvd)),
        att(size_t(n * qd));
    std::vector<float> gate(size_t(n * I)), up(size_t(n * I));
    for (int l = 0; l < cfg_.n_layers; ++l) {
      const Layer& L = layers_[size_t(l)];
      ops::rms_norm(x.data(), n, H, L.attn_norm.data(), cfg_.rms_eps, false, h.data());
      ops::linear(h.data(), n, H, L.wq.data(), qd, L.bq.empty() ? nullptr : L.bq.data(), q.data());
      ops::linear(h.data(), n, H, L.wk.data(), kvd, L.bk.empty() ? nullptr : L.bk.data(), k.data());
      ops::linear(h.data(), n, H, L.wv.data(), kvd, L.bv.empty() ? nullptr : L.bv.data(), v.data());
      if (cfg_.qk_norm) {
        ops::rms_norm(q.data(), n * Hq, D, L.q_norm.data(), cfg_.rms_eps, false, q.data());
        ops::rms_norm(k.data(), n * Hkv, D, L.k_norm.data(), cfg_.rms_eps, false, k.data());
      }
      ops::rope_inplace(q.data(), n, Hq, int(D), cfg_.rope.rotary_dim, inv_freq_.data(), pos0);
      ops::rope_inplace(k.data(), n, Hkv, int(D), cfg_.rope.rotary_dim, inv_freq_.data(), pos0);
      state->cache.store(l, pos0, n, k.data(), v.data());

      AttentionCall call;
      call.layer = l;
      call.attention_layer = l;
      call.shape = {n, pos0 + n, pos0, Hq, Hkv, int(D), 1.0f / std::sqrt(float(D))};
      call.q = TensorView::of(q.data(), {n, Hq, D});
      call.k = TensorView::of(state->cache.k(l), {pos0 + n, Hkv, D});
      call.v = TensorView::of(state->cache.v(l), {pos0 + n, Hkv, D});
      call.out = TensorView::of(att.data(), {n, Hq, D});
      call.hidden = TensorView::of(h.data(), {n, H});
      attention.attend(call);

      ops::linear(att.data(), n, qd, L.wo.data(), H, L.bo.empty() ? nullptr : L.bo.data(),
                  h.data());
      ops::add_inplace(x.data(), h.data(), n * H);

      ops::rms_norm(x.data(), n, H, L.ffn_norm.data(), cfg_.rms_eps, false, h.data());
      ops::linear(h.data(), n, H, L.w_gate.data(), I, nullptr, gate.data());
      ops::linear(h.data(), n, H, L.w_up.data(), I, nullptr, up.data());
      ops::swiglu_inplace(gate.data(), up.data(), n * I);
      ops::linear(gate.data(), n, I, L.w_down.data(), H, nullptr, h.data());
      ops::add_inplace(x.data(), h.data(), n * H);
    }
    const float* xs = x.data() + (n - n_logits) * H;
    ops::rms_norm(xs, n_logits, H, norm_.data(), cfg_.rms_eps, false, h.data());
    const std::vector<float>& head = lm_head_.empty() ? embed_ : lm_head_;
    ops::linear(h.data(), n_logits, H, head.data(), V, nullptr, logits.data());
    state->advance(n);
  }

 private:
  ModelConfig cfg_;
  std::vector<float> embed_, norm_, lm_head_, inv_freq_;
  std::vector<Layer> layers_;
};

}  // namespace

std::unique_ptr<Model> make_llama_family_model(const ModelConfig& cfg, const TensorSource& src) {
  return std::make_unique<LlamaFamilyModel>(cfg, src);
}

}  // namespace spf
