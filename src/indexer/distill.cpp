#include "indexer/distill.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace spf {

namespace {

class TargetVisitor : public ProbVisitor {
 public:
  TargetVisitor(const AttentionShape& s, int n_groups, float* out)
      : shape_(s), n_groups_(n_groups), out_(out) {}
  void tile(const ProbTile& t) override {
    const int hpg = shape_.n_heads / n_groups_;
    const float inv = 1.0f / float(hpg);
    const int64_t nq = shape_.n_q, nk = shape_.n_kv;
    for (int h = 0; h < t.n_heads; ++h) {
      const int g = h / hpg;
      for (int64_t i = 0; i < t.nq; ++i) {
        const float* p = t.row(h, i);
        float* o = out_ + (int64_t(g) * nq + t.q0 + i) * nk + t.k0;
        for (int64_t j = 0; j < t.nk; ++j) o[j] += inv * p[j];
      }
    }
  }

 private:
  AttentionShape shape_;
  int n_groups_;
  float* out_;
};

}  // namespace

void head_averaged_targets(AttentionExecutor& executor, const AttentionCall& call, int n_groups,
                           std::vector<float>& out) {
  const AttentionShape& s = call.shape;
  SPF_CHECK(n_groups == 1 || n_groups == s.n_kv_heads, "indexer targets: ", n_groups,
            " groups for a layer of ", s.n_kv_heads, " KV heads (must be 1 or ", s.n_kv_heads, ")");
  out.assign(size_t(n_groups) * size_t(s.n_q) * size_t(s.n_kv), 0.0f);
  const RowStats stats = executor.row_stats(call, {});
  TargetVisitor visitor(s, n_groups, out.data());
  executor.visit_probabilities(call, stats, visitor, {});
}

namespace {

// z = q k^T / sqrt(d), then causal log-softmax per row in place (row i keeps 0 .. i).
void log_softmax_rows(const float* q, const float* k, int64_t n, int d, float* z) {
  const float scale = 1.0f / std::sqrt(float(d));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(n), d, scale, q, d, k, d, 0.0f,
              z, int(n));
#pragma omp parallel for schedule(dynamic, 16) if (n > 64)
  for (int64_t i = 0; i < n; ++i) {
    float* r = z + i * n;
    float m = r[0];
    for (int64_t j = 1; j <= i; ++j) m = std::max(m, r[j]);
    double sum = 0;
    for (int64_t j = 0; j <= i; ++j) sum += std::exp(double(r[j] - m));
    const float lse = m + float(std::log(sum));
    for (int64_t j = 0; j <= i; ++j) r[j] -= lse;
  }
}

void forward_qk(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer, int group,
                const float* x, int64_t n, DistillScratch& s) {
  const IndexerConfig& c = w.config;
  s.q.resize(size_t(n * c.d_idx));
  s.k.resize(size_t(n * c.d_idx));
  if (c.n_heads > 1) {
    s.heads.resize(size_t(n * c.wq_rows()));
    s.mix.resize(size_t(n * c.n_heads));
  }
  indexer_queries(w, inv_freq, layer, group, x, n, 0, s.q.data(),
                  c.n_heads > 1 ? s.heads.data() : nullptr, c.n_heads > 1 ? s.mix.data() : nullptr);
  indexer_keys(w, inv_freq, layer, group, x, n, 0, s.k.data());
  s.z.resize(size_t(n * n));
  log_softmax_rows(s.q.data(), s.k.data(), n, c.d_idx, s.z.data());
}

// dW[out][in] += dy[n][out]^T x[n][in]
void accumulate_weight_grad(const float* dy, int64_t n, int64_t out, const float* x, int64_t in,
                            float* dw) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(out), int(in), int(n), 1.0f, dy,
              int(out), x, int(in), 1.0f, dw, int(in));
}

}  // namespace

void scorer_log_probs(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer,
                      int group, const float* x, int64_t n, std::vector<float>& out,
                      DistillScratch& scratch) {
  forward_qk(w, inv_freq, layer, group, x, n, scratch);
  out.swap(scratch.z);
}

double distill_scorer(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer,
                      int group, const float* x, int64_t n, const float* P, double grad_scale,
                      float* grad, DistillScratch& s) {
  const IndexerConfig& c = w.config;
  const int d = c.d_idx, H = c.n_heads;
  forward_qk(w, inv_freq, layer, group, x, n, s);
  // z now holds log S; turn it into dL/dz * grad_scale / sqrt(d) (the q.k scale folded in) and
  // collect each row's KL.
  s.row_loss.assign(size_t(n), 0.0);
  const float gscale = float(grad_scale / std::sqrt(double(d)));
  float* z = s.z.data();
#pragma omp parallel for schedule(dynamic, 16) if (n > 64)
  for (int64_t i = 0; i < n; ++i) {
    float* r = z + i * n;
    const float* p = P + i * n;
    double kl = 0;
    for (int64_t j = 0; j <= i; ++j) {
      const float ls = r[j];
      if (p[j] > 0.0f) kl += double(p[j]) * (std::log(double(p[j])) - double(ls));
      r[j] = gscale * (std::exp(ls) - p[j]);
    }
    for (int64_t j = i + 1; j < n; ++j) r[j] = 0.0f;
    s.row_loss[size_t(i)] = float(kl);
  }
  double loss = 0;
  for (const float v : s.row_loss) loss += double(v);  // serial: the same sum whatever the threads
  if (grad == nullptr) return loss;

  // dq = G k, dk = G^T q (G = the scaled dL/dz now in z).
  s.dq.resize(size_t(n * d));
  s.dk.resize(size_t(n * d));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), d, int(n), 1.0f, z, int(n),
              s.k.data(), d, 0.0f, s.dq.data(), d);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(n), d, int(n), 1.0f, z, int(n),
              s.q.data(), d, 0.0f, s.dk.data(), d);
  indexer_rope(c, inv_freq, s.dq.data(), n, 0, true);
  indexer_rope(c, inv_freq, s.dk.data(), n, 0, true);

  const int64_t dm = c.d_model;
  float* gq = grad + param_offset(c, layer, group, IndexerMatrix::wq);
  float* gk = grad + param_offset(c, layer, group, IndexerMatrix::wk);
  accumulate_weight_grad(s.dk.data(), n, d, x, dm, gk);
  if (H == 1) {
    accumulate_weight_grad(s.dq.data(), n, d, x, dm, gq);
    return loss;
  }
  // q_pre = sum_h mix_h q_h: d q_h = mix_h dq, d mix_h = q_h . dq.
  s.dheads.resize(size_t(n * H * d));
  s.dmix.resize(size_t(n * H));
#pragma omp parallel for if (n > 64)
  for (int64_t t = 0; t < n; ++t) {
    const float* g = s.dq.data() + t * d;
    for (int h = 0; h < H; ++h) {
      const float m = s.mix[size_t(t * H + h)];
      const float* qh = s.heads.data() + (t * H + h) * d;
      float* dh = s.dheads.data() + (t * H + h) * d;
      float dot = 0;
      for (int e = 0; e < d; ++e) {
        dh[e] = m * g[e];
        dot += qh[e] * g[e];
      }
      s.dmix[size_t(t * H + h)] = dot;
    }
  }
  accumulate_weight_grad(s.dheads.data(), n, int64_t(H) * d, x, dm, gq);
  accumulate_weight_grad(s.dmix.data(), n, H, x, dm,
                         grad + param_offset(c, layer, group, IndexerMatrix::ww));
  return loss;
}

}  // namespace spf
