#include "model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/error.h"

namespace spf {
namespace {

TEST(Sampler, GreedyIsArgmax) {
  Sampler s({0.0f, 1.0f, 7});
  const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.9f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, TinyTopPKeepsOnlyTheBestToken) {
  Sampler s({1.0f, 1e-6f, 3});
  const std::vector<float> logits = {0.0f, 0.5f, 0.4f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, SeededAndReproducible) {
  const std::vector<float> logits = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f};
  Sampler a({1.0f, 1.0f, 42}), b({1.0f, 1.0f, 42}), c({1.0f, 1.0f, 43});
  std::vector<int32_t> xa, xb, xc;
  for (int i = 0; i < 64; ++i) {
    xa.push_back(a.sample(logits));
    xb.push_back(b.sample(logits));
    xc.push_back(c.sample(logits));
  }
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xc);
}

TEST(Sampler, FollowsTheSoftmaxDistribution) {
  // p = softmax([0, ln 3]) = [0.25, 0.75]
  Sampler s({1.0f, 1.0f, 11});
  const std::vector<float> logits = {0.0f, std::log(3.0f)};
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += s.sample(logits) == 1;
  EXPECT_NEAR(double(ones) / n, 0.75, 0.015);  // > 5 standard deviations
}

TEST(Sampler, TopPTruncatesTheTail) {
  // p = [0.6, 0.3, 0.1]: top-p 0.8 keeps the first two tokens only.
  Sampler s({1.0f, 0.8f, 5});
  const std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  std::map<int32_t, int> seen;
  for (int i = 0; i < 5000; ++i) ++seen[s.sample(logits)];
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_GT(seen[1], 1000);
}

TEST(Sampler, RejectsBadParameters) {
  EXPECT_THROW(Sampler({-1.0f, 1.0f, 0}), Error);
  EXPECT_THROW(Sampler({1.0f, 0.0f, 0}), Error);
  EXPECT_THROW(Sampler({1.0f, 1.5f, 0}), Error);
}

}  // namespace
}  // namespace spf
