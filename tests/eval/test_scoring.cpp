#include <gtest/gtest.h>

#include "core/error.h"
#include "eval/scoring.h"

namespace spf::eval {
namespace {

TEST(EvalScoring, PostprocessStripsAndTurnsControlCharsIntoNewlines) {
  EXPECT_EQ(postprocess_prediction("  42 \n"), "42");
  EXPECT_EQ(postprocess_prediction("\x01"
                                   "abc\tdef\x1f"),
            "abc\ndef");
  EXPECT_EQ(postprocess_prediction(std::string("\0x\0", 3)), "x");
  EXPECT_EQ(postprocess_prediction("a\x7f"
                                   "b"),
            "a\x7f"
            "b");  // DEL is not in \x00-\x1f
  EXPECT_EQ(postprocess_prediction(" \x1c "), "");
}

TEST(EvalScoring, MatchAllCountsReferencesCaseInsensitively) {
  const std::vector<std::string> refs = {"Alpha", "beta", "GAMMA", "delta"};
  EXPECT_DOUBLE_EQ(string_match_all("alpha BETA gamma", refs), 0.75);
  EXPECT_DOUBLE_EQ(string_match_all("", refs), 0.0);
  EXPECT_DOUBLE_EQ(string_match_all("xalphabetagammadeltax", refs),
                   1.0);  // substring test, as RULER
  EXPECT_DOUBLE_EQ(string_match_all("anything", {}), 0.0);
}

TEST(EvalScoring, MatchPartIsAnyReference) {
  EXPECT_DOUBLE_EQ(string_match_part("The answer is PARIS.", {"London", "paris"}), 1.0);
  EXPECT_DOUBLE_EQ(string_match_part("The answer is Rome.", {"London", "paris"}), 0.0);
}

TEST(EvalScoring, ScoreIsPercentAfterPostprocessing) {
  EXPECT_DOUBLE_EQ(score_prediction(" 1234567.\n", {"1234567"}, Metric::all), 100.0);
  EXPECT_DOUBLE_EQ(score_prediction("AAA BBB", {"aaa", "bbb", "ccc", "ddd"}, Metric::all), 50.0);
  EXPECT_DOUBLE_EQ(score_prediction("AAA", {"aaa", "bbb"}, Metric::part), 100.0);
  // A reference split by a control char no longer matches: it became a newline.
  EXPECT_DOUBLE_EQ(score_prediction("12\x02"
                                    "34",
                                    {"12 34"}, Metric::all),
                   0.0);
  EXPECT_DOUBLE_EQ(score_prediction("12\x02"
                                    "34",
                                    {"12\n34"}, Metric::all),
                   100.0);
}

TEST(EvalScoring, MetricNames) {
  EXPECT_EQ(parse_metric("all"), Metric::all);
  EXPECT_EQ(parse_metric("part"), Metric::part);
  EXPECT_EQ(metric_name(Metric::part), "part");
  EXPECT_THROW(parse_metric("any"), Error);
}

}  // namespace
}  // namespace spf::eval
