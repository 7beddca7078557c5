#include "formats/quant.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"

namespace spf {

static_assert(std::endian::native == std::endian::little, "GGUF blocks are read as little-endian");

namespace {

// Sizes as stated by ggml's type traits (ggml-common.h) and gguf-py's GGML_QUANT_SIZES. Ids 4, 5
// and 31..33, 36..38 were retired upstream and are deliberately absent.
constexpr GgmlTypeInfo kTypes[] = {
    {0, "F32", 1, 4, DType::f32, true},
    {1, "F16", 1, 2, DType::f16, true},
    {2, "Q4_0", 32, 18, DType::q4_0, true},
    {3, "Q4_1", 32, 20, DType::q4_1, true},
    {6, "Q5_0", 32, 22, DType::q5_0, false},
    {7, "Q5_1", 32, 24, DType::q5_1, false},
    {8, "Q8_0", 32, 34, DType::q8_0, true},
    {9, "Q8_1", 32, 40, DType::other, false},
    {10, "Q2_K", 256, 84, DType::q2_k, false},
    {11, "Q3_K", 256, 110, DType::q3_k, false},
    {12, "Q4_K", 256, 144, DType::q4_k, true},
    {13, "Q5_K", 256, 176, DType::q5_k, true},
    {14, "Q6_K", 256, 210, DType::q6_k, true},
    {15, "Q8_K", 256, 292, DType::q8_k, false},
    {16, "IQ2_XXS", 256, 66, DType::other, false},
    {17, "IQ2_XS", 256, 74, DType::other, false},
    {18, "IQ3_XXS", 256, 98, DType::other, false},
    {19, "IQ1_S", 256, 50, DType::other, false},
    {20, "IQ4_NL", 32, 18, DType::other, false},
    {21, "IQ3_S", 256, 110, DType::other, false},
    {22, "IQ2_S", 256, 82, DType::other, false},
    {23, "IQ4_XS", 256, 136, DType::other, false},
    {24, "I8", 1, 1, DType::i8, false},
    {25, "I16", 1, 2, DType::i16, false},
    {26, "I32", 1, 4, DType::i32, false},
    {27, "I64", 1, 8, DType::i64, false},
    {28, "F64", 1, 8, DType::f64, false},
    {29, "IQ1_M", 256, 56, DType::other, false},
    {30, "BF16", 1, 2, DType::bf16, true},
    {34, "TQ1_0", 256, 54, DType::other, false},
    {35, "TQ2_0", 256, 66, DType::other, false},
    {39, "MXFP4", 32, 17, DType::other, false},
    {40, "NVFP4", 64, 36, DType::other, false},
    {41, "Q1_0", 128, 18, DType::other, false},
};

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline float load_fp16(const uint8_t* p) {
  return fp16_to_f32(load_u16(p));
}
inline void store_fp16(uint8_t* p, float f) {
  const uint16_t h = f32_to_fp16(f);
  std::memcpy(p, &h, 2);
}

void deq_f32(const uint8_t* src, float* dst, int64_t n) {
  if (n > 0) std::memcpy(dst, src, size_t(n) * 4);
}

void deq_f16(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = load_fp16(src + 2 * i);
}

void deq_bf16(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src + 2 * i));
}

// Q8_0: f16 d, 32 x int8.
void deq_q8_0(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += 34, dst += 32) {
    const float d = load_fp16(src);
    const int8_t* q = reinterpret_cast<const int8_t*>(src + 2);
    for (int j = 0; j < 32; ++j) dst[j] = float(q[j]) * d;
  }
}

// Q4_0: f16 d, 16 bytes; byte j holds element j (low nibble) and element j + 16 (high nibble).
void deq_q4_0(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += 18, dst += 32) {
    const float d = load_fp16(src);
    const uint8_t* q = src + 2;
    for (int j = 0; j < 16; ++j) {
      dst[j] = float(int(q[j] & 0x0f) - 8) * d;
      dst[j + 16] = float(int(q[j] >> 4) - 8) * d;
    }
  }
}

// Q4_1: f16 d, f16 m, 16 bytes in Q4_0's nibble order; value = nibble * d + m.
void deq_q4_1(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += 20, dst += 32) {
    const float d = load_fp16(src);
    const float m = load_fp16(src + 2);
    const uint8_t* q = src + 4;
    for (int j = 0; j < 16; ++j) {
      dst[j] = float(q[j] & 0x0f) * d + m;
      dst[j + 16] = float(q[j] >> 4) * d + m;
    }
  }
}

