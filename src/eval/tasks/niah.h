// Needle in a haystack (RULER niah.py semantics, our own code): needles "One of the special magic
// {type} for {key} is: {value}." hidden in a noise, essay or distractor-needle haystack; the query
// asks for the values of q of the k keys. Units of the haystack size: noise lines, essay words or
// distractor needles.
#pragma once

#include <memory>

#include "eval/tasks/builder.h"

namespace spf::eval {

enum class Haystack { noise, essay, needle };
enum class NeedleKind { words, numbers, uuids };

struct NiahSpec {
  Haystack haystack = Haystack::noise;
  NeedleKind key = NeedleKind::words;
  NeedleKind value = NeedleKind::numbers;
  int num_keys = 1;     // k
  int num_values = 1;   // v per key
  int num_queries = 1;  // q (k is raised to q)
};

std::unique_ptr<PromptBuilder> make_niah_builder(const NiahSpec& spec, uint64_t seed,
                                                 const TaskContext& ctx);

}  // namespace spf::eval
