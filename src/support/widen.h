// Widening conversions: a coarser granularity for a support, at the price of admitting more
// (query, key) pairs. Never applied silently (the layout conversions in top_k_support.h and
// bsr_support.h are lossless and refuse to change granularity); a caller that wants, say, token
// rows as 64 x 64 blocks for a block kernel asks for widen_to_blocks(s, 64, 64) by name.
//
// Guarantee: the output is the smallest support at the new blocks that admits every (query, key)
// pair the input admits (after causal clipping): a new cell (row, column) is present exactly when
// one of its pairs is admitted by the input. So it is a superset, and never wider than needed.
#pragma once

#include "support/support.h"

namespace spf {

// Rows of q_block queries and columns of k_block keys (aligned to position 0).
Support widen_to_blocks(const Support& s, int q_block, int k_block);
// Only the query block (rows of q_block queries; columns keep s.k_block).
Support widen_query_block(const Support& s, int q_block);
// Only the key block (columns of k_block keys; rows keep s.q_block).
Support widen_key_block(const Support& s, int k_block);

}  // namespace spf
