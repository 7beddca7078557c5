#include "model/qwen35.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "model/gdn.h"
#include "model/kv_cache.h"
#include "model/ops.h"
#include "model/weights.h"

namespace spf {

namespace {

using Clock = std::chrono::steady_clock;

// Seconds since t, and restarts t.
double lap(Clock::time_point& t) {
  const Clock::time_point now = Clock::now();
  const double s = std::chrono::duration<double>(now - t).count();
  t = now;
  return s;
}

const float* ptr_or_null(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}

struct GdnWeights {
  std::vector<float> qkv, z, b, a, conv, dt_bias, A_log, norm, out;
};

struct AttnWeights {
  std::vector<float> q, k, v, o, bq, bk, bv, bo, q_norm, k_norm;
};

struct Layer {
  LayerType type = LayerType::full_attention;
  int slot = 0;  // index among the layers of its type (KV cache layer or GDN state)
  std::vector<float> input_norm, post_norm, gate, up, down;
  GdnWeights gdn;
  AttnWeights attn;
};

class Qwen35State final : public ModelState {
 public:
  Qwen35State(const ModelConfig& c, int n_gdn, int64_t conv_size, int64_t ssm_size, int64_t cap)
      : cache(c.n_attention_layers(), cap, c.n_kv_heads, c.head_dim),
        conv(size_t(n_gdn), std::vector<float>(size_t(conv_size), 0.0f)),
        ssm(size_t(n_gdn), std::vector<float>(size_t(ssm_size), 0.0f)) {
    capacity_ = cap;
  }
  void advance(int64_t n) { n_past_ += n; }
  KvCache cache;
  std::vector<std::vector<float>> conv, ssm;  // per GDN layer: [K-1][C] and [nv][dk][dv]
};

class Qwen35 final : public Qwen35Model {
 public:
  Qwen35(const ModelConfig& cfg, const TensorSource& src) : cfg_(cfg) {
    check_config();
    dims_ = {cfg.lin_k_heads, cfg.lin_v_heads, cfg.lin_k_dim, cfg.lin_v_dim};
    WeightLoader w(src, cfg_);
    const int64_t H = cfg.hidden, V = cfg.vocab_size;
    embed_ = w.get("model.embed_tokens.weight", {V, H});
    norm_ = w.get("model.norm.weight", {H});
    // Tied: HF ties lm_head to embed_tokens, so a stored lm_head.weight is not read.
    if (!cfg.tie_embeddings) lm_head_ = w.get("lm_head.weight", {V, H});
    layers_.resize(size_t(cfg.n_layers));
    for (int i = 0; i < cfg.n_layers; ++i) load_layer(w, i);
    const RopeConfig& r = cfg.rope;
    inv_freq_ = ops::rope_inv_freq(r.rotary_dim, r.theta, r.type.c_str(), r.factor,
                                   r.low_freq_factor, r.high_freq_factor, r.original_max_position);
  }

  const ModelConfig& config() const override { return cfg_; }

  Qwen35Stats stats() const override {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    return stats_;
  }
  void reset_stats() override {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_ = {};
  }

  std::unique_ptr<ModelState> new_state(int64_t max_tokens) const override {
    SPF_CHECK(max_tokens > 0, "state capacity must be positive");
    SPF_CHECK(max_tokens <= cfg_.max_context, "sequence of ", max_tokens,
              " tokens exceeds the model's context of ", cfg_.max_context, " tokens");
    return std::make_unique<Qwen35State>(cfg_, n_gdn_,
                                         int64_t(cfg_.conv_kernel - 1) * dims_.channels(),
                                         dims_.state_size(), max_tokens);
  }

  void forward(std::span<const int32_t> tokens, ModelState& state_base, AttentionBackend& attention,
               LogitsMode mode, std::span<float> logits) const override;

 private:
  void check_config() const {
    const ModelConfig& c = cfg_;
    SPF_CHECK(c.arch == Arch::qwen35, "Qwen3.5 model built from a ", arch_name(c.arch), " config");
    c.validate();
    SPF_CHECK(int(c.layer_types.size()) == c.n_layers, "qwen3_5 config: layer_types has ",
              c.layer_types.size(), " entries for ", c.n_layers, " layers");
    SPF_CHECK(c.n_kv_heads > 0 && c.n_heads % c.n_kv_heads == 0, "qwen3_5 config: ", c.n_heads,
              " attention heads are not a multiple of ", c.n_kv_heads, " KV heads");
    if (c.n_attention_layers() < c.n_layers) {
      SPF_CHECK(c.lin_k_heads > 0 && c.lin_v_heads > 0 && c.lin_v_heads % c.lin_k_heads == 0,
                "qwen3_5 config: ", c.lin_v_heads, " linear value heads are not a multiple of ",
                c.lin_k_heads, " linear key heads");
      SPF_CHECK(c.lin_k_dim > 0 && c.lin_v_dim > 0 && c.conv_kernel > 0,
                "qwen3_5 config: linear head dims and conv kernel must be positive");
    }
  }

