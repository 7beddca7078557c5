#include "model/gdn.h"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/blas_threads.h"
#include "core/error.h"
#include "core/fast_exp.h"
#include "core/threads.h"
#include "model/ops.h"

namespace spf::gdn {

namespace {

// Calls shorter than this use the token-by-token form: the chunk matmuls do not pay off there.
constexpr int64_t kRecurrentMaxTokens = 8;

// e^y for y in [-64, 87] (87 caps larger y), exactly 0 below -64. Used for every per-element exp
// of the mixer: conv SiLU, gated norm, decays. Two reasons for not calling libm:
//  - Branch-free (integer clamps and masks, exponent-bit scaling), so the loops calling it
//    vectorize under the default -ftrapping-math, where expf and float compares do not.
//  - Strong decays (gamma down to -1000 within a chunk) would otherwise leave subnormal weights
//    and products in the chunk matmuls, which run ~20x slower on Intel cores; contributions
//    decayed by e^-64 are far below fp32 resolution anyway.
// y = n ln2 + r, |r| <= ln2/2, e^r by its degree-7 Taylor polynomial: relative error < 2e-7.
inline float exp_flushed(float y) {
  const uint32_t bits = std::bit_cast<uint32_t>(y);
  const int32_t mag = int32_t(bits & 0x7fffffffu);
  const float yc = std::bit_cast<float>(uint32_t(std::min(mag, int32_t(0x42ae0000)))  // 87.0f
                                        | (bits & 0x80000000u));
  const float round = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float n = (yc * 1.44269504088896341f + round) - round;
  const float r = (yc - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  const float p = detail::exp_reduced(r);
  const float e = p * std::bit_cast<float>(uint32_t(int32_t(n) + 127) << 23);
  // All ones when y < -64 (sign set and |y| > 64.0f).
  const uint32_t flush = 0u - ((bits >> 31) & uint32_t(mag > int32_t(0x42800000)));
  return std::bit_cast<float>(std::bit_cast<uint32_t>(e) & ~flush);
}

inline float fast_silu(float x) {
  return x / (1.0f + exp_flushed(-x));
}

// Per-thread scratch only grows, so calls of a size seen before allocate nothing.
void grow(std::vector<float>& v, int64_t n) {
  if (v.size() < size_t(n)) v.resize(size_t(n));
}

float softplus(float x) {
  return x > 20.0f ? x : std::log1p(std::exp(x));
}

void check_inputs(const Dims& d, int64_t T, const DeltaInputs& in, const float* state,
                  const float* out) {
  d.validate();
  SPF_CHECK(T >= 0, "gdn: negative token count ", T);
  if (T == 0) return;
  SPF_CHECK(in.q && in.k && in.v && in.beta && in.g && state && out, "gdn: null input pointer");
  SPF_CHECK(in.stride >= std::max<int64_t>(d.key_dim(), d.value_dim()), "gdn: row stride ",
            in.stride, " shorter than a head block");
}

}  // namespace

void Dims::validate() const {
  SPF_CHECK(nk > 0 && nv > 0 && dk > 0 && dv > 0, "gdn: head counts/dims must be positive (nk=", nk,
            " nv=", nv, " dk=", dk, " dv=", dv, ")");
  SPF_CHECK(nv % nk == 0, "gdn: value heads (", nv, ") not a multiple of key heads (", nk, ")");
}

void conv_silu(const float* m, int64_t T, int64_t C, int K, const float* w, float* conv_state,
               float* out) {
  SPF_CHECK(K >= 1 && C > 0 && T >= 0, "gdn conv: bad shape T=", T, " C=", C, " K=", K);
  const int K1 = K - 1;
  // Rows of (old state ++ m), indexed from -K1.
  auto row = [&](int64_t tau) { return tau >= 0 ? m + tau * C : conv_state + (K1 + tau) * C; };

  // The new state is taken before m may be overwritten by the in-place conv. Scratch of the
  // calling thread, kept between calls (decode steps allocate nothing).
  thread_local std::vector<float> new_state, wt;
  grow(new_state, K1 * C);
  for (int r = 0; r < K1; ++r)
    std::memcpy(&new_state[size_t(r * C)], row(T - K1 + r), size_t(C) * sizeof(float));

  // Weights as [K][C]: contiguous over channels for the inner loop.
  grow(wt, K * C);
  // Inside the parallel region below, `wt` would name each worker's own (empty) thread_local.
  float* const wtp = wt.data();
  for (int64_t c = 0; c < C; ++c)
    for (int j = 0; j < K; ++j) wtp[j * C + c] = w[c * K + j];

  // Backwards in time: out[t] overwrites m[t] only after every later output that reads it is done.
  constexpr int64_t kBlock = 256;
  const int64_t n_blocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for if (T * C > 32768)
  for (int64_t cb = 0; cb < n_blocks; ++cb) {
    const int64_t c0 = cb * kBlock, nc = std::min(kBlock, C - c0);
    float acc[kBlock];
    for (int64_t t = T - 1; t >= 0; --t) {
      for (int64_t c = 0; c < nc; ++c) acc[c] = 0.0f;
      for (int j = 0; j < K; ++j) {
        const float* x = row(t - K1 + j) + c0;
        const float* wj = wtp + j * C + c0;
        for (int64_t c = 0; c < nc; ++c) acc[c] += wj[c] * x[c];
      }
      float* o = out + t * C + c0;
      for (int64_t c = 0; c < nc; ++c) o[c] = fast_silu(acc[c]);
    }
  }
  if (K1 > 0) std::memcpy(conv_state, new_state.data(), size_t(K1 * C) * sizeof(float));
}

void l2_normalize(float* x, int64_t T, int64_t stride, int n_heads, int dim, float scale) {
#pragma omp parallel for if (T * n_heads * dim > 65536)
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + t * stride + int64_t(h) * dim;
      float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
      for (int i = 0; i < dim; ++i) ss += v[i] * v[i];
      const float f = scale / std::sqrt(ss + 1e-6f);
      for (int i = 0; i < dim; ++i) v[i] *= f;
    }
  }
}

