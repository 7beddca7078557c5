#include "attention/cuda/cuda_executor.h"

#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "attention/cpu/cpu_executor.h"
#include "attention/cuda/cuda_check.h"
#include "attention/cuda/flash_params.h"
#include "core/half.h"

namespace spf {

namespace {

using cuda_detail::FlashKernel;
using cuda_detail::FlashParams;
using cuda_detail::KeyWalk;

// The checks of the executor's boundary: bf16 device views of the call's shape, lse packed.
void check_call(const AttentionCall& call, const char* what) {
  call.validate();
  const AttentionShape& s = call.shape;
  SPF_CHECK(call.q.device == Device::cuda, "cuda executor ", what, " (layer ", call.layer,
            "): q/k/v/out must be CUDA device memory, got ", call.q.str());
  SPF_CHECK(call.q.dtype == DType::bf16, "cuda executor ", what, " (layer ", call.layer,
            "): q/k/v/out must be bf16, got ", call.q.str());
  SPF_CHECK(s.head_dim == 64 || s.head_dim == 128 || s.head_dim == 256, "cuda executor ", what,
            " (layer ", call.layer, "): head_dim ", s.head_dim,
            " has no kernel (built for 64, 128, 256)");
  SPF_CHECK(s.group_size() <= 64, "cuda executor ", what, " (layer ", call.layer,
            "): ", s.group_size(), " query heads per KV head exceed the kernel's 64-row tile");
  SPF_CHECK(s.n_kv < (int64_t(1) << 31), "cuda executor ", what, ": n_kv = ", s.n_kv,
            " does not fit int32 key indices");
  if (!call.lse.empty()) {
    SPF_CHECK(call.lse.device == Device::cuda && call.lse.stride[0] == s.n_heads, "cuda executor ",
              what, " (layer ", call.layer, "): lse must be packed f32 on the device, got ",
              call.lse.str());
  }
}

FlashParams base_params(const AttentionCall& call) {
  const AttentionShape& s = call.shape;
  FlashParams p;
  p.q = call.q.ptr;
  p.k = call.k.ptr;
  p.v = call.v.ptr;
  p.out = call.out.ptr;
  p.lse = call.lse.empty() ? nullptr : static_cast<float*>(call.lse.ptr);
  p.q_row = call.q.stride[0];
  p.k_row = call.k.stride[0];
  p.v_row = call.v.stride[0];
  p.o_row = call.out.stride[0];
  p.n_q = s.n_q;
  p.n_kv = s.n_kv;
  p.q_pos0 = s.q_pos0;
  p.n_heads = s.n_heads;
  p.n_kv_heads = s.n_kv_heads;
  p.head_dim = s.head_dim;
  p.scale_log2 = s.scale * 1.4426950408889634f;
  return p;
}

// Support rows shared by a CTA: its heads must read one group, and its queries one row.
void set_support_tiling(FlashParams& p, const AttentionShape& s, const SupportDims& d, int rows) {
  SPF_CHECK(d.n_q == s.n_q && d.n_kv == s.n_kv && d.q_pos0 == s.q_pos0,
            "cuda executor sparse: support dims (n_q ", d.n_q, ", n_kv ", d.n_kv, ", q_pos0 ",
            d.q_pos0, ") do not match the call (", s.n_q, ", ", s.n_kv, ", ", s.q_pos0, ")");
  (void)group_of_head(0, d.n_groups, s.n_heads, s.n_kv_heads);  // throws for a bad n_groups
  const int g = s.group_size();
  if (d.n_groups == 1) {
    p.pack = g;
    p.group_div = s.n_heads;
  } else if (d.n_groups == s.n_kv_heads) {
    p.pack = g;
    p.group_div = g;
  } else {  // one group per head
    p.pack = 1;
    p.group_div = 1;
  }
  // The largest power of two of queries that fits the rows and divides the support's q_block.
  int t = 1;
  while (t * 2 * p.pack <= rows) t *= 2;
  while (d.q_block % t != 0) t /= 2;
  p.q_tile = t;
  p.n_tiles = (s.n_q + t - 1) / t;
  p.n_rows = d.n_rows();
  p.q_block = d.q_block;
  p.k_block = d.k_block;
}

KeyWalk walk_for(int k_block, int chunk) {
  if (k_block == 1) return KeyWalk::kTokens;
  return k_block % chunk == 0 ? KeyWalk::kBlocks : KeyWalk::kTokens;
}

// Host arrays of a support in the kernel's form (CSR or fixed width), expanded to tokens when its
// k_block is neither 1 nor a multiple of the key chunk.
struct HostRows {
  SupportDims dims;
  std::vector<int64_t> row_ptr;  // empty for fixed width
  const int32_t* cols = nullptr;
  size_t n_cols = 0;
  const int32_t* counts = nullptr;
  size_t n_counts = 0;
  int64_t width = 0;
  std::vector<int32_t> owned_cols;
};

template <class RowFn>
void expand_to_tokens(HostRows& h, const SupportDims& d, RowFn row) {
  h.dims = d;
  h.dims.k_block = 1;
  h.row_ptr.assign(1, 0);
  for (int g = 0; g < d.n_groups; ++g) {
    for (int64_t r = 0; r < d.n_rows(); ++r) {
      for (const int32_t c : row(g, r)) {
        const int64_t end = std::min<int64_t>(int64_t(c + 1) * d.k_block, d.n_kv);
        for (int64_t j = int64_t(c) * d.k_block; j < end; ++j) h.owned_cols.push_back(int32_t(j));
      }
      h.row_ptr.push_back(int64_t(h.owned_cols.size()));
    }
  }
  h.cols = h.owned_cols.data();
  h.n_cols = h.owned_cols.size();
}

HostRows host_rows(const ValidatedSupport& support, int chunk) {
  HostRows h;
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        const SupportDims& d = v;
        const int64_t rows = int64_t(d.n_groups) * d.n_rows();
        if (d.k_block != 1 && walk_for(d.k_block, chunk) == KeyWalk::kTokens) {
          expand_to_tokens(h, d, [&](int g, int64_t r) { return v.row(g, r); });
          return;
        }
        h.dims = d;
        if constexpr (std::is_same_v<V, TopKSupportView>) {
          h.cols = v.cols;
          h.n_cols = size_t(rows) * size_t(v.k);
          h.counts = v.counts;
          h.n_counts = size_t(rows);
          h.width = v.k;
        } else {
          h.row_ptr.assign(v.row_ptr, v.row_ptr + rows + 1);
          h.cols = v.cols;
          h.n_cols = size_t(h.row_ptr.back());
        }
      },
      support.view());
  return h;
}

