#include "model/ops.h"

#include <cblas.h>

#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/threads.h"

namespace spf::ops {

void linear(const float* x, int64_t n, int64_t in, const float* w, int64_t out, const float* bias,
            float* y) {
  if (n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(out), int(in), 1.0f, x, int(in),
              w, int(in), 0.0f, y, int(out));
  if (bias != nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      float* row = y + i * out;
      for (int64_t j = 0; j < out; ++j) row[j] += bias[j];
    }
  }
}

void rms_norm(const float* x, int64_t n, int64_t dim, const float* w, float eps, bool plus_one,
              float* y) {
#pragma omp parallel for if (n * dim > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float* xr = x + i * dim;
    float* yr = y + i * dim;
    double ss = 0;
    for (int64_t j = 0; j < dim; ++j) ss += double(xr[j]) * xr[j];
    const float inv = 1.0f / std::sqrt(float(ss / double(dim)) + eps);
    if (w == nullptr) {
      for (int64_t j = 0; j < dim; ++j) yr[j] = xr[j] * inv;
    } else if (plus_one) {
      for (int64_t j = 0; j < dim; ++j) yr[j] = xr[j] * inv * (1.0f + w[j]);
    } else {
      for (int64_t j = 0; j < dim; ++j) yr[j] = xr[j] * inv * w[j];
    }
  }
}

std::vector<float> rope_inv_freq(int rot, float theta, const char* type, float factor,
                                 float low_freq_factor, float high_freq_factor,
                                 int original_max_position) {
  SPF_CHECK(rot > 0 && rot % 2 == 0, "rotary dimension must be a positive even number, got ", rot);
  const std::string t = type;
  std::vector<float> f(size_t(rot / 2));
  for (int i = 0; i < rot / 2; ++i)
    f[size_t(i)] = float(1.0 / std::pow(double(theta), 2.0 * i / rot));
  if (t == "default" || t.empty()) return f;
  if (t == "linear") {
    for (float& v : f) v /= factor;
    return f;
  }
  if (t == "llama3") {
    const double lo_wl = original_max_position / low_freq_factor;
    const double hi_wl = original_max_position / high_freq_factor;
    for (float& v : f) {
      const double wl = 2.0 * M_PI / v;
      if (wl > lo_wl) {
        v = float(v / factor);
      } else if (wl >= hi_wl) {
        const double s =
            (original_max_position / wl - low_freq_factor) / (high_freq_factor - low_freq_factor);
        v = float((1.0 - s) * v / factor + s * v);
      }
    }
    return f;
  }
  fail("unsupported rope scaling type '", t, "' (supported: default, linear, llama3)");
}

void rope_inplace(float* x, int64_t n, int n_heads, int head_dim, int rot, const float* inv_freq,
                  int64_t pos0) {
  const int half = rot / 2;
#pragma omp parallel for if (n > 16)
  for (int64_t t = 0; t < n; ++t) {
    const double pos = double(pos0 + t);
    // cos/sin in double then rounded: matches HF's fp32 angle product to within an ulp.
    float cs[512], sn[512];
    for (int i = 0; i < half; ++i) {
      const float ang = float(pos) * inv_freq[i];
      cs[i] = std::cos(ang);
      sn[i] = std::sin(ang);
    }
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * cs[i] - b * sn[i];
        v[i + half] = b * cs[i] + a * sn[i];
      }
    }
  }
}

void swiglu_inplace(float* gate, const float* up, int64_t count) {
#pragma omp parallel for simd if (count > 65536)
  for (int64_t i = 0; i < count; ++i) gate[i] = silu(gate[i]) * up[i];
}

void add_inplace(float* y, const float* x, int64_t count) {
#pragma omp parallel for simd if (count > 65536)
  for (int64_t i = 0; i < count; ++i) y[i] += x[i];
}

}  // namespace spf::ops
