// The numbers behind the report: per (model, task | task group | all tasks, length, method, budget)
// the mean score with a bootstrap CI and n, and the difference to dense with a CI paired by
// (task, length, sample index, seed). Group and all-task rows weigh every task equally (the mean of
// per-task means, like RULER's average), resampling within each task.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/bootstrap.h"
#include "eval/results_log.h"

namespace spf::eval {

struct SummaryRow {
  std::string model;
  std::string kind;   // "all", "group" or "task"
  std::string group;  // "all", the group name, or the task name
  int64_t length = 0;
  std::string method, budget;
  int64_t n_tasks = 0;
  Interval score;
  bool has_delta = false;  // a sparse row with dense results to pair with
  Interval delta;          // method - dense; delta.n = pairs
  double prefill_seconds = 0, support_density = 0, prompt_tokens = 0;  // means; NaN when none
};

// Records with duplicate keys must have been removed. Rows come ordered for reading: model (first
// seen), all/group/task, group (retrieval, multi-hop, aggregation, qa, others by name), length,
// method (dense first, then first seen), budget (by value).
std::vector<SummaryRow> summarize_results(const std::vector<ResultRecord>& records);

// Drops records whose key was seen before; returns how many were dropped.
int64_t drop_duplicate_records(std::vector<ResultRecord>& records);

}  // namespace spf::eval
