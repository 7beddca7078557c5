// Dense matmuls of the GPU forward through cuBLASLt: the PyTorch Linear form
//
//   Y[m][n] = alpha * X[m][k] . W[n][k]^T + beta * Y[m][n]
//
// X and W bf16 row-major (W in the checkpoint's [out][in] layout), fp32 accumulation, Y bf16 or
// f32 (beta = 1 with an f32 Y fuses the residual add of a layer's output projection). Row strides
// ldx / ldy (in elements) allow writing into column slices. A GemmEngine owns one cuBLASLt handle
// and workspace and caches the algorithm picked per shape, so repeated forwards pay the choice
// once. Not thread-safe: one engine per stream.
//
// The choice is cuBLASLt's first heuristic result, or with GemmTuning::measure the fastest of its
// first few, timed on the call's own operands on the shape's first run (an accumulating output is
// saved and restored around the timing, so the call's result is unchanged). Timing picks by noise
// between near-equal algorithms, whose roundings differ: a measuring engine's results may differ
// in the last bits from one process to the next. Benchmarks measure; evaluation does not.
//
// matmul() is the general row-major form behind it (the indexer trainer's backward needs the
// transposes and f32 operands):
//
//   C[m][n] = alpha * op(A)[m][k] . op(B)[k][n] + beta * C[m][n]
//
// op(A) = A [m][lda] or, with trans_a, A^T of A [k][lda]; likewise B. A and B share one dtype:
// bf16 (fp32 accumulation) or f32 (pure fp32 compute, no TF32); C is bf16 or f32.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "core/buffer.h"
#include "core/dtype.h"

namespace spf::cuda {

struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;
  const void* x = nullptr;  // bf16 [m][ldx]
  int64_t ldx = 0;          // 0: k
  const void* w = nullptr;  // bf16 [n][k]
  void* y = nullptr;        // [m][ldy] of y_dtype
  int64_t ldy = 0;          // 0: n
  DType y_dtype = DType::bf16;
  float alpha = 1.0f;
  float beta = 0.0f;  // 1: accumulate into y
};

struct MatmulArgs {
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t lda = 0;  // 0: the row length of A as stored (trans_a ? m : k)
  bool trans_a = false;
  const void* b = nullptr;
  int64_t ldb = 0;  // 0: trans_b ? k : n
  bool trans_b = false;
  DType in_dtype = DType::bf16;  // of A and B
  void* c = nullptr;
  int64_t ldc = 0;  // 0: n
  DType c_dtype = DType::f32;
  float alpha = 1.0f;
  float beta = 0.0f;
};

struct GemmTuning {
  bool measure = false;
  int candidates = 8;       // heuristic results timed
  int repeats = 3;          // timed runs per candidate (after one warm-up run)
  double min_flops = 1e11;  // smaller GEMMs take the heuristic's first choice: timing them costs
                            // more than a better algorithm could save
};

class GemmEngine {
 public:
  explicit GemmEngine(GemmTuning tuning = {});
  ~GemmEngine();
  GemmEngine(const GemmEngine&) = delete;
  GemmEngine& operator=(const GemmEngine&) = delete;

  // Runs on stream (a cudaStream_t; null: the default stream). Throws spf::Error for bad shapes
  // or a cuBLASLt failure.
  void run(const GemmArgs& a, void* stream = nullptr);
  void matmul(const MatmulArgs& a, void* stream = nullptr);
  // Applies to shapes not yet seen; plans already made keep their algorithm.
  void set_tuning(const GemmTuning& t);
  // Shapes whose algorithm was picked by timing, and how many of them differ from the heuristic's
  // first choice (benchmarks report both).
  struct TuningCounts {
    int64_t measured = 0, changed = 0;
  };
  TuningCounts tuning_counts() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The CPU reference of run(): f64 sums of the bf16-rounded inputs, y rounded to y_dtype (tests).
void gemm_reference(const GemmArgs& a, const uint16_t* x, const uint16_t* w, float* y);
// The CPU reference of matmul() for f32 operands (f64 sums), c as f32 (tests).
void matmul_reference(const MatmulArgs& a, const float* A, const float* B, float* C);

}  // namespace spf::cuda
