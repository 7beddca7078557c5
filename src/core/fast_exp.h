// exp for softmax inner loops, written so that loops calling it vectorize: std::exp does not
// without -ffast-math, and GCC's default -ftrapping-math keeps any conditional floating-point
// operation from vectorizing, so the only selects here are on integers. Relative error < 3e-7 while
// exp(x) is a normal float; results below 2^-126 (x < about -87.3) flush to 0 and x > 88 saturates
// at a large finite value. Meant for softmax arguments (score - max <= 0); for |x| > 1e4 the result
// is not meaningful (0, a saturated value or NaN), though always defined.
#pragma once

#include <bit>
#include <cstdint>

namespace spf::detail {

// e^r for |r| <= ln2 / 2 by its degree-7 Taylor polynomial (truncation error < 5e-9): the core that
// every range-reduced exp of the project shares.
inline float exp_reduced(float r) {
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p;
}

inline float fast_exp(float x) {
  // x = n ln2 + r with |r| <= ln2 / 2; t = x log2e + 1.5 * 2^23 rounds n to nearest and, while t
  // stays in that binade (|n| < 2^22), holds n in its low mantissa bits.
  const float magic = 12582912.0f;
  const float t = x * 1.44269504088896341f + magic;
  const float n = t - magic;
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  const float p = exp_reduced(r);
  // 2^n as a float from its biased exponent n + 127, clamped to [0, 254]; 0 gives +0.0 (the flush).
  // A negative t (x far below -87) or t below the binade flushes; t above it saturates.
  const uint32_t tb = std::bit_cast<uint32_t>(t);
  int32_t e = int32_t(tb - std::bit_cast<uint32_t>(magic)) + 127;
  e = (tb >> 31) != 0 ? 0 : e;
  e = e < 0 ? 0 : e;
  e = e > 254 ? 254 : e;
  return p * std::bit_cast<float>(uint32_t(e) << 23);
}

// max of x[0, n), n >= 1.
float max_of(const float* x, int n);
// x[j] = fast_exp(x[j] - shift) for j < n; returns their sum.
float exp_shifted(float* x, int n, float shift);
// y[j] = fast_exp(x[j] - shift) for j < n.
void exp_shifted_to(const float* x, float* y, int n, float shift);

}  // namespace spf::detail

namespace spf {

// x[0, n) <- softmax(x[0, n)), n >= 1, with the vectorized kernels above.
void softmax_inplace(float* x, int n);

}  // namespace spf