  void load_layer(const WeightLoader& w, int i) {
    const ModelConfig& c = cfg_;
    const int64_t H = c.hidden, I = c.intermediate, D = c.head_dim;
    Layer& L = layers_[size_t(i)];
    auto n = [&](const char* s) { return WeightLoader::layer(i, s); };
    L.type = c.layer_types[size_t(i)];
    L.input_norm = w.get(n("input_layernorm.weight"), {H});
    L.post_norm = w.get(n("post_attention_layernorm.weight"), {H});
    L.gate = w.get(n("mlp.gate_proj.weight"), {I, H});
    L.up = w.get(n("mlp.up_proj.weight"), {I, H});
    L.down = w.get(n("mlp.down_proj.weight"), {H, I});
    if (L.type == LayerType::linear_attention) {
      L.slot = n_gdn_++;
      const int64_t C = dims_.channels(), VD = dims_.value_dim(), NV = dims_.nv;
      GdnWeights& g = L.gdn;
      g.qkv = w.get(n("linear_attn.in_proj_qkv.weight"), {C, H});
      g.z = w.get(n("linear_attn.in_proj_z.weight"), {VD, H});
      g.b = w.get(n("linear_attn.in_proj_b.weight"), {NV, H});
      g.a = w.get(n("linear_attn.in_proj_a.weight"), {NV, H});
      g.conv = w.get(n("linear_attn.conv1d.weight"), {C, 1, c.conv_kernel});
      g.dt_bias = w.get(n("linear_attn.dt_bias"), {NV});
      g.A_log = w.get(n("linear_attn.A_log"), {NV});
      g.norm = w.get(n("linear_attn.norm.weight"), {dims_.dv});
      g.out = w.get(n("linear_attn.out_proj.weight"), {H, VD});
    } else {
      L.slot = n_attn_++;
      const int64_t qd = c.n_heads * D, kvd = c.n_kv_heads * D;
      const int64_t q_rows = c.attn_output_gate ? 2 * qd : qd;
      AttnWeights& a = L.attn;
      a.q = w.get(n("self_attn.q_proj.weight"), {q_rows, H});
      a.k = w.get(n("self_attn.k_proj.weight"), {kvd, H});
      a.v = w.get(n("self_attn.v_proj.weight"), {kvd, H});
      a.o = w.get(n("self_attn.o_proj.weight"), {H, qd});
      if (c.qkv_bias) {
        a.bq = w.get(n("self_attn.q_proj.bias"), {q_rows});
        a.bk = w.get(n("self_attn.k_proj.bias"), {kvd});
        a.bv = w.get(n("self_attn.v_proj.bias"), {kvd});
      }
      if (c.o_bias) a.bo = w.get(n("self_attn.o_proj.bias"), {H});
      if (c.qk_norm) {
        a.q_norm = w.get(n("self_attn.q_norm.weight"), {D});
        a.k_norm = w.get(n("self_attn.k_norm.weight"), {D});
      }
    }
  }

  // Activations of one forward call, sized for n tokens.
  struct Scratch {
    std::vector<float> h, y;                    // [n][H]
    std::vector<float> m, z, b, a, o;           // GDN
    std::vector<float> qg, q, gate, k, v, att;  // attention
    std::vector<float> mlp_gate, mlp_up;        // [n][I]
  };

  void gdn_mixer(const Layer& L, int64_t n, Qwen35State& st, Scratch& s, Qwen35Stats& stats) const;
  void attention_mixer(const Layer& L, int64_t n, Qwen35State& st, AttentionBackend& backend,
                       Scratch& s, Qwen35Stats& stats) const;
  void mlp(const Layer& L, int64_t n, Scratch& s, float* x) const;

