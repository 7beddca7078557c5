// HostCall: an AttentionCall as the CPU kernels read it — f32 host memory, rows packed exactly as
// [rows][heads][head_dim] — made once at the executor's boundary, so the kernels index raw pointers
// and a call they cannot run (another device, dtype or layout) fails there with one clear line.
#pragma once

#include "attention/attention.h"

namespace spf::detail {

struct HostCall {
  int layer = 0;
  AttentionShape shape;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;  // null in a statistics-only call
  float* out = nullptr;      // null in a statistics-only call
  float* lse = nullptr;      // optional [n_q][n_heads]
};

// values = false: a statistics-only call (q and k; v, out and lse are not read or written).
HostCall host_call(const AttentionCall& call, bool values = true);

}  // namespace spf::detail
