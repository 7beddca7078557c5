// Frequent words extraction (RULER freq_words_extraction.py semantics, our own code): coded words
// of 6 random letters whose counts follow a Zeta(2) law over their rank; the most frequent "word"
// is the noise "...", the answers are ranks 2-4. Units of the haystack size: N of the count law
// floor(N * k^-2 / zeta(2)) for rank k (about the number of words in the text).
#pragma once

#include <memory>

#include "eval/tasks/builder.h"

namespace spf::eval {

std::unique_ptr<PromptBuilder> make_fwe_builder(uint64_t seed, const TaskContext& ctx,
                                                int64_t tokens_to_generate);

}  // namespace spf::eval
