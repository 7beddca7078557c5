#include "model/decoder.h"

#include <chrono>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "model/attention_mixer.h"
#include "model/decoder_weights.h"
#include "model/forward_plan.h"
#include "model/gdn_mixer.h"
#include "model/linear.h"
#include "model/ops.h"
#include "model/trace.h"

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

class Decoder final : public Model {
 public:
  Decoder(const ModelConfig& cfg, const TensorSource& src, WeightStorage storage) : cfg_(cfg) {
    DecoderWeights w = load_decoder_weights(cfg_, src, storage);
    const RopeConfig& r = cfg_.rope;
    inv_freq_ = ops::rope_inv_freq(r.rotary_dim, r.theta, r.type.c_str(), r.factor,
                                   r.low_freq_factor, r.high_freq_factor, r.original_max_position);
    embed_ = std::move(w.embed);
    lm_head_ = std::move(w.lm_head);
    norm_ = std::move(w.norm);
    int n_attention = 0, n_gdn = 0;
    for (LayerWeights& lw : w.layers) {
      Layer L;
      L.input_norm = std::move(lw.input_norm);
      L.post_norm = std::move(lw.post_norm);
      L.mlp = std::move(lw.mlp);
      if (lw.type == LayerType::linear_attention) {
        L.mixer = std::make_unique<GdnMixer>(cfg_, std::move(lw.gdn), n_gdn++);
      } else {
        L.mixer = std::make_unique<AttentionMixer>(cfg_, std::move(lw.attention), n_attention++,
                                                   inv_freq_);
      }
      layers_.push_back(std::move(L));
    }
  }

  const ModelConfig& config() const override { return cfg_; }

  std::unique_ptr<ModelState> new_state(int64_t max_tokens) const override {
    SPF_CHECK(max_tokens > 0, "state capacity must be positive");
    SPF_CHECK(max_tokens <= cfg_.max_context, "sequence of ", max_tokens,
              " tokens exceeds the model's context of ", cfg_.max_context, " tokens");
    return std::make_unique<ModelState>(cfg_, max_tokens, this);
  }

  void forward(std::span<const int32_t> tokens, ModelState& state, AttentionBackend& attention,
               std::span<float> logits, const ForwardOptions& options) const override;

  ForwardStats stats() const override {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    return stats_;
  }
  void reset_stats() override {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_ = {};
  }

 private:
  struct Layer {
    std::vector<float> input_norm, post_norm;
    std::unique_ptr<Mixer> mixer;
    MlpWeights mlp;
  };

  // Runs one chunk at the state's position and advances it; logits (when not null) receives the
  // head's output for the chunk's last n_logits rows.
  void run_chunk(std::span<const int32_t> tokens, ModelState& st, AttentionBackend& attention,
                 float* logits, int64_t n_logits, TraceSink* trace, ForwardStats& stats) const;
  // out = down(silu(gate(h)) * up(h)).
  void mlp(const MlpWeights& w, int64_t n, const float* h, float* out, Arena& scratch) const;

  ModelConfig cfg_;
  WeightTensor embed_, lm_head_;
  std::vector<float> norm_, inv_freq_;
  std::vector<Layer> layers_;
  mutable std::mutex stats_mutex_;
  mutable ForwardStats stats_;
};

void Decoder::forward(std::span<const int32_t> tokens, ModelState& st, AttentionBackend& attention,
                      std::span<float> logits, const ForwardOptions& options) const {
  check_forward_call(cfg_, st, this, tokens, logits, options);
  const int64_t n = int64_t(tokens.size());
  if (n == 0) return;
  ForwardStats stats;
  for_each_prefill_chunk(n, logits, options, cfg_.vocab_size,
                         [&](int64_t c0, int64_t nc, float* out, int64_t rows) {
                           run_chunk(tokens.subspan(size_t(c0), size_t(nc)), st, attention, out,
                                     rows, options.trace, stats);
                         });
  stats.tokens = n;
  stats.calls = 1;
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.add(stats);
}

void Decoder::run_chunk(std::span<const int32_t> tokens, ModelState& st,
                        AttentionBackend& attention, float* logits, int64_t n_logits,
                        TraceSink* trace, ForwardStats& stats) const {
  const int64_t n = int64_t(tokens.size()), H = cfg_.hidden, pos0 = st.n_past();
  const float eps = cfg_.rms_eps;
  const bool plus_one = cfg_.norm_plus_one;
  Arena& arena = st.arena();
  Arena& scratch = st.layer_arena();
  arena.reset();
  scratch.reset();
  Clock::time_point t = Clock::now();
  float* x = arena.alloc_array<float>(n * H);  // the residual stream
  float* h = arena.alloc_array<float>(n * H);  // a norm's output
  float* y = arena.alloc_array<float>(n * H);  // a mixer's or MLP's output
  gather_rows(embed_, tokens.data(), n, x);
  stats.other_s += lap(t);

  MixerContext ctx{0, n, pos0, st, attention, trace, stats};
  auto view = [n, H](float* p) { return TensorView::of(p, {n, H}); };
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    ctx.layer = int(l);
    ops::rms_norm(x, n, H, L.input_norm.data(), eps, plus_one, h);
    ctx.capture(trace::kMixerIn, view(h));
    L.mixer->forward(h, y, ctx);
    ctx.capture(trace::kMixerOut, view(y));
    ops::add_inplace(x, y, n * H);
    scratch.reset();
    stats.mixer_s[size_t(L.mixer->kind())] += lap(t);

    ops::rms_norm(x, n, H, L.post_norm.data(), eps, plus_one, h);
    mlp(L.mlp, n, h, y, scratch);
    ctx.capture(trace::kMlpOut, view(y));
    ops::add_inplace(x, y, n * H);
    ctx.capture(trace::kResidual, view(x));
    scratch.reset();
    stats.mlp_s += lap(t);
  }

  if (logits != nullptr) {
    const float* xs = x + (n - n_logits) * H;
    ops::rms_norm(xs, n_logits, H, norm_.data(), eps, plus_one, h);
    linear(h, n_logits, lm_head_.empty() ? embed_ : lm_head_, nullptr, logits);
  }
  st.advance(n);
  arena.reset();
  stats.other_s += lap(t);
}

void Decoder::mlp(const MlpWeights& w, int64_t n, const float* h, float* out,
                  Arena& scratch) const {
  const int64_t I = cfg_.intermediate;
  float* gate = scratch.alloc_array<float>(n * I);
  float* up = scratch.alloc_array<float>(n * I);
  linear(h, n, w.gate, nullptr, gate);
  linear(h, n, w.up, nullptr, up);
  ops::swiglu_inplace(gate, up, n * I);
  linear(gate, n, w.down, nullptr, out);
}

}  // namespace

const char* mixer_kind_name(MixerKind k) {
  return k == MixerKind::attention ? "attention" : "gated_deltanet";
}

double ForwardStats::total_s() const {
  double s = mlp_s + other_s;
  for (double m : mixer_s) s += m;
  return s;
}

void ForwardStats::add(const ForwardStats& o) {
  for (int k = 0; k < kMixerKinds; ++k) {
    mixer_s[size_t(k)] += o.mixer_s[size_t(k)];
    core_s[size_t(k)] += o.core_s[size_t(k)];
  }
  mlp_s += o.mlp_s;
  other_s += o.other_s;
  tokens += o.tokens;
  calls += o.calls;
}

std::unique_ptr<Model> make_decoder(const ModelConfig& cfg, const TensorSource& src,
                                    WeightStorage storage) {
  return std::make_unique<Decoder>(cfg, src, storage);
}

}  // namespace spf
