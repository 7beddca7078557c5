// Dense causal attention on the CPU: fp32, GQA, any head_dim, tiled with an online softmax so that
// memory stays O(tile) per thread whatever the sequence length. Work items are (KV head, query
// tile) pairs spread over OpenMP threads; each stacks the tile's queries of all heads of its KV
// group and streams key tiles through OpenBLAS sgemm. Handles decode and continued prefill (q_pos0
// > 0, n_q = 1).
#pragma once

#include "attention/attention.h"

namespace spf {

struct DenseOptions {
  int q_tile = 64;                // queries per work item (times the GQA group size in GEMM rows)
  int k_tile = 256;               // keys per tile
  int key_splits = 0;             // 0: automatic (see above); N > 0: always split keys N ways
  int64_t min_split_keys = 2048;  // automatic splitting keeps at least this many keys per split
};

// Writes call.out. Throws spf::Error for an invalid call or options.
void dense_attention(const AttentionCall& call, const DenseOptions& options = {});

}  // namespace spf
