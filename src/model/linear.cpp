#include "model/linear.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/isa.h"
#include "core/threads.h"

namespace spf {

namespace {

// Calls with at most this many x rows take the row-group path (decode, short continuations).
constexpr int64_t kFewRows = 8;
// Weight rows dequantized together on the few-rows path (one thread's unit of work).
constexpr int64_t kRowGroup = 8;
// Most fp32 bytes of one dequantized panel on the many-rows path.
constexpr int64_t kPanelBytes = int64_t(16) << 20;

SPF_ISA_CLONES
float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
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
  parallel_for(groups, [&](int64_t g) {
    thread_local std::vector<float> buf;
    if (buf.size() < size_t(kRowGroup * in)) buf.resize(size_t(kRowGroup * in));
    const int64_t r0 = g * kRowGroup, nr = std::min(kRowGroup, out - r0);
    w.dequantize_rows(r0, nr, buf.data());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < nr; ++r)
        y[t * out + r0 + r] = dot(x + t * in, buf.data() + r * in, in);
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
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nr; ++r) w.dequantize_rows(r0 + r, 1, p + r * in);
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
