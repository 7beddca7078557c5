#include "support/budget.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "support/producer.h"

namespace spf {
namespace {

TEST(Budget, ParsesEveryForm) {
  Budget b = parse_budget("5%");
  EXPECT_EQ(b.kind, BudgetKind::fraction);
  EXPECT_DOUBLE_EQ(b.value, 0.05);
  b = parse_budget("0.05");
  EXPECT_EQ(b.kind, BudgetKind::fraction);
  EXPECT_DOUBLE_EQ(b.value, 0.05);
  b = parse_budget("frac=0.25");
  EXPECT_EQ(b.kind, BudgetKind::fraction);
  EXPECT_DOUBLE_EQ(b.value, 0.25);
  b = parse_budget("k=256");
  EXPECT_EQ(b.kind, BudgetKind::top_k);
  EXPECT_EQ(b.value, 256.0);
  b = parse_budget("256");
  EXPECT_EQ(b.kind, BudgetKind::top_k);
  EXPECT_EQ(b.value, 256.0);
  b = parse_budget("1");
  EXPECT_EQ(b.kind, BudgetKind::top_k);
  b = parse_budget("1.0");
  EXPECT_EQ(b.kind, BudgetKind::fraction);
  EXPECT_EQ(b.value, 1.0);
  b = parse_budget("100%");
  EXPECT_EQ(b.value, 1.0);
  b = parse_budget("p=0.9");
  EXPECT_EQ(b.kind, BudgetKind::top_p);
  EXPECT_DOUBLE_EQ(b.value, 0.9);
  b = parse_budget("k=64, sink=4,window=32");
  EXPECT_EQ(b.kind, BudgetKind::top_k);
  EXPECT_EQ(b.sink, 4);
  EXPECT_EQ(b.window, 32);
}

TEST(Budget, StrRoundTrips) {
  for (const char* text :
       {"k=256", "frac=0.05", "p=0.9", "k=8,sink=4,window=16", "frac=0.125,window=3"}) {
    const Budget b = parse_budget(text);
    const Budget c = parse_budget(b.str());
    EXPECT_EQ(c.kind, b.kind) << text;
    EXPECT_EQ(c.value, b.value) << text;
    EXPECT_EQ(c.sink, b.sink) << text;
    EXPECT_EQ(c.window, b.window) << text;
  }
}

TEST(Budget, RejectsBadBudgetsWithTheText) {
  for (const char* text :
       {"0", "0%", "-5%", "-1", "0.0", "150%", "1.5", "100.5%", "p=0", "p=1.5", "k=0", "k=-3",
        "k=2.5", "abc", "", "5%,foo=1", "5%,sink=-1", "k=", "%"}) {
    try {
      parse_budget(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("budget"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
    }
  }
  EXPECT_THROW(Budget::fraction(0.0).validate(), Error);
  EXPECT_THROW(Budget::fraction(1.01).validate(), Error);
  EXPECT_THROW(Budget::top_k(0).validate(), Error);
  EXPECT_THROW(Budget::top_p(-0.1).validate(), Error);
}

TEST(Budget, ColumnsPerRow) {
  EXPECT_EQ(budget_columns(Budget::top_k(10), 100, 1), 10);
  EXPECT_EQ(budget_columns(Budget::top_k(10), 4, 1), 4);     // capped at the visible columns
  EXPECT_EQ(budget_columns(Budget::top_k(100), 50, 16), 7);  // ceil(100 / 16) key blocks
  EXPECT_EQ(budget_columns(Budget::fraction(0.07), 100, 1), 7);
  EXPECT_EQ(budget_columns(Budget::fraction(0.05), 21, 1), 2);  // ceil(1.05)
  EXPECT_EQ(budget_columns(Budget::fraction(0.05), 3, 1), 1);   // at least one
  EXPECT_EQ(budget_columns(Budget::fraction(1.0), 33, 4), 33);
  EXPECT_EQ(budget_columns(Budget::fraction(0.5), 0, 1), 0);
  EXPECT_THROW(budget_columns(Budget::top_p(0.5), 10, 1), Error);
}

TEST(ProducerOptions, ParsersAndFactoryRejectBadInput) {
  EXPECT_EQ(parse_granularity("token"), 1);
  EXPECT_EQ(parse_granularity("block:64"), 64);
  EXPECT_EQ(parse_granularity("16"), 16);
  EXPECT_THROW(parse_granularity("0"), Error);
  EXPECT_THROW(parse_granularity("block:0"), Error);
  EXPECT_THROW(parse_granularity("block:-4"), Error);
  EXPECT_THROW(parse_granularity("blocks"), Error);
  EXPECT_EQ(parse_group_mode("per_head"), GroupMode::per_head);
  EXPECT_THROW(parse_group_mode("per_layer"), Error);

  ProducerOptions o;
  o.budget = parse_budget("5%");
  try {
    make_producer("magic", o);
    ADD_FAILURE() << "unknown method accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown support method 'magic'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("oracle"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_producer_method("magic"), Error);
  for (const std::string& m : producer_methods()) EXPECT_NO_THROW(check_producer_method(m)) << m;
  EXPECT_NO_THROW(make_producer("xattention", [] {
    ProducerOptions x;
    x.block = 64;
    return x;
  }()));
  ProducerOptions zero = o;
  zero.block = 0;
  for (const std::string& m : producer_methods()) EXPECT_THROW(make_producer(m, zero), Error) << m;
  ProducerOptions bad_budget = o;
  bad_budget.budget.value = 0.0;
  EXPECT_THROW(make_producer("oracle", bad_budget), Error);
  bad_budget.budget.value = 1.2;
  EXPECT_THROW(make_producer("oracle", bad_budget), Error);

  ProducerOptions top_p = o;
  top_p.budget = Budget::top_p(0.9);
  EXPECT_THROW(make_producer("streaming", top_p), Error);
  EXPECT_THROW(make_producer("random", top_p), Error);
  EXPECT_THROW(make_producer("vertical_slash", top_p), Error);
  EXPECT_NO_THROW(make_producer("oracle", top_p));

  ProducerOptions xa = o;
  xa.block = 12;  // not a multiple of the stride 8
  EXPECT_THROW(make_producer("antidiagonal", xa), Error);
  xa.block = 64;
  EXPECT_NO_THROW(make_producer("antidiagonal", xa));
  EXPECT_NE(make_producer("oracle", o)->name().find("oracle"), std::string::npos);
}

}  // namespace
}  // namespace spf
