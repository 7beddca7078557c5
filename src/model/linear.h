// The model's matmul over typed weights: y[n][out] = x[n][in] W^T (+ bias), W a WeightTensor
// [out][in] (PyTorch layout). F32 weights go straight to BLAS sgemm. Other types are dequantized
// per call into per-thread scratch that only grows (no heap allocation once warm):
//   - few rows (decode): output rows are spread over threads; each thread dequantizes a small
//     group of weight rows and dots them with every x row;
//   - many rows (prefill): weight row panels are dequantized to fp32 (in parallel) and multiplied
//     with one multithreaded sgemm each, so the dequantization is paid once per call, not per x
//     row.
// The two give the same values up to the order of float sums.
#pragma once

#include <cstdint>

#include "model/weight_tensor.h"

namespace spf {

void linear(const float* x, int64_t n, const WeightTensor& w, const float* bias, float* y);

// out[t][:] = row ids[t] of w as fp32 (embedding lookup); ids must be valid rows.
void gather_rows(const WeightTensor& w, const int32_t* ids, int64_t n, float* out);

}  // namespace spf
