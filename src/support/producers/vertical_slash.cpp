#include "support/producers/vertical_slash.h"

#include <algorithm>

#include "core/error.h"
#include "support/select.h"

namespace spf {

namespace {

// Accumulates, per worker slot, the probe's group-averaged mass per key (vertical) and per offset
// pos - key (slash); slots are summed afterwards.
class LineMass : public ProbVisitor {
 public:
  LineMass(const AttentionShape& probe, int n_groups, int slots)
      : probe_(probe), n_groups_(n_groups) {
    group_.resize(size_t(probe.n_heads));
    std::vector<int> members(size_t(n_groups), 0);
    for (int h = 0; h < probe.n_heads; ++h) {
      group_[size_t(h)] = group_of_head(h, n_groups, probe.n_heads, probe.n_kv_heads);
      ++members[size_t(group_[size_t(h)])];
    }
    for (int h = 0; h < probe.n_heads; ++h)
      weight_.push_back(1.0f / float(members[size_t(group_[size_t(h)])]));
    vertical_.resize(size_t(slots));
    slash_.resize(size_t(slots));
  }

  void tile(const ProbTile& t) override {
    const size_t n = size_t(n_groups_) * size_t(probe_.n_kv);
    std::vector<float>& v = vertical_[size_t(t.slot)];
    std::vector<float>& s = slash_[size_t(t.slot)];
    if (v.size() != n) {
      v.assign(n, 0.0f);
      s.assign(n, 0.0f);
    }
    for (int h = 0; h < t.n_heads; ++h) {
      const float w = weight_[size_t(h)];
      float* vg = v.data() + size_t(group_[size_t(h)]) * size_t(probe_.n_kv);
      float* sg = s.data() + size_t(group_[size_t(h)]) * size_t(probe_.n_kv);
      for (int64_t i = 0; i < t.nq; ++i) {
        const float* p = t.row(h, i);
        const int64_t pos = probe_.q_pos0 + t.q0 + i;
        const int64_t n_vis = std::min<int64_t>(t.nk, pos - t.k0 + 1);
        for (int64_t j = 0; j < n_vis; ++j) {
          vg[t.k0 + j] += w * p[j];
          sg[pos - (t.k0 + j)] += w * p[j];
        }
      }
    }
  }

  // Sums the slots: [n_groups][n_kv] each.
  void totals(std::vector<float>& vertical, std::vector<float>& slash) const {
    const size_t n = size_t(n_groups_) * size_t(probe_.n_kv);
    vertical.assign(n, 0.0f);
    slash.assign(n, 0.0f);
    for (size_t slot = 0; slot < vertical_.size(); ++slot) {
      if (vertical_[slot].size() != n) continue;
      for (size_t x = 0; x < n; ++x) {
        vertical[x] += vertical_[slot][x];
        slash[x] += slash_[slot][x];
      }
    }
  }

 private:
  AttentionShape probe_;
  int n_groups_;
  std::vector<int> group_;
  std::vector<float> weight_;
  std::vector<std::vector<float>> vertical_, slash_;
};

}  // namespace

VerticalSlashProducer::VerticalSlashProducer(ProducerOptions options) : options_(options) {
  options_.validate();
  SPF_CHECK(options_.budget.kind != BudgetKind::top_p, "vertical_slash support: budget ",
            options_.budget.str(), " is top-p; use k=N or a fraction");
}

Support VerticalSlashProducer::produce(const AttentionCall& call, AttentionExecutor& executor) {
  call.shape.validate();
  const AttentionShape& s = call.shape;
  const int n_groups = n_groups_for(options_.groups, s);
  const Support layout = support_layout(s, options_.block, options_.block, n_groups);

  // The probe: the call's last queries, as a call of their own.
  const int64_t n_probe = std::min<int64_t>(options_.probe_queries, s.n_q);
  const AttentionCall probe = call.query_slice(s.n_q - n_probe, n_probe);
  const MassOptions tiles{8, 256};  // short query tiles: the probe is small, spread it over threads
  LineMass lines(probe.shape, n_groups, executor.worker_slots());
  executor.visit_probabilities(probe, executor.row_stats(probe, tiles), lines, tiles);
  std::vector<float> vertical, slash;
  lines.totals(vertical, slash);

  // Lines per column and per block offset (token granularity: one key each).
  const int64_t kb = options_.block, n_cols = layout.n_cols();
  std::vector<float> vcol(size_t(n_groups) * size_t(n_cols), 0.0f), scol(vcol.size(), 0.0f);
  for (int g = 0; g < n_groups; ++g) {
    for (int64_t j = 0; j < s.n_kv; ++j) {
      vcol[size_t(g * n_cols + j / kb)] += vertical[size_t(g * s.n_kv + j)];
      scol[size_t(g * n_cols + j / kb)] += slash[size_t(g * s.n_kv + j)];
    }
  }
  return select_support(layout, options_.budget, [&](int g, int64_t r, std::span<float> score) {
    const int64_t diag = layout.row_last_pos(r) / kb;  // the row's own column
    const float* v = vcol.data() + g * n_cols;
    const float* sl = scol.data() + g * n_cols;
    for (size_t c = 0; c < score.size(); ++c) score[c] = std::max(v[c], sl[diag - int64_t(c)]);
  });
}

}  // namespace spf