  ModelConfig cfg_;
  gdn::Dims dims_;
  int n_gdn_ = 0, n_attn_ = 0;
  std::vector<float> embed_, norm_, lm_head_, inv_freq_;
  std::vector<Layer> layers_;
  mutable std::mutex stats_mutex_;
  mutable Qwen35Stats stats_;
};

// s.h holds the normed input; s.y receives the mixer output.
void Qwen35::gdn_mixer(const Layer& L, int64_t n, Qwen35State& st, Scratch& s,
                       Qwen35Stats& stats) const {
  const int64_t H = cfg_.hidden, C = dims_.channels(), VD = dims_.value_dim(), NV = dims_.nv;
  const GdnWeights& g = L.gdn;
  ops::linear(s.h.data(), n, H, g.qkv.data(), C, nullptr, s.m.data());
  ops::linear(s.h.data(), n, H, g.z.data(), VD, nullptr, s.z.data());
  ops::linear(s.h.data(), n, H, g.b.data(), NV, nullptr, s.b.data());
  ops::linear(s.h.data(), n, H, g.a.data(), NV, nullptr, s.a.data());
  Clock::time_point t = Clock::now();
  const gdn::MixerWeights mw{g.conv.data(), g.A_log.data(), g.dt_bias.data(), g.norm.data()};
  gdn::mix(dims_, cfg_.conv_kernel, n, s.m.data(), s.z.data(), s.a.data(), s.b.data(), mw,
           cfg_.rms_eps, st.conv[size_t(L.slot)].data(), st.ssm[size_t(L.slot)].data(), s.o.data());
  stats.gdn_core_s += lap(t);
  ops::linear(s.o.data(), n, VD, g.out.data(), H, nullptr, s.y.data());
}

void Qwen35::attention_mixer(const Layer& L, int64_t n, Qwen35State& st, AttentionBackend& backend,
                             Scratch& s, Qwen35Stats& stats) const {
  const int64_t H = cfg_.hidden, D = cfg_.head_dim, pos0 = st.n_past();
  const int Hq = cfg_.n_heads, Hkv = cfg_.n_kv_heads;
  const int64_t qd = Hq * D, kvd = Hkv * D;
  const AttnWeights& a = L.attn;
  if (cfg_.attn_output_gate) {
    // q_proj rows are [query D | gate D] per head.
    ops::linear(s.h.data(), n, H, a.q.data(), 2 * qd, ptr_or_null(a.bq), s.qg.data());
    for (int64_t t = 0; t < n; ++t)
      for (int hh = 0; hh < Hq; ++hh) {
        const float* src = s.qg.data() + (t * Hq + hh) * 2 * D;
        std::memcpy(s.q.data() + (t * Hq + hh) * D, src, size_t(D) * sizeof(float));
        std::memcpy(s.gate.data() + (t * Hq + hh) * D, src + D, size_t(D) * sizeof(float));
      }
  } else {
    ops::linear(s.h.data(), n, H, a.q.data(), qd, ptr_or_null(a.bq), s.q.data());
  }
  ops::linear(s.h.data(), n, H, a.k.data(), kvd, ptr_or_null(a.bk), s.k.data());
  ops::linear(s.h.data(), n, H, a.v.data(), kvd, ptr_or_null(a.bv), s.v.data());
  if (cfg_.qk_norm) {
    ops::rms_norm(s.q.data(), n * Hq, D, a.q_norm.data(), cfg_.rms_eps, cfg_.norm_plus_one,
                  s.q.data());
    ops::rms_norm(s.k.data(), n * Hkv, D, a.k_norm.data(), cfg_.rms_eps, cfg_.norm_plus_one,
                  s.k.data());
  }
  ops::rope_inplace(s.q.data(), n, Hq, int(D), cfg_.rope.rotary_dim, inv_freq_.data(), pos0);
  ops::rope_inplace(s.k.data(), n, Hkv, int(D), cfg_.rope.rotary_dim, inv_freq_.data(), pos0);
  st.cache.store(L.slot, pos0, n, s.k.data(), s.v.data());

  AttentionCall call;
  call.layer = int(&L - layers_.data());
  call.attention_layer = L.slot;
  call.shape = {n, pos0 + n, pos0, Hq, Hkv, int(D), 1.0f / std::sqrt(float(D))};
  call.q = TensorView::of(s.q.data(), {n, Hq, D});
  call.k = TensorView::of(st.cache.k(L.slot), {pos0 + n, Hkv, D});
  call.v = TensorView::of(st.cache.v(L.slot), {pos0 + n, Hkv, D});
  call.out = TensorView::of(s.att.data(), {n, Hq, D});
  call.hidden = TensorView::of(s.h.data(), {n, H});
  Clock::time_point t = Clock::now();
  backend.attend(call);
  stats.attention_core_s += lap(t);

  if (cfg_.attn_output_gate) {
    float* att = s.att.data();
    const float* gate = s.gate.data();
#pragma omp parallel for simd if (n * qd > 65536)
    for (int64_t i = 0; i < n * qd; ++i) att[i] *= ops::sigmoid(gate[i]);
  }
  ops::linear(s.att.data(), n, qd, a.o.data(), H, ptr_or_null(a.bo), s.y.data());
}

// x += MLP(RMSNorm(x)).
void Qwen35::mlp(const Layer& L, int64_t n, Scratch& s, float* x) const {
  const int64_t H = cfg_.hidden, I = cfg_.intermediate;
  ops::rms_norm(x, n, H, L.post_norm.data(), cfg_.rms_eps, cfg_.norm_plus_one, s.h.data());
  ops::linear(s.h.data(), n, H, L.gate.data(), I, nullptr, s.mlp_gate.data());
  ops::linear(s.h.data(), n, H, L.up.data(), I, nullptr, s.mlp_up.data());
  ops::swiglu_inplace(s.mlp_gate.data(), s.mlp_up.data(), n * I);
  ops::linear(s.mlp_gate.data(), n, I, L.down.data(), H, nullptr, s.y.data());
  ops::add_inplace(x, s.y.data(), n * H);
}

void Qwen35::forward(std::span<const int32_t> tokens, ModelState& state_base,
                     AttentionBackend& attention, LogitsMode mode, std::span<float> logits) const {
  auto* st = dynamic_cast<Qwen35State*>(&state_base);
  SPF_CHECK(st != nullptr, "model state was not created by this Qwen3.5 model");
  const int64_t n = int64_t(tokens.size());
  if (n == 0) return;
  const int64_t pos0 = st->n_past();
  SPF_CHECK(pos0 + n <= st->capacity(), "sequence of ", pos0 + n,
            " tokens exceeds the state's capacity of ", st->capacity(), " tokens");
  const int64_t H = cfg_.hidden, V = cfg_.vocab_size, I = cfg_.intermediate;
  const int64_t n_logits = mode == LogitsMode::all ? n : 1;
  SPF_CHECK(int64_t(logits.size()) == n_logits * V, "logits buffer has ", logits.size(),
            " floats, expected ", n_logits * V);
  for (int64_t t = 0; t < n; ++t) {
    const int32_t id = tokens[size_t(t)];
    SPF_CHECK(id >= 0 && id < V, "token id ", id, " at position ", pos0 + t,
              " is outside the vocabulary [0, ", V, ")");
  }

  Qwen35Stats stats;
  Clock::time_point t = Clock::now();
  const int64_t qd = int64_t(cfg_.n_heads) * cfg_.head_dim;
  const int64_t kvd = int64_t(cfg_.n_kv_heads) * cfg_.head_dim;
  Scratch s;
  auto alloc = [n](std::vector<float>& v, int64_t row) { v.resize(size_t(n * row)); };
  std::vector<float> x(static_cast<size_t>(n * H));
  alloc(s.h, H);
  alloc(s.y, H);
  alloc(s.mlp_gate, I);
  alloc(s.mlp_up, I);
  if (n_gdn_ > 0) {
    alloc(s.m, dims_.channels());
    alloc(s.z, dims_.value_dim());
    alloc(s.o, dims_.value_dim());
    alloc(s.b, dims_.nv);
    alloc(s.a, dims_.nv);
  }
  if (n_attn_ > 0) {
    if (cfg_.attn_output_gate) {
      alloc(s.qg, 2 * qd);
      alloc(s.gate, qd);
    }
    alloc(s.q, qd);
    alloc(s.att, qd);
    alloc(s.k, kvd);
    alloc(s.v, kvd);
  }
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(x.data() + i * H, embed_.data() + int64_t(tokens[size_t(i)]) * H,
                size_t(H) * sizeof(float));
  stats.other_s += lap(t);

  for (const Layer& L : layers_) {
    ops::rms_norm(x.data(), n, H, L.input_norm.data(), cfg_.rms_eps, cfg_.norm_plus_one,
                  s.h.data());
    if (L.type == LayerType::linear_attention) {
      gdn_mixer(L, n, *st, s, stats);
      ops::add_inplace(x.data(), s.y.data(), n * H);
      stats.gdn_s += lap(t);
    } else {
      attention_mixer(L, n, *st, attention, s, stats);
      ops::add_inplace(x.data(), s.y.data(), n * H);
      stats.attention_s += lap(t);
    }
    mlp(L, n, s, x.data());
    stats.mlp_s += lap(t);
  }

  const float* xs = x.data() + (n - n_logits) * H;
  ops::rms_norm(xs, n_logits, H, norm_.data(), cfg_.rms_eps, cfg_.norm_plus_one, s.h.data());
  const std::vector<float>& head = lm_head_.empty() ? embed_ : lm_head_;
  ops::linear(s.h.data(), n_logits, H, head.data(), V, nullptr, logits.data());
  st->advance(n);
  stats.other_s += lap(t);
  stats.tokens = n;
  stats.calls = 1;

  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.gdn_s += stats.gdn_s;
  stats_.gdn_core_s += stats.gdn_core_s;
  stats_.attention_s += stats.attention_s;
  stats_.attention_core_s += stats.attention_core_s;
  stats_.mlp_s += stats.mlp_s;
  stats_.other_s += stats.other_s;
  stats_.tokens += stats.tokens;
  stats_.calls += stats.calls;
}

}  // namespace

std::unique_ptr<Model> make_qwen35_model(const ModelConfig& cfg, const TensorSource& src) {
  return std::make_unique<Qwen35>(cfg, src);
}

}  // namespace spf
