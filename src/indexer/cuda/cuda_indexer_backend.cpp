#include "indexer/cuda/cuda_indexer_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/indexer_topk.h"
#include "attention/side_cache.h"
#include "core/error.h"
#include "indexer/cuda/device_indexer_weights.h"
#include "indexer/cuda/indexer_finish.h"
#include "indexer/cuda/indexer_plan.h"
#include "model/cuda/gemm.h"

namespace spf {

namespace {

// A grow-only device scratch array.
template <class T>
T* ensure(Buffer& b, int64_t n) {
  const size_t bytes = size_t(std::max<int64_t>(n, 1)) * sizeof(T);
  if (b.bytes() < bytes) b = Buffer(Device::cuda, bytes);
  return static_cast<T*>(b.data());
}

}  // namespace

void check_cuda_indexer_options(const IndexerConfig& c, const CudaIndexerOptions& o) {
  c.validate();
  try {
    o.budget.validate();
  } catch (const Error& e) {
    fail("cuda indexer: ", e.what());
  }
  SPF_CHECK(o.budget.kind != BudgetKind::top_p, "cuda indexer: budget ", o.budget.str(),
            " is top-p, which has no fixed key count (use k=N or N%)");
  SPF_CHECK(o.budget.kind != BudgetKind::top_k || o.budget.value < double(int64_t(1) << 31),
            "cuda indexer: budget ", o.budget.str(), " exceeds int32 key indices");
  SPF_CHECK(o.q_block >= 1 && o.q_block <= 64, "cuda indexer: q_block ", o.q_block,
            " (must be in 1..64: queries sharing one key list)");
  SPF_CHECK(o.dense_below >= 0, "cuda indexer: dense_below ", o.dense_below, " (must be >= 0)");
  SPF_CHECK(o.scratch_bytes >= (int64_t(1) << 20), "cuda indexer: scratch_bytes ", o.scratch_bytes,
            " (must be at least 1 MiB)");
  SPF_CHECK(c.d_idx == 64 || c.d_idx == 128, "cuda indexer: d_idx ", c.d_idx,
            " has no GPU top-k kernel (64, 128)");
  (void)o.sparse_layers.mask(c.n_layers);  // throws for a layer the indexer does not have
}

struct CudaIndexerBackend::Impl {
  CudaIndexerOptions options;
  std::vector<uint8_t> sparse_mask;
  CudaExecutor* executor;
  DeviceIndexerWeights weights;
  cuda::GemmEngine gemm;
  CallTimer timer;
  std::function<void(const AttentionCall&, const DeviceSupportView&)> observer;
  Buffer key_f32, head_f32, mix_f32, q_bf16, cols, counts, x_copy;
  // Two device int32s (timing on): top-k rows that took the 4-pass path, and the sampled path.
  Buffer path_counts;

  int32_t* path_counter(int which) {
    if (!options.timing) return nullptr;
    if (path_counts.bytes() == 0) {
      path_counts = Buffer(Device::cuda, 2 * sizeof(int32_t));
      SPF_CUDA_CHECK(cudaMemset(path_counts.data(), 0, 2 * sizeof(int32_t)));
    }
    return static_cast<int32_t*>(path_counts.data()) + which;
  }

  Impl(const IndexerWeights& w, CudaIndexerOptions o, CudaExecutor& e)
      : options(std::move(o)),
        sparse_mask((check_cuda_indexer_options(w.config, options),
                     options.sparse_layers.mask(w.config.n_layers))),
        executor(&e),
        weights(w) {}

  const IndexerConfig& cfg() const { return weights.config(); }

  void check_call(const AttentionCall& call) const {
    call.validate();
    const IndexerConfig& c = cfg();
    SPF_CHECK(call.device() == Device::cuda && call.q.dtype == DType::bf16, "cuda indexer (layer ",
              call.layer, "): needs bf16 CUDA device calls, got q ", call.q.str());
    SPF_CHECK(!call.hidden.empty(), "cuda indexer (layer ", call.layer,
              "): the attention call carries no hidden input");
    call.hidden.expect("cuda indexer hidden", DType::bf16, Device::cuda,
                       {call.shape.n_q, c.d_model});
    SPF_CHECK(call.attention_layer >= 0 && call.attention_layer < c.n_layers, "cuda indexer: has ",
              c.n_layers, " layers, the model calls attention layer ", call.attention_layer);
    SPF_CHECK(c.n_groups == 1 || c.n_groups == call.shape.n_kv_heads, "cuda indexer: ", c.n_groups,
              " KV-group scorers, the model has ", call.shape.n_kv_heads, " KV heads");
    SPF_CHECK(call.side_cache != nullptr, "cuda indexer (layer ", call.layer,
              "): the attention call carries no side cache");
  }

