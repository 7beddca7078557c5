#include "support/select.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/threads.h"

namespace spf {

RowGeometry row_geometry(const Support& layout, int64_t r) {
  return RowGeometry{layout.row_first_pos(r), layout.row_last_pos(r), layout.causal_cols(r),
                     layout.k_block};
}

void forced_columns(const Budget& b, const RowGeometry& row, std::vector<int32_t>& out) {
  out.clear();
  const int64_t kb = row.k_block;
  const int64_t sink_cols = std::min(row.avail, (b.sink + kb - 1) / kb);
  int64_t win_first = row.avail;  // no window columns by default
  if (b.window > 0) win_first = std::max<int64_t>(0, row.first_pos - b.window + 1) / kb;
  for (int64_t c = 0; c < sink_cols; ++c) out.push_back(int32_t(c));
  for (int64_t c = std::max(win_first, sink_cols); c < row.avail; ++c) out.push_back(int32_t(c));
}

void select_columns(const Budget& b, const RowGeometry& row, std::span<const float> score,
                    std::vector<int32_t>& out) {
  forced_columns(b, row, out);
  const int64_t avail = row.avail;
  if (avail <= 0) return;
  thread_local std::vector<char> taken;
  thread_local std::vector<int32_t> cand;
  taken.assign(size_t(avail), 0);
  for (const int32_t c : out) taken[size_t(c)] = 1;
  cand.clear();
  for (int64_t c = 0; c < avail; ++c) {
    if (!taken[size_t(c)]) cand.push_back(int32_t(c));
  }
  auto key = [&](int32_t c) {
    const float s = score[size_t(c)];
    return std::isnan(s) ? -std::numeric_limits<float>::infinity() : s;
  };
  auto better = [&](int32_t a, int32_t c) {
    const float ka = key(a), kc = key(c);
    return ka > kc || (ka == kc && a < c);
  };
  const size_t n_forced = out.size();

  if (b.kind != BudgetKind::top_p) {
    const int64_t target =
        std::max<int64_t>(budget_columns(b, avail, row.k_block), int64_t(n_forced));
    const size_t need = size_t(target) - n_forced;
    if (need < cand.size()) {
      std::nth_element(cand.begin(), cand.begin() + ptrdiff_t(need), cand.end(), better);
      cand.resize(need);
    }
    out.insert(out.end(), cand.begin(), cand.end());
  } else {
    double total = 0.0, kept = 0.0;
    for (int64_t c = 0; c < avail; ++c) total += std::max(0.0f, key(int32_t(c)));
    for (size_t x = 0; x < n_forced; ++x) kept += std::max(0.0f, key(out[x]));
    const double target = b.value * total;
    std::sort(cand.begin(), cand.end(), better);
    for (const int32_t c : cand) {
      if (kept >= target && !out.empty()) break;
      out.push_back(c);
      kept += std::max(0.0f, key(c));
    }
  }
  std::sort(out.begin(), out.end());
}

}  // namespace spf

namespace spf {

Support select_support(const Support& layout, const Budget& budget, const RowScorer& score) {
  const int64_t n_rows = layout.n_rows();
  std::vector<std::vector<int32_t>> rows(size_t(layout.n_groups) * size_t(n_rows));
  parallel_for(int64_t(rows.size()), [&](int64_t x) {
    const int g = int(x / n_rows);
    const int64_t r = x % n_rows;
    const RowGeometry geo = row_geometry(layout, r);
    thread_local std::vector<float> sc;
    sc.assign(size_t(geo.avail), 0.0f);
    score(g, r, sc);
    select_columns(budget, geo, sc, rows[size_t(x)]);
  });
  return support_from_rows(layout, std::move(rows));
}

void SelectRows::on_rows(const BlockMassRows& m) {
  for (int g = 0; g < m.n_groups; ++g) {
    for (int64_t r = 0; r < m.n_rows; ++r) {
      const int64_t row = m.row0 + r;
      const RowGeometry geo = row_geometry(layout_, row);
      select_columns(budget_, geo, m.row(g, r).first(size_t(geo.avail)),
                     rows_[size_t(g * layout_.n_rows() + row)]);
    }
  }
}

}  // namespace spf
