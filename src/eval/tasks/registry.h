// The built-in synthetic tasks: names, RULER categories, generation lengths and metrics, and the
// factory that makes one sample's PromptBuilder.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eval/tasks/builder.h"

namespace spf::eval {

struct TaskInfo {
  std::string name;
  std::string group;           // "retrieval", "multi-hop", "aggregation"
  int64_t tokens_to_generate;  // RULER: niah 128, vt 30, cwe 120, fwe 50
  Metric metric;
};

const std::vector<TaskInfo>& builtin_tasks();
const TaskInfo* find_builtin_task(std::string_view name);  // nullptr when unknown
std::string builtin_task_list();                           // "niah_single_1, ..., fwe"
// The report's task group: the built-in category, "qa" for qa_*, the task itself otherwise
// (custom).
std::string task_group(std::string_view task);

std::unique_ptr<PromptBuilder> make_task_builder(const TaskInfo& task, uint64_t sample_seed,
                                                 const TaskContext& ctx);

}  // namespace spf::eval
