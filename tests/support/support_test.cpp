#include "support/support.h"

#include <gtest/gtest.h>

#include "attention/attention_inputs.h"
#include "core/error.h"

namespace spf {
namespace {

AttentionShape shape(int64_t n_q, int64_t n_kv, int heads = 4, int kv_heads = 2) {
  AttentionShape s;
  s.n_q = n_q;
  s.n_kv = n_kv;
  s.q_pos0 = n_kv - n_q;
  s.n_heads = heads;
  s.n_kv_heads = kv_heads;
  s.head_dim = 8;
  return s;
}

Support from_test(const test::TestSupport& t) {
  Support s;
  s.n_q = t.n_q;
  s.n_kv = t.n_kv;
  s.q_pos0 = t.q_pos0;
  s.q_block = t.q_block;
  s.k_block = t.k_block;
  s.n_groups = t.n_groups;
  s.row_ptr = t.row_ptr;
  s.cols = t.cols;
  return s;
}

// Brute force: count (query, key) pairs admitted, key by key.
int64_t count_pairs(const Support& s) {
  int64_t n = 0;
  for (int g = 0; g < s.n_groups; ++g) {
    for (int64_t i = 0; i < s.n_q; ++i) {
      for (const int32_t c : s.row(g, i / s.q_block)) {
        for (int64_t j = int64_t(c) * s.k_block; j < int64_t(c + 1) * s.k_block; ++j) {
          n += (j <= s.q_pos0 + i && j < s.n_kv) ? 1 : 0;
        }
      }
    }
  }
  return n;
}

std::string error_of(const Support& s) {
  try {
    s.validate();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Support, DenseSupportAdmitsEveryCausalPair) {
  for (const int block : {1, 3, 16, 64}) {
    const AttentionShape sh = shape(37, 100);
    const Support s = dense_support(sh, block);
    EXPECT_NO_THROW(s.validate());
    EXPECT_EQ(s.admitted_pairs(), s.causal_pairs()) << "block " << block;
    EXPECT_EQ(count_pairs(s), s.causal_pairs());
    EXPECT_DOUBLE_EQ(s.density(), 1.0);
    EXPECT_EQ(s.view().n_rows(), s.n_rows());
  }
  const Support s = dense_support(support_layout(shape(10, 10), 2, 5, 4));
  EXPECT_EQ(s.admitted_pairs(), 4 * s.causal_pairs());
  EXPECT_EQ(s.causal_pairs(), 55);
}

TEST(Support, AdmittedPairsMatchesBruteForce) {
  uint32_t seed = 1;
  for (const auto& [qb, kb] : {std::pair{1, 1}, {4, 4}, {3, 7}, {16, 2}}) {
    for (const int groups : {1, 2, 4}) {
      const Support s = from_test(test::random_support(shape(45, 77), qb, kb, groups, 0.4, seed++));
      EXPECT_NO_THROW(s.validate());
      EXPECT_EQ(s.admitted_pairs(), count_pairs(s)) << qb << "x" << kb << " groups " << groups;
      EXPECT_GT(s.density(), 0.0);
      EXPECT_LT(s.density(), 1.0);
    }
  }
}

TEST(Support, GroupOfHead) {
  Support s = dense_support(shape(4, 4, 8, 2), 1);
  EXPECT_EQ(s.group_of_head(7, 8, 2), 0);
  s.n_groups = 2;
  EXPECT_EQ(s.group_of_head(3, 8, 2), 0);
  EXPECT_EQ(s.group_of_head(4, 8, 2), 1);
  s.n_groups = 8;
  EXPECT_EQ(s.group_of_head(5, 8, 2), 5);
  s.n_groups = 3;
  EXPECT_THROW(s.group_of_head(0, 8, 2), Error);
}

TEST(Support, ValidateNamesTheFirstViolation) {
  const Support good = dense_support(support_layout(shape(8, 8), 2, 2, 1));
  ASSERT_EQ(error_of(good), "");

  Support s = good;
  std::swap(s.cols[s.row_ptr[3]], s.cols[s.row_ptr[3] + 1]);  // row 3 holds {0, 1, 2, 3}
  EXPECT_NE(error_of(s).find("out of order"), std::string::npos) << error_of(s);

  s = good;
  s.cols[s.row_ptr[3] + 1] = s.cols[s.row_ptr[3]];
  EXPECT_NE(error_of(s).find("duplicated"), std::string::npos) << error_of(s);

  s = good;
  s.cols[0] = 1;  // row 0 (queries 0, 1) may only hold column 0 (keys 0, 1)
  EXPECT_NE(error_of(s).find("after the row's last query"), std::string::npos) << error_of(s);

  s = good;
  s.cols.back() = 4;
  EXPECT_NE(error_of(s).find("out of range"), std::string::npos) << error_of(s);

  s = good;
  s.row_ptr.pop_back();
  EXPECT_NE(error_of(s).find("row_ptr has"), std::string::npos) << error_of(s);

  s = good;
  s.k_block = 0;
  EXPECT_NE(error_of(s).find("block"), std::string::npos) << error_of(s);
}

TEST(Support, FromRowsSortsDeduplicatesAndValidates) {
  const Support layout = support_layout(shape(3, 5), 1, 1, 1);  // queries at positions 2, 3, 4
  const Support s = support_from_rows(layout, {{2, 0, 0}, {3}, {4, 1}});
  EXPECT_EQ(s.cols, (std::vector<int32_t>{0, 2, 3, 1, 4}));
  EXPECT_EQ(s.row_ptr, (std::vector<int64_t>{0, 2, 3, 5}));
  EXPECT_THROW(support_from_rows(layout, {{3}, {3}, {4}}),
               Error);  // key 3 is after query 0 (position 2)
  EXPECT_THROW(support_from_rows(layout, {{0}, {0}}), Error);  // one row missing
  EXPECT_THROW(support_layout(shape(3, 5), 0, 1, 1), Error);
}

}  // namespace
}  // namespace spf
