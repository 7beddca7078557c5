#include "core/fast_exp.h"

#include <gtest/gtest.h>

#include <cmath>

namespace spf {
namespace {

TEST(FastExp, RelativeErrorOverTheNormalRange) {
  double worst = 0.0;
  for (float x = -87.0f; x <= 88.0f; x += 0.00137f) {
    const double e = std::exp(double(x));
    worst = std::max(worst, std::abs(double(detail::fast_exp(x)) - e) / e);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(detail::fast_exp(0.0f), 1.0f);
}

TEST(FastExp, FlushesFarNegativeArgumentsToZero) {
  for (const float x : {-88.0f, -100.0f, -1e4f, -1e6f, -1e9f})
    EXPECT_EQ(detail::fast_exp(x), 0.0f) << x;
  EXPECT_TRUE(std::isfinite(detail::fast_exp(100.0f)));
}

}  // namespace
}  // namespace spf
