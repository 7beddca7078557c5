#include <gtest/gtest.h>

#include <algorithm>

#include "attention/cpu/cpu_executor.h"
#include "support/producer.h"
#include "support/producers/streaming.h"
#include "support/select.h"
#include "support_fixture.h"

namespace spf {
namespace {

struct ProducerCase {
  std::string method;
  int block;
  GroupMode groups;
};

std::string case_name(const ::testing::TestParamInfo<ProducerCase>& info) {
  return info.param.method + "_b" + std::to_string(info.param.block) + "_" +
         group_mode_name(info.param.groups);
}

class EveryProducer : public ::testing::TestWithParam<ProducerCase> {};

// Valid, causal, and exactly the budget in every row: max(budget columns, forced columns), capped.
TEST_P(EveryProducer, RespectsCausalityAndTheBudgetExactly) {
  const ProducerCase c = GetParam();
  for (const int64_t n_q : {int64_t(1), int64_t(45), int64_t(130)}) {
    test::AttnInputs in = test::make_inputs(n_q, 150, 4, 2, 32, uint32_t(n_q));
    for (const Budget& budget :
         {Budget::top_k(24), Budget::fraction(0.1),
          Budget::fraction(0.1).with_sink(4).with_window(16), Budget::top_k(1).with_sink(8)}) {
      ProducerOptions o;
      o.block = c.block;
      o.groups = c.groups;
      o.budget = budget;
      const Support s = make_producer(c.method, o)->produce(in.call(), cpu_executor());
      ASSERT_NO_THROW(s.validate()) << budget.str();
      ASSERT_EQ(s.n_q, in.shape.n_q);
      ASSERT_EQ(s.n_kv, in.shape.n_kv);
      ASSERT_EQ(s.q_pos0, in.shape.q_pos0);
      ASSERT_EQ(s.q_block, c.block);
      ASSERT_EQ(s.k_block, c.block);
      if (c.method == "dense") {
        EXPECT_DOUBLE_EQ(s.density(), 1.0);
        continue;
      }
      // The streaming baseline adds StreamingLLM's sink tokens when the budget names none.
      Budget effective = budget;
      if (c.method == "streaming" && effective.sink == 0) effective.sink = kDefaultStreamingSink;
      std::vector<int32_t> forced;
      for (int g = 0; g < s.n_groups; ++g) {
        for (int64_t r = 0; r < s.n_rows(); ++r) {
          const RowGeometry geo = row_geometry(s, r);
          forced_columns(effective, geo, forced);
          const auto row = test::row_vec(s, g, r);
          EXPECT_EQ(int64_t(row.size()),
                    std::max<int64_t>(budget_columns(effective, geo.avail, c.block),
                                      int64_t(forced.size())))
              << budget.str() << " n_q " << n_q << " group " << g << " row " << r;
          EXPECT_TRUE(std::includes(row.begin(), row.end(), forced.begin(), forced.end()))
              << budget.str() << " row " << r << ": a sink or window column is missing";
        }
      }
    }
  }
}

std::vector<ProducerCase> all_cases() {
  std::vector<ProducerCase> out;
  for (const char* m : {"dense", "oracle", "streaming", "vertical_slash", "random"}) {
    for (const int block : {1, 16}) {
      for (const GroupMode g : {GroupMode::shared, GroupMode::per_kv_group, GroupMode::per_head})
        out.push_back({m, block, g});
    }
  }
  for (const int block : {8, 32}) {
    for (const GroupMode g : {GroupMode::shared, GroupMode::per_head})
      out.push_back({"antidiagonal", block, g});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, EveryProducer, ::testing::ValuesIn(all_cases()), case_name);

TEST(Producers, TopPMethodsAreValidAndGrowWithP) {
  test::AttnInputs in = test::make_inputs(96, 160, 4, 2, 32, 4);
  for (const char* m : {"oracle", "antidiagonal"}) {
    ProducerOptions o;
    o.block = 16;
    int64_t prev = 0;
    for (const double p : {0.3, 0.7, 0.95, 1.0}) {
      o.budget = Budget::top_p(p);
      const Support s = make_producer(m, o)->produce(in.call(), cpu_executor());
      ASSERT_NO_THROW(s.validate());
      EXPECT_GE(int64_t(s.cols.size()), prev) << m << " p=" << p;
      prev = int64_t(s.cols.size());
    }
  }
}

TEST(Producers, StreamingKeepsTheSinkAndTheMostRecentKeys) {
  test::AttnInputs in = test::make_inputs(30, 50, 2, 1, 16, 1);
  ProducerOptions o;
  o.budget = Budget::top_k(6).with_sink(2);
  const Support s = make_producer("streaming", o)->produce(in.call(), cpu_executor());
  EXPECT_EQ(test::row_vec(s, 0, 29), (std::vector<int32_t>{0, 1, 46, 47, 48, 49}));
  EXPECT_EQ(test::row_vec(s, 0, 0), (std::vector<int32_t>{0, 1, 17, 18, 19, 20}));
}

TEST(Producers, StreamingKeepsFourSinkTokensByDefault) {
  test::AttnInputs in = test::make_inputs(30, 50, 2, 1, 16, 1);
  ProducerOptions o;
  o.budget = Budget::top_k(6);
  const Support s = make_producer("streaming", o)->produce(in.call(), cpu_executor());
  EXPECT_EQ(test::row_vec(s, 0, 29), (std::vector<int32_t>{0, 1, 2, 3, 48, 49}));
}

TEST(Producers, RandomIsSeededAndDeterministic) {
  test::AttnInputs in = test::make_inputs(40, 80, 2, 1, 16, 1);
  ProducerOptions o;
  o.budget = Budget::fraction(0.2);
  o.seed = 5;
  const Support a = make_producer("random", o)->produce(in.call(), cpu_executor());
  const Support b = make_producer("random", o)->produce(in.call(), cpu_executor());
  EXPECT_EQ(a.cols, b.cols);
  o.seed = 6;
  const Support c = make_producer("random", o)->produce(in.call(), cpu_executor());
  EXPECT_NE(a.cols, c.cols);
}

// A planted pattern: every query attends to key 7 (a vertical line) and to the key `lag` positions
// back (a slash line), and to nothing else. Keys are rows of a Sylvester-Hadamard matrix, so they
// are exactly orthogonal and every other score is exactly 0.
test::AttnInputs planted(int64_t n, int64_t lag) {
  const int d = 256;
  test::AttnInputs in = test::make_inputs(n, n, 2, 1, d, 8);
  in.shape.scale = 1.0f;
  auto hadamard = [](int64_t i, int c) {
    return __builtin_popcountll(uint64_t(i) & uint64_t(c)) % 2 ? -1.0f : 1.0f;
  };
  for (int64_t i = 0; i < n; ++i) {
    for (int c = 0; c < d; ++c) {
      in.k[size_t(i * d + c)] = hadamard(i, c);
      const float q =
          12.0f * (hadamard(7, c) + hadamard(std::max<int64_t>(0, i - lag), c)) / float(d);
      for (int h = 0; h < 2; ++h) in.q[size_t((i * 2 + h) * d + c)] = q;
    }
  }
  return in;
}

TEST(Producers, VerticalSlashFindsPlantedLines) {
  test::AttnInputs in = planted(120, 0);
  ProducerOptions o;
  o.budget = Budget::top_k(4);
  o.probe_queries = 16;
  const Support s = make_producer("vertical_slash", o)->produce(in.call(), cpu_executor());
  for (int64_t r = 8; r < s.n_rows(); ++r) {
    const auto row = test::row_vec(s, 0, r);
    EXPECT_TRUE(std::binary_search(row.begin(), row.end(), 7))
        << "row " << r << " lost the vertical";
    EXPECT_TRUE(std::binary_search(row.begin(), row.end(), int32_t(r)))
        << "row " << r << " lost the diagonal";
  }
}

TEST(Producers, AntidiagonalFindsAPlantedColumnBlock) {
  // Lag 1: with an even stride, antidiagonals of a diagonal sub-block miss offset 0 but sample
  // offset 1.
  test::AttnInputs in = planted(256, 1);
  ProducerOptions o;
  o.block = 16;
  o.stride = 4;
  o.budget = Budget::top_k(32);  // two key blocks per query block
  const Support s = make_producer("antidiagonal", o)->produce(in.call(), cpu_executor());
  for (int64_t r = 1; r < s.n_rows(); ++r) {
    const auto row = test::row_vec(s, 0, r);
    EXPECT_TRUE(std::binary_search(row.begin(), row.end(), 0))
        << "row " << r << " lost the block of key 7";
    EXPECT_TRUE(std::binary_search(row.begin(), row.end(), int32_t(r)))
        << "row " << r << " lost the diagonal block";
  }
}

}  // namespace
}  // namespace spf
