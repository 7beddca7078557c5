#include "eval/report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/report_table.h"
#include "eval/sweep.h"
#include "eval/sweep_config.h"

namespace spf::eval {

namespace {

namespace fs = std::filesystem;

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string interval_text(const Interval& i, bool sign) {
  if (i.n == 0 || !std::isfinite(i.mean)) return "—";
  auto f = [&](double v) { return (sign && v > 0 ? "+" : "") + fixed(v, 1); };
  return f(i.mean) + " [" + f(i.lo) + ", " + f(i.hi) + "]";
}

std::string length_text(int64_t len) {
  return len == 0 ? "as given" : std::to_string(len);
}
std::string budget_text(const std::string& b) {
  return b.empty() ? "—" : b;
}
std::string md_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out.push_back(c);
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out.push_back(c);
  }
  return out + "\"";
}

std::string num(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string write_csv(const std::vector<SummaryRow>& rows) {
  std::ostringstream o;
  o << "model,kind,group,length,method,budget,budget_value,n_tasks,n,mean,ci_lo,ci_hi,n_pairs,"
       "delta,"
       "delta_lo,delta_hi,prefill_seconds,support_density,prompt_tokens\n";
  for (const SummaryRow& r : rows) {
    o << csv_field(r.model) << ',' << r.kind << ',' << csv_field(r.group) << ',' << r.length << ','
      << csv_field(r.method) << ',' << csv_field(r.budget) << ',' << num(budget_value(r.budget))
      << ',' << r.n_tasks << ',' << r.score.n << ',' << num(r.score.mean) << ',' << num(r.score.lo)
      << ',' << num(r.score.hi) << ',';
    if (r.has_delta)
      o << r.delta.n << ',' << num(r.delta.mean) << ',' << num(r.delta.lo) << ','
        << num(r.delta.hi);
    else
      o << ",,,";
    o << ',' << num(r.prefill_seconds) << ',' << num(r.support_density) << ','
      << num(r.prompt_tokens) << '\n';
  }
  return o.str();
}

nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

std::string write_json(const std::vector<SummaryRow>& rows, const std::string& source) {
  nlohmann::json out = {{"source", source}, {"rows", nlohmann::json::array()}};
  for (const SummaryRow& r : rows) {
    nlohmann::json j = {{"model", r.model},
                        {"kind", r.kind},
                        {"group", r.group},
                        {"length", r.length},
                        {"method", r.method},
                        {"budget", r.budget},
                        {"budget_value", finite_or_null(budget_value(r.budget))},
                        {"n_tasks", r.n_tasks},
                        {"n", r.score.n},
                        {"mean", finite_or_null(r.score.mean)},
                        {"ci", {finite_or_null(r.score.lo), finite_or_null(r.score.hi)}},
                        {"prefill_seconds", finite_or_null(r.prefill_seconds)},
                        {"support_density", finite_or_null(r.support_density)},
                        {"prompt_tokens", finite_or_null(r.prompt_tokens)}};
    if (r.has_delta)
      j["delta"] = {{"n_pairs", r.delta.n},
                    {"mean", finite_or_null(r.delta.mean)},
                    {"ci", {finite_or_null(r.delta.lo), finite_or_null(r.delta.hi)}}};
    out["rows"].push_back(std::move(j));
  }
  return out.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

std::string find_plot_script(const ReportOptions& opt) {
  if (!opt.plot_script.empty()) return opt.plot_script;
  if (const char* env = std::getenv("SPF_PLOT_SCRIPT"); env != nullptr && *env) return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path())
      candidates.push_back(dir / "tools" / "plot_report.py");
  candidates.push_back(fs::current_path(ec) / "tools" / "plot_report.py");
  for (const fs::path& p : candidates)
    if (fs::is_regular_file(p, ec)) return p.string();
  return "";
}

// Runs the plot script; returns the PNGs it reports ("wrote PATH" lines) or sets `note`.
std::vector<std::string> draw_plots(const ReportOptions& opt, const std::string& csv,
                                    const std::string& out_dir, std::string& note) {
  if (!opt.plots) {
    note = "plots not requested";
    return {};
  }
  const std::string script = find_plot_script(opt);
  if (script.empty() || !fs::is_regular_file(script)) {
    note = "plots skipped: tools/plot_report.py not found (set SPF_PLOT_SCRIPT)";
    return {};
  }
  const std::string probe = "command -v " + shell_quote(opt.python) + " >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    note = "plots skipped: " + opt.python + " not found (install python3, numpy and matplotlib)";
    return {};
  }
  const std::string cmd = shell_quote(opt.python) + " " + shell_quote(script) + " --csv " +
                          shell_quote(csv) + " --out " + shell_quote(out_dir) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    note = "plots skipped: could not start " + opt.python;
    return {};
  }
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = ::pclose(p);
  std::vector<std::string> plots;
  std::istringstream lines(output);
  std::string line, last;
  while (std::getline(lines, line)) {
    if (line.rfind("wrote ", 0) == 0)
      plots.push_back(line.substr(6));
    else if (!line.empty())
      last = line;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    note = "plots failed: " +
           (last.empty() ? std::string("plot_report.py exited with an error") : last);
  return plots;
}

