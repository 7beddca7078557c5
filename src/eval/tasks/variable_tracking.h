// Variable tracking (RULER variable_tracking.py semantics, our own code): one chain of 4 hops
// "VAR A = 12345", "VAR B = VAR A ", ... hidden among noise lines, preceded by a one-shot example.
// Units of the haystack size: noise lines.
#pragma once

#include <memory>
#include <string>

#include "eval/tasks/builder.h"

namespace spf::eval {

inline constexpr int kVtChainNames = 5;  // hops + 1

std::unique_ptr<PromptBuilder> make_vt_builder(uint64_t seed, const TaskContext& ctx);

// The bare (unwrapped) one-shot example prompt with fixed names and value 12345, used once to size
// the example's haystack for its 500-token budget.
std::string vt_canonical_example(int64_t noise_lines);
inline constexpr int64_t kVtExampleTokens = 500;

}  // namespace spf::eval
