// Block antidiagonal scores (in the spirit of XAttention), on the CPU. With stride S and block B
// (B a multiple of S), queries and keys are grouped in runs of S; a query run a and key run b score
//   scale * sum_{t < S} q[a S + S - 1 - t] . k[b S + t]
// (one antidiagonal of their S x S score sub-block, the S terms summed, zero-padded at the ends:
// one GEMM over concatenated, reversed queries). Each query run's scores are softmax-normalized
// over its causal key runs (a key run is causal when it starts at or before the run's last query;
// the estimate may include a few future entries of the diagonal sub-block), summed into (query
// block, key block) scores and averaged over the heads of each group: an estimate of the block
// mass, handed to the consumer a tile of query blocks at a time (memory O(tile x n_kv / S)).
// Entries beyond a row's causal columns are 0.
#pragma once

#include "attention/attention.h"
#include "attention/statistics.h"

namespace spf {

// spec.q_block must equal spec.k_block and be a multiple of stride. Throws spf::Error otherwise.
void cpu_antidiagonal_scores(const AttentionCall& call, const BlockMassSpec& spec, int stride,
                             BlockMassConsumer& consumer);

}  // namespace spf
