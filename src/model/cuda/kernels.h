// The GPU forward's own kernels (everything between the GEMMs): embedding lookup, RMSNorm, per-head
// q/k norm + RoPE, SwiGLU, the attention output gate, and biases (random fills:
// attention/cuda/fill.h). Activations are bf16 (uint16_t bits) except the residual stream, which
// stays f32 so that the output projections accumulate into it (gemm.h, beta = 1). Each kernel's CPU
// reference is the model/ops.h function of the same name (tests/model_cuda/kernels_test.cpp
// compares them); all run on a stream (a cudaStream_t, null: the default stream) and launch nothing
// for empty inputs.
#pragma once

#include <cstdint>

namespace spf::cuda {

// out[t][:] = table[ids[t]][:] as f32. table bf16 [vocab][hidden]; ids device int32 [n].
void embed_rows(const uint16_t* table, int64_t hidden, const int32_t* ids, int64_t n, float* out,
                void* stream);

// out[t] = bf16(x[t] / sqrt(mean(x[t]^2) + eps) * (w or 1 + w)); x f32 [n][dim] (rows ldx apart).
void rms_norm_to_bf16(const float* x, int64_t ldx, int64_t n, int64_t dim, const float* w,
                      float eps, bool plus_one, uint16_t* out, void* stream);

// Per token and head: optional RMSNorm over the head (q_norm / k_norm), then RoPE (rotate-half
// pairs (i, i + rot/2) of the first rot dims, angle (pos0 + t) * inv_freq[i] in f32), written
// packed. src rows are src_ld apart, heads src_head_ld apart (the output-gate layout interleaves
// query and gate per head); dst rows dst_ld apart, heads head_dim apart.
struct HeadNormRope {
  const uint16_t* src = nullptr;
  int64_t src_ld = 0, src_head_ld = 0;
  uint16_t* dst = nullptr;
  int64_t dst_ld = 0;
  int64_t n = 0;
  int heads = 0, head_dim = 0;
  const float* norm = nullptr;  // [head_dim] or null (no norm)
  float eps = 1e-6f;
  bool plus_one = false;
  const float* inv_freq = nullptr;  // [rot / 2]
  int rot = 0;
  int64_t pos0 = 0;
};
void head_norm_rope(const HeadNormRope& a, void* stream);

// out[t][i] = bf16(silu(gu[t][i]) * gu[t][I + i]); gu bf16 [n][2I] (gate | up), out [n][I].
void swiglu(const uint16_t* gu, int64_t n, int64_t I, uint16_t* out, void* stream);

// att[t][h][:] *= sigmoid(gate row t, head h); att packed [n][heads][D], gate rows gate_ld apart,
// heads gate_head_ld apart.
void sigmoid_gate(uint16_t* att, const uint16_t* gate, int64_t gate_ld, int64_t gate_head_ld,
                  int64_t n, int heads, int head_dim, void* stream);

// y[t][c] += bias[c] for c < cols; y bf16 or f32 rows ld apart.
void add_bias_bf16(uint16_t* y, int64_t ld, const float* bias, int64_t n, int64_t cols,
                   void* stream);
void add_bias_f32(float* y, int64_t ld, const float* bias, int64_t n, int64_t cols, void* stream);

}  // namespace spf::cuda
