#include "attention/cpu/mass.h"

#include <gtest/gtest.h>

#include <cmath>
#include <mutex>

#include "attention/cpu/block_mass.h"
#include "attention/cpu/reference.h"
#include "attention_inputs.h"
#include "core/error.h"

namespace spf {
namespace {

// Collects every probability of pass 2 into a dense [h][i][j] array (small sizes only).
class CollectAll : public ProbVisitor {
 public:
  explicit CollectAll(const AttentionShape& s)
      : s_(s), p_(size_t(s.n_heads) * size_t(s.n_q) * size_t(s.n_kv), -1.0f) {}
  void tile(const ProbTile& t) override {
    for (int h = 0; h < t.n_heads; ++h) {
      for (int64_t i = 0; i < t.nq; ++i) {
        for (int64_t j = 0; j < t.nk; ++j) at(h, t.q0 + i, t.k0 + j) = t.at(h, i, j);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_LT(t.slot, mass_slots());
    EXPECT_LE(t.k0 + t.nk, s_.q_pos0 + t.q0 + t.nq) << "tile beyond the last causal key";
  }
  void rows_done(int64_t, int64_t nq, int) override {
    std::lock_guard<std::mutex> lock(mu_);
    rows_ += nq;
  }
  float& at(int h, int64_t i, int64_t j) { return p_[size_t((h * s_.n_q + i) * s_.n_kv + j)]; }
  int64_t rows() const { return rows_; }

 private:
  AttentionShape s_;
  std::vector<float> p_;
  std::mutex mu_;
  int64_t rows_ = 0;
};

TEST(Mass, RowStatsMatchReference) {
  test::AttnInputs in = test::make_inputs(70, 300, 4, 2, 64, 4);
  const RowStats st = row_stats(in.call(), MassOptions{16, 32});
  const AttentionShape& s = in.shape;
  for (int h = 0; h < s.n_heads; ++h) {
    for (int64_t i = 0; i < s.n_q; ++i) {
      double mx = -INFINITY;
      std::vector<double> sc;
      for (int64_t j = 0; j < s.visible(i); ++j) {
        double d = 0.0;
        for (int c = 0; c < s.head_dim; ++c) {
          d += double(in.q[size_t((i * s.n_heads + h) * s.head_dim + c)]) *
               double(in.k[size_t((j * s.n_kv_heads + s.kv_head_of(h)) * s.head_dim + c)]);
        }
        sc.push_back(d * s.scale);
        mx = std::max(mx, sc.back());
      }
      double sum = 0.0;
      for (const double x : sc) sum += std::exp(x - mx);
      EXPECT_NEAR(st.max[size_t(i * s.n_heads + h)], mx, 1e-5);
      EXPECT_NEAR(st.lse_at(i, h), mx + std::log(sum), 1e-5);
    }
  }
}

TEST(Mass, ProbabilitiesMatchReferenceAndCoverEveryQueryOnce) {
  test::AttnInputs in = test::make_inputs(45, 110, 6, 2, 64, 8);
  const MassOptions opt{8, 24};
  const RowStats st = row_stats(in.call(), opt);
  CollectAll all(in.shape);
  visit_probabilities(in.call(), st, all, opt);
  EXPECT_EQ(all.rows(), 45);
  const std::vector<double> ref = reference_probabilities(in.shape, in.q.data(), in.k.data());
  const AttentionShape& s = in.shape;
  for (int h = 0; h < s.n_heads; ++h) {
    for (int64_t i = 0; i < s.n_q; ++i) {
      for (int64_t j = 0; j < s.n_kv; ++j) {
        const double r = ref[size_t((h * s.n_q + i) * s.n_kv + j)];
        if (j <= s.q_pos0 + i) {
          EXPECT_NEAR(all.at(h, i, j), r, 2e-6 + 1e-5 * r);
        } else {
          // Tiles reach the tile's last query's keys; earlier queries see 0 there.
          EXPECT_TRUE(all.at(h, i, j) == 0.0f || all.at(h, i, j) == -1.0f) << "future key has mass";
        }
      }
    }
  }
}

struct BlockCase {
  int q_block, k_block, groups_kind;
};

class BlockMassVsReference : public ::testing::TestWithParam<BlockCase> {};

TEST_P(BlockMassVsReference, SumsOfReferenceProbabilities) {
  const BlockCase c = GetParam();
  test::AttnInputs in = test::make_inputs(150, 180, 8, 2, 64, 9);
  const AttentionShape& s = in.shape;
  const int groups = c.groups_kind == 0 ? 1 : c.groups_kind == 1 ? s.n_kv_heads : s.n_heads;
  const std::vector<float> m = block_mass(in.call(), c.q_block, c.k_block, groups);
  const std::vector<double> ref = reference_probabilities(s, in.q.data(), in.k.data());
  const int64_t rows = (s.n_q + c.q_block - 1) / c.q_block,
                cols = (s.n_kv + c.k_block - 1) / c.k_block;
  ASSERT_EQ(m.size(), size_t(groups * rows * cols));
  std::vector<double> want(m.size(), 0.0);
  const int per_group = s.n_heads / groups;
  for (int h = 0; h < s.n_heads; ++h) {
    const int g = group_of_head(h, groups, s.n_heads, s.n_kv_heads);
    for (int64_t i = 0; i < s.n_q; ++i) {
      for (int64_t j = 0; j < s.n_kv; ++j) {
        want[size_t((g * rows + i / c.q_block) * cols + j / c.k_block)] +=
            ref[size_t((h * s.n_q + i) * s.n_kv + j)] / per_group;
      }
    }
  }
  for (size_t x = 0; x < m.size(); ++x)
    ASSERT_NEAR(m[x], want[x], 1e-5 * c.q_block) << "entry " << x;
  // Each query's head-averaged mass sums to 1: a row of a block holds q_block queries' worth.
  for (int g = 0; g < groups; ++g) {
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0.0;
      for (int64_t col = 0; col < cols; ++col) sum += m[size_t((g * rows + r) * cols + col)];
      EXPECT_NEAR(sum, double(std::min<int64_t>(c.q_block, s.n_q - r * c.q_block)), 1e-4);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Blocks, BlockMassVsReference,
                         ::testing::Values(BlockCase{1, 1, 0}, BlockCase{1, 1, 2},
                                           BlockCase{16, 16, 0}, BlockCase{7, 5, 1},
                                           BlockCase{64, 32, 2}, BlockCase{200, 3, 0}));

TEST(Mass, RejectsStatsOfAnotherCall) {
  test::AttnInputs a = test::make_inputs(10, 10, 2, 1, 64, 1);
  test::AttnInputs b = test::make_inputs(12, 12, 2, 1, 64, 1);
  const RowStats st = row_stats(a.call());
  CollectAll all(b.shape);
  EXPECT_THROW(visit_probabilities(b.call(), st, all), Error);
  EXPECT_THROW(block_mass(a.call(), 0, 1, 1), Error);
  EXPECT_THROW(block_mass(a.call(), 1, 1, 3), Error);
}

}  // namespace
}  // namespace spf
