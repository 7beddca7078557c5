// spf methods: the listing covers every method of the catalog, with its options and defaults, as
// text and as JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "cli/cli_checks.h"
#include "support/method_spec.h"
#include "test_util.h"

namespace spf {
namespace {

TEST(CliMethods, TextListsEveryMethodWithItsOptions) {
  test::TempDir t;
  const test::CliRun r = test::run_split(t, "methods");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("NAME[:FILE][:ARG...]"), std::string::npos) << r.out;
  for (const MethodInfo& m : method_catalog()) {
    SCOPED_TRACE(std::string(m.name));
    // Each method heads its own line, followed by its summary.
    std::string head = "\n";
    head += m.name;
    if (m.takes_path) head += ":FILE";
    const size_t at = r.out.find(head);
    ASSERT_NE(at, std::string::npos) << r.out;
    const size_t next = r.out.find("\n\n", at + 1);
    const std::string block = r.out.substr(at, next == std::string::npos ? next : next - at);
    EXPECT_NE(block.find(std::string(m.summary)), std::string::npos) << block;
    for (const std::string_view a : m.aliases) EXPECT_NE(block.find(a), std::string::npos) << block;
    for (const MethodOption& o : m.options) {
      const std::string line = std::string(o.key) + "=N";
      const size_t p = block.find(line);
      ASSERT_NE(p, std::string::npos) << block;
      const std::string rest = block.substr(p, block.find('\n', p) - p);
      EXPECT_NE(rest.find("default " + std::to_string(o.default_value)), std::string::npos) << rest;
      EXPECT_NE(rest.find(std::string(o.help)), std::string::npos) << rest;
    }
    EXPECT_EQ(block.find("not available") != std::string::npos, !m.available) << block;
    EXPECT_NE(block.find(m.grouped ? "kv" : "shared only"), std::string::npos) << block;
  }
}

TEST(CliMethods, JsonListsEveryMethodWithItsOptions) {
  test::TempDir t;
  const test::CliRun r = test::run_split(t, "methods --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.at("methods").is_array());
  ASSERT_EQ(j["methods"].size(), method_catalog().size());
  std::set<std::string> names;
  for (const nlohmann::json& m : j["methods"]) {
    const std::string name = m.at("name").get<std::string>();
    SCOPED_TRACE(name);
    names.insert(name);
    const MethodInfo* info = find_method_info(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(m.at("available").get<bool>(), info->available);
    EXPECT_EQ(m.at("summary").get<std::string>(), info->summary);
    ASSERT_EQ(m.at("options").size(), info->options.size());
    for (size_t i = 0; i < info->options.size(); ++i) {
      EXPECT_EQ(m["options"][i].at("key").get<std::string>(), info->options[i].key);
      EXPECT_EQ(m["options"][i].at("default").get<int64_t>(), info->options[i].default_value);
    }
    // The default spec printed parses (reserved methods show their FILE form).
    if (info->available && !info->takes_path) {
      EXPECT_EQ(canonical_method(m.at("default").get<std::string>()), name);
    } else if (info->takes_path) {
      EXPECT_EQ(m.at("default").get<std::string>(), name + ":FILE");
    }
    EXPECT_EQ(m.at("groups").size(), info->grouped ? 3u : 1u);
  }
  for (const MethodInfo& m : method_catalog()) EXPECT_TRUE(names.count(std::string(m.name)));
}

}  // namespace
}  // namespace spf