void markdown_tables(std::ostringstream& md, const std::vector<SummaryRow>& rows) {
  std::vector<std::string> models;
  for (const SummaryRow& r : rows)
    if (models.empty() || models.back() != r.model) models.push_back(r.model);
  for (const std::string& model : models) {
    md << "\n## Model `" << md_escape(model) << "`\n";
    std::vector<const SummaryRow*> mine;
    for (const SummaryRow& r : rows)
      if (r.model == model) mine.push_back(&r);
    std::vector<int64_t> lengths;
    std::vector<std::pair<std::string, std::string>> mb;  // (method, budget) in row order
    for (const SummaryRow* r : mine) {
      if (std::find(lengths.begin(), lengths.end(), r->length) == lengths.end())
        lengths.push_back(r->length);
      if (r->kind == "all" &&
          std::find(mb.begin(), mb.end(), std::make_pair(r->method, r->budget)) == mb.end())
        mb.emplace_back(r->method, r->budget);
    }
    std::sort(lengths.begin(), lengths.end());
    auto find = [&](const std::string& kind, const std::string& group, int64_t len,
                    const std::string& m, const std::string& b) -> const SummaryRow* {
      for (const SummaryRow* r : mine)
        if (r->kind == kind && r->group == group && r->length == len && r->method == m &&
            r->budget == b)
          return r;
      return nullptr;
    };

    // A partial sweep leaves some cells with fewer tasks; their averages are not comparable with
    // the full cells', so those cells say how many tasks they average.
    int64_t all_tasks = 0;
    for (const SummaryRow* r : mine)
      if (r->kind == "all") all_tasks = std::max(all_tasks, r->n_tasks);
    bool partial = false;
    auto coverage = [&](const SummaryRow& r, const char* open, const char* close) -> std::string {
      if (r.n_tasks >= all_tasks) return "";
      partial = true;
      return cat(open, r.n_tasks, " of ", all_tasks, " tasks", close);
    };
    auto wide = [&](const std::string& title, bool delta) {
      md << "\n### " << title << "\n\n| method | budget |";
      for (const int64_t len : lengths) md << ' ' << length_text(len) << " |";
      md << "\n|---|---|";
      for (size_t i = 0; i < lengths.size(); ++i) md << "---|";
      md << "\n";
      for (const auto& [m, b] : mb) {
        if (delta && b.empty() && m == "dense") continue;
        md << "| " << md_escape(m) << " | " << md_escape(budget_text(b)) << " |";
        for (const int64_t len : lengths) {
          const SummaryRow* r = find("all", "all", len, m, b);
          md << ' ';
          if (r == nullptr)
            md << "—";
          else if (delta && !r->has_delta)
            md << "—";
          else if (delta)
            md << interval_text(r->delta, true) << coverage(*r, " (", ")");
          else
            md << interval_text(r->score, false) << " (n=" << r->score.n << coverage(*r, ", ", "")
               << ")";
          md << " |";
        }
        md << "\n";
      }
    };
    wide("Average over tasks: score [95% CI]", false);
    wide("Average over tasks: difference to dense [95% CI], paired by sample", true);
    if (partial)
      md << "\nCells marked \"k of " << all_tasks
         << " tasks\" average only the tasks that have results there (a partial sweep): compare "
            "them with the per-task table below, not with the full cells.\n";

    md << "\n### By task group\n";
    std::string current;
    for (const SummaryRow* r : mine) {
      if (r->kind != "group") continue;
      if (r->group != current) {
        current = r->group;
        md << "\n#### " << md_escape(current)
           << "\n\n| length | method | budget | n | score [95% CI] | "
              "Δ dense [95% CI] | pairs | prefill s | density "
              "|\n|---|---|---|---|---|---|---|---|---|\n";
      }
      md << "| " << length_text(r->length) << " | " << md_escape(r->method) << " | "
         << md_escape(budget_text(r->budget)) << " | " << r->score.n << " | "
         << interval_text(r->score, false) << " | "
         << (r->has_delta ? interval_text(r->delta, true) : "—") << " | "
         << (r->has_delta ? std::to_string(r->delta.n) : "—") << " | "
         << fixed(r->prefill_seconds, 3) << " | " << fixed(r->support_density, 3) << " |\n";
    }

    md << "\n### By task (mean score; CIs in summary.csv)\n";
    for (const int64_t len : lengths) {
      std::vector<std::string> tasks;
      for (const SummaryRow* r : mine)
        if (r->kind == "task" && r->length == len &&
            std::find(tasks.begin(), tasks.end(), r->group) == tasks.end())
          tasks.push_back(r->group);
      if (tasks.empty()) continue;
      md << "\nLength " << length_text(len) << ":\n\n| method | budget |";
      for (const std::string& t : tasks) md << ' ' << md_escape(t) << " |";
      md << "\n|---|---|";
      for (size_t i = 0; i < tasks.size(); ++i) md << "---|";
      md << "\n";
      for (const auto& [m, b] : mb) {
        md << "| " << md_escape(m) << " | " << md_escape(budget_text(b)) << " |";
        for (const std::string& t : tasks) {
          const SummaryRow* r = find("task", t, len, m, b);
          md << ' ' << (r ? fixed(r->score.mean, 1) : "—") << " |";
        }
        md << "\n";
      }
    }
  }
}

}  // namespace