void gates(const float* b, const float* a, int64_t T, int nv, const float* A_log,
           const float* dt_bias, float* beta, float* g) {
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < nv; ++h) {
      const int64_t i = t * nv + h;
      beta[i] = ops::sigmoid(b[i]);
      g[i] = -std::exp(A_log[h]) * softplus(a[i] + dt_bias[h]);
    }
  }
}

void delta_recurrent(const Dims& d, int64_t T, const DeltaInputs& in, float* state, float* out) {
  check_inputs(d, T, in, state, out);
  const int dk = d.dk, dv = d.dv, nv = d.nv;
  const int64_t ldo = d.value_dim();
  parallel_for(nv, [&](int64_t h) {
    const int kh = d.key_head(int(h));
    float* S = state + h * dk * dv;
    // On the stack for usual head dims: heads go to threads dynamically, so per-thread scratch
    // would allocate whenever a thread runs its first head, in any decode step.
    float r_stack[512];
    std::vector<float> r_heap;
    if (dv > 512) r_heap.resize(size_t(dv));
    float* r = dv > 512 ? r_heap.data() : r_stack;
    for (int64_t t = 0; t < T; ++t) {
      const float* q = in.q + t * in.stride + int64_t(kh) * dk;
      const float* k = in.k + t * in.stride + int64_t(kh) * dk;
      const float* v = in.v + t * in.stride + h * dv;
      const float decay = exp_flushed(in.g[t * nv + h]);
      const float beta = in.beta[t * nv + h];
      // Decay, and read what the decayed state predicts for k.
      std::fill(r, r + dv, 0.0f);
      for (int i = 0; i < dk; ++i) {
        float* Si = S + int64_t(i) * dv;
        const float ki = k[i];
        for (int c = 0; c < dv; ++c) {
          Si[c] *= decay;
          r[c] += ki * Si[c];
        }
      }
      for (int c = 0; c < dv; ++c) r[c] = beta * (v[c] - r[c]);
      // Write the correction, and read the output from the updated state.
      float* o = out + t * ldo + h * dv;
      std::fill(o, o + dv, 0.0f);
      for (int i = 0; i < dk; ++i) {
        float* Si = S + int64_t(i) * dv;
        const float ki = k[i], qi = q[i];
        for (int c = 0; c < dv; ++c) {
          Si[c] += ki * r[c];
          o[c] += qi * Si[c];
        }
      }
    }
  });
}

