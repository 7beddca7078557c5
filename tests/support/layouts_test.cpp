// The three support layouts (CSR, top-k, BSR): lossless round trips, the explicit widening
// conversions, the validated plan, and the sparse executor run from each layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "attention/attention_inputs.h"
#include "attention/cpu/sparse.h"
#include "core/error.h"
#include "support/bsr_support.h"
#include "support/plan.h"
#include "support/support.h"
#include "support/top_k_support.h"
#include "support/widen.h"

namespace spf {
namespace {

AttentionShape shape(int64_t n_q, int64_t n_kv, int64_t q_pos0, int heads = 4, int kv_heads = 2,
                     int head_dim = 8) {
  AttentionShape s;
  s.n_q = n_q;
  s.n_kv = n_kv;
  s.q_pos0 = q_pos0;
  s.n_heads = heads;
  s.n_kv_heads = kv_heads;
  s.head_dim = head_dim;
  s.scale = 1.0f / std::sqrt(float(head_dim));
  return s;
}

Support random_csr(const AttentionShape& sh, int q_block, int k_block, int groups, double keep,
                   uint32_t seed) {
  const test::TestSupport t =
      test::random_support(sh, q_block, k_block, groups, keep, seed, /*force_nonempty=*/false);
  Support s = support_layout(sh, q_block, k_block, groups);
  s.row_ptr = t.row_ptr;
  s.cols = t.cols;
  return s;
}

// Random supports over shapes with n_q = 1, n_q not a multiple of the block, q_pos0 = 0 and > 0,
// keys past the last query, several groups, and empty rows (keep = 0 empties all of them).
template <class F>
void for_random_supports(F&& f) {
  struct Geo {
    int64_t n_q, n_kv, q_pos0;
  };
  uint32_t seed = 1;
  for (const Geo g : {Geo{1, 1, 0}, Geo{1, 64, 63}, Geo{1, 64, 20}, Geo{37, 37, 0},
                      Geo{37, 100, 63}, Geo{50, 130, 17}, Geo{64, 64, 0}}) {
    for (const auto& [qb, kb] : {std::pair{1, 1}, {4, 4}, {3, 7}, {16, 2}, {64, 64}, {5, 1}}) {
      for (const int groups : {1, 2, 4}) {
        for (const double keep : {0.0, 0.1, 0.5, 1.0}) {
          const Support s =
              random_csr(shape(g.n_q, g.n_kv, g.q_pos0), qb, kb, groups, keep, seed++);
          f(s, ::testing::Message()
                   << "n_q " << g.n_q << " n_kv " << g.n_kv << " q_pos0 " << g.q_pos0 << " blocks "
                   << qb << "x" << kb << " groups " << groups << " keep " << keep);
        }
      }
    }
  }
}

void expect_same(const Support& a, const Support& b, const ::testing::Message& where) {
  EXPECT_TRUE(a.same_dims(b)) << where;
  EXPECT_EQ(a.row_ptr, b.row_ptr) << where;
  EXPECT_EQ(a.cols, b.cols) << where;
}

// admitted[(g * n_q + i) * n_kv + j]: whether group g's support lets query i see key j.
std::vector<char> admitted(const Support& s) {
  std::vector<char> m(size_t(s.n_groups * s.n_q * s.n_kv), 0);
  for (int g = 0; g < s.n_groups; ++g) {
    for (int64_t i = 0; i < s.n_q; ++i) {
      for (const int32_t c : s.row(g, i / s.q_block)) {
        for (int64_t j = int64_t(c) * s.k_block; j < int64_t(c + 1) * s.k_block; ++j) {
          if (j < s.n_kv && j <= s.q_pos0 + i) m[size_t((g * s.n_q + i) * s.n_kv + j)] = 1;
        }
      }
    }
  }
  return m;
}

// The smallest support at blocks q_block x k_block admitting every pair of `pairs`: a cell is in
// when one of its (query, key) pairs is.
Support minimal_cover(const Support& s, const std::vector<char>& pairs, int q_block, int k_block) {
  Support layout = support_layout(AttentionShape{s.n_q, s.n_kv, s.q_pos0, 1, 1, 1, 1.0f}, q_block,
                                  k_block, s.n_groups);
  std::vector<std::vector<int32_t>> rows(size_t(layout.n_rows() * s.n_groups));
  for (int g = 0; g < s.n_groups; ++g) {
    for (int64_t i = 0; i < s.n_q; ++i) {
      for (int64_t j = 0; j < s.n_kv; ++j) {
        if (pairs[size_t((g * s.n_q + i) * s.n_kv + j)]) {
          rows[size_t(g * layout.n_rows() + i / q_block)].push_back(int32_t(j / k_block));
        }
      }
    }
  }
  return support_from_rows(layout, std::move(rows));
}

TEST(SupportLayouts, TopKRoundTripsExactly) {
  for_random_supports([](const Support& s, const ::testing::Message& where) {
    const ValidatedSupport v = s.validated();
    const TopKSupport t = to_top_k(s);
    EXPECT_EQ(t.k, v.max_row_entries()) << where;
    EXPECT_TRUE(t.same_dims(s)) << where;
    const ValidatedSupport tv = t.validated();
    EXPECT_EQ(tv.admitted_pairs(), s.admitted_pairs()) << where;
    EXPECT_EQ(tv.entries(), int64_t(s.cols.size())) << where;
    EXPECT_EQ(std::count(t.cols.begin(), t.cols.end(), -1),
              int64_t(t.cols.size()) - int64_t(s.cols.size()))
        << where;
    expect_same(to_csr(t), s, where);

    const TopKSupport wide = to_top_k(s, t.k + 3);
    EXPECT_EQ(wide.k, t.k + 3);
    const TopKSupport back = to_top_k(to_csr(wide), wide.k);
    EXPECT_EQ(back.cols, wide.cols) << where;
    EXPECT_EQ(back.counts, wide.counts) << where;
    expect_same(to_csr(wide), s, where);
  });
}

TEST(SupportLayouts, BsrRoundTripsExactly) {
  for_random_supports([](const Support& s, const ::testing::Message& where) {
    const BsrSupport b = to_bsr(s, s.q_block);
    EXPECT_TRUE(b.same_dims(s)) << where;
    EXPECT_EQ(b.validated().admitted_pairs(), s.admitted_pairs()) << where;
    expect_same(to_csr(b), s, where);
    const BsrSupport back = to_bsr(to_csr(b), b.q_block);
    EXPECT_EQ(back.row_ptr, b.row_ptr) << where;
    EXPECT_EQ(back.cols, b.cols) << where;
  });
}

TEST(SupportLayouts, LosslessConversionsRefuseToDropOrWiden) {
  const Support s = dense_support(shape(10, 10, 0), 1);  // the last row holds 10 columns
  EXPECT_THROW(to_top_k(s, 9), Error);
  EXPECT_NO_THROW(to_top_k(s, 10));
  try {
    to_bsr(s, 4);  // token rows are not 4-query blocks: widen_query_block says so by name
    ADD_FAILURE() << "to_bsr changed the query block";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("widen_query_block"), std::string::npos) << e.what();
  }
  Support bad = s;
  bad.cols[1] = 1;  // row 1 = {1, 1}
  EXPECT_THROW(to_top_k(bad), Error);
  EXPECT_THROW(to_bsr(bad, 1), Error);

