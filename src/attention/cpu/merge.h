// Merging partial attentions: two results of the same queries over disjoint key sets (a cached
// prefix and the new chunk, two key splits, a sparse and a dense part), each with its per-row
// log-sum-exp, combine exactly into the attention over the union:
//   lse = log(exp(lse_a) + exp(lse_b)),  out = exp(lse_a - lse) out_a + exp(lse_b - lse) out_b.
// A row that saw no key on one side (lse -inf) takes the other side unchanged.
#pragma once

#include <cstdint>

namespace spf {

// out_a / lse_a ([rows][dim] / [rows], host f32) are replaced by the merge with out_b / lse_b.
void merge_attention_partials(float* out_a, float* lse_a, const float* out_b, const float* lse_b,
                              int64_t rows, int dim);

}  // namespace spf