void delta_chunked(const Dims& d, int64_t T, const DeltaInputs& in, float* state, float* out,
                   int chunk) {
  check_inputs(d, T, in, state, out);
  SPF_CHECK(chunk > 0, "gdn: chunk size must be positive, got ", chunk);
  if (T == 0) return;
  const int dk = d.dk, dv = d.dv, nv = d.nv;
  const int64_t ld = in.stride, ldo = d.value_dim();
  const int ldu = dv + dk;  // U (cols [0, dv)) and W (cols [dv, dv+dk)) solved together
  // Heads run on OpenMP threads, each issuing small sgemms that must stay on the calling thread.
  detail::BlasSingleThread blas_guard;
  parallel_for(nv, [&](int64_t h) {
    const int kh = d.key_head(int(h));
    float* S = state + h * dk * dv;
    const int64_t cs = chunk;
    thread_local std::vector<float> gam, decay, A, P, UW, Kd;
    grow(gam, cs);
    grow(decay, cs * cs);
    grow(A, cs * cs);
    grow(P, cs * cs);
    grow(UW, cs * ldu);
    grow(Kd, cs * dk);
    for (int64_t t0 = 0; t0 < T; t0 += chunk) {
      const int n = int(std::min<int64_t>(chunk, T - t0));
      const float* q = in.q + t0 * ld + int64_t(kh) * dk;
      const float* k = in.k + t0 * ld + int64_t(kh) * dk;
      const float* v = in.v + t0 * ld + h * dv;
      const float* beta = in.beta + t0 * nv + h;
      const float* g = in.g + t0 * nv + h;
      float* o = out + t0 * ldo + h * dv;

      float acc = 0.0f;  // gamma_i: cumulative log-decay within the chunk
      for (int i = 0; i < n; ++i) gam[size_t(i)] = acc += g[i * nv];
      // decay_ij = exp(gamma_i - gamma_j) <= 1 for j <= i, shared by L and the output mask.
      for (int i = 0; i < n; ++i) {
        float* row = decay.data() + size_t(i) * n;
        const float gi = gam[size_t(i)];
        for (int j = 0; j <= i; ++j) row[j] = exp_flushed(gi - gam[size_t(j)]);
      }

      // Strictly lower L_ij = beta_i (k_i . k_j) exp(gamma_i - gamma_j); the unit-diagonal solve
      // below never reads the diagonal or the upper triangle.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dk, 1.0f, k, int(ld), k, int(ld),
                  0.0f, A.data(), n);
      for (int i = 0; i < n; ++i) {
        const float bi = beta[i * nv];
        for (int j = 0; j < i; ++j) A[size_t(i * n + j)] *= bi * decay[size_t(i * n + j)];
      }
      // (I + L) [U | W] = [diag(beta) V | diag(beta exp(gamma)) K]
      for (int i = 0; i < n; ++i) {
        const float bi = beta[i * nv], bw = bi * exp_flushed(gam[size_t(i)]);
        float* row = UW.data() + size_t(i) * ldu;
        for (int c = 0; c < dv; ++c) row[c] = bi * v[i * ld + c];
        for (int c = 0; c < dk; ++c) row[dv + c] = bw * k[i * ld + c];
      }
      cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, n, ldu, 1.0f,
                  A.data(), n, UW.data(), ldu);
      // V' = U - W S: the part of each target the incoming state does not already predict.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dv, dk, -1.0f, UW.data() + dv, ldu,
                  S, dv, 1.0f, UW.data(), ldu);

      // o_i = exp(gamma_i) q_i^T S + sum_{j<=i} (q_i . k_j) exp(gamma_i - gamma_j) V'_j
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dv, dk, 1.0f, q, int(ld), S, dv,
                  0.0f, o, int(ldo));
      for (int i = 0; i < n; ++i) {
        const float e = exp_flushed(gam[size_t(i)]);
        for (int c = 0; c < dv; ++c) o[i * ldo + c] *= e;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dk, 1.0f, q, int(ld), k, int(ld),
                  0.0f, P.data(), n);
      for (int i = 0; i < n; ++i) {
        float* row = P.data() + size_t(i) * n;
        for (int j = 0; j <= i; ++j) row[j] *= decay[size_t(i * n + j)];
        for (int j = i + 1; j < n; ++j) row[j] = 0.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dv, n, 1.0f, P.data(), n, UW.data(),
                  ldu, 1.0f, o, int(ldo));

      // S <- exp(gamma_last) S + sum_j exp(gamma_last - gamma_j) k_j V'_j^T
      const float last = gam[size_t(n - 1)];
      const float e_last = exp_flushed(last);
      for (int64_t i = 0; i < int64_t(dk) * dv; ++i) S[i] *= e_last;
      for (int j = 0; j < n; ++j) {
        const float e = exp_flushed(last - gam[size_t(j)]);
        for (int c = 0; c < dk; ++c) Kd[size_t(j * dk + c)] = e * k[j * ld + c];
      }
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dk, dv, n, 1.0f, Kd.data(), dk,
                  UW.data(), ldu, 1.0f, S, dv);
    }
  });
}

