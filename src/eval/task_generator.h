// Generates samples of the built-in synthetic tasks at a target length for one model's prompt
// format. A sample is a pure function of (task, target length, index, seed, prompt format, text
// sources): the per-sample seed is derived from (seed, task, index), and the haystack search starts
// from a calibration made on sample 0 of the same (task, length, seed), so generating samples in
// any order, or resuming half-way, gives identical prompts. Length contract: count_tokens(input) +
// max_new_tokens <= target_tokens, and the haystack is the largest that fits (within 2% of the
// target whenever one haystack unit is small against it). Not thread-safe (it caches calibrations).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "eval/sample.h"
#include "eval/text_sources.h"

namespace spf::eval {

class TaskGenerator {
 public:
  explicit TaskGenerator(PromptFormat format, TextSources text = {});

  // Throws spf::Error for an unknown task or a target too small for the task.
  Sample generate(const std::string& task, int64_t target_tokens, int64_t index, uint64_t seed);
  // Token counts done so far (calibration included).
  int64_t token_count_calls() const { return calls_; }

 private:
  struct Calibration {
    int64_t units;   // sample 0's haystack size
    int64_t tokens;  // and its prompt tokens
    double slope;    // tokens per unit
    double chars_per_unit;
  };
  int64_t count(const std::string& text);
  int64_t vt_example_lines();

  PromptFormat format_;
  TextSources text_;
  int64_t calls_ = 0;
  std::optional<int64_t> vt_example_lines_;
  std::map<std::tuple<std::string, int64_t, uint64_t>, Calibration> calibrations_;
};

// The per-sample seed.
uint64_t sample_seed(uint64_t seed, const std::string& task, int64_t index);

}  // namespace spf::eval
