// User-supplied tasks: a JSONL file, one sample per line:
//   {"id": "q1", "input": "...", "outputs": ["ref", ...], "metric": "all"|"part", "max_new_tokens":
//   64}
// "id" (string or integer, unique), "input" (non-empty string) and "outputs" (non-empty array of
// non-empty strings) and "metric" are required; "max_new_tokens" (positive integer) defaults to
// 128; other keys are ignored. Blank lines are skipped. The input is fed to the model verbatim: no
// chat wrapper and no answer prefix are added. Any malformed line throws spf::Error "PATH:LINE:
// what".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/sample.h"

namespace spf::eval {

inline constexpr int64_t kCustomDefaultMaxNewTokens = 128;

// `task` names the samples' task (e.g. "custom:FILE.jsonl" as written in the sweep config); indexes
// are 0-based over the samples in file order.
std::vector<Sample> load_custom_tasks(const std::string& path, const std::string& task);

}  // namespace spf::eval
