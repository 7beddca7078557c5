#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/sweep_config.h"
#include "test_util.h"

namespace spf::eval {
namespace {

using nlohmann::json;

json base_config() {
  return json::parse(R"({"models": ["m1", "m2"], "methods": ["dense", "oracle:token", "xattention"],
    "budgets": ["5%", "10%"], "lengths": [4096, 8192], "tasks": ["niah_single_1", "vt", "custom:c.jsonl"],
    "samples": 3, "seed": 7, "results": "out/results.jsonl"})");
}

std::string error_of(const json& j) {
  try {
    parse_sweep_config(j, "sweep.json", "/base");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(EvalSweepConfig, ParsesAndResolvesPaths) {
  const SweepConfig c = parse_sweep_config(base_config(), "sweep.json", "/base");
  EXPECT_EQ(c.models, (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(c.lengths, (std::vector<int64_t>{4096, 8192}));
  EXPECT_EQ(c.samples, 3);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.results, "/base/out/results.jsonl");
  EXPECT_EQ(custom_task_path(c, "custom:c.jsonl"), "/base/c.jsonl");
  EXPECT_EQ(custom_task_path(c, "vt"), "");
  json j = base_config();
  j.erase("seed");
  EXPECT_EQ(parse_sweep_config(j, "s", "").seed, 42u);
}

TEST(EvalSweepConfig, CellsAreTheProductDenseIgnoresBudgetsCustomIgnoresLengths) {
  const SweepConfig c = parse_sweep_config(base_config(), "sweep.json", "/base");
  const auto cells = enumerate_cells(c);
  // Per model: builtin slots 2 lengths x 2 tasks + 1 custom slot, each with 1 dense + 2x2 sparse.
  EXPECT_EQ(cells.size(), 2u * (4 + 1) * (1 + 2 * 2));
  int dense = 0, custom = 0;
  for (const CellKey& k : cells) {
    if (k.method == "dense") {
      ++dense;
      EXPECT_EQ(k.budget, "");
    }
    if (k.task == "custom:c.jsonl") {
      ++custom;
      EXPECT_EQ(k.length, 0);
    }
  }
  EXPECT_EQ(dense, 2 * 5);
  EXPECT_EQ(custom, 2 * 5);
  EXPECT_EQ(cells.front().model, "m1");
  EXPECT_EQ(cells.back().model, "m2");
}

TEST(EvalSweepConfig, ErrorsSayWhatIsWrong) {
  auto with = [](const char* key, json v) {
    json j = base_config();
    j[key] = std::move(v);
    return j;
  };
  EXPECT_NE(error_of(with("tasks", {"niah_single_1", "needle"})).find("unknown task \"needle\""),
            std::string::npos);
  EXPECT_NE(error_of(with("colour", "red")).find("unknown key \"colour\""), std::string::npos);
  EXPECT_NE(error_of(with("methods", json::array())).find("\"methods\" is empty"),
            std::string::npos);
  EXPECT_NE(error_of(with("methods", {"dense", "dense"})).find("twice"), std::string::npos);
  EXPECT_NE(error_of(with("budgets", {"5%", "abc%"})).find("budget \"abc%\""), std::string::npos);
  EXPECT_NE(error_of(with("budgets", {"0%"})).find("budget \"0%\""), std::string::npos);
  EXPECT_NE(error_of(with("budgets", {"150%"})).find("budget \"150%\""), std::string::npos);
  EXPECT_NE(error_of(with("budgets", json::array())).find("\"budgets\" is empty"),
            std::string::npos);
  EXPECT_NE(error_of(with("samples", 0)).find("\"samples\""), std::string::npos);
  EXPECT_NE(error_of(with("lengths", {4096, "8k"})).find("\"lengths\""), std::string::npos);
  EXPECT_NE(error_of(with("lengths", json::array())).find("\"lengths\" is empty"),
            std::string::npos);
  EXPECT_NE(error_of(with("seed", -1)).find("\"seed\""), std::string::npos);
  EXPECT_NE(error_of(with("results", 3)).find("\"results\""), std::string::npos);
  EXPECT_NE(
      error_of(with("stop_when_scored", "yes")).find("\"stop_when_scored\" must be true or false"),
      std::string::npos);
  EXPECT_EQ(error_of(with("stop_when_scored", true)), "(no error)");
  EXPECT_EQ(error_of(with("prefill_chunk", 512)), "(no error)");
  for (const json& bad : {json(-1), json("512"), json(1.5)})
    EXPECT_NE(error_of(with("prefill_chunk", bad)).find("\"prefill_chunk\" must be a non-negative"),
              std::string::npos)
        << bad.dump();
  EXPECT_EQ(parse_sweep_config(with("sparse_layers", "11,3,7"), "s", "").sparse_layers, "3,7,11");
  EXPECT_EQ(parse_sweep_config(base_config(), "s", "").sparse_layers, "all");
  EXPECT_NE(error_of(with("sparse_layers", "every:0")).find("every:K"), std::string::npos);
  EXPECT_NE(error_of(with("sparse_layers", 4)).find("\"sparse_layers\" must be a string"),
            std::string::npos);
  EXPECT_NE(error_of(with("tasks", {"custom:"})).find("names no file"), std::string::npos);
  EXPECT_EQ(error_of(with("budgets", {"2048"})), "(no error)");  // token counts are budgets too
  // Exponent notation is no token count: the run used to read 1e9 as k = 1 under a "1e9" label.
  for (const char* b : {"1e9", "1e3", "1.5e1"})
    EXPECT_NE(error_of(with("budgets", {b})).find(b), std::string::npos) << b;
  json dense_only = with("methods", {"dense"});
  dense_only.erase("budgets");
  EXPECT_EQ(error_of(dense_only), "(no error)");
}

TEST(EvalSweepConfig, ValidateChecksContextAndCustomFiles) {
  spf::test::TempDir dir;
  write_file_atomic(dir.file("c.jsonl"),
                    "{\"id\":\"1\",\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"all\"}\n");
  std::filesystem::create_directories(dir.file("out"));
  const SweepConfig c = parse_sweep_config(base_config(), "sweep.json", dir.path().string());
  EXPECT_NO_THROW(validate_sweep_config(c, [](const std::string&) { return int64_t(8192); }));
  try {
    validate_sweep_config(
        c, [](const std::string& m) { return m == "m2" ? int64_t(4096) : int64_t(0); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("length 8192 exceeds the max context 4096 of model m2"),
              std::string::npos);
  }
  std::filesystem::remove(dir.file("c.jsonl"));
  EXPECT_THROW(validate_sweep_config(c), Error);
}

TEST(EvalSweepConfig, LoadsFromFile) {
  spf::test::TempDir dir;
  write_file_atomic(dir.file("s.json"), base_config().dump());
  EXPECT_EQ(load_sweep_config(dir.file("s.json")).results, dir.file("out/results.jsonl"));
  write_file_atomic(dir.file("bad.json"), "{\"models\": [");
  try {
    load_sweep_config(dir.file("bad.json"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("bad.json")), std::string::npos);
  }
}

TEST(EvalSweepConfig, BudgetValues) {
  EXPECT_DOUBLE_EQ(budget_value("5%"), 5.0);
  EXPECT_DOUBLE_EQ(budget_value("12.5%"), 12.5);
  EXPECT_DOUBLE_EQ(budget_value("2048"), 2048.0);
  EXPECT_TRUE(std::isnan(budget_value("")));
  EXPECT_TRUE(std::isnan(budget_value("1.5")));
  EXPECT_TRUE(std::isnan(budget_value("5 %")));
  EXPECT_TRUE(std::isnan(budget_value("1e3")));
  EXPECT_TRUE(std::isnan(budget_value("+5")));
}

}  // namespace
}  // namespace spf::eval
