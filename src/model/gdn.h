// Gated DeltaNet (the linear-attention mixer of Qwen3.5), as pure fp32 functions over explicit
// shapes, following HF transformers' Qwen3_5GatedDeltaNet (transformers/models/qwen3_5/
// modeling_qwen3_5.py) and its torch reference forms of the gated delta rule (chunked and
// recurrent). Everything is row-major and token-major:
//   m   [T][C]        pre-conv projection, C = 2·nk·dk + nv·dv, channels ordered [Q | K | V]
//   z   [T][nv·dv]    output-gate projection;  a, b [T][nv]  decay / write-strength projections
//   S   [nv][dk][dv]  recurrent state per value head (zeros at sequence start)
//   conv state [K-1][C]: the last K-1 rows of m seen so far (zeros at sequence start)
// Value head j reads key head j / (nv / nk) (HF layout). The chunked and the recurrent forms
// compute the same function; either may continue a state left by the other.
#pragma once

#include <cstdint>

namespace spf::gdn {

struct Dims {
  int nk = 0;  // key heads
  int nv = 0;  // value heads (a multiple of nk)
  int dk = 0;
  int dv = 0;
  int64_t key_dim() const { return int64_t(nk) * dk; }
  int64_t value_dim() const { return int64_t(nv) * dv; }
  int64_t channels() const { return 2 * key_dim() + value_dim(); }
  int64_t state_size() const { return int64_t(nv) * dk * dv; }
  int key_head(int j) const { return j / (nv / nk); }
  // Throws spf::Error unless all are positive and nv is a multiple of nk.
  void validate() const;
};

// out[t][c] = silu(sum_j w[c][j] * m[t - (K-1) + j][c]), rows before 0 taken from conv_state, which
// then holds the last K-1 rows of (old state ++ m). w is conv1d.weight [C][1][K]. out may be m
// itself (in place) but must not overlap it otherwise.
void conv_silu(const float* m, int64_t T, int64_t C, int K, const float* w, float* conv_state,
               float* out);

// In place, for each token t and head h: x[t*stride + h*dim ..][0..dim) /= sqrt(sum x^2 + 1e-6),
// then *= scale.
void l2_normalize(float* x, int64_t T, int64_t stride, int n_heads, int dim, float scale);

// beta = sigmoid(b); g = -exp(A_log) * softplus(a + dt_bias) (softplus(x) = x for x > 20, as
// PyTorch). b, a, beta, g are [T][nv].
void gates(const float* b, const float* a, int64_t T, int nv, const float* A_log,
           const float* dt_bias, float* beta, float* g);

// The delta-rule inputs of one call: q, k (already L2-normalized, q scaled by 1/sqrt(dk)) and v
// rows of `stride` floats per token (key head h at q + h*dk, value head j at v + j*dv).
struct DeltaInputs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t stride = 0;
  const float* beta = nullptr;  // [T][nv]
  const float* g = nullptr;     // [T][nv], log-decay (<= 0)
};

// Token by token: S <- exp(g) S; S <- S + k (beta (v - S^T k))^T; o = S^T q. out is [T][nv·dv].
void delta_recurrent(const Dims& d, int64_t T, const DeltaInputs& in, float* state, float* out);

// The same function evaluated chunk by chunk (UT/WY form, within-chunk triangular solves, BLAS
// matmuls); value heads run in parallel.
void delta_chunked(const Dims& d, int64_t T, const DeltaInputs& in, float* state, float* out,
                   int chunk = 64);

// In place per token and value head: o <- w * o / sqrt(mean(o^2) + eps) * silu(z); w is [dv],
// plain.
void gated_rms_norm(float* o, const float* z, int64_t T, int nv, int dv, const float* w, float eps);

// Everything of the mixer between the input projections and out_proj.
struct MixerWeights {
  const float* conv_w = nullptr;   // [C][1][K]
  const float* A_log = nullptr;    // [nv]
  const float* dt_bias = nullptr;  // [nv]
  const float* norm_w = nullptr;   // [dv]
};

enum class DeltaMode { automatic, recurrent, chunked };

// m is overwritten (it holds the conv output afterwards); out [T][nv·dv] receives the gated-normed
// mixer output. automatic picks the recurrent form for short calls (decode), chunked otherwise.
void mix(const Dims& d, int K, int64_t T, float* m, const float* z, const float* a, const float* b,
         const MixerWeights& w, float eps, float* conv_state, float* state, float* out,
         DeltaMode mode = DeltaMode::automatic);

}  // namespace spf::gdn
