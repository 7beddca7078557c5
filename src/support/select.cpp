#include "support/select.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
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

namespace {

// A column's rank as one integer, larger = better, equal to `better` in select_columns: the
// score's order-preserving bits above (with -0 taken as +0, as == does), the complemented column
// below (the lower column wins a tie).
uint64_t rank_key(float s, int32_t c) {
  uint32_t u = std::bit_cast<uint32_t>(s == 0.0f ? 0.0f : s);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (uint64_t(u) << 32) | uint64_t(~uint32_t(c));
}
int32_t rank_column(uint64_t key) {
  return int32_t(~uint32_t(key & 0xffffffffu));
}

// Keeps the `need` best of cand (by rank_key of key(c), c) in cand[0, need), in no particular
// order. One pass bins the candidates by the top 11 bits of their rank; the bins above the one
// holding the need-th best are kept whole, and only that bin is ordered (nth_element on the full
// rank, so ties still go to the lower column).
template <class Key>
void keep_best(std::vector<int32_t>& cand, size_t need, const Key& key) {
  constexpr int kShift = 53, kBins = 1 << 11;
  thread_local std::vector<uint64_t> ranks, edge;
  ranks.resize(cand.size());
  uint32_t hist[kBins] = {};
  for (size_t x = 0; x < cand.size(); ++x) {
    ranks[x] = rank_key(key(cand[x]), cand[x]);
    ++hist[ranks[x] >> kShift];
  }
  int bin = kBins - 1;
  size_t above = 0;  // candidates in the bins above `bin`
  while (above + hist[bin] < need) above += hist[bin--];
  edge.clear();
  size_t kept = 0;
  for (size_t x = 0; x < cand.size(); ++x) {
    const int b = int(ranks[x] >> kShift);
    if (b > bin) {
      cand[kept++] = rank_column(ranks[x]);
    } else if (b == bin) {
      edge.push_back(ranks[x]);
    }
  }
  const size_t rest = need - above;
  std::nth_element(edge.begin(), edge.begin() + ptrdiff_t(rest), edge.end(),
                   std::greater<uint64_t>());
  for (size_t x = 0; x < rest; ++x) cand[kept++] = rank_column(edge[x]);
  cand.resize(need);
}

}  // namespace

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
    if (need < cand.size()) keep_best(cand, need, key);
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

Support select_support_tiled(const Support& layout, const Budget& budget, int64_t tile_rows,
                             const TileScorer& score) {
  const int64_t n_rows = layout.n_rows();
  tile_rows = std::max<int64_t>(1, tile_rows);
  const int64_t n_tiles = (n_rows + tile_rows - 1) / tile_rows;
  std::vector<std::vector<int32_t>> rows(size_t(layout.n_groups) * size_t(n_rows));
  parallel_for(int64_t(layout.n_groups) * n_tiles, [&](int64_t x) {
    const int g = int(x / n_tiles);
    const int64_t r0 = (x % n_tiles) * tile_rows, r1 = std::min(n_rows, r0 + tile_rows);
    const int64_t ld = row_geometry(layout, r1 - 1).avail;
    thread_local std::vector<float> sc;
    sc.resize(size_t((r1 - r0) * ld));  // the scorer writes every entry that is read
    score(g, r0, r1, sc.data(), ld);
    for (int64_t r = r0; r < r1; ++r) {
      const RowGeometry geo = row_geometry(layout, r);
      select_columns(budget, geo,
                     std::span<const float>(sc).subspan(size_t((r - r0) * ld), size_t(geo.avail)),
                     rows[size_t(g * n_rows + r)]);
    }
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