// Q4_K/Q5_K pack 8 sub-block (scale, min) pairs of 6 bits each into 12 bytes: pairs 0..3 sit in the
// low 6 bits of bytes 0..3 (scale) and 4..7 (min); pairs 4..7 take their low 4 bits from
// bytes 8..11 (scale low nibble, min high nibble) and their top 2 bits from the spare top bits of
// bytes 0..7.
inline void k_scale_min(const uint8_t* s, int j, float& sc, float& mn) {
  if (j < 4) {
    sc = float(s[j] & 63);
    mn = float(s[j + 4] & 63);
  } else {
    sc = float((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
    mn = float((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q4_K super-block (256): f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles. Each 64-element
// chunk c uses 32 bytes: low nibbles are sub-block 2c, high nibbles sub-block 2c + 1.
void deq_q4_k(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 256; ++b, src += 144, dst += 256) {
    const float d = load_fp16(src);
    const float dmin = load_fp16(src + 2);
    const uint8_t* scales = src + 4;
    const uint8_t* q = src + 16;
    for (int c = 0; c < 4; ++c, q += 32) {
      float sc0, m0, sc1, m1;
      k_scale_min(scales, 2 * c, sc0, m0);
      k_scale_min(scales, 2 * c + 1, sc1, m1);
      const float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
      float* y = dst + 64 * c;
      for (int l = 0; l < 32; ++l) {
        y[l] = d0 * float(q[l] & 0x0f) - mm0;
        y[l + 32] = d1 * float(q[l] >> 4) - mm1;
      }
    }
  }
}

// Q5_K super-block (256): f16 d, f16 dmin, 12 scale bytes, 32 bytes qh (5th bits), 128 bytes
// nibbles. Chunk c takes its 5th bits from bits 2c (low half) and 2c + 1 (high half) of qh[l].
void deq_q5_k(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 256; ++b, src += 176, dst += 256) {
    const float d = load_fp16(src);
    const float dmin = load_fp16(src + 2);
    const uint8_t* scales = src + 4;
    const uint8_t* qh = src + 16;
    const uint8_t* q = src + 48;
    for (int c = 0; c < 4; ++c, q += 32) {
      float sc0, m0, sc1, m1;
      k_scale_min(scales, 2 * c, sc0, m0);
      k_scale_min(scales, 2 * c + 1, sc1, m1);
      const float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
      const uint8_t bit0 = uint8_t(1u << (2 * c)), bit1 = uint8_t(1u << (2 * c + 1));
      float* y = dst + 64 * c;
      for (int l = 0; l < 32; ++l) {
        y[l] = d0 * float((q[l] & 0x0f) + ((qh[l] & bit0) ? 16 : 0)) - mm0;
        y[l + 32] = d1 * float((q[l] >> 4) + ((qh[l] & bit1) ? 16 : 0)) - mm1;
      }
    }
  }
}

// Q6_K super-block (256): 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8 scales,
// f16 d. Each 128-element half uses 64 ql bytes, 32 qh bytes and 8 scales; within a half, element
// l + 32k (k = 0..3) takes ql nibble (k even: low, k odd: high) of ql[l + 32 * (k & 1)] and bits
// 2k..2k+1 of qh[l]; its scale is scales[l / 16 + 2k].
void deq_q6_k(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 256; ++b, src += 210, dst += 256) {
    const uint8_t* ql = src;
    const uint8_t* qh = src + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(src + 192);
    const float d = load_fp16(src + 208);
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8) {
      float* y = dst + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = int((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = int((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[is]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
    }
  }
}

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  for (const GgmlTypeInfo& t : kTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::string ggml_type_name(uint32_t id) {
  const GgmlTypeInfo* t = ggml_type_info(id);
  return t != nullptr ? std::string(t->name) : cat("type", id);
}

const char* ggml_decodable_types() {
  return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K";
}

void dequantize_row(uint32_t id, const uint8_t* src, float* dst, int64_t n) {
  switch (id) {
    case ggml_type::F32:
      return deq_f32(src, dst, n);
    case ggml_type::F16:
      return deq_f16(src, dst, n);
    case ggml_type::BF16:
      return deq_bf16(src, dst, n);
    case ggml_type::Q8_0:
      return deq_q8_0(src, dst, n);
    case ggml_type::Q4_0:
      return deq_q4_0(src, dst, n);
    case ggml_type::Q4_1:
      return deq_q4_1(src, dst, n);
    case ggml_type::Q4_K:
      return deq_q4_k(src, dst, n);
    case ggml_type::Q5_K:
      return deq_q5_k(src, dst, n);
    case ggml_type::Q6_K:
      return deq_q6_k(src, dst, n);
    default:
      fail("ggml type ", ggml_type_name(id),
           " cannot be decoded (supported: ", ggml_decodable_types(), ")");
  }
}

void quantize_row_q8_0(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32, dst += 34) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    store_fp16(dst, d);
    for (int j = 0; j < 32; ++j) dst[2 + j] = uint8_t(int8_t(std::lround(x[j] * id)));
  }
}

void quantize_row_q4_0(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32, dst += 18) {
    // The signed extreme maps to nibble 0, so the opposite side gets the full 7-step range.
    float amax = 0, mx = 0;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        mx = x[j];
      }
    }
    const float d = mx / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    store_fp16(dst, d);
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(15, int(x[j] * id + 8.5f));
      const int hi = std::min(15, int(x[j + 16] * id + 8.5f));
      dst[2 + j] = uint8_t(lo | (hi << 4));
    }
  }
}

void quantize_row_q4_1(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32, dst += 20) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
    }
    const float d = (hi - lo) / 15.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    store_fp16(dst, d);
    store_fp16(dst + 2, lo);
    for (int j = 0; j < 16; ++j) {
      const int a = std::min(15, int((x[j] - lo) * id + 0.5f));
      const int c = std::min(15, int((x[j + 16] - lo) * id + 0.5f));
      dst[4 + j] = uint8_t(a | (c << 4));
    }
  }
}

}  // namespace spf