template <class T>
T* carve(char*& cursor, size_t n) {
  T* p = reinterpret_cast<T*>(cursor);
  cursor += (n * sizeof(T) + 255) / 256 * 256;
  return p;
}

// Device copy of a bf16 tensor [rows][heads][d] to host f32 (packed).
std::vector<float> download_f32(const TensorView& t, int64_t rows) {
  const int64_t inner = t.dim(1) * t.dim(2);
  std::vector<uint16_t> bits(size_t(rows * inner));
  SPF_CUDA_CHECK(cudaMemcpy2D(bits.data(), size_t(inner) * 2, t.ptr, size_t(t.stride[0]) * 2,
                              size_t(inner) * 2, size_t(rows), cudaMemcpyDeviceToHost));
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = bf16_to_f32(bits[i]);
  return out;
}

// The statistics run on the host: q and k copied, as f32, into a host call.
struct HostStatsCall {
  std::vector<float> q, k;
  AttentionCall call;
  explicit HostStatsCall(const AttentionCall& c) {
    // A statistics call carries q and k only (v, out and lse may be unset).
    const AttentionShape& s = c.shape;
    s.validate();
    for (const TensorView* t : {&c.q, &c.k}) {
      SPF_CHECK(t->device == Device::cuda && t->dtype == DType::bf16,
                "cuda executor statistics (layer ", c.layer,
                "): q and k must be bf16 CUDA device memory, got ", t->str());
    }
    c.q.expect("q", DType::bf16, Device::cuda, {s.n_q, s.n_heads, s.head_dim});
    c.k.expect("k", DType::bf16, Device::cuda, {-1, s.n_kv_heads, s.head_dim});
    SPF_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(c.stream)));
    q = download_f32(c.q, s.n_q);
    k = download_f32(c.k, s.n_kv);
    call = c;
    call.q = TensorView::of(q.data(), {s.n_q, s.n_heads, s.head_dim});
    call.k = TensorView::of(k.data(), {s.n_kv, s.n_kv_heads, s.head_dim});
    call.v = TensorView();
    call.out = TensorView();
    call.lse = TensorView();
    call.hidden = TensorView();
    call.stream = nullptr;
  }
};

}  // namespace

