#include "support/method_spec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention/attention_inputs.h"
#include "attention/cpu/cpu_executor.h"
#include "core/error.h"
#include "support/producer.h"

namespace spf {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_method_spec(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A bad spec: one line that names the spec and holds every needle.
void expect_spec_error(const std::string& text, std::initializer_list<std::string> needles) {
  SCOPED_TRACE(text);
  const std::string e = error_of(text);
  EXPECT_EQ(e.rfind("method spec '" + text + "': ", 0), 0u) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  for (const std::string& n : needles) EXPECT_NE(e.find(n), std::string::npos) << n << " in: " << e;
  EXPECT_FALSE(try_parse_method_spec(text).has_value());
}

void expect_round_trip(const std::string& text) {
  SCOPED_TRACE(text);
  const MethodSpec s = parse_method_spec(text);
  const std::string canon = to_string(s);
  EXPECT_EQ(parse_method_spec(canon), s) << canon;
  EXPECT_EQ(to_string(parse_method_spec(canon)), canon);
  EXPECT_EQ(canonical_method(text), canon);
}

TEST(MethodSpec, EveryMethodRoundTripsAtItsDefaults) {
  for (const MethodInfo& m : method_catalog()) {
    SCOPED_TRACE(std::string(m.name));
    const std::string text =
        m.takes_path ? std::string(m.name) + ":some/dir/f.bin" : std::string(m.name);
    const MethodSpec s = parse_method_spec(text);
    EXPECT_EQ(s.method, m.name);
    EXPECT_EQ(s.block, m.default_block);
    EXPECT_EQ(s.groups, GroupMode::shared);
    ASSERT_EQ(s.options.size(), m.options.size());
    for (const MethodOption& o : m.options) EXPECT_EQ(s.option(o.key), o.default_value);
    EXPECT_EQ(to_string(s), text);  // defaults are left out
    expect_round_trip(text);
    if (!m.takes_path) {
      EXPECT_EQ(default_method_spec(m.name), s);
    }
  }
}

TEST(MethodSpec, EveryOptionGranularityAndGroupRoundTrips) {
  for (const MethodInfo& m : method_catalog()) {
    const std::string base = m.takes_path ? std::string(m.name) + ":x.bin" : std::string(m.name);
    // Granularity: the other one than the default (antidiagonal: a multiple of its stride).
    const std::string gran = m.default_block == 1 ? ":block16" : ":block128";
    expect_round_trip(base + gran);
    EXPECT_EQ(to_string(parse_method_spec(base + gran)), base + gran);
    if (m.block_multiple_of.empty()) {
      EXPECT_EQ(parse_method_spec(base + ":token").block, 1);
      EXPECT_EQ(parse_method_spec(base + ":block1").block, 1);  // block1 is token granularity
    }
    if (m.grouped) {
      for (const char* g : {"kv", "head"}) {
        const std::string t = base + ":groups=" + g;
        expect_round_trip(t);
        EXPECT_EQ(to_string(parse_method_spec(t)), t);
      }
    }
    for (const MethodOption& o : m.options) {
      SCOPED_TRACE(std::string(o.key));
      for (const int64_t v : {o.min, o.max, o.default_value + 1}) {
        if (v == o.default_value || v > o.max) continue;
        const std::string t = base + ":" + std::string(o.key) + "=" + std::to_string(v);
        if (m.block_multiple_of == o.key) {  // the block must stay a multiple of it
          const std::string tb = t + ":block" + std::to_string(v * 2);
          if (v * 2 > (int64_t(1) << 20)) continue;
          expect_round_trip(tb);
          EXPECT_EQ(parse_method_spec(tb).option(o.key), v);
          continue;
        }
        expect_round_trip(t);
        const MethodSpec s = parse_method_spec(t);
        EXPECT_EQ(s.option(o.key), v);
        EXPECT_EQ(to_string(s), t);
      }
    }
  }
}

TEST(MethodSpec, OldSpellingsMapToTheCanonicalForm) {
  EXPECT_EQ(canonical_method("oracle:token"), "oracle");
  EXPECT_EQ(canonical_method("oracle:block64"), "oracle:block64");
  EXPECT_EQ(canonical_method("oracle:block:64"), "oracle:block64");
  EXPECT_EQ(canonical_method("oracle:token:per_head"), "oracle:groups=head");
  EXPECT_EQ(canonical_method("oracle:block64:per_kv_group"), "oracle:block64:groups=kv");
  EXPECT_EQ(canonical_method("oracle:shared:block:32"), "oracle:block32");
  EXPECT_EQ(canonical_method("oracle:groups=per_head"), "oracle:groups=head");
  EXPECT_EQ(canonical_method("antidiagonal:block64"), "antidiagonal");
  EXPECT_EQ(canonical_method("xattention"), "antidiagonal");
  EXPECT_EQ(canonical_method("xattention:block:128"), "antidiagonal:block128");
  EXPECT_EQ(canonical_method("streaming"), "streaming");
  EXPECT_EQ(canonical_method("streaming:sink=4"), "streaming");
  EXPECT_EQ(canonical_method("vertical_slash:token"), "vertical_slash");
  EXPECT_EQ(canonical_method("random:seed=0"), "random");
  EXPECT_EQ(canonical_method("dense"), "dense");
  // Order does not matter; the canonical order is granularity, groups, options in catalog order.
  EXPECT_EQ(canonical_method("vertical_slash:probe=032:groups=kv:window=16:block8"),
            "vertical_slash:block8:groups=kv:window=16:probe=32");
  EXPECT_EQ(parse_method_spec("oracle:groups=head:block64"),
            parse_method_spec("oracle:block:64:per_head"));
  // The old --granularity spellings.
  EXPECT_EQ(parse_granularity("block64"), 64);
  EXPECT_EQ(parse_granularity("block:64"), 64);
  EXPECT_EQ(parse_group_mode("kv"), GroupMode::per_kv_group);
  EXPECT_EQ(parse_group_mode("per_kv_group"), GroupMode::per_kv_group);
  EXPECT_EQ(parse_group_mode("head"), GroupMode::per_head);
}

TEST(MethodSpec, IndexerTakesAPathAndNeedsItsLibrary) {
  const MethodSpec s = parse_method_spec("indexer:ckpt/idx.bin:block64");
  EXPECT_EQ(s.method, "indexer");
  EXPECT_EQ(s.path, "ckpt/idx.bin");
  EXPECT_EQ(s.block, 64);
  EXPECT_EQ(to_string(s), "indexer:ckpt/idx.bin:block64");
  EXPECT_EQ(parse_method_spec("indexer:block64").path, "block64");  // the first argument is FILE
  expect_spec_error("indexer", {"indexer needs a file", "indexer:FILE"});
  expect_spec_error("indexer:f.bin:probe=3", {"option 'probe' is not valid for indexer"});
  try {
    make_producer(s, parse_budget("5%"));
    ADD_FAILURE() << "the indexer was built";
  } catch (const Error& e) {
    // This test binary never registers the indexer library (src/indexer does, from the CLI).
    const std::string m = e.what();
    EXPECT_NE(m.find("indexer:ckpt/idx.bin:block64"), std::string::npos) << m;
    EXPECT_NE(m.find("not available in this build"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  EXPECT_NO_THROW(check_producer_method("indexer"));
  // The bare-name factory cannot build it: it needs its FILE.
  EXPECT_THROW(make_producer("indexer", ProducerOptions{}), Error);
}

TEST(MethodSpec, BadSpecsSayWhatIsWrongAndWhatIsAllowed) {
  // Unknown method: every method is listed.
  expect_spec_error("magic:token",
                    {"unknown method 'magic'", "oracle", "vertical_slash", "indexer"});
  expect_spec_error("", {"empty method spec", "NAME[:ARG...]"});
  expect_spec_error("Oracle", {"unknown method 'Oracle'"});
  // Empty parts.
  expect_spec_error("oracle::token", {"empty argument"});
  expect_spec_error("oracle:", {"empty argument"});
  expect_spec_error(":token", {"no method name"});
  // Unknown argument or option: what the method takes is listed.
  expect_spec_error("oracle:rows",
                    {"unknown argument 'rows'", "token, blockN", "groups=", "sink=N"});
  expect_spec_error("oracle:foo=1", {"unknown option 'foo'", "oracle takes", "window=N"});
  // An option of another method.
  expect_spec_error("oracle:probe=5",
                    {"option 'probe' is not valid for oracle", "vertical_slash takes it"});
  expect_spec_error("dense:sink=4", {"option 'sink' is not valid for dense"});
  expect_spec_error("streaming:stride=4", {"option 'stride' is not valid for streaming"});
  // Bad values.
  expect_spec_error("vertical_slash:probe=0", {"bad value '0' for probe", "[1, "});
  expect_spec_error("vertical_slash:probe=x", {"bad value 'x' for probe"});
  expect_spec_error("vertical_slash:probe=-1", {"bad value '-1' for probe"});
  expect_spec_error("vertical_slash:probe=", {"bad value '' for probe"});
  expect_spec_error("random:seed=99999999999999999999", {"bad value '99999999999999999999'"});
  expect_spec_error("oracle:sink=1.5", {"bad value '1.5' for sink"});
  expect_spec_error("streaming:sink=0", {"bad value '0' for sink", "[1, "});
  expect_spec_error("oracle:groups=everyone",
                    {"bad value 'everyone' for groups", "shared|kv|head"});
  // Granularity.
  expect_spec_error("oracle:block", {"needs a size", "block64"});
  expect_spec_error("oracle:block0", {"bad granularity 'block0'"});
  expect_spec_error("oracle:block:0", {"bad granularity 'block:0'"});
  expect_spec_error("oracle:blocks", {"bad granularity 'blocks'"});
  expect_spec_error("oracle:block99999999", {"bad granularity"});
  expect_spec_error("oracle:block=64", {"blockN", "not 'block=64'"});
  expect_spec_error("antidiagonal:block12", {"block size 12", "multiple of stride=8"});
  expect_spec_error("antidiagonal:token", {"block size 1", "stride"});
  expect_spec_error("antidiagonal:stride=16:block24", {"block size 24", "stride=16"});
  // Duplicates.
  expect_spec_error("random:seed=1:seed=2", {"duplicate option 'seed'"});
  expect_spec_error("oracle:token:block64", {"duplicate granularity 'block64'", "'token'"});
  expect_spec_error("oracle:block64:block:32", {"duplicate granularity 'block:32'"});
  expect_spec_error("oracle:per_head:groups=kv", {"duplicate group mode 'groups=kv'"});
  // Groups on a head-independent method.
  expect_spec_error("streaming:groups=head", {"streaming is head-independent", "groups=shared"});
  expect_spec_error("random:per_kv_group", {"random is head-independent"});
  EXPECT_NO_THROW(parse_method_spec("random:groups=shared"));
}

TEST(MethodSpec, BudgetJoinsTheSpecWithoutSilentConflicts) {
  const Budget five = parse_budget("5%");
  ProducerOptions po = producer_options(parse_method_spec("oracle:window=16"), five);
  EXPECT_EQ(po.budget.window, 16);
  EXPECT_EQ(po.budget.sink, 0);
  po = producer_options(parse_method_spec("oracle"), parse_budget("5%,sink=2,window=8"));
  EXPECT_EQ(po.budget.sink, 2);
  EXPECT_EQ(po.budget.window, 8);
  po = producer_options(parse_method_spec("oracle:sink=2"), parse_budget("5%,sink=2"));
  EXPECT_EQ(po.budget.sink, 2);  // the same value twice is no conflict
  po = producer_options(parse_method_spec("streaming"), five);
  EXPECT_EQ(po.budget.sink, 4);
  po = producer_options(parse_method_spec("streaming"), parse_budget("5%,sink=4"));
  EXPECT_EQ(po.budget.sink, 4);
  try {
    producer_options(parse_method_spec("oracle:sink=2"), parse_budget("5%,sink=3"));
    ADD_FAILURE() << "conflicting sinks accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("sink=2"), std::string::npos) << m;
    EXPECT_NE(m.find("sink=3"), std::string::npos) << m;
  }
  try {
    producer_options(parse_method_spec("streaming"), parse_budget("5%,sink=8"));
    ADD_FAILURE() << "a budget sink silently overrode streaming's default";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("(its default)"), std::string::npos) << m;
    EXPECT_NE(m.find("streaming:sink=8"), std::string::npos) << m;
  }
  EXPECT_THROW(producer_options(parse_method_spec("oracle:window=4"), parse_budget("k=4,window=5")),
               Error);
  // The other options reach the producer.
  po = producer_options(parse_method_spec("random:seed=9:block8"), five);
  EXPECT_EQ(po.seed, 9u);
  EXPECT_EQ(po.block, 8);
  po = producer_options(parse_method_spec("vertical_slash:probe=5:groups=kv"), five);
  EXPECT_EQ(po.probe_queries, 5);
  EXPECT_EQ(po.groups, GroupMode::per_kv_group);
  po = producer_options(parse_method_spec("xattention:stride=4:block16"), five);
  EXPECT_EQ(po.stride, 4);
  EXPECT_EQ(po.block, 16);
  // Dense takes no budget: the budget's forced keys do not matter.
  EXPECT_NO_THROW(make_producer(parse_method_spec("dense"), parse_budget("5%,sink=3")));
}

// A spec builds the same producer as the low-level factory given the same options.
TEST(MethodSpec, SpecProducersMatchTheFactory) {
  struct Case {
    const char* spec;
    const char* method;
    int block;
    GroupMode groups;
    uint64_t seed;
    int probe, stride;
  };
  const Case cases[] = {
      {"dense:block8", "dense", 8, GroupMode::shared, 0, 64, 8},
      {"oracle:block4:groups=head", "oracle", 4, GroupMode::per_head, 0, 64, 8},
      {"streaming", "streaming", 1, GroupMode::shared, 0, 64, 8},
      {"vertical_slash:probe=8:groups=kv", "vertical_slash", 1, GroupMode::per_kv_group, 0, 8, 8},
      {"antidiagonal:stride=4:block16", "antidiagonal", 16, GroupMode::shared, 0, 64, 4},
      {"random:seed=5", "random", 1, GroupMode::shared, 5, 64, 8},
  };
  test::AttnInputs in = test::make_inputs(40, 80, 4, 2, 16, 3);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    const Budget b = parse_budget("20%");
    ProducerOptions po;
    po.budget = b;
    po.block = c.block;
    po.groups = c.groups;
    po.seed = c.seed;
    po.probe_queries = c.probe;
    po.stride = c.stride;
    if (std::string(c.method) == "streaming") po.budget.sink = 4;
    const Support want = make_producer(c.method, po)->produce(in.call(), cpu_executor());
    const Support got =
        make_producer(parse_method_spec(c.spec), b)->produce(in.call(), cpu_executor());
    EXPECT_EQ(got.n_groups, want.n_groups);
    EXPECT_EQ(got.q_block, want.q_block);
    EXPECT_EQ(got.row_ptr, want.row_ptr);
    EXPECT_EQ(got.cols, want.cols);
  }
}

}  // namespace
}  // namespace spf
