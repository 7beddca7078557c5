#include "support/select.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace spf {
namespace {

RowGeometry token_row(int64_t pos) {
  return RowGeometry{pos, pos, pos + 1, 1};
}

std::vector<int32_t> pick(const Budget& b, const RowGeometry& row,
                          const std::vector<float>& score) {
  std::vector<int32_t> out;
  select_columns(b, row, score, out);
  return out;
}

TEST(Select, TopKTakesTheBestAndBreaksTiesTowardLowerColumns) {
  const std::vector<float> score{0.1f, 0.5f, 0.2f, 0.5f, 0.0f, 0.5f};
  EXPECT_EQ(pick(Budget::top_k(2), token_row(5), score), (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(pick(Budget::top_k(4), token_row(5), score), (std::vector<int32_t>{1, 2, 3, 5}));
  EXPECT_EQ(pick(Budget::top_k(100), token_row(5), score).size(), 6u);
  EXPECT_EQ(pick(Budget::fraction(0.5), token_row(5), score), (std::vector<int32_t>{1, 3, 5}));
}

// The reference: a full sort by (score desc, NaN as -inf, -0 == +0; lower column first), the
// forced columns first, then the best others, ascending.
std::vector<int32_t> reference_pick(const Budget& b, const RowGeometry& row,
                                    const std::vector<float>& score) {
  std::vector<int32_t> forced;
  forced_columns(b, row, forced);
  std::vector<char> taken(size_t(row.avail), 0);
  for (int32_t c : forced) taken[size_t(c)] = 1;
  std::vector<int32_t> rest;
  for (int32_t c = 0; c < int32_t(row.avail); ++c)
    if (!taken[size_t(c)]) rest.push_back(c);
  auto key = [&](int32_t c) { return std::isnan(score[size_t(c)]) ? -INFINITY : score[size_t(c)]; };
  std::stable_sort(rest.begin(), rest.end(), [&](int32_t a, int32_t c) { return key(a) > key(c); });
  const size_t target =
      size_t(std::max<int64_t>(budget_columns(b, row.avail, row.k_block), int64_t(forced.size())));
  std::vector<int32_t> out = forced;
  for (size_t x = 0; out.size() < target && x < rest.size(); ++x) out.push_back(rest[x]);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Select, TopKEqualsAFullSortOnTiesZerosNansAndLongRows) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t avail = trial < 20 ? 1 + trial : int64_t(rng() % 20000) + 1;
    std::vector<float> score(static_cast<size_t>(avail));
    const int kind = trial % 4;
    for (float& v : score) {
      const uint32_t u = rng();
      if (kind == 0) v = float(int(u % 7)) - 3.0f;  // many exact ties
      if (kind == 1)
        v = std::ldexp(float(u % 1000) / 1000.0f, int(u % 40) - 20) * ((u >> 20) & 1 ? 1 : -1);
      if (kind == 2)
        v = (u % 5 == 0) ? -0.0f : (u % 5 == 1 ? 0.0f : (u % 5 == 2 ? NAN : 1e-3f * float(u % 9)));
      if (kind == 3) v = 1.0f + 1e-7f * float(u % 3);  // one exponent: every score in one bin
    }
    for (const Budget& b : {Budget::fraction(0.05), Budget::fraction(0.5), Budget::top_k(1),
                            Budget::top_k(2048).with_sink(4).with_window(16)}) {
      const RowGeometry row = token_row(avail - 1);
      ASSERT_EQ(pick(b, row, score), reference_pick(b, row, score))
          << "avail " << avail << " kind " << kind << " " << b.str();
    }
  }
}

TEST(Select, TiledScoringSelectsTheSameRowsAsPerRowScoring) {
  const AttentionShape shape{77, 177, 100, 2, 1, 8, 1.0f};
  for (const Budget& b : {Budget::fraction(0.1), Budget::top_k(5).with_window(3)}) {
    const Support layout = support_layout(shape, 1, 1, 2);
    auto value = [](int g, int64_t r, int64_t c) {
      return float((r * 31 + c * 17 + g * 5) % 13);  // ties across columns
    };
    const Support a = select_support(layout, b, [&](int g, int64_t r, std::span<float> out) {
      for (size_t c = 0; c < out.size(); ++c) out[c] = value(g, r, int64_t(c));
    });
    for (int64_t tile : {1, 8, 32, 500}) {
      const Support t = select_support_tiled(
          layout, b, tile, [&](int g, int64_t r0, int64_t r1, float* out, int64_t ld) {
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t c = 0; c < ld; ++c) out[(r - r0) * ld + c] = value(g, r, c);
          });
      ASSERT_EQ(t.cols, a.cols) << "tile " << tile << " " << b.str();
      ASSERT_EQ(t.row_ptr, a.row_ptr) << "tile " << tile;
    }
  }
}

TEST(Select, ForcedColumnsCountInsideTheBudget) {
  std::vector<float> score(20, 0.0f);
  score[10] = 1.0f;
  score[11] = 0.9f;
  // Sink 2 + window 3 (keys 17..19) are kept; a budget of 7 leaves two picks: 10 and 11.
  EXPECT_EQ(pick(Budget::top_k(7).with_sink(2).with_window(3), token_row(19), score),
            (std::vector<int32_t>{0, 1, 10, 11, 17, 18, 19}));
  // Forced columns beyond the budget are all kept, nothing else.
  EXPECT_EQ(pick(Budget::top_k(2).with_sink(2).with_window(3), token_row(19), score),
            (std::vector<int32_t>{0, 1, 17, 18, 19}));
  // Overlapping sink and window on a short row.
  EXPECT_EQ(pick(Budget::top_k(1).with_sink(3).with_window(3), token_row(3), score),
            (std::vector<int32_t>{0, 1, 2, 3}));
  // Block rows: window of each query of a row [40, 47] with blocks of 8 reaches back to key 36.
  const RowGeometry blocks{40, 47, 6, 8};
  std::vector<int32_t> forced;
  forced_columns(Budget::top_k(1).with_window(5), blocks, forced);
  EXPECT_EQ(forced, (std::vector<int32_t>{4, 5}));
  forced_columns(Budget::top_k(1).with_sink(9), blocks, forced);
  EXPECT_EQ(forced, (std::vector<int32_t>{0, 1}));
}

TEST(Select, TopPKeepsTheFewestColumnsReachingTheMass) {
  // Binary fractions, so that the cumulative sums are exact.
  const std::vector<float> score{0.0625f, 0.5f, 0.25f, 0.125f, 0.0625f};
  EXPECT_EQ(pick(Budget::top_p(0.5), token_row(4), score), (std::vector<int32_t>{1}));
  EXPECT_EQ(pick(Budget::top_p(0.6), token_row(4), score), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(pick(Budget::top_p(0.8), token_row(4), score), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(pick(Budget::top_p(0.9), token_row(4), score), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(pick(Budget::top_p(1.0), token_row(4), score).size(), 5u);
  EXPECT_EQ(pick(Budget::top_p(0.01), token_row(4), score), (std::vector<int32_t>{1}));
  // The forced sink's mass counts toward p.
  EXPECT_EQ(pick(Budget::top_p(0.55).with_sink(1), token_row(4), score),
            (std::vector<int32_t>{0, 1}));
}

}  // namespace
}  // namespace spf
