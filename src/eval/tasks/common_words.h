// Common words extraction (RULER common_words_extraction.py semantics, our own code): a numbered
// list where 10 words appear often (30x; 6x below 4096 tokens) and the others rarely (3x; 1x),
// preceded by a few-shot example. Units of the haystack size: distinct words in the list.
#pragma once

#include <memory>

#include "eval/tasks/builder.h"

namespace spf::eval {

inline constexpr int kCweCommon = 10;

std::unique_ptr<PromptBuilder> make_cwe_builder(uint64_t seed, const TaskContext& ctx);

}  // namespace spf::eval
