#include "model/cuda/cuda_decoder.h"

#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <vector>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/cuda_executor.h"
#include "core/error.h"
#include "core/half.h"
#include "model/cuda/device_weights.h"
#include "model/cuda/gdn_kernels.h"
#include "model/cuda/gemm.h"
#include "model/cuda/kernels.h"
#include "model/decoder_weights.h"
#include "model/forward_plan.h"
#include "model/gdn.h"
#include "model/ops.h"
#include "model/trace.h"

namespace spf {

namespace {

using Clock = std::chrono::steady_clock;

// The per-sequence device data of the GPU model.
struct CudaState final : StateExtension {
  std::vector<Buffer> k, v;       // per attention layer: bf16 [capacity][n_kv_heads][D]
  std::vector<Buffer> conv, rec;  // per GDN layer: f32 [K-1][C], [nv][dk][dv]
  Buffer ids;                     // int32 [capacity]: the tokens of a call
};

uint16_t* bf16_ptr(const TensorView& t) {
  return static_cast<uint16_t*>(t.ptr);
}

// Adds wall time to buckets, synchronising first so that the time is the device's (on only when
// asked: a synchronisation per part costs decode steps their overlap).
class PartTimer {
 public:
  explicit PartTimer(bool on) : on_(on), last_(Clock::now()) {}
  void to(double& bucket) {
    if (!on_) return;
    SPF_CUDA_CHECK(cudaDeviceSynchronize());
    const Clock::time_point now = Clock::now();
    bucket += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  bool on_;
  Clock::time_point last_;
};

class CudaDecoder final : public CudaModel {
 public:
  CudaDecoder(const ModelConfig& cfg, cuda::DeviceDecoderWeights w, CudaModelOptions options)
      : cfg_(cfg), w_(std::move(w)), options_(options) {
    set_gemm_autotune(options.gemm_autotune);
    const RopeConfig& r = cfg_.rope;
    const std::vector<float> inv =
        ops::rope_inv_freq(r.rotary_dim, r.theta, r.type.c_str(), r.factor, r.low_freq_factor,
                           r.high_freq_factor, r.original_max_position);
    if (!inv.empty()) {
      inv_freq_ = Buffer(Device::cuda, inv.size() * sizeof(float));
      cuda_copy_to_device(inv_freq_.data(), inv.data(), inv.size() * sizeof(float));
    }
  }

  const ModelConfig& config() const override { return cfg_; }

  std::unique_ptr<ModelState> new_state(int64_t max_tokens) const override {
    SPF_CHECK(max_tokens > 0, "state capacity must be positive");
    SPF_CHECK(max_tokens <= cfg_.max_context, "sequence of ", max_tokens,
              " tokens exceeds the model's context of ", cfg_.max_context, " tokens");
    auto st = std::make_unique<ModelState>(cfg_, max_tokens, this, Device::cuda);
    auto ext = std::make_unique<CudaState>();
    const size_t kv_bytes = size_t(max_tokens) * size_t(cfg_.n_kv_heads) * cfg_.head_dim * 2;
    const gdn::Dims d = gdn_dims();
    for (const cuda::DeviceLayerWeights& L : w_.layers) {
      if (L.type == LayerType::linear_attention) {
        const size_t conv = size_t(cfg_.conv_kernel - 1) * d.channels() * sizeof(float);
        const size_t rec = size_t(d.state_size()) * sizeof(float);
        ext->conv.emplace_back(Device::cuda, conv);
        ext->rec.emplace_back(Device::cuda, rec);
        SPF_CUDA_CHECK(cudaMemset(ext->conv.back().data(), 0, conv));
        SPF_CUDA_CHECK(cudaMemset(ext->rec.back().data(), 0, rec));
      } else {
        ext->k.emplace_back(Device::cuda, kv_bytes);
        ext->v.emplace_back(Device::cuda, kv_bytes);
      }
    }
    ext->ids = Buffer(Device::cuda, size_t(max_tokens) * sizeof(int32_t));
    st->set_extension(std::move(ext));
    return st;
  }

  void forward(std::span<const int32_t> tokens, ModelState& state, AttentionBackend& attention,
               std::span<float> logits, const ForwardOptions& options) const override;

  ForwardStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_stats() override {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_ = {};
  }
  CudaBreakdown breakdown() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return breakdown_;
  }
  void reset_breakdown() override {
    std::lock_guard<std::mutex> lock(mutex_);
    breakdown_ = {};
  }
  size_t weight_bytes() const override { return w_.bytes; }
  void set_time_parts(bool on) override { options_.time_parts = on; }
  void set_gemm_autotune(bool on) override {
    options_.gemm_autotune = on;
    cuda::GemmTuning t;
    t.measure = on;
    gemm_.set_tuning(t);
  }
  std::pair<int64_t, int64_t> gemm_tuning_counts() const override {
    const cuda::GemmEngine::TuningCounts c = gemm_.tuning_counts();
    return {c.measured, c.changed};
  }

 private:
  // What one chunk's layers share.
  struct Chunk {
    int64_t n = 0, pos0 = 0;
    ModelState* st = nullptr;
    CudaState* ext = nullptr;
    AttentionBackend* backend = nullptr;
    TraceSink* trace = nullptr;
    int layer = 0;
    PartTimer* timer = nullptr;
    CudaBreakdown* parts = nullptr;
    ForwardStats* stats = nullptr;
  };

  gdn::Dims gdn_dims() const {
    return {cfg_.lin_k_heads, cfg_.lin_v_heads, cfg_.lin_k_dim, cfg_.lin_v_dim};
  }
  void gemm(const Chunk& c, const void* x, int64_t m, const cuda::DeviceMatrix& w, void* y,
            DType y_dtype, float beta, int64_t ldy = 0) const {
    cuda::GemmArgs a;
    a.m = m;
    a.n = w.rows;
    a.k = w.cols;
    a.x = x;
    a.w = w.ptr();
    a.y = y;
    a.ldy = ldy;
    a.y_dtype = y_dtype;
    a.beta = beta;
    gemm_.run(a, nullptr);
    c.timer->to(c.parts->gemm_s);
  }
  // Copies a device tensor to the host as f32 for a trace sink (only when it asks).
  void capture(const Chunk& c, const char* name, const void* p, DType t,
               std::initializer_list<int64_t> dims) const;
  void run_chunk(std::span<const int32_t> tokens, Chunk& c, float* logits, int64_t n_logits) const;
  void attention_layer(const cuda::DeviceLayerWeights& L, int slot, const uint16_t* h, float* x,
                       Chunk& c) const;
  void gdn_layer(const cuda::DeviceLayerWeights& L, int slot, const uint16_t* h, float* x,
                 Chunk& c) const;