const char* kernel_name(CudaAttentionKernel k) {
  switch (k) {
    case CudaAttentionKernel::automatic:
      return "auto";
    case CudaAttentionKernel::mma:
      return "mma";
    case CudaAttentionKernel::wgmma:
      return "wgmma";
  }
  return "?";
}

CudaAttentionKernel parse_cuda_attention_kernel(const std::string& s) {
  if (s == "auto") return CudaAttentionKernel::automatic;
  if (s == "mma") return CudaAttentionKernel::mma;
  if (s == "wgmma") return CudaAttentionKernel::wgmma;
  fail("unknown attention kernel '", s, "' (auto, mma, wgmma)");
}

bool cuda_wgmma_available() {
  return cuda_device_present() && cuda_detail::flash_wgmma_available();
}

CudaExecutor::CudaExecutor(CudaExecutorOptions options) : options_(options) {
  (void)cuda_device_present();
}

void CudaExecutor::set_options(const CudaExecutorOptions& options) {
  SPF_CHECK(options.kernel != CudaAttentionKernel::wgmma || cuda_wgmma_available(),
            "cuda executor: the wgmma kernel needs a build with sm_90a code and a compute "
            "capability 9.0 GPU");
  options_ = options;
}

int CudaExecutor::m_tiles(int head_dim) const {
  return options_.m_tiles > 0 ? options_.m_tiles : cuda_detail::flash_default_m_tiles(head_dim);
}

CudaAttentionKernel CudaExecutor::kernel_for(int head_dim, int k_block) const {
  switch (options_.kernel) {
    case CudaAttentionKernel::mma:
      return CudaAttentionKernel::mma;
    case CudaAttentionKernel::wgmma:
      SPF_CHECK(cuda_wgmma_available(), "cuda executor: the wgmma kernel needs a build with ",
                "sm_90a code and a compute capability 9.0 GPU");
      return CudaAttentionKernel::wgmma;
    case CudaAttentionKernel::automatic:
      break;
  }
  if (!cuda_wgmma_available()) return CudaAttentionKernel::mma;
  if (k_block > 1 &&
      k_block % cuda_detail::flash_wgmma_key_chunk(head_dim, options_.wgmma_keys) != 0 &&
      k_block % cuda_detail::flash_key_chunk(FlashKernel::kMma, head_dim, m_tiles(head_dim)) == 0) {
    return CudaAttentionKernel::mma;  // keep the block walk rather than expand to tokens
  }
  return CudaAttentionKernel::wgmma;
}

namespace {
FlashKernel flash_kernel(CudaAttentionKernel k) {
  return k == CudaAttentionKernel::wgmma ? FlashKernel::kWgmma : FlashKernel::kMma;
}
}  // namespace

int CudaExecutor::key_chunk(int head_dim) const {
  return cuda_detail::flash_key_chunk(flash_kernel(kernel_for(head_dim)), head_dim,
                                      m_tiles(head_dim), options_.wgmma_keys);
}

void CudaExecutor::dense(const AttentionCall& call) {
  check_call(call, "dense");
  FlashParams p = base_params(call);
  p.kernel = flash_kernel(kernel_for(call.shape.head_dim));
  p.m_tiles = m_tiles(call.shape.head_dim);
  p.wgmma_keys = options_.wgmma_keys;
  p.wgmma_pipelined = options_.wgmma_pipelined == 1;
  p.pack = call.shape.group_size();
  p.q_tile = cuda_detail::flash_rows(p.kernel, call.shape.head_dim, p.m_tiles) / p.pack;
  p.n_tiles = (call.shape.n_q + p.q_tile - 1) / p.q_tile;
  p.walk = KeyWalk::kDense;
  cuda_detail::launch_flash_attention(p, call.stream);
}

