#include "indexer/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attention/cpu/cpu_executor.h"
#include "core/error.h"
#include "core/threads.h"
#include "indexer/distill.h"

namespace spf {

namespace {

// Indices of the top `k` of v[0 .. n), best first (ties: lower index).
void top_indices(const float* v, int64_t n, int64_t k, std::vector<int32_t>& idx) {
  idx.resize(size_t(n));
  std::iota(idx.begin(), idx.end(), 0);
  auto better = [v](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
}

class MetricsBackend : public AttentionBackend {
 public:
  MetricsBackend(const IndexerWeights& w, std::vector<double> fractions, int block)
      : w_(w),
        fractions_(std::move(fractions)),
        block_(block),
        inv_freq_(indexer_inv_freq(w.config)) {
    out_.resize(size_t(w.config.n_layers));
  }

  void attend(const AttentionCall& call) override {
    call.validate();
    AttentionExecutor& ex = cpu_executor();
    ex.dense(call);
    const IndexerConfig& c = w_.config;
    const int64_t n = call.shape.n_q;
    SPF_CHECK(call.shape.q_pos0 == 0 && n == call.shape.n_kv,
              "indexer metrics: one forward from position 0");
    SPF_CHECK(call.attention_layer < c.n_layers && call.hidden.ptr != nullptr &&
                  call.hidden.shape[1] == c.d_model,
              "indexer metrics: the indexer does not fit this model");
    head_averaged_targets(ex, call, c.n_groups, targets_);
    LayerMetrics& lm = out_[size_t(call.attention_layer)];
    lm.layer = call.attention_layer;
    lm.budgets.assign(fractions_.size(), {});
    for (size_t b = 0; b < fractions_.size(); ++b) lm.budgets[b].fraction = fractions_[b];
    const float* x = call.hidden.data<float>();
    for (int g = 0; g < c.n_groups; ++g) {
      scorer_log_probs(w_, inv_freq_, call.attention_layer, g, x, n, logs_, scratch_);
      measure(targets_.data() + size_t(g) * size_t(n * n), n, lm);
    }
    lm.scale(1.0 / (double(n) * double(c.n_groups)));
  }

  std::vector<LayerMetrics> out_;

 private:
  void measure(const float* P, int64_t n, LayerMetrics& lm) {
    const size_t nb = fractions_.size();
    const double fmax = *std::max_element(fractions_.begin(), fractions_.end());
    const int slots = num_threads();
    // Per query, per budget: recall, mass, oracle mass; summed per slot then serially.
    std::vector<double> acc(size_t(slots) * (1 + 3 * nb), 0.0);
#pragma omp parallel
    {
      const int slot = omp_get_thread_num();
      double* a = acc.data() + size_t(slot) * (1 + 3 * nb);
      std::vector<int32_t> top_p, top_s;
      std::vector<uint8_t> mark(size_t(n), 0);
#pragma omp for schedule(dynamic, 16)
      for (int64_t i = 0; i < n; ++i) {
        const float* p = P + i * n;
        const float* ls = logs_.data() + size_t(i * n);
        const int64_t avail = i + 1;
        double kl = 0;
        for (int64_t j = 0; j < avail; ++j)
          if (p[j] > 0) kl += double(p[j]) * (std::log(double(p[j])) - double(ls[j]));
        a[0] += kl;
        const int64_t kmax = topk_keep(fmax, avail);
        top_indices(p, avail, kmax, top_p);
        top_indices(ls, avail, kmax, top_s);
        for (size_t b = 0; b < nb; ++b) {
          const int64_t k = topk_keep(fractions_[b], avail);
          double mass = 0, omass = 0;
          int64_t hit = 0;
          for (int64_t t = 0; t < k; ++t) mark[size_t(top_s[size_t(t)])] = 1;
          for (int64_t t = 0; t < k; ++t) {
            hit += mark[size_t(top_p[size_t(t)])];
            omass += p[top_p[size_t(t)]];
            mass += p[top_s[size_t(t)]];
          }
          for (int64_t t = 0; t < k; ++t) mark[size_t(top_s[size_t(t)])] = 0;
          a[1 + 3 * b] += double(hit) / double(k);
          a[2 + 3 * b] += mass;
          a[3 + 3 * b] += omass;
        }
      }
    }
    for (int s = 0; s < slots; ++s) {
      const double* a = acc.data() + size_t(s) * (1 + 3 * nb);
      lm.kl += a[0];
      for (size_t b = 0; b < nb; ++b) {
        lm.budgets[b].recall += a[1 + 3 * b];
        lm.budgets[b].mass += a[2 + 3 * b];
        lm.budgets[b].oracle_mass += a[3 + 3 * b];
      }
    }
    measure_blocks(P, n, lm);
  }

  // Block-shared indexer and block oracle: per query block, key blocks by pooled-query log-sum-exp
  // (indexer) or by the true mass of the block's queries (oracle).
  void measure_blocks(const float* P, int64_t n, LayerMetrics& lm) {
    const int B = block_;
    const int d = w_.config.d_idx;
    const float* q = scratch_.q.data();
    const float* k = scratch_.k.data();
    const int64_t n_rows = (n + B - 1) / B;
    const size_t nb = fractions_.size();
    std::vector<double> row_acc(size_t(n_rows) * 2 * nb, 0.0);
    const float inv_sqrt_d = 1.0f / std::sqrt(float(d));
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t r = 0; r < n_rows; ++r) {
      const int64_t i0 = r * B, i1 = std::min(n, i0 + B);
      const int64_t avail = (i1 - 1) / B + 1;  // key blocks visible to the block's last query
      std::vector<float> pooled(static_cast<size_t>(d), 0.0f), score(static_cast<size_t>(avail)),
          truth(static_cast<size_t>(avail), 0.0f);
      for (int64_t i = i0; i < i1; ++i)
        for (int e = 0; e < d; ++e) pooled[size_t(e)] += q[i * d + e];
      for (float& v : pooled) v /= float(i1 - i0);
      for (int64_t cb = 0; cb < avail; ++cb) {
        const int64_t j0 = cb * B, j1 = std::min(i1, j0 + B);
        float m = -INFINITY;
        std::vector<float> z(size_t(j1 - j0));
        for (int64_t j = j0; j < j1; ++j) {
          float acc = 0;
          for (int e = 0; e < d; ++e) acc += pooled[size_t(e)] * k[j * d + e];
          z[size_t(j - j0)] = acc * inv_sqrt_d;
          m = std::max(m, z[size_t(j - j0)]);
        }
        double s = 0;
        for (const float v : z) s += std::exp(double(v - m));
        score[size_t(cb)] = m + float(std::log(s));
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < std::min(j1, i + 1); ++j) truth[size_t(cb)] += P[i * n + j];
      }
      std::vector<int32_t> ts, to;
      const double fmax = *std::max_element(fractions_.begin(), fractions_.end());
      const int64_t kmax = topk_keep(fmax, avail);
      top_indices(score.data(), avail, kmax, ts);
      top_indices(truth.data(), avail, kmax, to);
      for (size_t b = 0; b < nb; ++b) {
        const int64_t kb = topk_keep(fractions_[b], avail);
        // Mass of P_i, summed over the block's queries i, in the first kb blocks of `order`.
        auto kept_mass = [&](const std::vector<int32_t>& order) {
          double total = 0;
          for (int64_t i = i0; i < i1; ++i)
            for (int64_t t = 0; t < kb; ++t) {
              const int64_t j0 = int64_t(order[size_t(t)]) * B, j1 = std::min(i + 1, j0 + B);
              for (int64_t j = j0; j < j1; ++j) total += P[i * n + j];
            }
          return total;
        };
        const double mi = kept_mass(ts), mo = kept_mass(to);
        row_acc[size_t(r) * 2 * nb + 2 * b] = mi;
        row_acc[size_t(r) * 2 * nb + 2 * b + 1] = mo;
      }
    }
    for (int64_t r = 0; r < n_rows; ++r)
      for (size_t b = 0; b < nb; ++b) {
        lm.budgets[b].block_mass += row_acc[size_t(r) * 2 * nb + 2 * b];
        lm.budgets[b].block_oracle_mass += row_acc[size_t(r) * 2 * nb + 2 * b + 1];
      }
  }

