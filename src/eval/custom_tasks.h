// User-supplied tasks: a JSONL file, one sample per line:
//   {"id": "q1", "input": "...", "outputs": ["ref", ...], "metric": "all"|"part", "max_new_tokens":
//   64}
// "id" (string or integer, unique), "input" (non-empty string) and "outputs" (non-empty array of
// non-empty strings) and "metric" are required; "max_new_tokens" (positive integer) defaults to
// 128; "chat_template" ("auto" | "none") overrides the sweep's choice for that line; other keys are
// ignored. Blank lines are skipped. By default (chat_template auto) the input goes through the
// model's chat template when the model has one, as RULER and lm-eval-harness do; with "none" it is
// fed verbatim. No answer prefix is added. Any malformed line throws spf::Error "PATH:LINE: what".
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

// The sample as the model sees it: the input wrapped in the model's chat template when the line's
// mode (or, when it inherits, the sweep's) is automatic and the model has a template. `applied`
// (optional) says whether it was.
Sample custom_prompt(const Sample& s, const PromptFormat& format, ChatTemplateMode sweep_mode,
                     bool* applied = nullptr);

}  // namespace spf::eval
