#include <gtest/gtest.h>

#include <cmath>

#include "eval/bootstrap.h"
#include "eval/rng.h"

namespace spf::eval {
namespace {

TEST(EvalBootstrap, ConstantScoresGiveAZeroWidthInterval) {
  const Interval i = bootstrap_mean(std::vector<double>(50, 100.0));
  EXPECT_EQ(i.mean, 100.0);
  EXPECT_EQ(i.lo, 100.0);
  EXPECT_EQ(i.hi, 100.0);
  EXPECT_EQ(i.n, 50);
  const Interval z = bootstrap_mean(std::vector<std::vector<double>>{{0, 0, 0}, {0.1, 0.1}});
  EXPECT_DOUBLE_EQ(z.lo, z.hi);
}

TEST(EvalBootstrap, BinomialIntervalMatchesTheNormalApproximation) {
  // 200 samples, 30% correct: mean 30, standard error sqrt(.3 * .7 / 200) * 100 = 3.24.
  std::vector<double> v(200, 0.0);
  for (size_t i = 0; i < 60; ++i) v[i * 3] = 100.0;
  const Interval i = bootstrap_mean(v);
  EXPECT_DOUBLE_EQ(i.mean, 30.0);
  const double half = 1.96 * std::sqrt(0.3 * 0.7 / 200) * 100;
  EXPECT_NEAR(i.lo, 30.0 - half, 1.2);
  EXPECT_NEAR(i.hi, 30.0 + half, 1.2);
  EXPECT_LT(i.lo, i.mean);
  EXPECT_GT(i.hi, i.mean);
}

TEST(EvalBootstrap, DeterministicForAFixedSeed) {
  std::vector<double> v;
  Rng r(3);
  for (int i = 0; i < 100; ++i) v.push_back(double(r.below(101)));
  const Interval a = bootstrap_mean(v, 5), b = bootstrap_mean(v, 5), c = bootstrap_mean(v, 6);
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
  EXPECT_TRUE(a.lo != c.lo || a.hi != c.hi);
}

TEST(EvalBootstrap, StrataWeighTasksEqually) {
  // Task A: 100 samples at 100; task B: 10 samples at 0 -> mean of task means is 50.
  const Interval i = bootstrap_mean(std::vector<std::vector<double>>{
      std::vector<double>(100, 100.0), std::vector<double>(10, 0.0)});
  EXPECT_DOUBLE_EQ(i.mean, 50.0);
  EXPECT_DOUBLE_EQ(i.lo, 50.0);  // each stratum is constant
  EXPECT_EQ(i.n, 110);
}

TEST(EvalBootstrap, EmptyInput) {
  const Interval i = bootstrap_mean(std::vector<double>{});
  EXPECT_EQ(i.n, 0);
  EXPECT_TRUE(std::isnan(i.mean));
}

TEST(EvalBootstrap, Quantiles) {
  EXPECT_DOUBLE_EQ(quantile_sorted({1, 2, 3, 4, 5}, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(quantile_sorted({1, 2, 3, 4, 5}, 0.25), 2.0);
  EXPECT_DOUBLE_EQ(quantile_sorted({0, 10}, 0.025), 0.25);
  EXPECT_DOUBLE_EQ(quantile_sorted({7}, 0.975), 7.0);
}

}  // namespace
}  // namespace spf::eval
