#include "eval/task_generator.h"

#include <cmath>

#include "core/error.h"
#include "eval/length_fit.h"
#include "eval/rng.h"
#include "eval/tasks/builder.h"
#include "eval/tasks/registry.h"
#include "eval/tasks/variable_tracking.h"

namespace spf::eval {

namespace {

// No tokenizer averages 64 chars per token: a haystack beyond that cannot fit, which keeps a broken
// counter (say, one that returns 0) from growing the prompt without bound.
int64_t max_units(const PromptBuilder& b, int64_t budget, double chars_per_unit) {
  const double cap = double(b.min_units()) + 64.0 * double(budget) / chars_per_unit + 64.0;
  return std::min<int64_t>(b.max_units(), int64_t(std::min(cap, 1e15)));
}

}  // namespace

uint64_t sample_seed(uint64_t seed, const std::string& task, int64_t index) {
  return derive_seed(seed, hash64(task), uint64_t(index));
}

TaskGenerator::TaskGenerator(PromptFormat format, TextSources text)
    : format_(std::move(format)), text_(std::move(text)) {
  SPF_CHECK(bool(format_.count_tokens), "TaskGenerator needs a token counter");
}

int64_t TaskGenerator::count(const std::string& text) {
  ++calls_;
  const int64_t n = format_.count_tokens(text);
  SPF_CHECK(n >= 0, "token counter returned ", n);
  return n;
}

int64_t TaskGenerator::vt_example_lines() {
  if (!vt_example_lines_) {
    const int64_t budget = kVtExampleTokens - find_builtin_task("vt")->tokens_to_generate;
    const FitResult r = fit_units([&](int64_t n) { return count(vt_canonical_example(n)); }, budget,
                                  0, 1 << 20, 0, 20.0, "vt one-shot example");
    vt_example_lines_ = r.units;
  }
  return *vt_example_lines_;
}

Sample TaskGenerator::generate(const std::string& task, int64_t target_tokens, int64_t index,
                               uint64_t seed) {
  const TaskInfo* info = find_builtin_task(task);
  SPF_CHECK(info != nullptr, "unknown task \"", task, "\" (built-in tasks: ", builtin_task_list(),
            ")");
  SPF_CHECK(index >= 0, "sample index ", index, " is negative");
  const int64_t budget = target_tokens - info->tokens_to_generate;
  const std::string what = cat("task ", task, " at ", target_tokens, " tokens");
  SPF_CHECK(budget > 0, what, ": the target is not larger than the ", info->tokens_to_generate,
            " tokens to generate");

  TaskContext ctx{&format_.wrap, &text_, target_tokens, 0};
  if (task == "vt") ctx.vt_example_lines = vt_example_lines();

  auto builder = make_task_builder(*info, sample_seed(seed, task, index), ctx);
  const auto key = std::make_tuple(task, target_tokens, seed);
  auto cal = calibrations_.find(key);
  if (cal == calibrations_.end()) {
    // Sample 0 sets where later samples start: estimated tokens per unit from the text growth per
    // unit and the tokens per char of the bare prompt, then a full search.
    auto b0 =
        index == 0 ? std::move(builder) : make_task_builder(*info, sample_seed(seed, task, 0), ctx);
    const int64_t lo = b0->min_units();
    const std::string base = b0->build(lo).input;
    const int64_t t0 = count(base);
    SPF_CHECK(t0 <= budget, what, ": too small; the prompt needs ", t0,
              " tokens with the smallest "
              "haystack, plus ",
              info->tokens_to_generate, " to generate");
    constexpr int64_t kProbe = 64;
    const double chars_per_unit =
        std::max(1.0, double(b0->build(lo + kProbe).input.size() - base.size()) / kProbe);
    const double slope =
        std::max(1e-3, double(t0) / double(std::max<size_t>(base.size(), 1)) * chars_per_unit);
    const int64_t start = lo + int64_t(std::floor(double(budget - t0) / slope));
    const FitResult r =
        fit_units([&](int64_t n) { return n == lo ? t0 : count(b0->build(n).input); }, budget, lo,
                  max_units(*b0, budget, chars_per_unit), start, slope, what);
    const double refined = r.units > lo ? double(r.tokens - t0) / double(r.units - lo) : slope;
    cal = calibrations_
              .emplace(key, Calibration{r.units, r.tokens, std::max(refined, 1e-3), chars_per_unit})
              .first;
    if (index == 0) builder = std::move(b0);
  }

  int64_t units = cal->second.units, tokens = cal->second.tokens;
  if (index != 0) {
    const double chars_per_unit = cal->second.chars_per_unit;
    const FitResult r = fit_units([&](int64_t n) { return count(builder->build(n).input); }, budget,
                                  builder->min_units(), max_units(*builder, budget, chars_per_unit),
                                  units, cal->second.slope, what);
    units = r.units;
    tokens = r.tokens;
  }

  BuiltPrompt p = builder->build(units);
  Sample s;
  s.task = task;
  s.id = cat(task, "/", index);
  s.index = index;
  s.seed = seed;
  s.input = std::move(p.input);
  s.answer_prefix = std::move(p.answer_prefix);
  s.outputs = builder->outputs();
  s.metric = info->metric;
  s.max_new_tokens = info->tokens_to_generate;
  s.target_tokens = target_tokens;
  s.prompt_tokens = tokens;
  s.haystack_units = units;
  s.answer_offsets = std::move(p.answer_offsets);
  return s;
}

}  // namespace spf::eval