void CudaExecutor::sparse(const AttentionCall& call, const ValidatedSupport& support) {
  check_call(call, "sparse");
  const int k_block = support.dims().k_block;
  const HostRows h = host_rows(
      support, cuda_detail::flash_key_chunk(flash_kernel(kernel_for(call.shape.head_dim, k_block)),
                                            call.shape.head_dim, m_tiles(call.shape.head_dim),
                                            options_.wgmma_keys));
  const size_t bytes = (h.row_ptr.size() * 8 + 255) / 256 * 256 + (h.n_cols * 4 + 255) / 256 * 256 +
                       (h.n_counts * 4 + 255) / 256 * 256 + 256;
  if (support_scratch_.bytes() < bytes) support_scratch_ = Buffer(Device::cuda, bytes * 5 / 4);
  char* cursor = static_cast<char*>(support_scratch_.data());
  DeviceSupportView d;
  static_cast<SupportDims&>(d) = h.dims;
  const auto stream = static_cast<cudaStream_t>(call.stream);
  // Pageable host memory: each copy completes before the host continues, so h may go.
  if (!h.row_ptr.empty()) {
    int64_t* rp = carve<int64_t>(cursor, h.row_ptr.size());
    SPF_CUDA_CHECK(cudaMemcpyAsync(rp, h.row_ptr.data(), h.row_ptr.size() * 8,
                                   cudaMemcpyHostToDevice, stream));
    d.row_ptr = rp;
  }
  int32_t* cols = carve<int32_t>(cursor, std::max<size_t>(h.n_cols, 1));
  if (h.n_cols > 0) {
    SPF_CUDA_CHECK(cudaMemcpyAsync(cols, h.cols, h.n_cols * 4, cudaMemcpyHostToDevice, stream));
  }
  d.cols = cols;
  if (h.counts != nullptr) {
    int32_t* counts = carve<int32_t>(cursor, h.n_counts);
    SPF_CUDA_CHECK(
        cudaMemcpyAsync(counts, h.counts, h.n_counts * 4, cudaMemcpyHostToDevice, stream));
    d.counts = counts;
    d.k = int(h.width);
  }
  SPF_CUDA_CHECK(cudaStreamSynchronize(stream));
  sparse_device(call, d);
}

void CudaExecutor::sparse_device(const AttentionCall& call, const DeviceSupportView& support) {
  check_call(call, "sparse");
  support.validate_dims("cuda executor sparse support");
  const FlashKernel kernel = flash_kernel(kernel_for(call.shape.head_dim, support.k_block));
  const int chunk = cuda_detail::flash_key_chunk(kernel, call.shape.head_dim,
                                                 m_tiles(call.shape.head_dim), options_.wgmma_keys);
  SPF_CHECK(support.k_block == 1 || support.k_block % chunk == 0,
            "cuda executor sparse: a device support's k_block ", support.k_block,
            " must be 1 or a multiple of ", chunk, " for head_dim ", call.shape.head_dim);
  SPF_CHECK(support.cols != nullptr &&
                (support.row_ptr != nullptr || (support.counts != nullptr && support.k >= 0)),
            "cuda executor sparse: the device support has no rows (cols, row_ptr or counts + k)");
  FlashParams p = base_params(call);
  p.kernel = kernel;
  p.m_tiles = m_tiles(call.shape.head_dim);
  p.wgmma_keys = options_.wgmma_keys;
  p.wgmma_pipelined = options_.wgmma_pipelined == 1;
  set_support_tiling(p, call.shape, support,
                     cuda_detail::flash_rows(kernel, call.shape.head_dim, p.m_tiles));
  p.walk = walk_for(support.k_block, chunk);
  p.cols = support.cols;
  p.row_ptr = support.row_ptr;
  p.counts = support.counts;
  p.row_width = support.k;
  cuda_detail::launch_flash_attention(p, call.stream);
}

RowStats CudaExecutor::row_stats(const AttentionCall& call, const MassOptions& tiles) {
  HostStatsCall h(call);
  return cpu_executor().row_stats(h.call, tiles);
}

void CudaExecutor::visit_probabilities(const AttentionCall& call, const RowStats& stats,
                                       ProbVisitor& visitor, const MassOptions& tiles) {
  HostStatsCall h(call);
  cpu_executor().visit_probabilities(h.call, stats, visitor, tiles);
}

int CudaExecutor::worker_slots() const {
  return cpu_executor().worker_slots();
}

void CudaExecutor::block_mass(const AttentionCall& call, const BlockMassSpec& spec,
                              BlockMassConsumer& consumer) {
  HostStatsCall h(call);
  cpu_executor().block_mass(h.call, spec, consumer);
}

void CudaExecutor::antidiagonal_scores(const AttentionCall& call, const BlockMassSpec& spec,
                                       int stride, BlockMassConsumer& consumer) {
  HostStatsCall h(call);
  cpu_executor().antidiagonal_scores(h.call, spec, stride, consumer);
}

CudaExecutor& cuda_executor() {
  static CudaExecutor executor;
  return executor;
}

}  // namespace spf
