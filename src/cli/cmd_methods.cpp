// spf methods: every support method a spec can name (support/method_spec.h), with its granularity,
// head grouping and options (default, range, one line each). Text by default, --json for tools.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/common.h"
#include "core/error.h"
#include "support/method_spec.h"

namespace spf::cli {

namespace {

constexpr const char* kGrammar =
    "NAME[:FILE][:ARG...], ARG = token | blockN | groups=shared|kv|head | KEY=N; the budget is "
    "given apart (--budget, a sweep's budgets)";

std::string granularity_text(const MethodInfo& m) {
  const std::string def = m.default_block == 1 ? "token" : cat("block", m.default_block);
  if (!m.block_multiple_of.empty())
    return cat("blockN with N a multiple of ", m.block_multiple_of, " (default ", def, ")");
  return cat("token or blockN (default ", def, ")");
}

nlohmann::json methods_json() {
  nlohmann::json methods = nlohmann::json::array();
  for (const MethodInfo& m : method_catalog()) {
    nlohmann::json options = nlohmann::json::array();
    for (const MethodOption& o : m.options)
      options.push_back({{"key", o.key},
                         {"default", o.default_value},
                         {"min", o.min},
                         {"max", o.max},
                         {"help", o.help}});
    nlohmann::json aliases = nlohmann::json::array();
    for (const std::string_view a : m.aliases) aliases.push_back(a);
    nlohmann::json groups =
        m.grouped ? nlohmann::json{"shared", "kv", "head"} : nlohmann::json{"shared"};
    methods.push_back(
        {{"name", m.name},
         {"aliases", aliases},
         {"summary", m.summary},
         {"available", m.available},
         {"takes_path", m.takes_path},
         {"uses_budget", m.uses_budget},
         {"default", m.available && !m.takes_path ? to_string(default_method_spec(m.name))
                                                  : std::string(m.name) + ":FILE"},
         {"granularity",
          {{"default", m.default_block == 1 ? std::string("token") : cat("block", m.default_block)},
           {"multiple_of", m.block_multiple_of}}},
         {"groups", groups},
         {"options", options}});
  }
  return {{"grammar", kGrammar}, {"methods", methods}};
}

void print_methods() {
  std::printf("Support method specs: %s.\n", kGrammar);
  std::printf("Defaults are left out of the canonical form that labels results.\n");
  for (const MethodInfo& m : method_catalog()) {
    std::string head(m.name);
    if (m.takes_path) head += ":FILE";
    std::printf("\n%-16s %s\n", head.c_str(), std::string(m.summary).c_str());
    if (!m.aliases.empty()) {
      std::string a;
      for (const std::string_view x : m.aliases) a += cat(a.empty() ? "" : ", ", x);
      std::printf("%-16s alias: %s\n", "", a.c_str());
    }
    if (!m.available) std::printf("%-16s not available in this build yet\n", "");
    if (!m.uses_budget) std::printf("%-16s takes no budget\n", "");
    std::printf("%-16s granularity: %s\n", "", granularity_text(m).c_str());
    std::printf("%-16s groups: %s\n", "",
                m.grouped ? "shared (default), kv (per KV group), head (per head)"
                          : "shared only (head-independent)");
    for (const MethodOption& o : m.options) {
      // The upper bounds only guard against overflow (--json has them): the floor is what matters.
      const std::string key = cat(o.key, "=N");
      std::printf("%-16s %-10s default %-4lld %s (N >= %lld)\n", "", key.c_str(),
                  (long long)o.default_value, std::string(o.help).c_str(), (long long)o.min);
    }
  }
}

}  // namespace

void add_methods(CLI::App& app) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand(
      "methods", "List the support methods a --method spec can name, with options and defaults");
  sub->add_flag("--json", *as_json, "Print the list as JSON");
  sub->callback([as_json] {
    if (*as_json) {
      std::printf("%s\n", methods_json().dump(2).c_str());
    } else {
      print_methods();
    }
  });
}

}  // namespace spf::cli
