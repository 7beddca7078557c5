#include "attention/support_view.h"

#include <gtest/gtest.h>

#include <string>

#include "attention_inputs.h"
#include "core/error.h"

namespace spf {
namespace {

AttentionShape shape(int64_t n_q, int64_t n_kv) {
  AttentionShape s;
  s.n_q = n_q;
  s.n_kv = n_kv;
  s.q_pos0 = n_kv - n_q;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.head_dim = 8;
  return s;
}

// Brute force over every (group, query, key).
int64_t count_pairs(const test::TestSupport& t) {
  const SupportView v = t.view();
  int64_t n = 0;
  for (int g = 0; g < t.n_groups; ++g) {
    for (int64_t i = 0; i < t.n_q; ++i) {
      for (const int32_t c : v.row(g, i / t.q_block)) {
        for (int64_t j = int64_t(c) * t.k_block; j < int64_t(c + 1) * t.k_block; ++j) {
          n += (j <= t.q_pos0 + i && j < t.n_kv) ? 1 : 0;
        }
      }
    }
  }
  return n;
}

template <class View>
std::string error_of(const View& v) {
  try {
    validate_support(v);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ValidateSupport, OneScanMeasuresEveryLayoutAlike) {
  uint32_t seed = 3;
  for (const auto& [n_q, n_kv] : {std::pair{1, 1}, {1, 50}, {37, 37}, {37, 90}}) {
    for (const auto& [qb, kb] : {std::pair{1, 1}, {4, 4}, {3, 7}, {16, 2}}) {
      for (const int groups : {1, 2, 4}) {
        const test::TestSupport t =
            test::random_support(shape(n_q, n_kv), qb, kb, groups, 0.3, seed++, false);
        int64_t longest = 0;
        for (size_t i = 0; i + 1 < t.row_ptr.size(); ++i) {
          longest = std::max(longest, t.row_ptr[i + 1] - t.row_ptr[i]);
        }
        const test::TestTopK top_k = test::top_k_of(t, 2);
        const test::TestBsr bsr = test::bsr_of(t);
        for (const ValidatedSupport& v :
             {validate_support(t.view()), validate_support(top_k.view()),
              validate_support(bsr.view())}) {
          EXPECT_EQ(v.admitted_pairs(), count_pairs(t)) << n_q << " " << qb << "x" << kb;
          EXPECT_EQ(v.entries(), int64_t(t.cols.size()));
          EXPECT_EQ(v.max_row_entries(), longest);
          EXPECT_TRUE(v.dims().same_dims(t.dims()));
          EXPECT_LE(v.density(), 1.0);
          EXPECT_EQ(v.full(), v.admitted_pairs() == groups * t.dims().causal_pairs());
        }
      }
    }
  }
  const test::TestSupport full = test::full_support(shape(10, 30), 3, 4, 2);
  EXPECT_TRUE(validate_support(full.view()).full());
  EXPECT_DOUBLE_EQ(validate_support(test::bsr_of(full).view()).density(), 1.0);
}

TEST(ValidateSupport, CsrAndBsrViolations) {
  const test::TestSupport good = test::full_support(shape(8, 8), 2, 2);  // row r holds 0..r
  ASSERT_EQ(error_of(good.view()), "");

  test::TestSupport s = good;
  std::swap(s.cols[size_t(s.row_ptr[3])], s.cols[size_t(s.row_ptr[3]) + 1]);
  EXPECT_NE(error_of(s.view()).find("out of order"), std::string::npos) << error_of(s.view());
  test::TestBsr b = test::bsr_of(s);
  EXPECT_NE(error_of(b.view()).find("bsr support"), std::string::npos) << error_of(b.view());

  s = good;
  s.cols[size_t(s.row_ptr[3]) + 1] = s.cols[size_t(s.row_ptr[3])];
  EXPECT_NE(error_of(s.view()).find("duplicated"), std::string::npos) << error_of(s.view());

  s = good;
  s.cols[0] = 1;  // row 0 (queries 0, 1) may only hold column 0 (keys 0, 1)
  EXPECT_NE(error_of(s.view()).find("after the row's last query"), std::string::npos);

  s = good;
  s.cols.back() = 4;
  EXPECT_NE(error_of(s.view()).find("out of range"), std::string::npos) << error_of(s.view());

  b = test::bsr_of(good);
  b.row_ptr[2] = 0;  // row 0 = {0}, then row 1 would end before it starts
  EXPECT_NE(error_of(b.view()).find("row_ptr decreases"), std::string::npos) << error_of(b.view());
  b = test::bsr_of(good);
  b.row_ptr[0] = 1;
  EXPECT_NE(error_of(b.view()).find("row_ptr starts"), std::string::npos) << error_of(b.view());

  s = good;
  s.q_block = 0;
  EXPECT_NE(error_of(s.view()).find("block"), std::string::npos) << error_of(s.view());
  s = good;
  s.n_kv = 7;  // fewer keys than the last query's position
  EXPECT_NE(error_of(s.view()).find("n_kv"), std::string::npos) << error_of(s.view());
}

TEST(ValidateSupport, TopKViolations) {
  const test::TestTopK good = test::top_k_of(test::full_support(shape(6, 6), 1, 1), 1);
  ASSERT_EQ(good.k, 7);
  ASSERT_EQ(error_of(good.view()), "");

  test::TestTopK t = good;
  t.cols[size_t(2 * t.k + 3)] = 0;  // row 2 holds {0, 1, 2}: slot 3 is padding
  EXPECT_NE(error_of(t.view()).find("padding must be -1"), std::string::npos) << error_of(t.view());

  t = good;
  t.counts[1] = 8;
  EXPECT_NE(error_of(t.view()).find("count 8 out of range"), std::string::npos);
  t = good;
  t.counts[1] = -1;
  EXPECT_NE(error_of(t.view()).find("out of range"), std::string::npos);

  t = good;
  std::swap(t.cols[size_t(4 * t.k)], t.cols[size_t(4 * t.k + 1)]);
  EXPECT_NE(error_of(t.view()).find("out of order"), std::string::npos) << error_of(t.view());

  t = good;
  t.cols[size_t(1 * t.k + 1)] = 2;  // row 1 = {0, 2}: key 2 is after query 1
  EXPECT_NE(error_of(t.view()).find("after the row's last query"), std::string::npos);

  t = good;
  t.counts[0] = 0;  // an empty row is fine once its slot is padding again
  t.cols[0] = -1;
  EXPECT_EQ(error_of(t.view()), "");
  EXPECT_EQ(validate_support(t.view()).entries(), validate_support(good.view()).entries() - 1);
}

}  // namespace
}  // namespace spf
