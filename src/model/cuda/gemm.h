// Dense matmuls of the GPU forward through cuBLASLt: the PyTorch Linear form
//
//   Y[m][n] = alpha * X[m][k] . W[n][k]^T + beta * Y[m][n]
//
// X and W bf16 row-major (W in the checkpoint's [out][in] layout), fp32 accumulation, Y bf16 or
// f32 (beta = 1 with an f32 Y fuses the residual add of a layer's output projection). Row strides
// ldx / ldy (in elements) allow writing into column slices. A GemmEngine owns one cuBLASLt handle
// and workspace and caches the algorithm picked per shape, so repeated forwards pay the heuristic
// once. Not thread-safe: one engine per stream.
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

class GemmEngine {
 public:
  GemmEngine();
  ~GemmEngine();
  GemmEngine(const GemmEngine&) = delete;
  GemmEngine& operator=(const GemmEngine&) = delete;

  // Runs on stream (a cudaStream_t; null: the default stream). Throws spf::Error for bad shapes
  // or a cuBLASLt failure.
  void run(const GemmArgs& a, void* stream = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The CPU reference of run(): f64 sums of the bf16-rounded inputs, y rounded to y_dtype (tests).
void gemm_reference(const GemmArgs& a, const uint16_t* x, const uint16_t* w, float* y);

}  // namespace spf::cuda
