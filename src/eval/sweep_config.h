// A sweep: the cartesian product models x methods x budgets x lengths x tasks, `samples` samples
// per cell. Methods are method specs (support/method_spec.h), stored in canonical form (so
// "oracle:token" becomes "oracle"; results keys use it); budgets are strings handed to the Runner.
// Dense ignores budgets (one cell per length and task, budget ""). Custom tasks
// ("custom:FILE.jsonl") ignore lengths (length 0: their prompts are used as written). JSON form:
//   {"models": ["m.gguf"], "methods": ["dense", "oracle:block64"], "budgets": ["5%", "10%"],
//    "lengths": [4096, 8192], "tasks": ["niah_single_1", "custom:my.jsonl"], "samples": 20,
//    "seed": 42, "results": "results.jsonl", "stop_when_scored": false, "prefill_chunk": 0,
//    "chat_template": "auto"}
// stop_when_scored: decoding of a sample stops as soon as its score reaches the maximum. RULER's
// string-match scores can only grow as text is appended, so the score is exactly that of decoding
// to the task's token limit; only the stored prediction is shorter and decoding is faster.
// prefill_chunk: prompts are prefilled in chunks of this many tokens (0: whole prompt), each
// chunk's queries attending to the whole cache; dense results equal one-shot prefill, a sparse
// producer chooses each chunk's support from that chunk's statistics.
// chat_template: "auto" (default) wraps custom task inputs in the model's chat template when the
// model has one; "none" feeds them verbatim; a task line's own "chat_template" wins. Custom tasks
// are named by their path in normal form ("custom:./t.jsonl" is "custom:t.jsonl").
// Relative paths (results, custom task files) are resolved against the config file's directory.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "eval/sample.h"

namespace spf::eval {

inline constexpr const char* kCustomPrefix = "custom:";

struct SweepConfig {
  std::vector<std::string> models;
  std::vector<std::string> methods;  // canonical method specs
  std::vector<std::string> budgets;  // "N%" (0 < N <= 100) or a positive integer token count
  std::vector<int64_t> lengths;
  std::vector<std::string> tasks;  // built-in names or "custom:FILE.jsonl"
  int64_t samples = 0;
  uint64_t seed = 42;
  std::string results;  // the results JSONL (resolved)
  bool stop_when_scored = false;
  int64_t prefill_chunk = 0;
  ChatTemplateMode chat_template = ChatTemplateMode::automatic;
  // "sparse_layers": "all" | "every:K" | "3,7,11" (support/layer_selection.h): the attention
  // layers that run each cell's method; the others run dense. One results file per selection.
  std::string sparse_layers = "all";
  std::string base_dir;  // where relative paths in the config resolve from
};

// Parses and checks everything that needs no model: keys and types, method specs, known tasks,
// non-empty and duplicate-free lists, budget syntax. `where` prefixes error messages (the file
// name).
SweepConfig parse_sweep_config(const nlohmann::json& j, const std::string& where,
                               const std::string& base_dir);
SweepConfig load_sweep_config(const std::string& path);

// The max context of a model, 0 when unknown.
using MaxContextFn = std::function<int64_t(const std::string& model)>;
// parse_sweep_config's checks plus lengths against each model's max context and the custom task
// files (exist and parse). Throws spf::Error on the first problem.
void validate_sweep_config(const SweepConfig& cfg, const MaxContextFn& max_context = {});

// A custom task's file path, resolved; "" for built-in tasks.
std::string custom_task_path(const SweepConfig& cfg, const std::string& task);
// True for a spec of the dense method (in any spelling, at any granularity): it takes no budget.
bool is_dense_method(const std::string& method);
// Sort key of a budget: the percentage, or the token count; NaN when it does not parse.
double budget_value(const std::string& budget);

struct CellKey {
  std::string model, method, budget;
  int64_t length = 0;
  std::string task;
};
// In run order: model, length, task, then method and budget (all methods of one sample run
// together).
std::vector<CellKey> enumerate_cells(const SweepConfig& cfg);

}  // namespace spf::eval
