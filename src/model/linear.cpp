#include "model/linear.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/isa.h"
#include "core/threads.h"

namespace spf {

namespace {

// Calls with at most this many x rows take the row-group path (decode, short continuations).
constexpr int64_t kFewRows = 8;
// Weight rows handled together on the few-rows path (one thread's unit of work).
constexpr int64_t kRowGroup = 8;
// Most fp32 bytes of one dequantized panel on the many-rows path.
constexpr int64_t kPanelBytes = int64_t(16) << 20;

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Decoders of one 32-element block of the ggml types that quantized GGUFs mostly use, written so
// that the loops vectorize (the values equal formats/quant.h's dequantize_row exactly).
struct Q8_0 {
  static constexpr int64_t kBytes = 34;
  [[gnu::always_inline]] static inline void decode(const uint8_t* b, float* w) {
    const float d = fp16_to_f32(load_u16(b));
    const int8_t* q = reinterpret_cast<const int8_t*>(b + 2);
#pragma omp simd
    for (int j = 0; j < 32; ++j) w[j] = float(q[j]) * d;
  }
};
struct Q4_0 {
  static constexpr int64_t kBytes = 18;
  [[gnu::always_inline]] static inline void decode(const uint8_t* b, float* w) {
    const float d = fp16_to_f32(load_u16(b));
    const uint8_t* q = b + 2;
#pragma omp simd
    for (int j = 0; j < 16; ++j) {
      w[j] = float(int(q[j] & 0x0f) - 8) * d;
      w[j + 16] = float(int(q[j] >> 4) - 8) * d;
    }
  }
};
struct Q4_1 {
  static constexpr int64_t kBytes = 20;
  [[gnu::always_inline]] static inline void decode(const uint8_t* b, float* w) {
    const float d = fp16_to_f32(load_u16(b)), m = fp16_to_f32(load_u16(b + 2));
    const uint8_t* q = b + 4;
#pragma omp simd
    for (int j = 0; j < 16; ++j) {
      w[j] = float(q[j] & 0x0f) * d + m;
      w[j + 16] = float(q[j] >> 4) * d + m;
    }
  }
};

// y[t * ldy] = dot(weight row, x row t) for t < n <= kFewRows, decoding each block once for all
// x rows; 32 partial sums per x row, added up at the end.
template <class B>
[[gnu::always_inline]] inline void dot_rows(const uint8_t* row, int64_t cols, const float* x,
                                            int64_t n, float* y, int64_t ldy) {
  alignas(64) float acc[kFewRows][32];
  alignas(64) float w[32];
  for (int64_t t = 0; t < n; ++t) std::fill(acc[t], acc[t] + 32, 0.0f);
  for (int64_t b = 0; b < cols / 32; ++b) {
    B::decode(row + b * B::kBytes, w);
    for (int64_t t = 0; t < n; ++t) {
      float* a = acc[t];
      const float* xt = x + t * cols + b * 32;
#pragma omp simd
      for (int j = 0; j < 32; ++j) a[j] += w[j] * xt[j];
    }
  }
  for (int64_t t = 0; t < n; ++t) {
    float s = 0.0f;
    for (int j = 0; j < 32; ++j) s += acc[t][j];
    y[t * ldy] = s;
  }
}

template <class B>
[[gnu::always_inline]] inline void decode_rows(const uint8_t* row, size_t row_bytes, int64_t n,
                                               int64_t cols, float* out) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t b = 0; b < cols / 32; ++b)
      B::decode(row + size_t(r) * row_bytes + size_t(b * B::kBytes), out + r * cols + b * 32);
}

SPF_ISA_CLONES
void dot_rows_q8_0(const uint8_t* row, int64_t cols, const float* x, int64_t n, float* y,
                   int64_t ldy) {
  dot_rows<Q8_0>(row, cols, x, n, y, ldy);
}
SPF_ISA_CLONES
void dot_rows_q4_0(const uint8_t* row, int64_t cols, const float* x, int64_t n, float* y,
                   int64_t ldy) {
  dot_rows<Q4_0>(row, cols, x, n, y, ldy);
}
SPF_ISA_CLONES
void dot_rows_q4_1(const uint8_t* row, int64_t cols, const float* x, int64_t n, float* y,
                   int64_t ldy) {
  dot_rows<Q4_1>(row, cols, x, n, y, ldy);
}
SPF_ISA_CLONES
void decode_rows_q8_0(const uint8_t* row, size_t row_bytes, int64_t n, int64_t cols, float* out) {
  decode_rows<Q8_0>(row, row_bytes, n, cols, out);
}
SPF_ISA_CLONES
void decode_rows_q4_0(const uint8_t* row, size_t row_bytes, int64_t n, int64_t cols, float* out) {
  decode_rows<Q4_0>(row, row_bytes, n, cols, out);
}
SPF_ISA_CLONES
void decode_rows_q4_1(const uint8_t* row, size_t row_bytes, int64_t n, int64_t cols, float* out) {
  decode_rows<Q4_1>(row, row_bytes, n, cols, out);
}

SPF_ISA_CLONES
float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