void gated_rms_norm(float* o, const float* z, int64_t T, int nv, int dv, const float* w,
                    float eps) {
#pragma omp parallel for if (T * nv * dv > 65536)
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < nv; ++h) {
      float* x = o + (t * nv + h) * dv;
      const float* zz = z + (t * nv + h) * dv;
      float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
      for (int c = 0; c < dv; ++c) ss += x[c] * x[c];
      const float inv = 1.0f / std::sqrt(ss / float(dv) + eps);
      for (int c = 0; c < dv; ++c) x[c] = w[c] * (x[c] * inv) * fast_silu(zz[c]);
    }
  }
}

void mix(const Dims& d, int K, int64_t T, float* m, const float* z, const float* a, const float* b,
         const MixerWeights& w, float eps, float* conv_state, float* state, float* out,
         DeltaMode mode) {
  d.validate();
  if (T == 0) return;
  const int64_t C = d.channels();
  conv_silu(m, T, C, K, w.conv_w, conv_state, m);
  l2_normalize(m, T, C, d.nk, d.dk, 1.0f / std::sqrt(float(d.dk)));
  l2_normalize(m + d.key_dim(), T, C, d.nk, d.dk, 1.0f);
  thread_local std::vector<float> beta, g;
  grow(beta, T * d.nv);
  grow(g, T * d.nv);
  gates(b, a, T, d.nv, w.A_log, w.dt_bias, beta.data(), g.data());
  const DeltaInputs in{m, m + d.key_dim(), m + 2 * d.key_dim(), C, beta.data(), g.data()};
  if (mode == DeltaMode::automatic)
    mode = T <= kRecurrentMaxTokens ? DeltaMode::recurrent : DeltaMode::chunked;
  if (mode == DeltaMode::recurrent) {
    delta_recurrent(d, T, in, state, out);
  } else {
    delta_chunked(d, T, in, state, out);
  }
  gated_rms_norm(out, z, T, d.nv, d.dv, w.norm_w, eps);
}

}  // namespace spf::gdn
