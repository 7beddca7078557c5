#include "eval/sweep.h"

#include <map>
#include <memory>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/custom_tasks.h"
#include "eval/results_log.h"
#include "eval/scoring.h"
#include "eval/sweep_shards.h"
#include "eval/task_generator.h"

namespace spf::eval {

namespace {

// Cells that share a model, length and task share their samples.
struct Slot {
  std::string model;
  int64_t length;
  std::string task;
  std::vector<CellKey> cells;
  int64_t samples;
};

ResultKey key_of(const CellKey& c, int64_t sample, uint64_t seed) {
  return {c.model, c.method, c.budget, c.length, c.task, sample, seed};
}

}  // namespace

bool prediction_is_empty(const std::string& prediction) {
  return prediction.find_first_not_of(" \t\r\n") == std::string::npos;
}

std::string empty_prediction_warning(const SweepSummary& s) {
  std::string cells;
  size_t shown = 0;
  for (const std::string& c : s.empty_cells) {
    if (shown++ == 3) {
      cells += cat(", ... (", s.empty_cells.size(), " cells)");
      break;
    }
    cells += (cells.empty() ? "" : ", ") + c;
  }
  return cat("sweep: WARNING: ", s.empty_predictions, " of ", s.ran,
             " samples run now generated no text and scored 0 (", cells,
             "); a chat model given a prompt without its chat template often stops at once: "
             "check the task inputs or the chat template setting");
}

SweepSummary run_sweep(const SweepConfig& cfg, Runner& runner, const SweepOptions& options) {
  validate_sweep_config(cfg, [&](const std::string& m) { return runner.max_context(m); });
  std::map<std::string, std::vector<Sample>> custom;
  for (const std::string& t : cfg.tasks)
    if (const std::string p = custom_task_path(cfg, t); !p.empty())
      custom[t] = load_custom_tasks(p, t);

  SweepSummary summary;
  const Shard& shard = options.shard;
  // A shard appends to its own file. Every process skips what the main file or any shard file
  // holds; a whole run folds the shard files into the main file before its first append.
  const std::string out_path = shard.whole() ? cfg.results : shard_results_path(cfg.results, shard);
  check_appendable(out_path);  // fail now, not after the first sample has been computed
  const ResultsScan scan = scan_results(out_path, /*strict=*/true);
  std::set<ResultKey> done;
  for (const ResultRecord& r : scan.records) {
    // Layer selections are not part of a cell's key: one results file holds one selection.
    SPF_CHECK(r.sparse_layers == cfg.sparse_layers, "sweep: ", out_path,
              " holds runs with sparse_layers=", r.sparse_layers, " and this sweep runs ",
              cfg.sparse_layers, ": use another results file");
    done.insert(r.key);
  }
  std::vector<std::string> others = find_shard_files(cfg.results);
  if (!shard.whole()) others.push_back(cfg.results);
  for (const std::string& f : others)
    if (f != out_path)
      for (const ResultRecord& r : scan_results(f, /*strict=*/true).records) done.insert(r.key);

  std::vector<Slot> slots;
  for (const CellKey& c : enumerate_cells(cfg)) {
    if (slots.empty() || slots.back().model != c.model || slots.back().length != c.length ||
        slots.back().task != c.task) {
      const auto it = custom.find(c.task);
      const int64_t n = it == custom.end()
                            ? cfg.samples
                            : std::min<int64_t>(cfg.samples, int64_t(it->second.size()));
      slots.push_back({c.model, c.length, c.task, {}, n});
    }
    slots.back().cells.push_back(c);
  }

  // A sample's ordinal (slot order, then sample index) picks its shard.
  std::vector<int64_t> ordinal0(slots.size(), 0);
  for (size_t s = 1; s < slots.size(); ++s) ordinal0[s] = ordinal0[s - 1] + slots[s - 1].samples;
  const auto mine = [&](size_t s, int64_t i) {
    return (ordinal0[s] + i) % shard.count == shard.index;
  };
  std::vector<int64_t> first_todo(slots.size(), -1);  // per slot, the first index with work left
  for (size_t s = 0; s < slots.size(); ++s)
    for (int64_t i = 0; i < slots[s].samples; ++i)
      for (const CellKey& c : slots[s].cells) {
        if (!mine(s, i)) continue;
        ++summary.total;
        if (done.count(key_of(c, i, cfg.seed))) {
          ++summary.already_done;
        } else if (first_todo[s] < 0) {
          first_todo[s] = i;
        }
      }

  // Every model's prompt format, and every (task, length) with work left generated once, before any
  // write: a length too small for a task or a custom prompt beyond the context fails here.
  std::map<std::string, std::unique_ptr<TaskGenerator>> generators;
  std::map<std::string, PromptFormat> formats;
  for (size_t s = 0; s < slots.size(); ++s) {
    if (first_todo[s] < 0) continue;
    const Slot& slot = slots[s];
    if (!formats.count(slot.model)) {
      formats[slot.model] = runner.prompt_format(slot.model);
      if (formats[slot.model].count_tokens)
        generators[slot.model] = std::make_unique<TaskGenerator>(formats[slot.model], options.text);
    }
    const auto it = custom.find(slot.task);
    if (it == custom.end()) {
      SPF_CHECK(generators.count(slot.model), "sweep: model ", slot.model,
                " gave no token counter (needed to size the synthetic tasks)");
      generators[slot.model]->generate(slot.task, slot.length, first_todo[s], cfg.seed);
      continue;
    }
    const int64_t cap = runner.max_context(slot.model);
    const TokenCounter& count = formats[slot.model].count_tokens;
    if (!count) continue;
    for (int64_t i = 0; i < slot.samples; ++i) {
      Sample x = custom_prompt(it->second[size_t(i)], formats[slot.model], cfg.chat_template);
      x.prompt_tokens = count(x.input);
      SPF_CHECK(cap <= 0 || x.prompt_tokens + x.max_new_tokens <= cap, "sweep: ", slot.task,
                " sample \"", x.id, "\": ", x.prompt_tokens, " prompt tokens + ", x.max_new_tokens,
                " to generate exceed the max context ", cap, " of model ", slot.model);
    }
  }

  bool rewritten = false;  // merge_shards rewrites the main file without its torn tail
  if (shard.whole()) {
    const MergeSummary m = merge_shards(cfg.results);
    summary.merged = m.appended;
    rewritten = m.files > 0;
    if (rewritten && options.progress)
      *options.progress << "sweep: merged " << m.files << " shard file(s) into " << cfg.results
                        << ": " << m.appended << " lines added, " << m.duplicates
                        << " already there\n";
  }
  if (scan.torn_tail) {
    if (!rewritten) {
      const std::string text = read_file(out_path);
      write_file_atomic(out_path, std::string_view(text).substr(0, scan.complete_bytes));
    }
    summary.dropped_torn_line = true;
    if (options.progress)
      *options.progress << "sweep: dropped the torn last line " << scan.torn_line << " of "
                        << out_path << " (an interrupted write); that sample runs again\n";
  }

  const RunOptions run_options{cfg.stop_when_scored, cfg.prefill_chunk, cfg.sparse_layers};
  Progress progress(options.progress, options.progress_style, summary.total, summary.already_done,
                    options.progress_interval_s);
  for (size_t s = 0; s < slots.size(); ++s) {
    if (first_todo[s] < 0) continue;
    const Slot& slot = slots[s];
    for (int64_t i = first_todo[s]; i < slot.samples; ++i) {
      if (!mine(s, i)) continue;
      Sample sample;
      bool have_sample = false;
      bool templated = false;  // a custom sample went through the chat template
      for (const CellKey& c : slot.cells) {
        const ResultKey key = key_of(c, i, cfg.seed);
        if (done.count(key)) continue;
        if (!have_sample) {
          const auto it = custom.find(slot.task);
          sample = it != custom.end()
                       ? custom_prompt(it->second[size_t(i)], formats.at(slot.model),
                                       cfg.chat_template, &templated)
                       : generators.at(slot.model)->generate(slot.task, slot.length, i, cfg.seed);
          if (it != custom.end() && formats.at(slot.model).count_tokens)
            sample.prompt_tokens = formats.at(slot.model).count_tokens(sample.input);
          sample.seed = cfg.seed;
          have_sample = true;
        }
        const RunResult out = runner.run(sample, c, run_options);
        ResultRecord r;
        r.key = key;
        r.id = sample.id;
        r.score = score_prediction(out.prediction, sample.outputs, sample.metric);
        r.prediction = out.prediction;
        r.outputs = sample.outputs;
        r.metric = std::string(metric_name(sample.metric));
        r.prefill_seconds = out.prefill_seconds;
        r.prefill_chunk = cfg.prefill_chunk;
        r.sparse_layers = cfg.sparse_layers;
        r.support_density = out.support_density;
        r.prompt_tokens = out.prompt_tokens >= 0 ? out.prompt_tokens : sample.prompt_tokens;
        r.timestamp = utc_timestamp();
        r.extra = out.extra;
        if (custom.count(slot.task)) {
          if (!r.extra.is_object()) r.extra = nlohmann::json::object();
          r.extra["chat_template"] = templated;
        }
        if (prediction_is_empty(out.prediction)) {
          ++summary.empty_predictions;
          summary.empty_cells.insert(
              cat(c.task, " @ ", c.length, " ", c.method, c.budget.empty() ? "" : " ", c.budget));
        }
        // Predictions may hold invalid UTF-8 (a cut multi-byte character): replaced, not fatal.
        append_line_durable(
            out_path,
            record_to_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        done.insert(key);
        ++summary.ran;
        progress.tick();
      }
    }
  }
  progress.finish();
  return summary;
}

}  // namespace spf::eval