using DotRows = void (*)(const uint8_t*, int64_t, const float*, int64_t, float*, int64_t);
using DecodeRows = void (*)(const uint8_t*, size_t, int64_t, int64_t, float*);

DotRows fused_dot(DType t) {
  switch (t) {
    case DType::q8_0:
      return dot_rows_q8_0;
    case DType::q4_0:
      return dot_rows_q4_0;
    case DType::q4_1:
      return dot_rows_q4_1;
    default:
      return nullptr;
  }
}

DecodeRows fast_decode(DType t) {
  switch (t) {
    case DType::q8_0:
      return decode_rows_q8_0;
    case DType::q4_0:
      return decode_rows_q4_0;
    case DType::q4_1:
      return decode_rows_q4_1;
    default:
      return nullptr;
  }
}

// Rows [r0, r0 + n) of w as fp32.
void dequantize(const WeightTensor& w, int64_t r0, int64_t n, float* out) {
  if (const DecodeRows f = fast_decode(w.dtype())) {
    f(w.row(r0), w.row_bytes(), n, w.cols(), out);
  } else {
    w.dequantize_rows(r0, n, out);
  }
}

void add_bias(float* y, int64_t n, int64_t out, const float* bias) {
  if (bias == nullptr) return;
  for (int64_t i = 0; i < n; ++i) {
    float* row = y + i * out;
    for (int64_t j = 0; j < out; ++j) row[j] += bias[j];
  }
}

void sgemm_xwt(const float* x, int64_t n, int64_t in, const float* w, int64_t rows, float* y,
               int64_t ldy) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(rows), int(in), 1.0f, x, int(in),
              w, int(in), 0.0f, y, int(ldy));
}

void linear_few_rows(const float* x, int64_t n, const WeightTensor& w, float* y) {
  const int64_t in = w.cols(), out = w.rows();
  const int64_t groups = (out + kRowGroup - 1) / kRowGroup;
  const DotRows fused = fused_dot(w.dtype());
  parallel_for(groups, [&](int64_t g) {
    const int64_t r0 = g * kRowGroup, nr = std::min(kRowGroup, out - r0);
    if (fused != nullptr) {
      for (int64_t r = 0; r < nr; ++r) fused(w.row(r0 + r), in, x, n, y + r0 + r, out);
      return;
    }
    // Other types: each row in spans of whole blocks through a stack buffer (rows go to threads
    // dynamically, so per-thread heap scratch would allocate in any call where a thread runs
    // its first group).
    constexpr int64_t kSpan = 2048;
    alignas(64) float buf[kSpan];
    const int64_t span = std::max<int64_t>(w.block(), kSpan / w.block() * w.block());
    SPF_CHECK(span <= kSpan, "weight blocks of ", w.block(), " elements exceed the matmul's ",
              kSpan, "-element span");
    for (int64_t r = r0; r < r0 + nr; ++r) {
      for (int64_t t = 0; t < n; ++t) y[t * out + r] = 0.0f;
      for (int64_t c0 = 0; c0 < in; c0 += span) {
        const int64_t m = std::min(span, in - c0);
        w.dequantize_span(r, c0, m, buf);
        for (int64_t t = 0; t < n; ++t) y[t * out + r] += dot(x + t * in + c0, buf, m);
      }
    }
  });
}

void linear_many_rows(const float* x, int64_t n, const WeightTensor& w, float* y) {
  const int64_t in = w.cols(), out = w.rows();
  const int64_t panel =
      std::max<int64_t>(1, std::min(out, kPanelBytes / int64_t(sizeof(float)) / in));
  // The calling thread's scratch, kept between calls.
  thread_local std::vector<float> buf;
  if (buf.size() < size_t(panel * in)) buf.resize(size_t(panel * in));
  float* p = buf.data();
  for (int64_t r0 = 0; r0 < out; r0 += panel) {
    const int64_t nr = std::min(panel, out - r0);
    const int64_t chunks = (nr + 15) / 16;
    parallel_for(chunks, [&](int64_t c) {
      const int64_t a = c * 16, m = std::min<int64_t>(16, nr - a);
      dequantize(w, r0 + a, m, p + a * in);
    });
    sgemm_xwt(x, n, in, p, nr, y + r0, out);
  }
}

}  // namespace

void linear(const float* x, int64_t n, const WeightTensor& w, const float* bias, float* y) {
  if (n == 0) return;
  if (w.dtype() == DType::f32) {
    sgemm_xwt(x, n, w.cols(), w.f32(), w.rows(), y, w.rows());
  } else if (n <= kFewRows) {
    linear_few_rows(x, n, w, y);
  } else {
    linear_many_rows(x, n, w, y);
  }
  add_bias(y, n, w.rows(), bias);
}

void gather_rows(const WeightTensor& w, const int32_t* ids, int64_t n, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    SPF_CHECK(ids[t] >= 0 && ids[t] < w.rows(), "row ", ids[t], " of a ", w.rows(), "-row weight");
    w.dequantize_rows(ids[t], 1, out + t * w.cols());
  }
}

}  // namespace spf