  ModelConfig cfg_;
  cuda::DeviceDecoderWeights w_;
  CudaModelOptions options_;
  Buffer inv_freq_;
  mutable cuda::GemmEngine gemm_;
  mutable std::mutex mutex_;
  mutable ForwardStats stats_;
  mutable CudaBreakdown breakdown_;
};

void CudaDecoder::capture(const Chunk& c, const char* name, const void* p, DType t,
                          std::initializer_list<int64_t> dims) const {
  if (c.trace == nullptr || !c.trace->wants(c.layer, name)) return;
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  std::vector<float> host(static_cast<size_t>(count));
  if (t == DType::f32) {
    cuda_copy_to_host(host.data(), p, size_t(count) * sizeof(float));
  } else {
    std::vector<uint16_t> bits(static_cast<size_t>(count));
    cuda_copy_to_host(bits.data(), p, size_t(count) * 2);
    for (int64_t i = 0; i < count; ++i) host[size_t(i)] = bf16_to_f32(bits[size_t(i)]);
  }
  c.trace->capture(c.layer, name, c.pos0, TensorView(host.data(), DType::f32, dims));
}

void CudaDecoder::forward(std::span<const int32_t> tokens, ModelState& st,
                          AttentionBackend& attention, std::span<float> logits,
                          const ForwardOptions& options) const {
  check_forward_call(cfg_, st, this, tokens, logits, options);
  auto* ext = dynamic_cast<CudaState*>(st.extension());
  SPF_CHECK(ext != nullptr, "model state has no device caches");
  const int64_t n = int64_t(tokens.size());
  if (n == 0) return;
  ForwardStats stats;
  CudaBreakdown parts;
  PartTimer timer(options_.time_parts);
  const Clock::time_point start = Clock::now();
  for_each_prefill_chunk(n, logits, options, cfg_.vocab_size,
                         [&](int64_t c0, int64_t nc, float* out, int64_t rows) {
                           Chunk c;
                           c.n = nc;
                           c.pos0 = st.n_past();
                           c.st = &st;
                           c.ext = ext;
                           c.backend = &attention;
                           c.trace = options.trace;
                           c.timer = &timer;
                           c.parts = &parts;
                           c.stats = &stats;
                           run_chunk(tokens.subspan(size_t(c0), size_t(nc)), c, out, rows);
                         });
  stats.other_s += std::chrono::duration<double>(Clock::now() - start).count() - stats.total_s();
  stats.tokens = n;
  stats.calls = 1;
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.add(stats);
  breakdown_.gemm_s += parts.gemm_s;
  breakdown_.gdn_s += parts.gdn_s;
  breakdown_.attention_s += parts.attention_s;
  breakdown_.other_s += parts.other_s;
}

void CudaDecoder::run_chunk(std::span<const int32_t> tokens, Chunk& c, float* logits,
                            int64_t n_logits) const {
  const int64_t n = c.n, H = cfg_.hidden;
  const float eps = cfg_.rms_eps;
  const bool plus_one = cfg_.norm_plus_one;
  Arena& arena = c.st->arena();
  Arena& scratch = c.st->layer_arena();
  arena.reset();
  scratch.reset();
  int32_t* ids = static_cast<int32_t*>(c.ext->ids.data());
  SPF_CUDA_CHECK(
      cudaMemcpy(ids, tokens.data(), size_t(n) * sizeof(int32_t), cudaMemcpyHostToDevice));
  float* x = arena.alloc(DType::f32, {n * H}).data<float>();  // the residual stream
  uint16_t* h = bf16_ptr(arena.alloc(DType::bf16, {n * H}));  // a norm's output
  cuda::embed_rows(w_.embed.ptr(), H, ids, n, x, nullptr);
  c.timer->to(c.parts->other_s);

  int attention_slot = 0, gdn_slot = 0;
  Clock::time_point t = Clock::now();
  auto lap = [&t] {
    const Clock::time_point now = Clock::now();
    const double s = std::chrono::duration<double>(now - t).count();
    t = now;
    return s;
  };
  for (size_t l = 0; l < w_.layers.size(); ++l) {
    const cuda::DeviceLayerWeights& L = w_.layers[l];
    c.layer = int(l);
    cuda::rms_norm_to_bf16(x, H, n, H, L.input_norm.ptr(), eps, plus_one, h, nullptr);
    c.timer->to(c.parts->other_s);
    capture(c, trace::kMixerIn, h, DType::bf16, {n, H});
    const bool traced = c.trace != nullptr && c.trace->wants(c.layer, trace::kMixerOut);
    std::vector<float> before;
    if (traced) {  // the mixer adds into x: its output is the difference
      before.resize(size_t(n * H));
      cuda_copy_to_host(before.data(), x, before.size() * sizeof(float));
    }
    MixerKind kind;
    if (L.type == LayerType::linear_attention) {
      kind = MixerKind::gated_deltanet;
      gdn_layer(L, gdn_slot++, h, x, c);
    } else {
      kind = MixerKind::attention;
      attention_layer(L, attention_slot++, h, x, c);
    }
    if (traced) {
      std::vector<float> after(before.size());
      cuda_copy_to_host(after.data(), x, after.size() * sizeof(float));
      for (size_t i = 0; i < after.size(); ++i) after[i] -= before[i];
      c.trace->capture(c.layer, trace::kMixerOut, c.pos0, TensorView::of(after.data(), {n, H}));
    }
    scratch.reset();
    c.stats->mixer_s[size_t(kind)] += lap();

    cuda::rms_norm_to_bf16(x, H, n, H, L.post_norm.ptr(), eps, plus_one, h, nullptr);
    c.timer->to(c.parts->other_s);
    const int64_t I = cfg_.intermediate;
    uint16_t* gu = bf16_ptr(scratch.alloc(DType::bf16, {n * 2 * I}));
    gemm(c, h, n, L.gate_up, gu, DType::bf16, 0.0f);
    uint16_t* act = bf16_ptr(scratch.alloc(DType::bf16, {n * I}));
    cuda::swiglu(gu, n, I, act, nullptr);
    c.timer->to(c.parts->other_s);
    const bool mlp_traced = c.trace != nullptr && c.trace->wants(c.layer, trace::kMlpOut);
    if (mlp_traced) {
      float* y = scratch.alloc(DType::f32, {n * H}).data<float>();
      gemm(c, act, n, L.down, y, DType::f32, 0.0f);
      capture(c, trace::kMlpOut, y, DType::f32, {n, H});
    }
    gemm(c, act, n, L.down, x, DType::f32, 1.0f);  // x += down(act)
    capture(c, trace::kResidual, x, DType::f32, {n, H});
    scratch.reset();
    c.stats->mlp_s += lap();
  }

  if (logits != nullptr) {
    const int64_t V = cfg_.vocab_size;
    cuda::rms_norm_to_bf16(x + (n - n_logits) * H, H, n_logits, H, w_.norm.ptr(), eps, plus_one, h,
                           nullptr);
    c.timer->to(c.parts->other_s);
    float* out = arena.alloc(DType::f32, {n_logits * V}).data<float>();
    gemm(c, h, n_logits, w_.head(), out, DType::f32, 0.0f);
    cuda_copy_to_host(logits, out, size_t(n_logits * V) * sizeof(float));
    c.timer->to(c.parts->other_s);
  }
  c.st->advance(n);
  arena.reset();
}

void CudaDecoder::attention_layer(const cuda::DeviceLayerWeights& L, int slot, const uint16_t* h,
                                  float* x, Chunk& c) const {
  const cuda::DeviceAttentionWeights& a = L.attention;
  const int64_t n = c.n, pos0 = c.pos0, D = cfg_.head_dim;
  const int Hq = cfg_.n_heads, Hkv = cfg_.n_kv_heads;
  const int64_t qd = Hq * D, kvd = Hkv * D;
  const bool gated = cfg_.attn_output_gate;
  const int64_t q_cols = gated ? 2 * qd : qd, ld = q_cols + 2 * kvd;
  Arena& scratch = c.st->layer_arena();
  uint16_t* qkv = bf16_ptr(scratch.alloc(DType::bf16, {n * ld}));
  gemm(c, h, n, a.qkv, qkv, DType::bf16, 0.0f);
  if (a.bqkv.n > 0) cuda::add_bias_bf16(qkv, ld, a.bqkv.ptr(), n, ld, nullptr);

  uint16_t* q = bf16_ptr(scratch.alloc(DType::bf16, {n * qd}));
  uint16_t* k_cache = static_cast<uint16_t*>(c.ext->k[size_t(slot)].data());
  uint16_t* v_cache = static_cast<uint16_t*>(c.ext->v[size_t(slot)].data());
  cuda::HeadNormRope r;
  r.src = qkv;
  r.src_ld = ld;
  r.src_head_ld = gated ? 2 * D : D;
  r.dst = q;
  r.dst_ld = qd;
  r.n = n;
  r.heads = Hq;
  r.head_dim = int(D);
  r.norm = a.q_norm.ptr();
  r.eps = cfg_.rms_eps;
  r.plus_one = cfg_.norm_plus_one;
  r.inv_freq = static_cast<const float*>(inv_freq_.data());
  r.rot = cfg_.rope.rotary_dim;
  r.pos0 = pos0;
  cuda::head_norm_rope(r, nullptr);
  r.src = qkv + q_cols;
  r.src_head_ld = D;
  r.dst = k_cache + pos0 * kvd;
  r.dst_ld = kvd;
  r.heads = Hkv;
  r.norm = a.k_norm.ptr();
  cuda::head_norm_rope(r, nullptr);
  SPF_CUDA_CHECK(cudaMemcpy2DAsync(v_cache + pos0 * kvd, size_t(kvd) * 2, qkv + q_cols + kvd,
                                   size_t(ld) * 2, size_t(kvd) * 2, size_t(n),
                                   cudaMemcpyDeviceToDevice, nullptr));
  c.timer->to(c.parts->other_s);
  capture(c, trace::kQ, q, DType::bf16, {n, Hq, D});
  capture(c, trace::kK, k_cache + pos0 * kvd, DType::bf16, {n, Hkv, D});
  capture(c, trace::kV, v_cache + pos0 * kvd, DType::bf16, {n, Hkv, D});

  uint16_t* att = bf16_ptr(scratch.alloc(DType::bf16, {n * qd}));
  AttentionCall call;
  call.layer = c.layer;
  call.attention_layer = slot;
  call.shape = {n, pos0 + n, pos0, Hq, Hkv, int(D), 1.0f / std::sqrt(float(D))};
  call.q = TensorView(q, DType::bf16, {n, Hq, D}, Device::cuda);
  call.k = TensorView(k_cache, DType::bf16, {pos0 + n, Hkv, D}, Device::cuda);
  call.v = TensorView(v_cache, DType::bf16, {pos0 + n, Hkv, D}, Device::cuda);
  call.out = TensorView(att, DType::bf16, {n, Hq, D}, Device::cuda);
  call.hidden = TensorView(const_cast<uint16_t*>(h), DType::bf16, {n, cfg_.hidden}, Device::cuda);
  call.side_cache = &c.st->side_cache(slot);
  const Clock::time_point t0 = Clock::now();
  c.backend->attend(call);
  c.timer->to(c.parts->attention_s);
  c.stats->core_s[size_t(MixerKind::attention)] +=
      std::chrono::duration<double>(Clock::now() - t0).count();
  capture(c, trace::kAttnOut, att, DType::bf16, {n, Hq, D});

  if (gated) {
    cuda::sigmoid_gate(att, qkv + D, ld, 2 * D, n, Hq, int(D), nullptr);
    c.timer->to(c.parts->other_s);
  }
  gemm(c, att, n, a.o, x, DType::f32, 1.0f);  // x += o_proj(att)
  if (a.bo.n > 0) {
    cuda::add_bias_f32(x, cfg_.hidden, a.bo.ptr(), n, cfg_.hidden, nullptr);
    c.timer->to(c.parts->other_s);
  }
}

void CudaDecoder::gdn_layer(const cuda::DeviceLayerWeights& L, int slot, const uint16_t* h,
                            float* x, Chunk& c) const {
  const cuda::DeviceGdnWeights& g = L.gdn;
  const gdn::Dims d = gdn_dims();
  const int64_t n = c.n, C = d.channels(), VD = d.value_dim(), NV = d.nv;
  Arena& scratch = c.st->layer_arena();
  // m in f32: the delta rule is sensitive to its inputs, and rounding m to bf16 moves the mixer's
  // outputs as much as all of the chunked form's own roundings. z in bf16 (it only gates the
  // normed output), the gate inputs in f32 (the decay compounds over the sequence).
  float* m = scratch.alloc(DType::f32, {n * C}).data<float>();
  uint16_t* z = bf16_ptr(scratch.alloc(DType::bf16, {n * VD}));
  float* b = scratch.alloc(DType::f32, {n * NV}).data<float>();
  float* a = scratch.alloc(DType::f32, {n * NV}).data<float>();
  gemm(c, h, n, g.qkv, m, DType::f32, 0.0f);
  gemm(c, h, n, g.z, z, DType::bf16, 0.0f);
  gemm(c, h, n, g.b, b, DType::f32, 0.0f);
  gemm(c, h, n, g.a, a, DType::f32, 0.0f);
  uint16_t* o = bf16_ptr(scratch.alloc(DType::bf16, {n * VD}));
  const gdn::MixerWeights mw{g.conv.ptr(), g.A_log.ptr(), g.dt_bias.ptr(), g.norm.ptr()};
  const Clock::time_point t0 = Clock::now();
  cuda::gdn::mix(d, cfg_.conv_kernel, n, m, z, a, b, mw, cfg_.rms_eps,
                 static_cast<float*>(c.ext->conv[size_t(slot)].data()),
                 static_cast<float*>(c.ext->rec[size_t(slot)].data()), o, scratch, nullptr);
  c.timer->to(c.parts->gdn_s);
  c.stats->core_s[size_t(MixerKind::gated_deltanet)] +=
      std::chrono::duration<double>(Clock::now() - t0).count();
  gemm(c, o, n, g.out, x, DType::f32, 1.0f);  // x += out_proj(o)
}

}  // namespace

std::unique_ptr<CudaModel> make_cuda_model(const ModelConfig& cfg, const TensorSource& src,
                                           CudaModelOptions options) {
  SPF_CHECK(cuda_device_present(), "--device cuda: no CUDA device is visible");
  cuda::DeviceDecoderWeights w;
  {
    const DecoderWeights host = load_decoder_weights(cfg, src, WeightStorage::stored);
    w = cuda::upload_decoder_weights(cfg, host);
  }
  return std::make_unique<CudaDecoder>(cfg, std::move(w), options);
}

std::unique_ptr<CudaModel> make_random_cuda_model(const ModelConfig& cfg, uint64_t seed,
                                                  CudaModelOptions options) {
  SPF_CHECK(cuda_device_present(), "--device cuda: no CUDA device is visible");
  return std::make_unique<CudaDecoder>(cfg, cuda::random_decoder_weights(cfg, seed), options);
}

size_t cuda_memory_in_use() {
  size_t free = 0, total = 0;
  SPF_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return total - free;
}

std::string cuda_device_name() {
  int dev = 0;
  SPF_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  SPF_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  return p.name;
}

void install_cuda_models() {
  register_device_executor(Device::cuda, &cuda_executor());
  register_device_model_factory(
      Device::cuda, [](const ModelConfig& cfg, const TensorSource& src, const LoadOptions&) {
        return std::unique_ptr<Model>(make_cuda_model(cfg, src));
      });
}

}  // namespace spf
