#include "indexer/cuda/cuda_distill_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "attention/cuda/cuda_check.h"
#include "core/buffer.h"
#include "core/error.h"
#include "indexer/cuda/distill_kernels.h"
#include "indexer/cuda/indexer_finish.h"
#include "model/cuda/gemm.h"

namespace spf {

struct CudaDistillWorkspace::Impl {
  std::unique_ptr<cuda::GemmEngine> gemm;  // made by the first call (none without a device)
  Buffer weights, inv_freq, grad;  // f32: the flat parameters, RoPE frequencies, their gradient
  Buffer arena;                    // the per-call activations (carve below)
  Buffer targets, logits, scores;  // P [G][n][n], z [n][n], a target block's scores [rows][n]
  std::vector<float> row_kl;

  // b holds at least bytes (its contents are not kept when it grows).
  static void reserve(Buffer& b, size_t bytes) {
    if (b.bytes() < bytes) b = Buffer(Device::cuda, bytes);
  }
};

CudaDistillWorkspace::CudaDistillWorkspace() : impl_(std::make_unique<Impl>()) {}
CudaDistillWorkspace::~CudaDistillWorkspace() = default;

namespace {

// Consecutive f32 arrays out of one buffer, each at a 256-byte boundary (cuBLASLt's preferred
// alignment).
class Carve {
 public:
  explicit Carve(void* base) : base_(static_cast<char*>(base)) {}
  float* take(int64_t floats) {
    float* p = base_ == nullptr ? nullptr : reinterpret_cast<float*>(base_ + used_);
    used_ += (size_t(floats) * 4 + 255) / 256 * 256;
    return p;
  }
  size_t used() const { return used_; }

