// exp for softmax inner loops: plain float arithmetic so that the compiler vectorizes the loops
// that call it (std::exp does not vectorize without -ffast-math). Relative error < 3e-7 on [-87,
// 88]; inputs below -87 return 0 (softmax terms that small do not matter and would be denormal).
#pragma once

#include <bit>
#include <cstdint>

namespace spf::detail {

inline float fast_exp(float x) {
  // Every operation runs unconditionally and the clamps are selects: GCC (with its default
  // -ftrapping-math) only vectorizes loops where no floating-point operation is conditional.
  const float lo = x < -87.0f ? -87.0f : x;
  const float xc = lo > 88.0f ? 88.0f : lo;
  // x = n ln2 + r with |r| <= ln2 / 2; n rounded to nearest with the 1.5 * 2^23 trick.
  const float magic = 12582912.0f;
  const float n = (xc * 1.44269504088896341f + magic) - magic;
  const float r = (xc - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  // Taylor series of e^r to degree 7: truncation error < 5e-9 for |r| <= 0.35.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale = std::bit_cast<float>(uint32_t(int32_t(n) + 127) << 23);
  const float e = p * scale;
  return x < -87.0f ? 0.0f : e;
}

}  // namespace spf::detail