  // GEMM operand rows [m][k] of x: x itself when 256-byte aligned (what cuBLASLt's heuristics
  // assume), else a packed copy (a chunk's hidden rows may start anywhere in a buffer).
  const uint16_t* aligned_rows(const uint16_t* x, int64_t ldx, int64_t m, int64_t k, void* stream,
                               int64_t& ld) {
    if (hidden_rows_aligned(x, ldx, 0)) {
      ld = ldx;
      return x;
    }
    uint16_t* dst = ensure<uint16_t>(x_copy, m * k);
    SPF_CUDA_CHECK(cudaMemcpy2DAsync(dst, size_t(k) * 2, x, size_t(ldx) * 2, size_t(k) * 2,
                                     size_t(m), cudaMemcpyDeviceToDevice,
                                     static_cast<cudaStream_t>(stream)));
    ld = k;
    return dst;
  }

  // Step 1: the call's keys into the side cache, bf16 [pos][G][d].
  void append_keys(const AttentionCall& call) {
    const IndexerConfig& c = cfg();
    const int64_t n = call.shape.n_q, G = c.n_groups, d = c.d_idx;
    SideCache& cache = *call.side_cache;
    cache.ensure(G * d, DType::bf16);
    SPF_CHECK(cache.all().device == Device::cuda, "cuda indexer: the side cache of layer ",
              call.layer, " is host memory (make the state on the device)");
    SPF_CHECK(cache.rows() >= call.shape.q_pos0, "cuda indexer: side cache holds ", cache.rows(),
              " rows, the call starts at ", call.shape.q_pos0);
    auto* rows = static_cast<uint16_t*>(cache.write(call.shape.q_pos0, n).ptr);
    const int64_t slice = key_slice_tokens(c, options.scratch_bytes, n);
    float* y = ensure<float>(key_f32, slice * G * d);
    const auto* x = static_cast<const uint16_t*>(call.hidden.ptr);
    const int64_t ldx = call.hidden.stride[0];
    for (int64_t t0 = 0; t0 < n; t0 += slice) {
      const int64_t m = std::min(slice, n - t0);
      cuda::GemmArgs a;
      a.m = m;
      a.n = G * d;
      a.k = c.d_model;
      a.x = aligned_rows(x + t0 * ldx, ldx, m, c.d_model, call.stream, a.ldx);
      a.w = weights.wk(call.attention_layer);
      a.y = y;
      a.y_dtype = DType::f32;
      gemm.run(a, call.stream);
      cuda_indexer_finish(key_finish_args(c, y, t0, m, call.shape.q_pos0, weights.inv_freq(), rows),
                          call.stream);
    }
  }

  // Step 3 for one slice and group: bf16 queries [m][d] into q, from the slice's hidden rows x.
  void queries(const AttentionCall& s, const uint16_t* x, int64_t ldx, int g, uint16_t* q) {
    const IndexerConfig& c = cfg();
    const int64_t m = s.shape.n_q, H = c.n_heads, d = c.d_idx;
    cuda::GemmArgs a;
    a.m = m;
    a.k = c.d_model;
    a.x = x;
    a.ldx = ldx;
    a.y_dtype = DType::f32;
    a.n = H * d;
    a.w = weights.wq(s.attention_layer, g);
    a.y = ensure<float>(head_f32, m * H * d);
    gemm.run(a, s.stream);
    IndexerFinishArgs f;
    f.in = static_cast<const float*>(a.y);
    if (H > 1) {
      a.n = H;
      a.w = weights.ww(s.attention_layer, g);
      a.y = ensure<float>(mix_f32, m * H);
      gemm.run(a, s.stream);
      f.mix = static_cast<const float*>(a.y);
    }
    f.n_vec = m;
    f.heads = int(H);
    f.dim = int(d);
    f.rope_dims = c.rope_dims;
    f.inv_freq = weights.inv_freq();
    f.pos0 = s.shape.q_pos0;
    f.out = q;
    cuda_indexer_finish(f, s.stream);
  }

