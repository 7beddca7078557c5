// Packing of query rows for the tile kernels: the query heads that share one KV head are stacked so
// that one sgemm per key tile serves all of them (GQA reads each K/V tile once per group).
#pragma once

#include <algorithm>
#include <cstdint>

#include "attention/attention.h"

namespace spf::detail {

// dst[(i * nh + hh) * head_dim ..] = q of query i0 + i, head h0 + hh, for i < nq, hh < nh.
inline void pack_queries(const AttentionShape& s, const float* q, int64_t i0, int64_t nq, int h0,
                         int nh, float* dst) {
  const int64_t d = s.head_dim;
  for (int64_t i = 0; i < nq; ++i) {
    const float* src = q + ((i0 + i) * s.n_heads + h0) * d;
    std::copy(src, src + nh * d, dst + i * nh * d);
  }
}

// Leading dimension of a K/V row (one position) and the offset of KV head kvh in it.
inline int64_t kv_stride(const AttentionShape& s) {
  return int64_t(s.n_kv_heads) * s.head_dim;
}
inline int64_t kv_offset(const AttentionShape& s, int kvh) {
  return int64_t(kvh) * s.head_dim;
}

// Keys a query at absolute position pos may see in the contiguous tile [k0, k0 + nk).
inline int causal_prefix(int64_t pos, int64_t k0, int nk) {
  return int(std::clamp<int64_t>(pos - k0 + 1, 0, nk));
}

}  // namespace spf::detail
