#include "model/cuda/gemm.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "attention/cuda/cuda_check.h"
#include "core/error.h"
#include "core/half.h"

#define SPF_CUBLAS_CHECK(expr)                                                                     \
  do {                                                                                             \
    const cublasStatus_t spf_blas_st_ = (expr);                                                    \
    SPF_CHECK(spf_blas_st_ == CUBLAS_STATUS_SUCCESS, #expr, " failed: status ", int(spf_blas_st_), \
              " (", cublasLtGetStatusString(spf_blas_st_), ")");                                   \
  } while (0)

namespace spf::cuda {

namespace {

// 32 MiB: what cuBLASLt's heuristics ask for at most on Hopper for large bf16 shapes.
constexpr size_t kWorkspace = size_t(32) << 20;

// One shape's descriptors and chosen algorithm, built on first use; `candidates` are kept until
// the first run has timed them (measuring engines only).
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  std::vector<cublasLtMatmulAlgo_t> candidates;
};

// Destroys a CUDA event pair on every path out of the timing.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    SPF_CUDA_CHECK(cudaEventCreate(&start));
    SPF_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~EventPair() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

// Everything a plan depends on: m, n, k, lda, ldb, ldc, trans_a, trans_b, in/out dtypes,
// accumulate, and the alignment of the three pointers.
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, int, int,
                       bool, uint32_t, uint32_t, uint32_t>;

// The largest power of two up to 256 dividing the address: cuBLASLt's heuristic assumes 256-byte
// operands unless told otherwise, and slices (a head's columns, a layer's gradient) are less.
uint32_t alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && a % al != 0) al /= 2;
  return al;
}

cudaDataType_t cuda_type(DType t) {
  return t == DType::f32 ? CUDA_R_32F : CUDA_R_16BF;
}

// A MatmulArgs with every stride resolved, checked.
MatmulArgs resolved(const MatmulArgs& g) {
  MatmulArgs r = g;
  const int64_t a_cols = g.trans_a ? g.m : g.k, b_cols = g.trans_b ? g.k : g.n;
  if (r.lda == 0) r.lda = a_cols;
  if (r.ldb == 0) r.ldb = b_cols;
  if (r.ldc == 0) r.ldc = g.n;
  SPF_CHECK(g.m > 0 && g.n > 0 && g.k > 0, "GEMM shape m=", g.m, " n=", g.n, " k=", g.k,
            " must be positive");
  SPF_CHECK(r.lda >= a_cols && r.ldb >= b_cols && r.ldc >= g.n, "GEMM row strides lda=", r.lda,
            " ldb=", r.ldb, " ldc=", r.ldc, " are shorter than the rows (", a_cols, ", ", b_cols,
            ", ", g.n, ")");
  SPF_CHECK(g.in_dtype == DType::bf16 || g.in_dtype == DType::f32,
            "GEMM operands must be BF16 or F32, got ", dtype_name(g.in_dtype));
  SPF_CHECK(g.c_dtype == DType::bf16 || g.c_dtype == DType::f32,
            "GEMM output must be BF16 or F32, got ", dtype_name(g.c_dtype));
  SPF_CHECK(g.a != nullptr && g.b != nullptr && g.c != nullptr, "GEMM operand is null");
  return r;
}

}  // namespace

struct GemmEngine::Impl {
  cublasLtHandle_t handle = nullptr;
  Buffer workspace;
  std::map<Key, Plan> plans;
  GemmTuning tuning;
  TuningCounts counts;

  ~Impl() {
    for (auto& [key, p] : plans) {
      cublasLtMatrixLayoutDestroy(p.a);
      cublasLtMatrixLayoutDestroy(p.b);
      cublasLtMatrixLayoutDestroy(p.c);
      cublasLtMatmulDescDestroy(p.op);
    }
    if (handle != nullptr) cublasLtDestroy(handle);
  }