  // Steps 3-5 over query slices whose scratch fits options.scratch_bytes.
  void sparse(const AttentionCall& call) {
    const IndexerConfig& c = cfg();
    const int G = c.n_groups, d = c.d_idx, qb = options.q_block;
    // Slices start at multiples of q_block, so alignment at that step covers every slice.
    const bool copies = !hidden_rows_aligned(call.hidden.ptr, call.hidden.stride[0], qb);
    const IndexerQuerySlices plan =
        plan_query_slices(c, options.budget, qb, options.scratch_bytes, call.shape, copies);
    const int width = plan.width;
    const int64_t slice = plan.slice;
    auto* q = ensure<uint16_t>(q_bf16, int64_t(G) * slice * d);
    auto* cl = ensure<int32_t>(cols, int64_t(G) * plan.slice_rows * width);
    auto* ct = ensure<int32_t>(counts, int64_t(G) * plan.slice_rows);
    const TensorView keys = call.side_cache->prefix(call.shape.n_kv);
    for (int64_t i0 = 0; i0 < call.shape.n_q; i0 += slice) {
      const AttentionCall s = call.query_slice(i0, std::min(slice, call.shape.n_q - i0));
      const IndexerTopKShape t = slice_topk_shape(plan, options.budget, qb, d, s.shape);
      const int64_t rows = t.n_rows();
      int64_t ldx = 0;
      const uint16_t* x = aligned_rows(static_cast<const uint16_t*>(s.hidden.ptr),
                                       s.hidden.stride[0], s.shape.n_q, c.d_model, s.stream, ldx);
      for (int g = 0; g < G; ++g) {
        uint16_t* qg = q + int64_t(g) * slice * d;
        queries(s, x, ldx, g, qg);
        if (options.timing) timer.mark(CallTimer::Part::indexer);
        TensorView kg(static_cast<uint16_t*>(keys.ptr) + int64_t(g) * d, DType::bf16,
                      {call.shape.n_kv, d}, Device::cuda);
        kg.stride[0] = int64_t(G) * d;
        cuda_indexer_topk(t, TensorView(qg, DType::bf16, {s.shape.n_q, d}, Device::cuda), kg,
                          cl + int64_t(g) * rows * width, ct + int64_t(g) * rows, s.stream,
                          path_counter(0), path_counter(1));
        if (options.timing) timer.mark(CallTimer::Part::topk);
      }
      DeviceSupportView v;
      static_cast<SupportDims&>(v) =
          SupportDims{s.shape.n_q, s.shape.n_kv, s.shape.q_pos0, qb, 1, G};
      v.cols = cl;
      v.counts = ct;
      v.k = width;
      if (observer) observer(s, v);
      executor->sparse_device(s, v);
      if (options.timing) timer.mark(CallTimer::Part::attention);
    }
  }
};

CudaIndexerBackend::CudaIndexerBackend(const IndexerWeights& weights, CudaIndexerOptions options,
                                       CudaExecutor& executor)
    : impl_(std::make_unique<Impl>(weights, std::move(options), executor)) {}

CudaIndexerBackend::~CudaIndexerBackend() = default;

bool CudaIndexerBackend::runs_sparse(const AttentionCall& call) const {
  const CudaIndexerOptions& o = impl_->options;
  const int l = call.attention_layer;
  if (l < 0 || size_t(l) >= impl_->sparse_mask.size() || impl_->sparse_mask[size_t(l)] == 0)
    return false;
  if (o.dense_decode && call.shape.n_q == 1) return false;
  if (call.shape.n_kv < o.dense_below) return false;
  // The longest row keeps all its keys exactly when every row does (ceil(f * a) >= a holds for
  // every a below one where it holds).
  return budget_columns(o.budget, call.shape.n_kv, 1) < call.shape.n_kv;
}

void CudaIndexerBackend::attend(const AttentionCall& call) {
  Impl& m = *impl_;
  m.check_call(call);
  const bool sparse = runs_sparse(call);
  if (m.options.timing) {
    IndexerCallTiming meta;
    meta.layer = call.layer;
    meta.attention_layer = call.attention_layer;
    meta.n_q = call.shape.n_q;
    meta.n_kv = call.shape.n_kv;
    meta.sparse = sparse;
    m.timer.begin(meta, call.stream);
  }
  try {
    m.append_keys(call);
    if (sparse) {
      m.sparse(call);
    } else {
      if (m.options.timing) m.timer.mark(CallTimer::Part::indexer);
      m.executor->dense(call);
      if (m.options.timing) m.timer.mark(CallTimer::Part::attention);
    }
  } catch (...) {
    if (m.options.timing) m.timer.end();  // the next call starts cleanly
    throw;
  }
  if (m.options.timing) m.timer.end();
}

std::vector<IndexerCallTiming> CudaIndexerBackend::take_timings() {
  return impl_->timer.take();
}

TopKPathRows CudaIndexerBackend::take_topk_path_rows() {
  if (impl_->path_counts.bytes() == 0) return {};
  int32_t n[2] = {0, 0};
  SPF_CUDA_CHECK(cudaDeviceSynchronize());
  SPF_CUDA_CHECK(cudaMemcpy(n, impl_->path_counts.data(), sizeof n, cudaMemcpyDeviceToHost));
  SPF_CUDA_CHECK(cudaMemset(impl_->path_counts.data(), 0, sizeof n));
  return {n[0], n[1]};
}

void CudaIndexerBackend::set_support_observer(
    std::function<void(const AttentionCall&, const DeviceSupportView&)> observer) {
  impl_->observer = std::move(observer);
}

const CudaIndexerOptions& CudaIndexerBackend::options() const {
  return impl_->options;
}

const IndexerConfig& CudaIndexerBackend::config() const {
  return impl_->cfg();
}

std::string CudaIndexerBackend::name() const {
  return cat("indexer-cuda(", impl_->options.budget.str(), ",q_block=", impl_->options.q_block, ",",
             impl_->cfg().variant(), ")");
}

}  // namespace spf
