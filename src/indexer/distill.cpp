#include "indexer/distill.h"

#include <cblas.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "support/budget.h"

namespace spf {

namespace {

std::string shortest(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// A finite number filling all of `text` (a trailing '%' divides by 100 when percent_ok).
bool parse_number(std::string text, bool percent_ok, double& out) {
  double div = 1;
  if (percent_ok && !text.empty() && text.back() == '%') {
    text.pop_back();
    div = 100;
  }
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) return false;
  out /= div;
  return std::isfinite(out);
}

}  // namespace

std::string DistillLoss::spec() const {
  if (is_kl()) return "kl";
  const char* head = top_term == TopTerm::full_ce ? "kl+topce:" : "kl+topk:";
  return cat(head, shortest(topk_lambda), ":", shortest(topk_frac));
}

DistillLoss parse_distill_loss(const std::string& spec) {
  const char* usage =
      " (expected kl, kl+topk:LAMBDA[:FRAC] or kl+topce:LAMBDA[:FRAC], e.g. kl+topce:1:5%)";
  DistillLoss loss;
  if (spec == "kl") return loss;
  std::string head = "kl+topk:";
  if (spec.starts_with("kl+topce:")) {
    head = "kl+topce:";
    loss.top_term = DistillLoss::TopTerm::full_ce;
  }
  SPF_CHECK(spec.starts_with(head), "--loss ", spec, usage);
  const std::string rest = spec.substr(head.size());
  const size_t colon = rest.find(':');
  const bool lambda_ok = parse_number(rest.substr(0, colon), false, loss.topk_lambda);
  SPF_CHECK(lambda_ok && loss.topk_lambda > 0, "--loss ", spec, ": LAMBDA '", rest.substr(0, colon),
            "' must be a number > 0", usage);
  if (colon != std::string::npos) {
    const bool frac_ok = parse_number(rest.substr(colon + 1), true, loss.topk_frac);
    SPF_CHECK(frac_ok && loss.topk_frac > 0 && loss.topk_frac <= 1, "--loss ", spec, ": FRAC '",
              rest.substr(colon + 1), "' must be a fraction in (0, 1] or a percentage", usage);
  }
  return loss;
}

int64_t topk_keep(double frac, int64_t avail) {
  return budget_columns(Budget::fraction(frac), avail, 1);
}

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
                      float* grad, DistillScratch& s, const DistillLoss& loss_spec,
                      DistillTerms* terms) {
  const IndexerConfig& c = w.config;
  const int d = c.d_idx, H = c.n_heads;
  forward_qk(w, inv_freq, layer, group, x, n, s);
  // z now holds log S; turn it into dL/dz * grad_scale / sqrt(d) (the q.k scale folded in) and
  // collect each row's KL.
  //
  // The top-k term of row i, T = the top k_i keys of P_i (ties: lower index, as metrics.h),
  // P~_j = P_j / sum_T P (j in T). The keys are chosen from this layer's dense target row block
  // (no matrix per head).
  //
  // kl+topk:   log S~_j = log S_j - log sum_T S,   L~_i = sum_{j in T} P~_j (log P~_j - log S~_j).
  //   S~ is the softmax of the raw scores u over T alone, so dL~_i/du_j = S~_j - P~_j for j in T
  //   and 0 elsewhere; the row's gradient is (S_j - P_j) + lambda [j in T] (S~_j - P~_j).
  // kl+topce:  L~_i = -sum_{j in T} P~_j log S_j (S the full causal softmax). With sum_T P~ = 1,
  //   dL~_i/du_j = S_j - P~_j [j in T] for every causal j: keys outside T are pushed down too.
  //   The row's gradient is (1 + lambda) S_j - P_j - lambda P~_j [j in T]. (A row whose T holds no
  //   target mass has P~ = 0: no term, no gradient.)
  const bool topk = !loss_spec.is_kl();
  const bool full_ce = topk && loss_spec.top_term == DistillLoss::TopTerm::full_ce;
  const float lambda = float(loss_spec.topk_lambda);
  s.row_loss.assign(size_t(n), 0.0);
  s.row_topk.assign(topk ? size_t(n) : 0, 0.0);
  const float gscale = float(grad_scale / std::sqrt(double(d)));
  float* z = s.z.data();
#pragma omp parallel if (n > 64)
  {
    std::vector<int32_t> sel;
    std::vector<float> extra;  // per selected key: S~ - P~ (topk) or -P~ (topce)
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; ++i) {
      float* r = z + i * n;
      const float* p = P + i * n;
      int64_t k = 0;
      float s_weight = 1.0f;  // the factor of S_j in the row's gradient (1 + lambda for topce)
      if (topk) {
        const int64_t avail = i + 1;
        k = topk_keep(loss_spec.topk_frac, avail);
        sel.resize(size_t(avail));
        std::iota(sel.begin(), sel.end(), 0);
        auto better = [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); };
        std::nth_element(sel.begin(), sel.begin() + (k - 1), sel.end(), better);
        std::sort(sel.begin(), sel.begin() + k);  // a fixed summation order
        double pt = 0;
        for (int64_t t = 0; t < k; ++t) pt += double(p[sel[size_t(t)]]);
        extra.resize(size_t(k));
        if (full_ce) {
          double ce = 0;
          for (int64_t t = 0; t < k; ++t) {
            const int32_t j = sel[size_t(t)];
            const double pj = pt > 0 ? double(p[j]) / pt : 0.0;
            if (pj > 0) ce -= pj * double(r[j]);
            extra[size_t(t)] = float(-pj);
          }
          if (pt > 0) s_weight = 1.0f + lambda;
          s.row_topk[size_t(i)] = float(ce);
        } else {
          float m = r[sel[0]];
          for (int64_t t = 1; t < k; ++t) m = std::max(m, r[sel[size_t(t)]]);
          double se = 0;
          for (int64_t t = 0; t < k; ++t) se += std::exp(double(r[sel[size_t(t)]] - m));
          const double log_st = double(m) + std::log(se);
          double kl_top = 0;
          for (int64_t t = 0; t < k; ++t) {
            const int32_t j = sel[size_t(t)];
            const double pj = pt > 0 ? double(p[j]) / pt : 0.0;
            const double log_sj = double(r[j]) - log_st;
            if (pj > 0) kl_top += pj * (std::log(pj) - log_sj);
            extra[size_t(t)] = float(std::exp(log_sj) - pj);
          }
          s.row_topk[size_t(i)] = float(kl_top);
        }
      }
      double kl = 0;
      for (int64_t j = 0; j <= i; ++j) {
        const float ls = r[j];
        if (p[j] > 0.0f) kl += double(p[j]) * (std::log(double(p[j])) - double(ls));
        r[j] = gscale * (s_weight * std::exp(ls) - p[j]);
      }
      for (int64_t j = i + 1; j < n; ++j) r[j] = 0.0f;
      for (int64_t t = 0; t < k; ++t) r[sel[size_t(t)]] += gscale * lambda * extra[size_t(t)];
      s.row_loss[size_t(i)] = float(kl);
    }
  }
  double kl_sum = 0, topk_sum = 0;
  for (const float v : s.row_loss)
    kl_sum += double(v);  // serial: the same sum whatever the threads
  for (const float v : s.row_topk) topk_sum += double(v);
  if (terms != nullptr) *terms = {kl_sum, topk_sum};
  const double loss = topk ? kl_sum + loss_spec.topk_lambda * topk_sum : kl_sum;
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
