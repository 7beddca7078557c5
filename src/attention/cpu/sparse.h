// Sparse attention on the CPU over a support: each query attends only to the keys its support row
// admits (block columns expanded, clipped causally per query), with the softmax taken over those
// keys alone. Cost is proportional to the support size. A work item is one support row for the
// heads that share it (all heads of a KV group unless the support is per head); the row's columns
// become key runs: long contiguous runs are read in place, short ones are gathered into packed
// tiles, and every tile goes through the same online-softmax kernel as the dense executor. With the
// full causal support the result equals dense attention up to fp32 rounding. Queries that the
// support leaves with no visible key get output 0. Every layout (CSR, top-k, BSR) runs the same
// loop over a row's columns, so equivalent supports give bit-identical outputs.
//
// The ValidatedSupport overload trusts the support's arrays (validate_support() scanned them once)
// and only checks, in O(1), that the support fits the call. The view overloads validate, then run.
#pragma once

#include "attention/attention.h"
#include "attention/support_view.h"

namespace spf {

struct SparseOptions {
  int k_tile = 256;         // keys per tile
  int min_direct_run = 32;  // contiguous runs at least this long are read without copying
};

// Writes call.out. Throws spf::Error when the support does not match the call (n_q, n_kv, q_pos0,
// groups), the call is invalid, or (view overloads) the view fails validate_support().
void sparse_attention(const AttentionCall& call, const ValidatedSupport& support,
                      const SparseOptions& options = {});
void sparse_attention(const AttentionCall& call, const SupportView& support,
                      const SparseOptions& options = {});
void sparse_attention(const AttentionCall& call, const TopKSupportView& support,
                      const SparseOptions& options = {});
void sparse_attention(const AttentionCall& call, const BsrSupportView& support,
                      const SparseOptions& options = {});

}  // namespace spf
