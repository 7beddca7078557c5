#include "support/producers/oracle.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attention/cpu/block_mass.h"
#include "attention/cpu/cpu_executor.h"
#include "attention/cpu/dense.h"
#include "support/select.h"
#include "support/support_attention.h"
#include "support_fixture.h"

namespace spf {
namespace {

struct OracleCase {
  int block;
  GroupMode groups;
};

class OracleTopK : public ::testing::TestWithParam<OracleCase> {};

// Each row holds exactly min(k, avail) columns, and they are the largest by the brute-force mass:
// the smallest kept mass is at least the largest dropped one (up to fp32 noise in the tiled
// statistics).
TEST_P(OracleTopK, KeepsExactlyTheKLargestMasses) {
  const OracleCase c = GetParam();
  test::AttnInputs in = test::make_inputs(70, 90, 4, 2, 32, 17, 4.0f);
  ProducerOptions o;
  o.block = c.block;
  o.groups = c.groups;
  const int64_t k = 6;
  o.budget = Budget::top_k(k * c.block);
  const Support s = OracleProducer(o).produce(in.call(), cpu_executor());
  ASSERT_NO_THROW(s.validate());
  const int groups = n_groups_for(c.groups, in.shape);
  ASSERT_EQ(s.n_groups, groups);
  ASSERT_EQ(s.q_block, c.block);
  const std::vector<double> m = test::reference_block_mass(in, c.block, c.block, groups);
  for (int g = 0; g < groups; ++g) {
    for (int64_t r = 0; r < s.n_rows(); ++r) {
      const int64_t avail = s.causal_cols(r);
      const auto row = test::row_vec(s, g, r);
      ASSERT_EQ(int64_t(row.size()), std::min(k, avail)) << "group " << g << " row " << r;
      std::vector<char> kept(size_t(avail), 0);
      for (const int32_t col : row) kept[size_t(col)] = 1;
      double min_kept = INFINITY, max_dropped = -INFINITY;
      for (int64_t col = 0; col < avail; ++col) {
        const double v = m[size_t((g * s.n_rows() + r) * s.n_cols() + col)];
        if (kept[size_t(col)])
          min_kept = std::min(min_kept, v);
        else
          max_dropped = std::max(max_dropped, v);
      }
      EXPECT_GE(min_kept, max_dropped - 1e-6 * c.block) << "group " << g << " row " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, OracleTopK,
    ::testing::Values(OracleCase{1, GroupMode::shared}, OracleCase{1, GroupMode::per_kv_group},
                      OracleCase{1, GroupMode::per_head}, OracleCase{8, GroupMode::shared},
                      OracleCase{5, GroupMode::per_head}, OracleCase{16, GroupMode::per_kv_group}));

TEST(Oracle, TiesGoToTheEarliestKeys) {
  test::AttnInputs in = test::make_inputs(20, 40, 2, 1, 16, 3);
  std::fill(in.q.begin(), in.q.end(), 0.0f);  // uniform attention: every key ties
  ProducerOptions o;
  o.budget = Budget::top_k(5);
  const Support s = OracleProducer(o).produce(in.call(), cpu_executor());
  for (int64_t r = 0; r < s.n_rows(); ++r)
    EXPECT_EQ(test::row_vec(s, 0, r), (std::vector<int32_t>{0, 1, 2, 3, 4}));
}

// Block size 1 is token granularity: each row is one query, and it holds exactly the top keys of
// that query's head-averaged mass as the statistics API reports it (block_mass with 1 x 1 blocks),
// selected per query from a full row computed independently of the oracle's tiling.
TEST(Oracle, BlockSizeOneIsPerQueryTopKOfTokenMass) {
  test::AttnInputs in = test::make_inputs(50, 64, 4, 4, 32, 5);
  for (const GroupMode mode : {GroupMode::shared, GroupMode::per_head}) {
    ProducerOptions o;
    o.groups = mode;
    o.block = 1;
    o.budget = Budget::fraction(0.2);
    const Support s = make_producer("oracle", o)->produce(in.call(), cpu_executor());
    ASSERT_EQ(s.q_block, 1);
    ASSERT_EQ(s.k_block, 1);
    ASSERT_EQ(s.n_rows(), in.shape.n_q);
    const int groups = n_groups_for(mode, in.shape);
    const std::vector<float> mass = block_mass(in.call(), 1, 1, groups);
    std::vector<int32_t> want;
    for (int g = 0; g < groups; ++g) {
      for (int64_t i = 0; i < in.shape.n_q; ++i) {
        const RowGeometry geo = row_geometry(s, i);
        const std::span<const float> row(mass.data() + (g * in.shape.n_q + i) * in.shape.n_kv,
                                         size_t(geo.avail));
        select_columns(o.budget, geo, row, want);
        EXPECT_EQ(test::row_vec(s, g, i), want) << "group " << g << " query " << i;
      }
    }
  }
}

TEST(Oracle, FractionBudgetIsExactPerRow) {
  test::AttnInputs in = test::make_inputs(64, 200, 4, 2, 32, 7);
  for (const int block : {1, 16}) {
    ProducerOptions o;
    o.block = block;
    o.budget = Budget::fraction(0.05);
    const Support s = OracleProducer(o).produce(in.call(), cpu_executor());
    for (int64_t r = 0; r < s.n_rows(); ++r) {
      const int64_t avail = s.causal_cols(r);
      EXPECT_EQ(int64_t(s.row(0, r).size()),
                std::max<int64_t>(1, int64_t(std::ceil(0.05 * double(avail) - 1e-9))))
          << "block " << block << " row " << r;
    }
  }
}

TEST(Oracle, TopPIsTheMinimalPrefixByMass) {
  test::AttnInputs in = test::make_inputs(40, 60, 4, 2, 32, 9, 5.0f);
  ProducerOptions o;
  o.budget = Budget::top_p(0.8);
  const Support s = OracleProducer(o).produce(in.call(), cpu_executor());
  const std::vector<double> m = test::reference_block_mass(in, 1, 1, 1);
  for (int64_t r = 0; r < s.n_rows(); ++r) {
    const auto row = test::row_vec(s, 0, r);
    double kept = 0.0, smallest = INFINITY;
    for (const int32_t c : row) {
      const double v = m[size_t(r * s.n_cols() + c)];
      kept += v;
      smallest = std::min(smallest, v);
    }
    EXPECT_GE(kept, 0.8 - 1e-5) << "row " << r;
    EXPECT_LT(kept - smallest, 0.8 + 1e-5) << "row " << r << ": the last column was not needed";
  }
}

TEST(Oracle, SinkAndWindowAreKeptInsideTheBudget) {
  test::AttnInputs in = test::make_inputs(60, 100, 4, 2, 32, 13);
  ProducerOptions o;
  o.budget = Budget::top_k(12).with_sink(3).with_window(4);
  const Support s = OracleProducer(o).produce(in.call(), cpu_executor());
  for (int64_t r = 0; r < s.n_rows(); ++r) {
    const auto row = test::row_vec(s, 0, r);
    const int64_t pos = s.row_last_pos(r);
    EXPECT_EQ(int64_t(row.size()), std::min<int64_t>(12, pos + 1));
    for (int32_t c = 0; c < 3; ++c) EXPECT_TRUE(std::binary_search(row.begin(), row.end(), c)) << r;
    for (int64_t c = pos - 3; c <= pos; ++c)
      EXPECT_TRUE(std::binary_search(row.begin(), row.end(), int32_t(c))) << r;
  }
}

TEST(Oracle, FullBudgetIsTheDenseSupportAndDenseOutput) {
  test::AttnInputs in = test::make_inputs(70, 100, 4, 2, 64, 19);
  for (const int block : {1, 16}) {
    ProducerOptions o;
    o.block = block;
    o.budget = Budget::fraction(1.0);
    const Support s = OracleProducer(o).produce(in.call(), cpu_executor());
    const Support d = dense_support(in.shape, block);
    EXPECT_EQ(s.cols, d.cols);
    EXPECT_EQ(s.row_ptr, d.row_ptr);

    test::AttnInputs dense = in;
    dense_attention(dense.call());
    test::AttnInputs sparse = in;
    SupportAttention backend(make_producer("oracle", o), cpu_executor());
    backend.attend(in.call());
    EXPECT_EQ(in.out, dense.out);  // the shortcut: a full support runs the dense path

    // Without the shortcut the sparse executor walks the full support: dense to fp32 rounding.
    SupportAttentionOptions no_shortcut;
    no_shortcut.full_support_dense = false;
    SupportAttention walk(make_producer("oracle", o), cpu_executor(), no_shortcut);
    walk.attend(sparse.call());
    EXPECT_LT(test::rel_max_diff(sparse.out, dense.out), 2e-6) << "block " << block;
  }
}

}  // namespace
}  // namespace spf