  TopKSupport t = to_top_k(s);
  t.counts.pop_back();
  EXPECT_THROW(to_csr(t), Error);
  BsrSupport b = to_bsr(s, 1);
  b.row_ptr.back() += 1;
  EXPECT_THROW(to_csr(b), Error);
}

TEST(SupportLayouts, WideningGivesTheSmallestCoveringSuperset) {
  for_random_supports([](const Support& s, const ::testing::Message& where) {
    const std::vector<char> before = admitted(s);
    for (const auto& [qb, kb] : {std::pair{1, 1}, {4, 4}, {16, 16}, {3, 5}, {64, 64}}) {
      for (int which = 0; which < 3; ++which) {
        const int q = which == 1 ? s.q_block : qb, k = which == 2 ? s.k_block : kb;
        const Support w = which == 0   ? widen_to_blocks(s, qb, kb)
                          : which == 1 ? widen_key_block(s, kb)
                                       : widen_query_block(s, qb);
        ASSERT_EQ(w.q_block, q) << where;
        ASSERT_EQ(w.k_block, k) << where;
        EXPECT_NO_THROW(w.validate()) << where;
        const std::vector<char> after = admitted(w);
        for (size_t p = 0; p < before.size(); ++p) {
          ASSERT_TRUE(!before[p] || after[p])
              << where << " widened to " << q << "x" << k << " lost pair " << p;
        }
        EXPECT_GE(w.admitted_pairs(), s.admitted_pairs()) << where;
        expect_same(w, minimal_cover(s, before, q, k),
                    ::testing::Message(where) << " widened to " << q << "x" << k);
      }
    }
    expect_same(widen_to_blocks(s, s.q_block, s.k_block), s, where);  // nothing to widen
  });
}

TEST(SupportLayouts, WideningTokenRowsToBlocksAddsPairs) {
  // Each query sees only itself; 4 x 4 blocks make every diagonal block fully causal.
  const Support layout = support_layout(shape(8, 8, 0), 1, 1, 1);
  std::vector<std::vector<int32_t>> rows;
  for (int32_t i = 0; i < 8; ++i) rows.push_back({i});
  const Support diag = support_from_rows(layout, rows);
  const Support w = widen_to_blocks(diag, 4, 4);
  EXPECT_EQ(w.cols, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(w.admitted_pairs(), 2 * 10);
  EXPECT_GT(w.admitted_pairs(), diag.admitted_pairs());
  const BsrSupport b = to_bsr(w, 4);
  EXPECT_EQ(b.row_ptr, (std::vector<int32_t>{0, 1, 2}));
}

TEST(SupportPlan, ValidatesOnceAndKeepsTheMeasurements) {
  const Support s = random_csr(shape(40, 90, 50), 4, 8, 2, 0.3, 11);
  SupportPlan plan(s);
  ASSERT_NE(plan.csr(), nullptr);
  EXPECT_EQ(plan.top_k(), nullptr);
  EXPECT_EQ(plan.admitted_pairs(), s.admitted_pairs());
  EXPECT_DOUBLE_EQ(plan.density(), s.density());
  EXPECT_FALSE(plan.full());
  EXPECT_TRUE(SupportPlan(dense_support(shape(40, 90, 50), 16)).full());

  const SupportPlan moved = SupportPlan(to_top_k(s));
  ASSERT_NE(moved.top_k(), nullptr);
  EXPECT_EQ(moved.admitted_pairs(), s.admitted_pairs());
  EXPECT_EQ(SupportPlan(to_bsr(s, 4)).validated().entries(), int64_t(s.cols.size()));

  Support bad = s;
  bad.cols.back() = int32_t(bad.n_cols());
  EXPECT_THROW(SupportPlan{bad}, Error);
}

struct ExecCase {
  int64_t n_q, n_kv;
  int heads, kv_heads, head_dim;
  int q_block, k_block;
  int groups_kind;  // 0 shared, 1 per KV group, 2 per head
  double keep;
};

class LayoutsRunTheExecutor : public ::testing::TestWithParam<ExecCase> {};

// Same support, three layouts (and plans of them, moved around): bit-identical outputs.
TEST_P(LayoutsRunTheExecutor, TopKAndBsrMatchCsr) {
  const ExecCase c = GetParam();
  test::AttnInputs csr = test::make_inputs(c.n_q, c.n_kv, c.heads, c.kv_heads, c.head_dim, 5);
  const int groups = c.groups_kind == 0 ? 1 : c.groups_kind == 1 ? c.kv_heads : c.heads;
  const Support s = random_csr(csr.shape, c.q_block, c.k_block, groups, c.keep, 17);
  sparse_attention(csr.call(), s.view());

  std::vector<SupportPlan> plans;
  plans.emplace_back(s);
  plans.emplace_back(to_top_k(s));
  plans.emplace_back(to_top_k(s, int(s.n_cols())));
  plans.emplace_back(to_bsr(s, c.q_block));
  for (const SupportPlan& plan : plans) {
    test::AttnInputs in = csr;
    std::fill(in.out.begin(), in.out.end(), -7.0f);
    sparse_attention(in.call(), plan.validated());
    EXPECT_EQ(in.out, csr.out) << "layout " << plan.validated().view().index();
  }
  test::AttnInputs direct = csr;
  sparse_attention(direct.call(), to_top_k(s).view());
  EXPECT_EQ(direct.out, csr.out);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayoutsRunTheExecutor,
                         ::testing::Values(ExecCase{64, 64, 4, 4, 64, 1, 1, 0, 0.1},
                                           ExecCase{37, 120, 8, 2, 128, 1, 1, 1, 0.2},
                                           ExecCase{1, 300, 8, 1, 128, 1, 1, 2, 0.05},
                                           ExecCase{50, 90, 6, 2, 64, 1, 16, 0, 0.3},
                                           ExecCase{70, 70, 12, 4, 64, 16, 16, 1, 0.3},
                                           ExecCase{45, 200, 16, 2, 128, 64, 64, 0, 0.5},
                                           ExecCase{33, 33, 3, 1, 128, 5, 3, 2, 0.2}));

}  // namespace
}  // namespace spf