  // cuBLASLt is column-major, and a row-major [r][c] matrix is the column-major c x r one with
  // the same stride: C[m][n] = op(A) . op(B) is the column-major C^T (n x m) = op(B)^T . op(A)^T,
  // so cuBLASLt's first operand is B (transposed iff trans_b), its second A.
  Plan& plan(const MatmulArgs& g) {
    const bool accumulate = g.beta != 0.0f;
    const uint32_t al_a = alignment(g.a), al_b = alignment(g.b), al_c = alignment(g.c);
    const Key key{g.m,
                  g.n,
                  g.k,
                  g.lda,
                  g.ldb,
                  g.ldc,
                  g.trans_a,
                  g.trans_b,
                  int(g.in_dtype),
                  int(g.c_dtype),
                  accumulate,
                  al_a,
                  al_b,
                  al_c};
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    Plan p;
    SPF_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    SPF_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    SPF_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    const cudaDataType_t it_ = cuda_type(g.in_dtype), ct = cuda_type(g.c_dtype);
    SPF_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, it_, uint64_t(g.trans_b ? g.k : g.n),
                                                uint64_t(g.trans_b ? g.n : g.k), g.ldb));
    SPF_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, it_, uint64_t(g.trans_a ? g.m : g.k),
                                                uint64_t(g.trans_a ? g.k : g.m), g.lda));
    SPF_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, ct, uint64_t(g.n), uint64_t(g.m), g.ldc));

    cublasLtMatmulPreference_t pref = nullptr;
    SPF_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = kWorkspace;
    SPF_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    // cuBLASLt's A is our B and its B our A (above); C and D are the same buffer.
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, al_b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, al_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, al_c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, al_c}};
    for (const auto& [attr, al] : aligns)
      SPF_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &al, sizeof(al)));
    const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
    const bool measure = tuning.measure && tuning.candidates > 1 && flops >= tuning.min_flops;
    std::vector<cublasLtMatmulHeuristicResult_t> results(size_t(measure ? tuning.candidates : 1));
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
        handle, p.op, p.a, p.b, p.c, p.c, pref, int(results.size()), results.data(), &found);
    cublasLtMatmulPreferenceDestroy(pref);
    SPF_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0, "cuBLASLt has no algorithm for the ",
              dtype_name(g.in_dtype), " GEMM m=", g.m, " n=", g.n, " k=", g.k, " (status ", int(st),
              ")");
    p.algo = results[0].algo;
    if (measure && found > 1)
      for (int i = 0; i < found; ++i)
        if (results[size_t(i)].state == CUBLAS_STATUS_SUCCESS)
          p.candidates.push_back(results[size_t(i)].algo);
    return plans.emplace(key, p).first->second;
  }

  cublasStatus_t launch(const Plan& p, const cublasLtMatmulAlgo_t& algo, const MatmulArgs& g,
                        cudaStream_t stream) {
    return cublasLtMatmul(handle, p.op, &g.alpha, g.b, p.a, g.a, p.b, &g.beta, g.c, p.c, g.c, p.c,
                          &algo, workspace.data(), kWorkspace, stream);
  }

  // Times p's candidates on g's operands and keeps the fastest. An accumulating C is copied first
  // and restored after, so the caller's run that follows sees the C it passed; without the memory
  // for that copy the heuristic's choice stays.
  void measure(Plan& p, const MatmulArgs& g, cudaStream_t stream) {
    std::vector<cublasLtMatmulAlgo_t> candidates;
    candidates.swap(p.candidates);
    const size_t c_bytes = size_t((g.m - 1) * g.ldc + g.n) * size_t(dtype_size(g.c_dtype));
    void* saved = nullptr;
    if (g.beta != 0.0f) {
      if (cudaMallocAsync(&saved, c_bytes, stream) != cudaSuccess) {
        (void)cudaGetLastError();  // clear the allocation error; the heuristic's choice stays
        return;
      }
      SPF_CUDA_CHECK(cudaMemcpyAsync(saved, g.c, c_bytes, cudaMemcpyDeviceToDevice, stream));
    }
    const cublasLtMatmulAlgo_t first = p.algo;
    EventPair ev;
    float best = INFINITY;
    for (const cublasLtMatmulAlgo_t& algo : candidates) {
      if (launch(p, algo, g, stream) != CUBLAS_STATUS_SUCCESS) continue;  // warm-up, or unusable
      SPF_CUDA_CHECK(cudaEventRecord(ev.start, stream));
      bool ok = true;
      for (int r = 0; r < tuning.repeats && ok; ++r)
        ok = launch(p, algo, g, stream) == CUBLAS_STATUS_SUCCESS;
      SPF_CUDA_CHECK(cudaEventRecord(ev.stop, stream));
      SPF_CUDA_CHECK(cudaEventSynchronize(ev.stop));
      float ms = 0;
      SPF_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop));
      if (ok && ms < best) {
        best = ms;
        p.algo = algo;
      }
    }
    if (saved != nullptr) {
      SPF_CUDA_CHECK(cudaMemcpyAsync(g.c, saved, c_bytes, cudaMemcpyDeviceToDevice, stream));
      SPF_CUDA_CHECK(cudaFreeAsync(saved, stream));
    }
    ++counts.measured;
    if (std::memcmp(&first, &p.algo, sizeof(first)) != 0) ++counts.changed;
  }
};

