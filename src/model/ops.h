// Row-wise building blocks shared by every model family. All float32, row-major; x is [n, dim].
// linear() is the only matmul: OpenBLAS sgemm, y = x W^T (+ b), W stored [out, in] as in PyTorch.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace spf::ops {

void linear(const float* x, int64_t n, int64_t in, const float* w, int64_t out, const float* bias,
            float* y);

// y = x / sqrt(mean(x^2) + eps) * (w or 1 + w), per row of length dim. In place allowed (y == x).
void rms_norm(const float* x, int64_t n, int64_t dim, const float* w, float eps, bool plus_one,
              float* y);

// Rotary embedding, rotate-half pairing (i, i + rot/2) over the first rot dims of each head, in
// place. x is [n][n_heads][head_dim]; token t has position pos0 + t. inv_freq has rot/2 entries.
void rope_inplace(float* x, int64_t n, int n_heads, int head_dim, int rot, const float* inv_freq,
                  int64_t pos0);

// Plain (or llama3/linear scaled) inverse frequencies for a rotary dimension.
std::vector<float> rope_inv_freq(int rot, float theta, const char* type, float factor,
                                 float low_freq_factor, float high_freq_factor,
                                 int original_max_position);

inline float silu(float x) {
  return x / (1.0f + __builtin_expf(-x));
}
inline float sigmoid(float x) {
  return 1.0f / (1.0f + __builtin_expf(-x));
}

// gate[i] = silu(gate[i]) * up[i]
void swiglu_inplace(float* gate, const float* up, int64_t count);

void add_inplace(float* y, const float* x, int64_t count);

}  // namespace spf::ops
