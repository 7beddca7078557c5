#include "support/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace spf {

namespace {

// Per tile: marks, for each group, which keys of the tile the query's support row admits, then adds
// up the admitted mass and checks critical pairs.
class MassInSupport : public ProbVisitor {
 public:
  MassInSupport(const AttentionShape& s, const Support& sup, float threshold, int slots)
      : s_(s), sup_(sup), threshold_(threshold), retained_(size_t(s.n_q), 0.0) {
    for (int h = 0; h < s.n_heads; ++h)
      group_.push_back(sup.group_of_head(h, s.n_heads, s.n_kv_heads));
    slots_.resize(size_t(slots));
  }

  void tile(const ProbTile& t) override {
    Slot& w = slots_[size_t(t.slot)];
    const int G = sup_.n_groups;
    w.mask.resize(size_t(G) * size_t(t.nk));
    w.critical.resize(size_t(t.nk));
    w.dropped.resize(size_t(t.nk));
    const int64_t kb = sup_.k_block;
    for (int64_t i = 0; i < t.nq; ++i) {
      const int64_t q = t.q0 + i;
      const int64_t pos = s_.q_pos0 + q;
      const int64_t n_vis = std::clamp<int64_t>(pos - t.k0 + 1, 0, t.nk);
      if (n_vis == 0) continue;
      for (int g = 0; g < G; ++g) {
        char* m = w.mask.data() + size_t(g) * size_t(t.nk);
        std::fill(m, m + t.nk, 0);
        const auto cols = sup_.row(g, q / sup_.q_block);
        auto it = std::lower_bound(cols.begin(), cols.end(), int32_t(t.k0 / kb));
        for (; it != cols.end() && int64_t(*it) * kb < t.k0 + n_vis; ++it) {
          const int64_t a = std::max<int64_t>(int64_t(*it) * kb, t.k0) - t.k0;
          const int64_t b = std::min<int64_t>((int64_t(*it) + 1) * kb - t.k0, n_vis);
          std::fill(m + a, m + b, 1);
        }
      }
      std::fill(w.critical.begin(), w.critical.end(), 0);
      std::fill(w.dropped.begin(), w.dropped.end(), 0);
      double kept = 0.0;
      for (int h = 0; h < t.n_heads; ++h) {
        const float* p = t.row(h, i);
        const char* m = w.mask.data() + size_t(group_[size_t(h)]) * size_t(t.nk);
        float in = 0.0f;
#pragma omp simd reduction(+ : in)
        for (int64_t j = 0; j < n_vis; ++j) {
          in += m[j] ? p[j] : 0.0f;
          const bool crit = p[j] > threshold_;
          w.critical[size_t(j)] |= char(crit);
          w.dropped[size_t(j)] |= char(crit && !m[j]);
        }
        kept += in;
      }
      retained_[size_t(q)] += kept / double(t.n_heads);
      for (int64_t j = 0; j < n_vis; ++j) {
        w.n_critical += w.critical[size_t(j)];
        w.n_dropped += w.dropped[size_t(j)];
      }
    }
  }

  void finish(SupportDiagnostics& d) const {
    double sum = 0.0;
    for (const double r : retained_) sum += r;
    d.retained_mass = sum / double(s_.n_q);
    for (const Slot& w : slots_) {
      d.critical_pairs += w.n_critical;
      d.critical_dropped += w.n_dropped;
    }
  }

 private:
  struct Slot {
    std::vector<char> mask, critical, dropped;
    int64_t n_critical = 0, n_dropped = 0;
  };
  AttentionShape s_;
  const Support& sup_;
  float threshold_;
  std::vector<int> group_;
  std::vector<double> retained_;  // per query: written only by the thread that owns its query tile
  std::vector<Slot> slots_;
};

void check_match(const AttentionShape& s, const Support& sup) {
  SPF_CHECK(sup.n_q == s.n_q && sup.n_kv == s.n_kv && sup.q_pos0 == s.q_pos0,
            "support diagnostics: support is for n_q = ", sup.n_q, ", n_kv = ", sup.n_kv,
            ", q_pos0 = ", sup.q_pos0, " but the call has n_q = ", s.n_q, ", n_kv = ", s.n_kv,
            ", q_pos0 = ", s.q_pos0);
}

}  // namespace

SupportDiagnostics support_mass_diagnostics(AttentionExecutor& executor, const AttentionCall& call,
                                            const Support& support, float critical_threshold) {
  call.shape.validate();
  check_match(call.shape, support);
  support.validate();
  SupportDiagnostics d;
  d.critical_threshold = critical_threshold;
  d.density = support.density();
  MassInSupport visitor(call.shape, support, critical_threshold, executor.worker_slots());
  executor.visit_probabilities(call, executor.row_stats(call), visitor);
  visitor.finish(d);
  return d;
}

double relative_error(const float* a, const float* b, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t x = 0; x < n; ++x) {
    const double diff = double(a[x]) - double(b[x]);
    num += diff * diff;
    den += double(b[x]) * double(b[x]);
  }
  if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
  return std::sqrt(num / den);
}

SupportDiagnostics diagnose_support(AttentionExecutor& executor, const AttentionCall& call,
                                    const Support& support, const float* sparse_out,
                                    const float* dense_out, float critical_threshold) {
  SupportDiagnostics d = support_mass_diagnostics(executor, call, support, critical_threshold);
  const AttentionShape& s = call.shape;
  const int64_t n = s.n_q * s.n_heads * s.head_dim;
  std::vector<float> dense;
  if (dense_out == nullptr) {
    dense.resize(size_t(n));
    AttentionCall c = call;
    c.out = TensorView::of(dense.data(), {s.n_q, s.n_heads, s.head_dim});
    c.lse = {};
    executor.dense(c);
    dense_out = dense.data();
  }
  d.rel_error = relative_error(sparse_out, dense_out, n);
  return d;
}

}  // namespace spf