  const IndexerWeights& w_;
  std::vector<double> fractions_;
  int block_;
  std::vector<float> inv_freq_, targets_, logs_;
  DistillScratch scratch_;
};

}  // namespace

std::vector<LayerMetrics> indexer_metrics(const Model& model, const IndexerWeights& w,
                                          std::span<const int32_t> ids,
                                          const std::vector<double>& fractions, int block) {
  SPF_CHECK(!fractions.empty(), "indexer metrics: no budgets");
  for (const double f : fractions)
    SPF_CHECK(f > 0 && f <= 1, "indexer metrics: fraction ", f, " outside (0, 1]");
  SPF_CHECK(block >= 1, "indexer metrics: block ", block, " (must be >= 1)");
  MetricsBackend b(w, fractions, block);
  auto state = model.new_state(int64_t(ids.size()));
  std::vector<float> logits(size_t(model.config().vocab_size));
  model.forward(ids, *state, b, LogitsMode::last, logits);
  return b.out_;
}

LayerMetrics mean_metrics(const std::vector<LayerMetrics>& layers) {
  LayerMetrics m;
  m.layer = -1;
  if (layers.empty()) return m;
  m.budgets.assign(layers[0].budgets.size(), {});
  for (const LayerMetrics& l : layers) {
    m.kl += l.kl;
    for (size_t b = 0; b < m.budgets.size(); ++b) {
      m.budgets[b].fraction = l.budgets[b].fraction;
      m.budgets[b].add(l.budgets[b]);
    }
  }
  m.scale(1.0 / double(layers.size()));
  return m;
}

}  // namespace spf
