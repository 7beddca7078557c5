#include "attention/cpu/block_mass.h"

#include <algorithm>

#include "attention/support_view.h"
#include "core/error.h"

namespace spf {

namespace {
// Per-slot accumulator budget in floats (16 MiB); per-head supports over long sequences get short
// tiles.
constexpr int64_t kAccFloats = int64_t(4) << 20;
constexpr int64_t kTargetQueries = 64;
}  // namespace

BlockMassVisitor::BlockMassVisitor(const AttentionShape& shape, int q_block, int k_block,
                                   int n_groups)
    : shape_(shape), q_block_(q_block), k_block_(k_block), n_groups_(n_groups) {
  shape.validate();
  SPF_CHECK(q_block >= 1 && k_block >= 1, "block mass: block sizes ", q_block, " x ", k_block,
            " (must be >= 1)");
  n_cols_ = (shape.n_kv + k_block - 1) / k_block;
  group_.resize(size_t(shape.n_heads));
  std::vector<int> members(size_t(n_groups), 0);
  for (int h = 0; h < shape.n_heads; ++h) {
    group_[size_t(h)] = group_of_head(h, n_groups, shape.n_heads, shape.n_kv_heads);
    ++members[size_t(group_[size_t(h)])];
  }
  weight_.resize(size_t(shape.n_heads));
  for (int h = 0; h < shape.n_heads; ++h)
    weight_[size_t(h)] = 1.0f / float(members[size_t(group_[size_t(h)])]);

  const int64_t by_memory = std::max<int64_t>(1, kAccFloats / (int64_t(n_groups) * n_cols_));
  const int64_t by_target = std::max<int64_t>(1, kTargetQueries / q_block);
  rows_per_tile_ = std::min(by_memory, by_target);
  options_.q_tile = int(rows_per_tile_ * q_block);
  acc_.resize(size_t(mass_slots()));
}

void BlockMassVisitor::run(const AttentionCall& call, const RowStats& stats) {
  const AttentionShape& s = call.shape;
  SPF_CHECK(s.n_q == shape_.n_q && s.n_kv == shape_.n_kv && s.q_pos0 == shape_.q_pos0 &&
                s.n_heads == shape_.n_heads && s.n_kv_heads == shape_.n_kv_heads,
            "block mass: the call's shape differs from the one the visitor was built for");
  acc_.resize(std::max(acc_.size(), size_t(mass_slots())));
  visit_probabilities(call, stats, *this, options_);
}

void BlockMassVisitor::tile(const ProbTile& t) {
  std::vector<float>& acc = acc_[size_t(t.slot)];
  const size_t need = size_t(n_groups_) * size_t(rows_per_tile_) * size_t(n_cols_);
  if (acc.size() != need) acc.assign(need, 0.0f);
  const int64_t row0 = t.q0 / q_block_;
  for (int h = 0; h < t.n_heads; ++h) {
    const float w = weight_[size_t(h)];
    const int g = group_[size_t(h)];
    for (int64_t i = 0; i < t.nq; ++i) {
      const float* p = t.row(h, i);
      float* dst = acc.data() + (g * rows_per_tile_ + (t.q0 + i) / q_block_ - row0) * n_cols_;
      if (k_block_ == 1) {
        float* d = dst + t.k0;
        for (int64_t j = 0; j < t.nk; ++j) d[j] += w * p[j];
        continue;
      }
      for (int64_t j = 0; j < t.nk;) {
        const int64_t c = (t.k0 + j) / k_block_;
        const int64_t end = std::min<int64_t>(t.nk, (c + 1) * k_block_ - t.k0);
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t jj = j; jj < end; ++jj) sum += p[jj];
        j = end;
        dst[c] += w * sum;
      }
    }
  }
}

void BlockMassVisitor::rows_done(int64_t q0, int64_t nq, int slot) {
  std::vector<float>& acc = acc_[size_t(slot)];
  const size_t need = size_t(n_groups_) * size_t(rows_per_tile_) * size_t(n_cols_);
  if (acc.size() != need) acc.assign(need, 0.0f);
  BlockMassRows rows;
  rows.row0 = q0 / q_block_;
  rows.n_rows = (q0 + nq - 1) / q_block_ - rows.row0 + 1;
  rows.n_cols = n_cols_;
  rows.n_groups = n_groups_;
  rows.slot = slot;
  // Compact the groups' rows when the last tile is short, so that row() indexing holds.
  if (rows.n_rows < rows_per_tile_) {
    for (int g = 1; g < n_groups_; ++g) {
      std::copy_n(acc.begin() + g * rows_per_tile_ * n_cols_, rows.n_rows * n_cols_,
                  acc.begin() + g * rows.n_rows * n_cols_);
    }
  }
  rows.mass = acc.data();
  on_rows(rows);
  std::fill(acc.begin(), acc.end(), 0.0f);
}

namespace {

class Collect : public BlockMassVisitor {
 public:
  Collect(const AttentionShape& s, int qb, int kb, int groups, std::vector<float>& out)
      : BlockMassVisitor(s, qb, kb, groups), out_(out), groups_(groups) {
    n_rows_ = (s.n_q + qb - 1) / qb;
    n_cols_ = (s.n_kv + kb - 1) / kb;
    out_.assign(size_t(groups) * size_t(n_rows_) * size_t(n_cols_), 0.0f);
  }

 protected:
  void on_rows(const BlockMassRows& m) override {
    for (int g = 0; g < groups_; ++g) {
      for (int64_t r = 0; r < m.n_rows; ++r) {
        const auto src = m.row(g, r);
        std::copy(src.begin(), src.end(), out_.begin() + (g * n_rows_ + m.row0 + r) * n_cols_);
      }
    }
  }

 private:
  std::vector<float>& out_;
  int groups_;
  int64_t n_rows_ = 0, n_cols_ = 0;
};

}  // namespace

std::vector<float> block_mass(const AttentionCall& call, int q_block, int k_block, int n_groups) {
  std::vector<float> out;
  Collect c(call.shape, q_block, k_block, n_groups, out);
  c.run(call, row_stats(call, c.options()));
  return out;
}

}  // namespace spf
