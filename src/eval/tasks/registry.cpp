#include "eval/tasks/registry.h"

#include "core/error.h"
#include "eval/tasks/common_words.h"
#include "eval/tasks/freq_words.h"
#include "eval/tasks/niah.h"
#include "eval/tasks/variable_tracking.h"

namespace spf::eval {

namespace {

struct NiahEntry {
  const char* name;
  NiahSpec spec;
};

// RULER's synthetic.yaml, minus qa_1/qa_2 (they need SQuAD/HotpotQA files).
const NiahEntry kNiah[] = {
    {"niah_single_1", {Haystack::noise, NeedleKind::words, NeedleKind::numbers, 1, 1, 1}},
    {"niah_single_2", {Haystack::essay, NeedleKind::words, NeedleKind::numbers, 1, 1, 1}},
    {"niah_single_3", {Haystack::essay, NeedleKind::words, NeedleKind::uuids, 1, 1, 1}},
    {"niah_multikey_1", {Haystack::essay, NeedleKind::words, NeedleKind::numbers, 4, 1, 1}},
    {"niah_multikey_2", {Haystack::needle, NeedleKind::words, NeedleKind::numbers, 1, 1, 1}},
    {"niah_multikey_3", {Haystack::needle, NeedleKind::uuids, NeedleKind::uuids, 1, 1, 1}},
    {"niah_multivalue", {Haystack::essay, NeedleKind::words, NeedleKind::numbers, 1, 4, 1}},
    {"niah_multiquery", {Haystack::essay, NeedleKind::words, NeedleKind::numbers, 1, 1, 4}},
};

}  // namespace

const std::vector<TaskInfo>& builtin_tasks() {
  static const std::vector<TaskInfo> tasks = [] {
    std::vector<TaskInfo> t;
    for (const NiahEntry& e : kNiah) t.push_back({e.name, "retrieval", 128, Metric::all});
    t.push_back({"vt", "multi-hop", 30, Metric::all});
    t.push_back({"cwe", "aggregation", 120, Metric::all});
    t.push_back({"fwe", "aggregation", 50, Metric::all});
    return t;
  }();
  return tasks;
}

const TaskInfo* find_builtin_task(std::string_view name) {
  for (const TaskInfo& t : builtin_tasks())
    if (t.name == name) return &t;
  return nullptr;
}

std::string builtin_task_list() {
  std::string s;
  for (const TaskInfo& t : builtin_tasks()) s += (s.empty() ? "" : ", ") + t.name;
  return s;
}

std::string task_group(std::string_view task) {
  if (const TaskInfo* t = find_builtin_task(task)) return t->group;
  if (task.substr(0, 3) == "qa_") return "qa";
  return std::string(task);
}

std::unique_ptr<PromptBuilder> make_task_builder(const TaskInfo& task, uint64_t sample_seed,
                                                 const TaskContext& ctx) {
  for (const NiahEntry& e : kNiah)
    if (task.name == e.name) return make_niah_builder(e.spec, sample_seed, ctx);
  if (task.name == "vt") return make_vt_builder(sample_seed, ctx);
  if (task.name == "cwe") return make_cwe_builder(sample_seed, ctx);
  if (task.name == "fwe") return make_fwe_builder(sample_seed, ctx, task.tokens_to_generate);
  fail("unknown task \"", task.name, "\"");
}

}  // namespace spf::eval
