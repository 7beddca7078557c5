#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/length_fit.h"

namespace spf::eval {
namespace {

TEST(EvalLengthFit, FindsTheLargestFittingSizeFromAnyStart) {
  auto tokens = [](int64_t n) { return 100 + 7 * n + (n % 3); };  // nearly linear, monotone
  for (const int64_t start : {0, 10, 500, 1427, 5000, 100000}) {
    const FitResult r = fit_units(tokens, 10000, 0, 1 << 30, start, 3.0, "t");
    EXPECT_LE(tokens(r.units), 10000);
    EXPECT_GT(tokens(r.units + 1), 10000);
    EXPECT_EQ(r.tokens, tokens(r.units));
  }
}

TEST(EvalLengthFit, FewCallsWithAGoodStart) {
  int calls = 0;
  auto tokens = [&](int64_t n) {
    ++calls;
    return 50 + 25 * n;
  };
  const FitResult r = fit_units(tokens, 100000, 0, 1 << 30, 3990, 25.0, "t");
  EXPECT_EQ(r.units, (100000 - 50) / 25);
  EXPECT_LE(r.calls, 4);
  EXPECT_EQ(r.calls, calls);
}

TEST(EvalLengthFit, RespectsBounds) {
  auto tokens = [](int64_t n) { return 10 * n; };
  EXPECT_EQ(fit_units(tokens, 1000000, 5, 40, 7, 10.0, "t").units, 40);
  EXPECT_EQ(fit_units(tokens, 55, 5, 40, 30, 10.0, "t").units, 5);
  try {
    fit_units(tokens, 49, 5, 40, 30, 10.0, "task x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("task x"), std::string::npos);
  }
}

TEST(EvalLengthFit, NonMonotoneCountsStillFit) {
  auto tokens = [](int64_t n) { return int64_t(3 * n + 40 * std::sin(double(n) / 3.0)); };
  const FitResult r = fit_units(tokens, 3000, 0, 1 << 20, 0, 1.0, "t");
  EXPECT_LE(tokens(r.units), 3000);
  EXPECT_GT(tokens(r.units + 1), 3000);
}

}  // namespace
}  // namespace spf::eval