 private:
  char* base_;
  size_t used_ = 0;
};

struct Activations {
  float *x, *heads, *mix, *qpre, *q, *kpre, *k, *dq, *dk, *dqpre, *dkpre, *dheads, *dmix, *row_kl;
};

Activations carve(Carve& c, const IndexerConfig& ic, int64_t n) {
  const int64_t d = ic.d_idx, H = ic.n_heads;
  Activations a{};
  a.x = c.take(n * ic.d_model);
  a.heads = c.take(n * H * d);
  a.mix = c.take(n * H);
  a.qpre = c.take(n * d);
  a.q = c.take(n * d);
  a.kpre = c.take(n * d);
  a.k = c.take(n * d);
  a.dq = c.take(n * d);
  a.dk = c.take(n * d);
  a.dqpre = c.take(n * d);
  a.dkpre = c.take(n * d);
  a.dheads = c.take(n * H * d);
  a.dmix = c.take(n * H);
  a.row_kl = c.take(n);
  return a;
}

}  // namespace

CudaDistillBackend::CudaDistillBackend(const IndexerWeights& weights, float* grad,
                                       const DistillLoss& loss, CudaDistillWorkspace& workspace,
                                       CudaDistillOptions options, CudaExecutor& executor)
    : w_(weights), grad_(grad), ws_(workspace), options_(options), executor_(executor) {
  const IndexerConfig& c = weights.config;
  c.validate();
  SPF_CHECK(loss.is_kl(), "indexer distillation on the GPU: --loss ", loss.spec(),
            " is not implemented there (only kl); train it on the CPU");
  SPF_CHECK(int64_t(weights.params.size()) == c.total_size(),
            "indexer distillation: ", weights.params.size(), " parameters for an indexer of ",
            c.total_size());
  SPF_CHECK(options.target_rows >= 0 && options.scratch_bytes > 0,
            "indexer distillation: target_rows ", options.target_rows, " and scratch_bytes ",
            options.scratch_bytes, " must be >= 0 and > 0");
  layer_kl_.assign(size_t(c.n_layers), 0.0);
  auto& ws = ws_.impl();
  const size_t bytes = weights.params.size() * 4;
  CudaDistillWorkspace::Impl::reserve(ws.weights, bytes);
  cuda_copy_to_device(ws.weights.data(), weights.params.data(), bytes);
  const std::vector<float> inv = indexer_inv_freq(c);
  CudaDistillWorkspace::Impl::reserve(ws.inv_freq, std::max<size_t>(4, inv.size() * 4));
  if (!inv.empty()) cuda_copy_to_device(ws.inv_freq.data(), inv.data(), inv.size() * 4);
  if (grad_ != nullptr) {
    CudaDistillWorkspace::Impl::reserve(ws.grad, bytes);
    SPF_CUDA_CHECK(cudaMemset(ws.grad.data(), 0, bytes));
    cuda_synchronize();  // before any stream's GEMM accumulates into it
  }
}

CudaDistillBackend::~CudaDistillBackend() = default;

void CudaDistillBackend::attend(const AttentionCall& call) {
  call.validate();
  const IndexerConfig& c = w_.config;
  const AttentionShape& s = call.shape;
  SPF_CHECK(call.device() == Device::cuda && call.q.dtype == DType::bf16,
            "indexer distillation on the GPU: the call must hold bf16 device tensors, got q ",
            call.q.str());
  SPF_CHECK(s.q_pos0 == 0 && s.n_q == s.n_kv, "indexer distillation: one forward from position 0",
            " (got queries at ", s.q_pos0, " of ", s.n_kv, " keys)");
  SPF_CHECK(call.attention_layer >= 0 && call.attention_layer < c.n_layers,
            "indexer distillation: attention layer ", call.attention_layer, " but the indexer has ",
            c.n_layers, " layers");
  SPF_CHECK(!call.hidden.empty() && call.hidden.dim(1) == c.d_model &&
                call.hidden.dtype == DType::bf16 && call.hidden.contiguous_rows(),
            "indexer distillation: the call carries no bf16 hidden input of width ", c.d_model);
  SPF_CHECK(c.n_groups == 1 || c.n_groups == s.n_kv_heads, "indexer targets: ", c.n_groups,
            " groups for a layer of ", s.n_kv_heads, " KV heads (must be 1 or ", s.n_kv_heads, ")");
  SPF_CHECK(call.q.contiguous_rows() && call.k.contiguous_rows(),
            "indexer distillation: q and k need packed rows");
  executor_.dense(call);

  auto& ws = ws_.impl();
  if (!ws.gemm) ws.gemm = std::make_unique<cuda::GemmEngine>();
  void* stream = call.stream;
  const int64_t n = s.n_q, d = c.d_idx, H = c.n_heads, dm = c.d_model;
  const int G = c.n_groups, D = s.head_dim;
  const int64_t rows = std::clamp<int64_t>(
      options_.target_rows > 0 ? options_.target_rows : options_.scratch_bytes / (4 * n), 1, n);

  Carve sizing(nullptr);
  carve(sizing, c, n);
  CudaDistillWorkspace::Impl::reserve(ws.arena, sizing.used());
  Carve parts(ws.arena.data());
  const Activations a = carve(parts, c, n);
  CudaDistillWorkspace::Impl::reserve(ws.targets, size_t(G) * size_t(n * n) * 4);
  CudaDistillWorkspace::Impl::reserve(ws.logits, size_t(n * n) * 4);
  CudaDistillWorkspace::Impl::reserve(ws.scores, size_t(rows * n) * 4);
  float* P_all = static_cast<float*>(ws.targets.data());
  float* z = static_cast<float*>(ws.logits.data());
  float* S = static_cast<float*>(ws.scores.data());
  const float* params = static_cast<const float*>(ws.weights.data());
  float* grad = grad_ != nullptr ? static_cast<float*>(ws.grad.data()) : nullptr;
  const float* inv_freq = static_cast<const float*>(ws.inv_freq.data());

  auto matmul = [&](int64_t m, int64_t nn, int64_t k, const void* A, int64_t lda, bool ta,
                    const void* B, int64_t ldb, bool tb, DType in, float* C, int64_t ldc,
                    float alpha, float beta) {
    cuda::MatmulArgs g;
    g.m = m;
    g.n = nn;
    g.k = k;
    g.a = A;
    g.lda = lda;
    g.trans_a = ta;
    g.b = B;
    g.ldb = ldb;
    g.trans_b = tb;
    g.in_dtype = in;
    g.c = C;
    g.ldc = ldc;
    g.alpha = alpha;
    g.beta = beta;
    ws.gemm->matmul(g, stream);
  };

  // Targets: P_g = mean over the group's heads of the causal softmax, one row block at a time.
  const auto* q16 = static_cast<const uint16_t*>(call.q.ptr);
  const auto* k16 = static_cast<const uint16_t*>(call.k.ptr);
  const int hpg = s.n_heads / G;
  for (int g = 0; g < G; ++g) {
    float* P = P_all + int64_t(g) * n * n;
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
      const int64_t nr = std::min(rows, n - r0), keys = std::min(n, r0 + nr);
      for (int hi = 0; hi < hpg; ++hi) {
        const int h = g * hpg + hi;
        matmul(nr, keys, D, q16 + r0 * call.q.stride[0] + int64_t(h) * D, call.q.stride[0], false,
               k16 + int64_t(s.kv_head_of(h)) * D, call.k.stride[0], true, DType::bf16, S, keys,
               1.0f, 0.0f);
        cuda::distill_target_rows(S, keys, nr, r0, n, s.scale, 1.0f / float(hpg), hi == 0,
                                  P + r0 * n, stream);
      }
    }
  }

