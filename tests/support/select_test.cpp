#include "support/select.h"

#include <gtest/gtest.h>

#include <numeric>

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
