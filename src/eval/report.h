// make_report: results JSONL -> out_dir/report.md (Markdown tables: mean score with 95% bootstrap
// CI and n, difference to dense with a paired CI, per task group and averaged over tasks, plus a
// compact per-task table), out_dir/summary.csv and summary.json (every SummaryRow, for plotting),
// and PNG plots drawn by tools/plot_report.py (python3 + matplotlib) when available; otherwise the
// report says why there are no plots and everything else is still written. A torn last line is
// skipped; invalid lines and duplicate keys are skipped and counted in the report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spf::eval {

struct ReportOptions {
  bool plots = true;
  // "": $SPF_PLOT_SCRIPT, else tools/plot_report.py next to the running binary's tree or the
  // working directory.
  std::string plot_script;
  std::string python = "python3";
};

struct ReportSummary {
  std::string markdown_path, csv_path, json_path;
  std::vector<std::string> plots;  // PNG paths written
  std::string plot_note;           // why plots are missing, "" when drawn
  int64_t records = 0, duplicates = 0, skipped_lines = 0;
  bool torn_tail = false;
  // Results whose prediction is empty (scored 0 whatever the method): the report opens with a
  // warning naming the cells, since such a score says nothing about the method.
  int64_t empty_predictions = 0;
  std::vector<std::string> empty_cells;  // "model task @ length method budget: k of n"
};

ReportSummary make_report(const std::string& results_jsonl, const std::string& out_dir,
                          const ReportOptions& options = {});

}  // namespace spf::eval