  // The scorers.
  cuda::distill_bf16_to_f32(call.hidden.ptr, n, dm, call.hidden.stride[0], a.x, stream);
  const double grad_scale = 1.0 / (double(n) * double(c.n_layers) * double(G));
  const float gscale = float(grad_scale / std::sqrt(double(d)));
  double kl = 0;
  ws.row_kl.resize(size_t(n));
  for (int g = 0; g < G; ++g) {
    const int layer = call.attention_layer;
    const float* wq = params + param_offset(c, layer, g, IndexerMatrix::wq);
    const float* wk = params + param_offset(c, layer, g, IndexerMatrix::wk);
    matmul(n, H * d, dm, a.x, dm, false, wq, dm, true, DType::f32, a.heads, H * d, 1.0f, 0.0f);
    if (H > 1) {
      const float* ww = params + param_offset(c, layer, g, IndexerMatrix::ww);
      matmul(n, H, dm, a.x, dm, false, ww, dm, true, DType::f32, a.mix, H, 1.0f, 0.0f);
    }
    matmul(n, d, dm, a.x, dm, false, wk, dm, true, DType::f32, a.kpre, d, 1.0f, 0.0f);
    auto finish_rows = [&](const float* in, const float* mix, int heads, bool inverse, float* out) {
      IndexerFinishArgs f;
      f.in = in;
      f.mix = mix;
      f.n_vec = n;
      f.heads = heads;
      f.dim = int(d);
      f.rope_dims = c.rope_dims;
      f.inv_freq = inv_freq;
      f.out_f32 = out;
      f.inverse = inverse;
      cuda_indexer_finish(f, stream);
    };
    finish_rows(a.heads, H > 1 ? a.mix : nullptr, int(H), false, a.q);
    finish_rows(a.kpre, nullptr, 1, false, a.k);
    matmul(n, n, d, a.q, d, false, a.k, d, true, DType::f32, z, n,
           float(1.0 / std::sqrt(double(d))), 0.0f);
    const float* P = P_all + int64_t(g) * n * n;
    cuda::distill_kl_rows(z, P, n, gscale, a.row_kl, stream);
    SPF_CUDA_CHECK(cudaMemcpyAsync(ws.row_kl.data(), a.row_kl, size_t(n) * 4,
                                   cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(stream)));
    SPF_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
    for (const float v : ws.row_kl) kl += double(v);  // serial: a fixed order
    if (grad == nullptr) continue;

    // dq = G k, dk = G^T q (G, the scaled dL/dz, now in z), then RoPE's transpose.
    matmul(n, d, n, z, n, false, a.k, d, false, DType::f32, a.dq, d, 1.0f, 0.0f);
    matmul(n, d, n, z, n, true, a.q, d, false, DType::f32, a.dk, d, 1.0f, 0.0f);
    finish_rows(a.dq, nullptr, 1, true, a.dqpre);
    finish_rows(a.dk, nullptr, 1, true, a.dkpre);
    // dW[out][in] += dY^T x.
    auto weight_grad = [&](const float* dy, int64_t out, IndexerMatrix m) {
      matmul(out, dm, n, dy, out, true, a.x, dm, false, DType::f32,
             grad + param_offset(c, layer, g, m), dm, 1.0f, 1.0f);
    };
    weight_grad(a.dkpre, d, IndexerMatrix::wk);
    if (H == 1) {
      weight_grad(a.dqpre, d, IndexerMatrix::wq);
      continue;
    }
    cuda::distill_mix_backward(a.heads, a.mix, a.dqpre, n, int(H), int(d), a.dheads, a.dmix,
                               stream);
    weight_grad(a.dheads, H * d, IndexerMatrix::wq);
    weight_grad(a.dmix, H, IndexerMatrix::ww);
  }
  layer_kl_[size_t(call.attention_layer)] = kl / (double(n) * double(G));
  last_n_ = n;
}

void CudaDistillBackend::finish() {
  if (grad_ == nullptr || finished_) return;
  finished_ = true;
  std::vector<float> g(w_.params.size());
  cuda_synchronize();
  cuda_copy_to_host(g.data(), ws_.impl().grad.data(), g.size() * 4);
  for (size_t i = 0; i < g.size(); ++i) grad_[i] += g[i];
}

std::vector<float> CudaDistillBackend::last_targets() const {
  const size_t count = size_t(w_.config.n_groups) * size_t(last_n_ * last_n_);
  std::vector<float> out(count);
  if (count == 0) return out;
  cuda_synchronize();
  cuda_copy_to_host(out.data(), ws_.impl().targets.data(), count * 4);
  return out;
}

void install_cuda_distill() {
  static const bool done = [] {
    // Made on first use: registering costs no device memory.
    auto workspace = std::make_shared<std::unique_ptr<CudaDistillWorkspace>>();
    register_distill_backend(
        Device::cuda, [workspace](const IndexerWeights& w, float* grad, const DistillLoss& loss) {
          if (!*workspace) *workspace = std::make_unique<CudaDistillWorkspace>();
          return std::make_unique<CudaDistillBackend>(w, grad, loss, **workspace);
        });
    return true;
  }();
  (void)done;
}

}  // namespace spf