GemmEngine::GemmEngine(GemmTuning tuning) : impl_(std::make_unique<Impl>()) {
  impl_->tuning = tuning;
  SPF_CUBLAS_CHECK(cublasLtCreate(&impl_->handle));
  impl_->workspace = Buffer(Device::cuda, kWorkspace);
}

GemmEngine::~GemmEngine() = default;

void GemmEngine::run(const GemmArgs& g, void* stream) {
  MatmulArgs m;  // matmul() checks it
  m.m = g.m;
  m.n = g.n;
  m.k = g.k;
  m.a = g.x;
  m.lda = g.ldx;
  m.b = g.w;
  m.trans_b = true;  // W [n][k]
  m.c = g.y;
  m.ldc = g.ldy;
  m.c_dtype = g.y_dtype;
  m.alpha = g.alpha;
  m.beta = g.beta;
  matmul(m, stream);
}

void GemmEngine::matmul(const MatmulArgs& args, void* stream) {
  const MatmulArgs g = resolved(args);
  Plan& p = impl_->plan(g);
  const auto s = static_cast<cudaStream_t>(stream);
  if (!p.candidates.empty()) impl_->measure(p, g, s);
  SPF_CUBLAS_CHECK(impl_->launch(p, p.algo, g, s));
}

void GemmEngine::set_tuning(const GemmTuning& t) {
  impl_->tuning = t;
}

GemmEngine::TuningCounts GemmEngine::tuning_counts() const {
  return impl_->counts;
}

void gemm_reference(const GemmArgs& g, const uint16_t* x, const uint16_t* w, float* y) {
  const int64_t ldx = g.ldx > 0 ? g.ldx : g.k, ldy = g.ldy > 0 ? g.ldy : g.n;
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < g.k; ++c)
        s += double(bf16_to_f32(x[i * ldx + c])) * double(bf16_to_f32(w[j * g.k + c]));
      float r = float(g.alpha * s + double(g.beta) * double(y[i * ldy + j]));
      if (g.y_dtype == DType::bf16) r = bf16_to_f32(f32_to_bf16(r));
      y[i * ldy + j] = r;
    }
}

void matmul_reference(const MatmulArgs& args, const float* A, const float* B, float* C) {
  MatmulArgs g = args;
  if (g.lda == 0) g.lda = g.trans_a ? g.m : g.k;
  if (g.ldb == 0) g.ldb = g.trans_b ? g.k : g.n;
  if (g.ldc == 0) g.ldc = g.n;
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < g.k; ++c) {
        const double a = g.trans_a ? A[c * g.lda + i] : A[i * g.lda + c];
        const double b = g.trans_b ? B[j * g.ldb + c] : B[c * g.ldb + j];
        s += a * b;
      }
      C[i * g.ldc + j] = float(g.alpha * s + double(g.beta) * double(C[i * g.ldc + j]));
    }
}

}  // namespace spf::cuda
