// spf eval / spf sweep / spf report: long-context evaluation on RULER-style or custom tasks.
//   eval   one method/budget over built-in tasks (at --length) or a custom --tasks FILE.jsonl
//   sweep  the cartesian product of a sweep.json, appended to a resumable results JSONL
//   report mean scores with 95% CIs, paired differences to dense, and plots
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/model_runner.h"
#include "eval/report.h"
#include "eval/results_log.h"
#include "eval/sweep.h"
#include "eval/sweep_config.h"
#include "support/layer_selection.h"
#include "support/producer.h"

namespace spf::cli {

namespace {

struct EvalOptions {
  std::string model, tasks_file, method = "dense", budget = "5%", results = "eval-results.jsonl";
  std::vector<std::string> tasks;
  std::vector<int64_t> lengths{4096};
  int64_t samples = 20;
  uint64_t seed = 42;
  int64_t prefill_chunk = 0;
  std::string chat_template = "auto";
  std::string sparse_layers = "all";
  int threads = 0;
  std::string device = "cpu";
};

void print_scores(const std::string& results, const eval::SweepConfig& cfg) {
  const eval::ResultsScan scan = eval::scan_results(results, false);
  std::map<std::string, std::pair<double, int>> by_cell;
  for (const eval::ResultRecord& r : scan.records) {
    bool in_cfg = false;
    for (const auto& t : cfg.tasks) in_cfg |= r.key.task == t;
    if (!in_cfg || r.key.seed != cfg.seed) continue;
    auto& acc = by_cell[cat(r.key.task, " @ ", r.key.length, " ", r.key.method,
                            r.key.budget.empty() ? "" : " ", r.key.budget)];
    acc.first += r.score;
    acc.second += 1;
  }
  for (const auto& [k, v] : by_cell)
    std::printf("%-60s %6.2f  (n=%d)\n", k.c_str(), v.first / v.second, v.second);
}

// Everything that needs no model, checked before ModelRunner loads one (seconds for a real model,
// and a model without a tokenizer would fail first): custom task files (errors name the line), the
// results directory, and every method x budget (its producer is built, so options that a producer
// rejects, e.g. an antidiagonal block that is not a multiple of its stride, fail here too).
void check_before_loading(const eval::SweepConfig& cfg) {
  try {
    check_appendable(cfg.results);
  } catch (const Error& e) {
    fail("results file ", e.what());
  }
  eval::validate_sweep_config(cfg);
  for (const std::string& m : cfg.methods) {
    if (eval::is_dense_method(m)) {
      eval::make_cell_producer(m, "");
      continue;
    }
    for (const std::string& b : cfg.budgets) eval::make_cell_producer(m, b);
  }
}

void run_eval(const EvalOptions& o) {
  apply_threads(o.threads);
  SPF_CHECK(o.tasks.empty() != o.tasks_file.empty(), "give exactly one of --task and --tasks");
  nlohmann::json j;
  j["models"] = {resolve_model(o.model)};
  j["methods"] = {o.method};
  if (!eval::is_dense_method(o.method)) j["budgets"] = {o.budget};
  j["lengths"] = o.lengths;
  if (!o.tasks_file.empty()) {
    j["tasks"] = {std::string(eval::kCustomPrefix) +
                  std::filesystem::absolute(o.tasks_file).string()};
  } else {
    j["tasks"] = o.tasks;
  }
  j["samples"] = o.samples;
  j["seed"] = o.seed;
  j["prefill_chunk"] = o.prefill_chunk;
  j["chat_template"] = o.chat_template;
  j["sparse_layers"] = o.sparse_layers;
  j["results"] = std::filesystem::absolute(o.results).string();
  const eval::SweepConfig cfg =
      eval::parse_sweep_config(j, "spf eval", std::filesystem::current_path().string());
  check_before_loading(cfg);
  eval::ModelRunner runner(use_device(o.device));
  const eval::SweepSummary s = eval::run_sweep(cfg, runner);
  print_scores(cfg.results, cfg);
  if (s.empty_predictions > 0) std::printf("%s\n", eval::empty_prediction_warning(s).c_str());
}

struct SweepOptions {
  std::string config, shard;
  bool merge_only = false;
  int64_t prefill_chunk = -1;  // -1: as the config says
  std::string chat_template;   // "": as the config says
  std::string sparse_layers;   // empty: as the config says
  int threads = 0;
  std::string device = "cpu";
};

void run_sweep_cmd(const SweepOptions& o) {
  apply_threads(o.threads);
  eval::SweepConfig cfg = eval::load_sweep_config(o.config);
  if (o.prefill_chunk >= 0) cfg.prefill_chunk = o.prefill_chunk;
  if (!o.chat_template.empty())
    cfg.chat_template = eval::parse_chat_template_mode(o.chat_template, "--chat-template");
  if (!o.sparse_layers.empty()) cfg.sparse_layers = LayerSelection::parse(o.sparse_layers).str();
  if (o.merge_only) {
    const eval::MergeSummary m = eval::merge_shards(cfg.results);
    std::printf(
        "merge: %lld shard file(s), %lld lines added, %lld already there, %lld torn -> %s\n",
        (long long)m.files, (long long)m.appended, (long long)m.duplicates, (long long)m.torn,
        cfg.results.c_str());
    return;
  }
  check_before_loading(cfg);
  eval::SweepOptions so;
  if (!o.shard.empty()) so.shard = eval::parse_shard(o.shard);
  eval::ModelRunner runner(use_device(o.device));
  const eval::SweepSummary s = eval::run_sweep(cfg, runner, so);
  const std::string out =
      so.shard.whole() ? cfg.results : eval::shard_results_path(cfg.results, so.shard);
  std::printf("sweep: %lld samples, %lld already done, %lld run now -> %s\n", (long long)s.total,
              (long long)s.already_done, (long long)s.ran, out.c_str());
  if (s.empty_predictions > 0) std::printf("%s\n", eval::empty_prediction_warning(s).c_str());
}

struct ReportCmdOptions {
  std::string results, out = "report";
  bool no_plots = false;
};

void run_report(const ReportCmdOptions& o) {
  eval::ReportOptions ro;
  ro.plots = !o.no_plots;
  const eval::ReportSummary s = eval::make_report(o.results, o.out, ro);
  std::printf("report: %lld records -> %s", (long long)s.records, s.markdown_path.c_str());
  for (const auto& p : s.plots) std::printf(", %s", p.c_str());
  std::printf("\n");
  if (!s.plot_note.empty()) std::printf("plots: %s\n", s.plot_note.c_str());
  if (s.empty_predictions > 0)
    std::printf(
        "report: WARNING: %lld of %lld results generated no text (see the report's first "
        "lines for the cells)\n",
        (long long)s.empty_predictions, (long long)s.records);
}

}  // namespace

void add_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Evaluate one method on RULER-style tasks or a custom tasks JSONL");
  sub->add_option("-m,--model", o->model,
                  "GGUF file or HF checkpoint directory (default: SmolLM2)");
  sub->add_option("--task", o->tasks, "Built-in task names (comma list), e.g. niah_single_1,vt,cwe")
      ->delimiter(',');
  sub->add_option(
         "--tasks", o->tasks_file,
         "Custom tasks JSONL: "
         "{\"id\",\"input\",\"outputs\":[..],\"metric\":\"all\"|\"part\",\"max_new_tokens\"?}")
      ->check(CLI::ExistingFile);
  sub->add_option("--length", o->lengths, "Target prompt lengths in tokens (built-in tasks)")
      ->delimiter(',');
  sub->add_option("--samples", o->samples, "Samples per task and length")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  sub->add_option("--method", o->method,
                  "Method spec: dense, oracle, oracle:block64:groups=head, streaming, "
                  "vertical_slash, antidiagonal, ... (see spf methods)");
  sub->add_option("--budget", o->budget, "Support budget: N% or a key count");
  seed_value(sub->add_option("--seed", o->seed, "Base seed of the task generators"));
  sub->add_option("--results", o->results, "Results JSONL (appended; resumable)");
  at_least(sub->add_option("--prefill-chunk", o->prefill_chunk,
                           "Prefill prompts in chunks of N tokens (0: whole prompt)"),
           0);
  sub->add_option("--chat-template", o->chat_template,
                  "Custom tasks: auto (wrap inputs in the model's chat template when it has one) "
                  "or none (verbatim); a task line's \"chat_template\" wins")
      ->check(CLI::IsMember({"auto", "none"}))
      ->capture_default_str();
  sub->add_option("--sparse-layers", o->sparse_layers,
                  "Attention layers that run the method: all, every:K (K-1, 2K-1, ...) or a list "
                  "3,7,11; the others run dense (one results file per selection)");
  add_threads_option(*sub, o->threads);
  add_device_option(*sub, o->device);
  sub->callback([o] { run_eval(*o); });

