#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/report.h"
#include "eval/report_table.h"
#include "eval/results_log.h"
#include "test_util.h"

namespace spf::eval {
namespace {

ResultRecord rec(const std::string& method, const std::string& budget, int64_t length,
                 const std::string& task, int64_t sample, double score, double prefill = 1.0) {
  ResultRecord r;
  r.key = {"model-a", method, budget, length, task, sample, 42};
  r.id = task + "/" + std::to_string(sample);
  r.score = score;
  r.prediction = "p";
  r.outputs = {"o"};
  r.metric = "all";
  r.prefill_seconds = prefill;
  r.support_density = method == "dense" ? 1.0 : 0.05;
  r.prompt_tokens = length;
  r.timestamp = "2024-01-01T00:00:00Z";
  return r;
}

// Dense scores 100 everywhere; xattn@5% loses the odd samples of niah_single_1 (score 0) at 4096.
std::vector<ResultRecord> fixture_records() {
  std::vector<ResultRecord> v;
  for (const int64_t len : {4096, 8192})
    for (const char* task : {"niah_single_1", "vt", "cwe"})
      for (int64_t i = 0; i < 10; ++i) {
        v.push_back(rec("dense", "", len, task, i, 100.0, 2.0));
        const bool miss = len == 4096 && std::string(task) == "niah_single_1" && i % 2 == 1;
        v.push_back(rec("xattn", "5%", len, task, i, miss ? 0.0 : 100.0, 0.5));
        v.push_back(rec("xattn", "10%", len, task, i, 100.0, 0.8));
      }
  return v;
}

const SummaryRow& find_row(const std::vector<SummaryRow>& rows, const std::string& kind,
                           const std::string& group, int64_t len, const std::string& method,
                           const std::string& budget) {
  for (const SummaryRow& r : rows)
    if (r.kind == kind && r.group == group && r.length == len && r.method == method &&
        r.budget == budget)
      return r;
  throw std::runtime_error("row not found: " + kind + " " + group + " " + method + " " + budget);
}

TEST(EvalReportTable, MeansDeltasAndOrder) {
  const auto rows = summarize_results(fixture_records());
  const SummaryRow& t = find_row(rows, "task", "niah_single_1", 4096, "xattn", "5%");
  EXPECT_DOUBLE_EQ(t.score.mean, 50.0);
  EXPECT_EQ(t.score.n, 10);
  ASSERT_TRUE(t.has_delta);
  EXPECT_DOUBLE_EQ(t.delta.mean, -50.0);
  EXPECT_EQ(t.delta.n, 10);
  EXPECT_LT(t.delta.lo, -50.0);
  EXPECT_GT(t.delta.hi, -50.0);
  EXPECT_LE(t.delta.hi, 0.0);
  // Average over 3 tasks with equal weight: (50 + 100 + 100) / 3.
  const SummaryRow& all = find_row(rows, "all", "all", 4096, "xattn", "5%");
  EXPECT_NEAR(all.score.mean, 250.0 / 3, 1e-9);
  EXPECT_EQ(all.n_tasks, 3);
  EXPECT_NEAR(all.delta.mean, -50.0 / 3, 1e-9);
  const SummaryRow& ret = find_row(rows, "group", "retrieval", 4096, "xattn", "5%");
  EXPECT_DOUBLE_EQ(ret.score.mean, 50.0);
  const SummaryRow& agg = find_row(rows, "group", "aggregation", 8192, "xattn", "10%");
  EXPECT_DOUBLE_EQ(agg.delta.mean, 0.0);
  EXPECT_DOUBLE_EQ(agg.delta.lo, 0.0);
  EXPECT_DOUBLE_EQ(agg.delta.hi, 0.0);
  const SummaryRow& dense = find_row(rows, "all", "all", 8192, "dense", "");
  EXPECT_FALSE(dense.has_delta);
  EXPECT_DOUBLE_EQ(dense.prefill_seconds, 2.0);
  EXPECT_DOUBLE_EQ(dense.support_density, 1.0);
  // Reading order: all before groups before tasks; dense first; budgets by value.
  EXPECT_EQ(rows[0].kind, "all");
  EXPECT_EQ(rows[0].method, "dense");
  EXPECT_EQ(rows[1].budget, "5%");
  EXPECT_EQ(rows[2].budget, "10%");
  EXPECT_EQ(rows.back().kind, "task");
}

TEST(EvalReportTable, DeltasPairOnlyMatchingSamples) {
  std::vector<ResultRecord> v;
  for (int64_t i = 0; i < 4; ++i) v.push_back(rec("dense", "", 4096, "vt", i, 100.0));
  v.push_back(rec("xattn", "5%", 4096, "vt", 0, 0.0));
  v.push_back(rec("xattn", "5%", 4096, "vt", 9, 100.0));  // no dense partner
  const auto rows = summarize_results(v);
  const SummaryRow& r = find_row(rows, "task", "vt", 4096, "xattn", "5%");
  EXPECT_EQ(r.score.n, 2);
  EXPECT_EQ(r.delta.n, 1);
  EXPECT_DOUBLE_EQ(r.delta.mean, -100.0);
}

TEST(EvalReportTable, DuplicatesDropped) {
  auto v = fixture_records();
  const size_t n = v.size();
  v.push_back(v[3]);
  v.push_back(v[5]);
  EXPECT_EQ(drop_duplicate_records(v), 2);
  EXPECT_EQ(v.size(), n);
}

std::string write_results(const spf::test::TempDir& dir, const std::vector<ResultRecord>& records,
                          const std::string& tail = "") {
  std::string text;
  for (const ResultRecord& r : records) text += record_to_json(r).dump() + "\n";
  const std::string path = dir.file("results.jsonl");
  write_file_atomic(path, text + tail);
  return path;
}

TEST(EvalReport, WritesMarkdownCsvJsonWithoutPlots) {
  spf::test::TempDir dir;
  auto records = fixture_records();
  records.push_back(records[0]);  // a duplicate
  const std::string path = write_results(dir, records, "not json\n{\"model\":\"m\",\"met");
  ReportOptions opt;
  opt.plot_script = dir.file("missing_plot_report.py");
  const ReportSummary s = make_report(path, dir.file("out"), opt);
  EXPECT_EQ(s.records, int64_t(fixture_records().size()));
  EXPECT_EQ(s.duplicates, 1);
  EXPECT_EQ(s.skipped_lines, 1);
  EXPECT_TRUE(s.torn_tail);
  EXPECT_TRUE(s.plots.empty());
  EXPECT_NE(s.plot_note.find("not found"), std::string::npos);

  const std::string md = read_file(s.markdown_path);
  EXPECT_NE(md.find("## Model `model-a`"), std::string::npos);
  EXPECT_NE(md.find("| method | budget | 4096 | 8192 |"), std::string::npos);
  EXPECT_NE(md.find("| dense | — | 100.0 [100.0, 100.0] (n=30) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| xattn | 5% | -16.7 ["), std::string::npos) << md;
  EXPECT_NE(md.find("#### retrieval"), std::string::npos);
  EXPECT_NE(md.find("| 4096 | xattn | 5% | 10 | 50.0 ["), std::string::npos) << md;
  EXPECT_NE(md.find("skipped invalid line: " + path + ":"), std::string::npos);
  EXPECT_NE(md.find("1 duplicate results ignored"), std::string::npos);
  EXPECT_NE(md.find("torn"), std::string::npos);
  EXPECT_NE(md.find("plots skipped"), std::string::npos);

  const std::string csv = read_file(s.csv_path);
  EXPECT_EQ(
      csv.rfind("model,kind,group,length,method,budget,budget_value,n_tasks,n,mean,ci_lo,ci_hi,",
                0),
      0u);
  EXPECT_NE(csv.find("\nmodel-a,task,niah_single_1,4096,xattn,5%,5,1,10,50,"), std::string::npos)
      << csv;
  const auto j = nlohmann::json::parse(read_file(s.json_path));
  EXPECT_EQ(j["rows"].size(), std::count(csv.begin(), csv.end(), '\n') - 1);
}

// A partial sweep: xattn@10% at 8192 has only one of the three tasks. Its all-task cell says so,
// and full cells do not.
TEST(EvalReport, PartialCellsSayHowManyTasksTheyAverage) {
  spf::test::TempDir dir;
  auto records = fixture_records();
  std::erase_if(records, [](const ResultRecord& r) {
    return r.key.method == "xattn" && r.key.budget == "10%" && r.key.length == 8192 &&
           r.key.task != "vt";
  });
  ReportOptions opt;
  opt.plots = false;
  const ReportSummary s = make_report(write_results(dir, records, ""), dir.file("out"), opt);
  const std::string md = read_file(s.markdown_path);
  EXPECT_NE(md.find("100.0 [100.0, 100.0] (n=10, 1 of 3 tasks)"), std::string::npos) << md;
  EXPECT_NE(md.find("| dense | — | 100.0 [100.0, 100.0] (n=30) |"), std::string::npos) << md;
  EXPECT_NE(md.find("0.0 [0.0, 0.0] (1 of 3 tasks)"), std::string::npos) << md;
  EXPECT_NE(md.find("average only the tasks that have results"), std::string::npos);
  const ReportSummary full =
      make_report(write_results(dir, fixture_records(), ""), dir.file("out2"), opt);
  EXPECT_EQ(read_file(full.markdown_path).find("of 3 tasks"), std::string::npos);
}

// Results that generated nothing say nothing about a method: the report opens with a warning.
TEST(EvalReport, WarnsAboutEmptyPredictions) {
  spf::test::TempDir dir;
  auto records = fixture_records();
  int64_t emptied = 0;
  for (ResultRecord& r : records)
    if (r.key.method == "xattn" && r.key.budget == "5%" && r.key.task == "vt" && r.key.sample < 3) {
      r.prediction = " \n";
      r.score = 0;
      ++emptied;
    }
  ReportOptions opt;
  opt.plots = false;
  const ReportSummary s = make_report(write_results(dir, records, ""), dir.file("out"), opt);
  EXPECT_EQ(s.empty_predictions, emptied);
  ASSERT_EQ(s.empty_cells.size(), 2u);  // vt at 4096 and 8192
  EXPECT_EQ(s.empty_cells[0], "model-a vt @ 4096 xattn 5%: 3 of 10");
  const std::string md = read_file(s.markdown_path);
  EXPECT_NE(md.find("**Warning: 6 of "), std::string::npos) << md;
  EXPECT_NE(md.find("> - model-a vt @ 8192 xattn 5%: 3 of 10"), std::string::npos) << md;

  const ReportSummary clean =
      make_report(write_results(dir, fixture_records(), ""), dir.file("out2"), opt);
  EXPECT_EQ(clean.empty_predictions, 0);
  EXPECT_EQ(read_file(clean.markdown_path).find("Warning"), std::string::npos);
}

TEST(EvalReport, DrawsPlotsWhenPythonAndMatplotlibArePresent) {
  const std::string script = std::string(SPF_SOURCE_DIR) + "/tools/plot_report.py";
  if (std::system("python3 -c 'import matplotlib' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "no matplotlib";
  spf::test::TempDir dir;
  const std::string path = write_results(dir, fixture_records());
  ReportOptions opt;
  opt.plot_script = script;
  const ReportSummary s = make_report(path, dir.file("out"), opt);
  EXPECT_EQ(s.plot_note, "");
  ASSERT_EQ(s.plots.size(), 3u);
  for (const std::string& p : s.plots) {
    std::ifstream f(p, std::ios::binary);
    char magic[8] = {};
    f.read(magic, 8);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << p;
  }
  const std::string md = read_file(s.markdown_path);
  EXPECT_NE(md.find("![score_vs_length](score_vs_length.png)"), std::string::npos);
  EXPECT_NE(md.find("![quality_latency](quality_latency.png)"), std::string::npos);
}

TEST(EvalReport, Errors) {
  spf::test::TempDir dir;
  EXPECT_THROW(make_report(dir.file("none.jsonl"), dir.file("out")), Error);
  write_file_atomic(dir.file("empty.jsonl"), "");
  EXPECT_THROW(make_report(dir.file("empty.jsonl"), dir.file("out")), Error);
}

}  // namespace
}  // namespace spf::eval
