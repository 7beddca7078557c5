// Method labels across the grammar change: results files, sweep configs and oracle reports written
// with the older spellings ("oracle:token", "oracle/token/per_head") keep matching their runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/model_runner.h"
#include "eval/oracle_study.h"
#include "eval/results_log.h"
#include "eval/sweep.h"
#include "eval/sweep_config.h"
#include "eval_test_helpers.h"
#include "test_util.h"

namespace spf::eval {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string repo_file(const std::string& rel) {
  return std::string(SPF_SOURCE_DIR) + "/" + rel;
}

// A line of docs/results/ruler/results-1024.jsonl, as written before the method grammar.
constexpr const char* kOldLine =
    R"({"budget":"5%","extra":{"decode_seconds":0.293186695,"generated_tokens":8},)"
    R"("id":"niah_single_1/0","length":1024,"method":"oracle:token","metric":"all",)"
    R"("model":"models/SmolLM2-135M-Instruct.Q4_1.gguf","outputs":["7889931"],)"
    R"("prediction":" 788931.","prefill_seconds":1.569225101,"prompt_tokens":893,"sample":0,)"
    R"("score":0.0,"seed":42,"support_density":0.05106833913285284,"task":"niah_single_1",)"
    R"("timestamp":"2026-11-23T09:44:18Z"})";

TEST(EvalMethodLabels, OldResultsLineMatchesTheCanonicalCell) {
  const ResultRecord r = record_from_json(json::parse(kOldLine), "results.jsonl:2");
  EXPECT_EQ(r.key.method, "oracle");
  // A config naming the method either way has this cell.
  for (const char* spelling : {"oracle:token", "oracle", "oracle:shared:token"}) {
    SCOPED_TRACE(spelling);
    const SweepConfig cfg =
        parse_sweep_config(json{{"models", {"models/SmolLM2-135M-Instruct.Q4_1.gguf"}},
                                {"methods", {"dense", spelling}},
                                {"budgets", {"5%"}},
                                {"lengths", {1024}},
                                {"tasks", {"niah_single_1"}},
                                {"samples", 1},
                                {"results", "r.jsonl"}},
                           "sweep.json", "");
    EXPECT_EQ(cfg.methods, (std::vector<std::string>{"dense", "oracle"}));
    bool found = false;
    for (const CellKey& c : enumerate_cells(cfg))
      found |= ResultKey{c.model, c.method, c.budget, c.length, c.task, 0, cfg.seed} == r.key;
    EXPECT_TRUE(found);
  }
  // Labels that are no spec stay as written.
  json other = json::parse(kOldLine);
  other["method"] = "xattn";
  EXPECT_EQ(record_from_json(other, "x").key.method, "xattn");
  EXPECT_FALSE(is_dense_method("xattn"));
  EXPECT_TRUE(is_dense_method("dense"));
  EXPECT_TRUE(is_dense_method("dense:token"));
}

TEST(EvalMethodLabels, SweepConfigMethodsAreCanonicalSpecs) {
  auto config = [](json methods) {
    return json{{"models", {"m"}},     {"methods", std::move(methods)},
                {"budgets", {"5%"}},   {"lengths", {1024}},
                {"tasks", {"vt"}},     {"samples", 1},
                {"results", "r.jsonl"}};
  };
  const SweepConfig c = parse_sweep_config(
      config({"dense", "oracle:block:64:per_head", "xattention", "vertical_slash:probe=32"}),
      "s.json", "");
  EXPECT_EQ(c.methods, (std::vector<std::string>{"dense", "oracle:block64:groups=head",
                                                 "antidiagonal", "vertical_slash:probe=32"}));
  auto error_of = [&](json methods) -> std::string {
    try {
      parse_sweep_config(config(std::move(methods)), "s.json", "");
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  std::string e = error_of({"oracle:token", "oracle"});
  EXPECT_NE(e.find("lists oracle twice"), std::string::npos) << e;
  EXPECT_NE(e.find("\"oracle:token\""), std::string::npos) << e;
  e = error_of({"oracle:rows"});
  EXPECT_EQ(e.rfind("s.json: \"methods\": method spec 'oracle:rows': unknown argument 'rows'", 0),
            0u)
      << e;
  e = error_of({"sink_window"});
  EXPECT_NE(e.find("unknown method 'sink_window'"), std::string::npos) << e;
}

// Resumes a copy of a committed RULER sweep: every cell is found in its results file (old
// spellings), so nothing runs.
class NeverRunner : public Runner {
 public:
  PromptFormat prompt_format(const std::string&) override { throw Error("nothing should run"); }
  RunResult run(const Sample&, const CellKey&, const RunOptions&) override {
    throw Error("nothing should run");
  }
};

TEST(EvalMethodLabels, CommittedRulerSweepsStillResumeAsComplete) {
  for (const char* n : {"1024", "2048", "4096"}) {
    SCOPED_TRACE(n);
    const std::string cfg_path = repo_file(std::string("docs/results/ruler/sweep-") + n + ".json");
    const json j = json::parse(read_file(cfg_path));
    // The committed config still spells its methods the old way, and they still parse.
    EXPECT_NE(std::find(j["methods"].begin(), j["methods"].end(), "oracle:token"),
              j["methods"].end());
    spf::test::TempDir t;
    fs::copy_file(repo_file("docs/results/ruler/" + j["results"].get<std::string>()),
                  t.file(j["results"].get<std::string>()));
    const SweepConfig cfg = parse_sweep_config(j, cfg_path, t.path().string());
    NeverRunner runner;
    SweepOptions so;
    so.progress = nullptr;
    const SweepSummary s = run_sweep(cfg, runner, so);
    EXPECT_GT(s.total, 0);
    EXPECT_EQ(s.already_done, s.total);
    EXPECT_EQ(s.ran, 0);
  }
}

// The labels of the committed oracle reports (older format: "oracle/token/per_head @ 5%", a bare
// method with block and groups fields) are those of today's spellings of the same runs.
std::set<std::string> labels_of(const std::string& rel) {
  std::set<std::string> out;
  for (const SparseRunResult& r : read_oracle_json(repo_file(rel)).runs)
    out.insert(r.config.label());
  return out;
}

std::set<std::string> grid(std::initializer_list<const char*> specs) {
  std::set<std::string> out;
  for (const char* spec : specs)
    for (const char* b : {"1%", "2%", "5%", "10%", "20%"}) {
      SparseConfig c;
      c.spec = parse_method_spec(spec);
      c.budget = b;
      out.insert(c.label());
    }
  return out;
}

TEST(EvalMethodLabels, CommittedOracleReportsKeepTheirLabels) {
  EXPECT_EQ(labels_of("docs/results/oracle/oracle-heads-smollm2-4k.json"),
            grid({"oracle:groups=head", "oracle:groups=kv", "oracle:block64:groups=head",
                  "oracle:block64:groups=kv"}));
  EXPECT_EQ(labels_of("docs/results/oracle/oracle-smollm2-4k.json"),
            grid({"oracle", "oracle:block64", "streaming", "streaming:block64", "vertical_slash",
                  "vertical_slash:block64", "random", "random:block64", "antidiagonal"}));
  EXPECT_EQ(labels_of("docs/results/oracle/oracle-streaming-sink4-smollm2-4k.json"),
            grid({"streaming", "streaming:block64"}));
  const std::set<std::string> heads = labels_of("docs/results/oracle/oracle-heads-smollm2-4k.json");
  EXPECT_TRUE(heads.count("oracle:block64:groups=head @ 5%")) << *heads.begin();
}

TEST(EvalMethodLabels, OracleReportRoundTripsSpecs) {
  OracleStudy s;
  s.model_path = "m.gguf";
  s.n_tokens = 10;
  for (const char* spec : {"oracle:block64:groups=kv", "random:seed=3:window=8",
                           "antidiagonal:stride=16", "vertical_slash:probe=7"}) {
    SparseRunResult r;
    r.config.spec = parse_method_spec(spec);
    r.config.budget = "5%";
    r.producer_name = spec;
    s.runs.push_back(r);
  }
  spf::test::TempDir t;
  write_oracle_reports(s, t.file("o.json"), "");
  const OracleStudy back = read_oracle_json(t.file("o.json"));
  ASSERT_EQ(back.runs.size(), s.runs.size());
  for (size_t i = 0; i < s.runs.size(); ++i) {
    EXPECT_EQ(back.runs[i].config.spec, s.runs[i].config.spec);
    EXPECT_EQ(back.runs[i].config.label(), s.runs[i].config.label());
  }
  const json j = json::parse(read_file(t.file("o.json")));
  EXPECT_EQ(j["runs"][0]["method"], "oracle:block64:groups=kv");
  EXPECT_EQ(j["runs"][0]["label"], "oracle:block64:groups=kv @ 5%");
}

TEST(EvalMethodLabels, CellProducersComeFromTheSpec) {
  EXPECT_NE(make_cell_producer("oracle:token", "5%")->name().find("oracle"), std::string::npos);
  EXPECT_NE(make_cell_producer("xattention", "256")->name().find("antidiagonal"),
            std::string::npos);
  EXPECT_NO_THROW(make_cell_producer("dense", ""));
  auto error_of = [](const std::string& m, const std::string& b) -> std::string {
    try {
      make_cell_producer(m, b);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  std::string e = error_of("indexer:idx.bin:block64", "5%");
  EXPECT_NE(e.find("no such indexer file"), std::string::npos) << e;
  e = error_of("oracle", "lots");
  EXPECT_NE(e.find("method oracle: budget 'lots'"), std::string::npos) << e;
  e = error_of("random", "p=0.9");
  EXPECT_NE(e.find("method random at budget p=0.9"), std::string::npos) << e;
}

}  // namespace
}  // namespace spf::eval
