// Naive double-precision attention for tests: explicit scores per (head, query), causal, GQA, and
// optionally restricted to a support (keys of admitted columns, clipped causally per query). Memory
// and time O(n_q * n_kv) per head: small sizes only.
#pragma once

#include <vector>

#include "attention/attention.h"
#include "attention/support_view.h"

namespace spf {

// Writes call.out (float). Queries that see no key get 0.
void reference_attention(const AttentionCall& call, const SupportView* support = nullptr);

// Softmax probabilities p[h][i][j] (size n_heads * n_q * n_kv), 0 for keys in a query's future.
std::vector<double> reference_probabilities(const AttentionShape& shape, const float* q,
                                            const float* k);

}  // namespace spf
