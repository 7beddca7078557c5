#include "core/fast_exp.h"

#include "core/isa.h"

namespace spf::detail {

// omp simd lets the compiler vectorize the float reductions (it may not reorder them otherwise).
SPF_ISA_CLONES float max_of(const float* x, int n) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int j = 1; j < n; ++j) m = m > x[j] ? m : x[j];
  return m;
}

SPF_ISA_CLONES float exp_shifted(float* x, int n, float shift) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < n; ++j) {
    const float p = fast_exp(x[j] - shift);
    x[j] = p;
    sum += p;
  }
  return sum;
}

SPF_ISA_CLONES void exp_shifted_to(const float* x, float* y, int n, float shift) {
#pragma omp simd
  for (int j = 0; j < n; ++j) y[j] = fast_exp(x[j] - shift);
}

}  // namespace spf::detail

namespace spf {

void softmax_inplace(float* x, int n) {
  const float inv = 1.0f / detail::exp_shifted(x, n, detail::max_of(x, n));
#pragma omp simd
  for (int j = 0; j < n; ++j) x[j] *= inv;
}

}  // namespace spf
