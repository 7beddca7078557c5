#include "model/cuda/gemm.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cmath>
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

// One shape's descriptors and chosen algorithm, built on first use.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int, bool>;

}  // namespace

struct GemmEngine::Impl {
  cublasLtHandle_t handle = nullptr;
  Buffer workspace;
  std::map<Key, Plan> plans;

  ~Impl() {
    for (auto& [key, p] : plans) {
      cublasLtMatrixLayoutDestroy(p.a);
      cublasLtMatrixLayoutDestroy(p.b);
      cublasLtMatrixLayoutDestroy(p.c);
      cublasLtMatmulDescDestroy(p.op);
    }
    if (handle != nullptr) cublasLtDestroy(handle);
  }

  // cuBLASLt is column-major: the row-major Y[m][n] is the column-major D (n x m) = W^T-op(A) . B,
  // A = W as a column-major k x n matrix (transposed by the op), B = X as column-major k x m.
  Plan& plan(const GemmArgs& g, int64_t ldx, int64_t ldy) {
    const bool accumulate = g.beta != 0.0f;
    const Key key{g.m, g.n, g.k, ldx, ldy, int(g.y_dtype), accumulate};
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    Plan p;
    SPF_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    SPF_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    SPF_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    const cudaDataType_t yt = g.y_dtype == DType::f32 ? CUDA_R_32F : CUDA_R_16BF;
    SPF_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, uint64_t(g.k), uint64_t(g.n), int64_t(g.k)));
    SPF_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, uint64_t(g.k), uint64_t(g.m), ldx));
    SPF_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, yt, uint64_t(g.n), uint64_t(g.m), ldy));

    cublasLtMatmulPreference_t pref = nullptr;
    SPF_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = kWorkspace;
    SPF_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(handle, p.op, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    SPF_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0, "cuBLASLt has no algorithm for the bf16 ",
              "GEMM m=", g.m, " n=", g.n, " k=", g.k, " (status ", int(st), ")");
    p.algo = result.algo;
    return plans.emplace(key, p).first->second;
  }
};

GemmEngine::GemmEngine() : impl_(std::make_unique<Impl>()) {
  SPF_CUBLAS_CHECK(cublasLtCreate(&impl_->handle));
  impl_->workspace = Buffer(Device::cuda, kWorkspace);
}

GemmEngine::~GemmEngine() = default;

void GemmEngine::run(const GemmArgs& g, void* stream) {
  const int64_t ldx = g.ldx > 0 ? g.ldx : g.k, ldy = g.ldy > 0 ? g.ldy : g.n;
  SPF_CHECK(g.m > 0 && g.n > 0 && g.k > 0, "GEMM shape m=", g.m, " n=", g.n, " k=", g.k,
            " must be positive");
  SPF_CHECK(ldx >= g.k && ldy >= g.n, "GEMM row strides ldx=", ldx, " ldy=", ldy,
            " are shorter than the rows (k=", g.k, ", n=", g.n, ")");
  SPF_CHECK(g.y_dtype == DType::bf16 || g.y_dtype == DType::f32,
            "GEMM output must be BF16 or F32, ", "got ", dtype_name(g.y_dtype));
  SPF_CHECK(g.x != nullptr && g.w != nullptr && g.y != nullptr, "GEMM operand is null");
  Plan& p = impl_->plan(g, ldx, ldy);
  SPF_CUBLAS_CHECK(cublasLtMatmul(impl_->handle, p.op, &g.alpha, g.w, p.a, g.x, p.b, &g.beta, g.y,
                                  p.c, g.y, p.c, &p.algo, impl_->workspace.data(), kWorkspace,
                                  static_cast<cudaStream_t>(stream)));
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

}  // namespace spf::cuda
