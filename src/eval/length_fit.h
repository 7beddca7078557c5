// Haystack sizing: the largest haystack size (units: lines, words, ... per task) whose prompt fits
// a token budget, with as few token counts as possible. Counting a long prompt costs milliseconds,
// so the search starts from an estimate, gallops towards the boundary with a secant slope and
// finishes with interpolation/bisection. Given the same start and slope it probes the same sizes,
// so its answer does not depend on what was searched before.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace spf::eval {

struct FitResult {
  int64_t units = 0;   // largest size found that fits
  int64_t tokens = 0;  // tokens_of(units)
  int calls = 0;       // how many sizes were counted
};

// tokens_of(n) should be non-decreasing in n (roughly suffices: the answer always fits, and the
// next size probed above it did not). Requires min_units <= max_units and slope > 0. Throws
// spf::Error (naming `what`) when even min_units does not fit the budget.
FitResult fit_units(const std::function<int64_t(int64_t)>& tokens_of, int64_t budget,
                    int64_t min_units, int64_t max_units, int64_t start, double slope,
                    const std::string& what);

}  // namespace spf::eval