  auto s = std::make_shared<SweepOptions>();
  CLI::App* sw = app.add_subcommand(
      "sweep", "Run a resumable sweep: models x methods x budgets x lengths x tasks");
  sw->add_option("--config", s->config, "sweep.json (see docs/eval.md)")
      ->required()
      ->check(CLI::ExistingFile);
  sw->add_option("--shard", s->shard,
                 "K/N: run part K of N (0-based) into its own results file; a later run without "
                 "--shard merges the parts");
  sw->add_flag("--merge", s->merge_only,
               "Only fold the shard files into the results file, run nothing")
      ->excludes(sw->get_option("--shard"));
  at_least(sw->add_option(
               "--prefill-chunk", s->prefill_chunk,
               "Prefill prompts in chunks of N tokens (0: whole prompt; default: the config's "
               "\"prefill_chunk\")"),
           0);
  sw->add_option("--chat-template", s->chat_template,
                 "Custom tasks: auto or none (default: the config's \"chat_template\", else auto)")
      ->check(CLI::IsMember({"auto", "none"}));
  sw->add_option("--sparse-layers", s->sparse_layers,
                 "Attention layers that run each method (default: the config's \"sparse_layers\", "
                 "else all)");
  add_threads_option(*sw, s->threads);
  add_device_option(*sw, s->device);
  sw->callback([s] { run_sweep_cmd(*s); });

  auto r = std::make_shared<ReportCmdOptions>();
  CLI::App* rp =
      app.add_subcommand("report", "Tables with 95% CIs and plots from a sweep's results JSONL");
  rp->add_option("results", r->results, "Results JSONL")->required()->check(CLI::ExistingFile);
  rp->add_option("-o,--out", r->out, "Output directory");
  rp->add_flag("--no-plots", r->no_plots, "Skip the matplotlib plots");
  rp->callback([r] { run_report(*r); });
}

}  // namespace spf::cli