ReportSummary make_report(const std::string& results_jsonl, const std::string& out_dir,
                          const ReportOptions& options) {
  SPF_CHECK(fs::is_regular_file(results_jsonl), "results file ", results_jsonl, " not found");
  ResultsScan scan = scan_results(results_jsonl, /*strict=*/false);
  ReportSummary s;
  s.torn_tail = scan.torn_tail;
  s.skipped_lines = int64_t(scan.skipped.size());
  s.duplicates = drop_duplicate_records(scan.records);
  s.records = int64_t(scan.records.size());
  SPF_CHECK(s.records > 0, results_jsonl, ": no result lines to report");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  SPF_CHECK(fs::is_directory(out_dir), "cannot create the report directory ", out_dir);

  const std::vector<SummaryRow> rows = summarize_results(scan.records);
  s.csv_path = (fs::path(out_dir) / "summary.csv").string();
  s.json_path = (fs::path(out_dir) / "summary.json").string();
  s.markdown_path = (fs::path(out_dir) / "report.md").string();
  write_file_atomic(s.csv_path, write_csv(rows));
  write_file_atomic(s.json_path, write_json(rows, results_jsonl));
  s.plots = draw_plots(options, s.csv_path, out_dir, s.plot_note);

  std::map<std::string, std::pair<int64_t, int64_t>> empty_by_cell;  // cell -> (empty, all)
  for (const ResultRecord& r : scan.records) {
    const ResultKey& k = r.key;
    auto& e = empty_by_cell[cat(k.model, " ", k.task, " @ ", k.length, " ", k.method,
                                k.budget.empty() ? "" : " ", k.budget)];
    const bool empty = prediction_is_empty(r.prediction);
    e.first += empty;
    e.second += 1;
    s.empty_predictions += empty;
  }
  for (const auto& [cell, e] : empty_by_cell)
    if (e.first > 0) s.empty_cells.push_back(cat(cell, ": ", e.first, " of ", e.second));

  std::ostringstream md;
  md << "# SparsePrefill evaluation report\n\n";
  if (s.empty_predictions > 0) {
    md << "> **Warning: " << s.empty_predictions << " of " << s.records
       << " results generated no text** (scored 0 whatever the method; a chat model given a prompt "
          "without its chat template often stops at once). Cells affected:\n";
    for (const std::string& c : s.empty_cells) md << "> - " << md_escape(c) << "\n";
    md << "\n";
  }
  md << "Source: `" << md_escape(results_jsonl) << "` — " << s.records << " results.\n\n"
     << "Scores are RULER's (0–100): per sample the share of references found in the prediction "
        "(string_match_all) or whether any is (string_match_part). Group and overall rows average "
        "the "
        "per-task means with equal weight. Intervals are 95% percentile bootstrap CIs ("
     << kBootstrapResamples << " resamples within each task, seed " << kBootstrapSeed
     << "); Δ dense is the method's score minus dense's on the same samples (task, length, sample "
        "index, seed), only where both exist; n counts samples, pairs counts matched samples.\n";
  if (s.torn_tail || s.skipped_lines || s.duplicates) {
    md << "\nNotes:\n";
    if (s.torn_tail) md << "- the last line was torn (an interrupted write) and is ignored\n";
    for (const std::string& e : scan.skipped)
      md << "- skipped invalid line: " << md_escape(e) << "\n";
    if (s.duplicates) md << "- " << s.duplicates << " duplicate results ignored (first kept)\n";
  }
  markdown_tables(md, rows);
  md << "\n## Plots\n\n";
  if (!s.plot_note.empty()) md << s.plot_note << ".\n\n";
  for (const std::string& p : s.plots)
    md << "![" << fs::path(p).stem().string() << "](" << fs::path(p).filename().string() << ")\n\n";
  md << "Data for plotting: `summary.csv`, `summary.json`.\n";
  write_file_atomic(s.markdown_path, md.str());
  return s;
}

}  // namespace spf::eval
