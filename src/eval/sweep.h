// Runs a sweep (sweep_config.h) through a model-agnostic Runner and appends one results line per
// sample (results_log.h). Resumable: lines already in the results file are skipped; a torn last
// line (an interrupted write) is dropped by rewriting the file atomically before anything is
// appended, so finished lines are never lost or duplicated. Everything is validated before the
// first write: config, custom task files, lengths against each model's max context, and that every
// (task, length) can be generated. A Runner error stops the sweep; finished lines stay, and a rerun
// continues. A sweep can be split over processes with SweepOptions::shard; a whole (unsharded) run
// first merges any shard files of its results file.
#pragma once

#include <cstdint>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "eval/progress.h"
#include "eval/sample.h"
#include "eval/sweep_config.h"
#include "eval/sweep_shards.h"
#include "eval/text_sources.h"

namespace spf::eval {

struct RunResult {
  std::string prediction;  // generated text (scored after RULER post-processing)
  double prefill_seconds = 0;
  double support_density =
      std::numeric_limits<double>::quiet_NaN();  // share of causal entries kept
  int64_t prompt_tokens = -1;  // as the model tokenized the input; -1: use the sample's count
  nlohmann::json extra;        // anything else worth keeping (stored under "extra"); null: nothing
};

struct RunOptions {
  // End decoding once the prediction scores the maximum (see SweepConfig::stop_when_scored).
  bool stop_when_scored = false;
  // Prefill in chunks of this many tokens (0: the whole prompt at once).
  int64_t prefill_chunk = 0;
  // Attention layers that run the cell's method (support/layer_selection.h); others run dense.
  std::string sparse_layers = "all";
};

class Runner {
 public:
  virtual ~Runner() = default;
  // The token counter and chat wrapper of `model`; called once per model, before any run.
  virtual PromptFormat prompt_format(const std::string& model) = 0;
  // 0 when unknown (no length check).
  virtual int64_t max_context(const std::string& model) {
    (void)model;
    return 0;
  }
  // Prefill sample.input with cell.method at cell.budget, generate up to sample.max_new_tokens.
  virtual RunResult run(const Sample& sample, const CellKey& cell, const RunOptions& options) = 0;
};

struct SweepOptions {
  std::ostream* progress = &std::cerr;  // nullptr: silent
  ProgressStyle progress_style = ProgressStyle::automatic;
  double progress_interval_s = 10;  // plain-line mode
  TextSources text;
  Shard shard;  // the part of the sweep this process runs (sweep_shards.h); whole by default
};

struct SweepSummary {
  int64_t total = 0;         // samples in the sweep
  int64_t already_done = 0;  // found in the results file
  int64_t ran = 0;           // run now
  bool dropped_torn_line = false;
  int64_t merged = 0;  // lines folded in from shard files before running (whole sweeps only)
  // Samples run now whose prediction is empty or blank (scored 0 whatever the method), and their
  // cells ("task @ length method budget"); spf eval / sweep print empty_prediction_warning().
  int64_t empty_predictions = 0;
  std::set<std::string> empty_cells;
};

// True for a prediction with no text but whitespace.
bool prediction_is_empty(const std::string& prediction);
// The one-line warning about empty predictions (call when s.empty_predictions > 0).
std::string empty_prediction_warning(const SweepSummary& s);

SweepSummary run_sweep(const SweepConfig& cfg, Runner& runner, const SweepOptions& options = {});

}  // namespace spf::eval
