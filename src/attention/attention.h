// The attention entry point. Every attention layer of every model (dense Llama/Qwen layers, the
// gated full-attention layers of Qwen3.5) hands one AttentionCall to an AttentionBackend. Backends
// decide *which keys* each query sees (dense, or a Support from some producer) and which executor
// computes it. Executors know no model: only the shapes below.
//
// Tensors are TensorViews (core/tensor.h): any device and dtype an executor supports (the CPU
// executor: f32 host memory with packed rows); shapes:
//   q   [n_q][n_heads][head_dim]      queries at absolute positions q_pos0 .. q_pos0 + n_q - 1
//   k,v [n_kv][n_kv_heads][head_dim]  keys/values at positions 0 .. n_kv - 1 (KV cache prefix)
//   out [n_q][n_heads][head_dim]
// Causal: query i may see keys j <= q_pos0 + i.
// GQA: query head h reads KV head h / (n_heads / n_kv_heads).
// q/k have RoPE (and any q/k norm) applied already; scale multiplies q·k before the softmax.
//
// A backend decides which keys each query sees; an AttentionExecutor (executor.h) computes it on
// some device: attention/cpu/ (the host) and later attention/cuda/.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace spf {

struct AttentionShape {
  int64_t n_q = 0;
  int64_t n_kv = 0;
  int64_t q_pos0 = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;

  int group_size() const { return n_heads / n_kv_heads; }
  int kv_head_of(int h) const { return h / group_size(); }
  // Number of causal keys visible to query i.
  int64_t visible(int64_t i) const { return q_pos0 + i + 1; }
  // Throws spf::Error when the shape is inconsistent (n_q < 1, n_kv < q_pos0 + n_q, heads not
  // divisible, head_dim < 1, scale <= 0).
  void validate() const;
};

class SideCache;

struct AttentionCall {
  int layer = 0;            // model layer index (for per-layer policies and reports)
  int attention_layer = 0;  // index among the model's attention layers (0, 1, ...)
  AttentionShape shape;

  TensorView q;    // [n_q][n_heads][head_dim]
  TensorView k;    // [n_kv][n_kv_heads][head_dim]: the cache prefix, this call's keys included
  TensorView v;    // [n_kv][n_kv_heads][head_dim]
  TensorView out;  // [n_q][n_heads][head_dim]; must not alias q, k or v
  // Optional output [n_q][n_heads] f32: log sum_j exp(scale q.k_j) over the keys each query saw
  // (-inf when none), so partial attentions over disjoint key sets can be merged exactly.
  TensorView lse;
  // Optional [n_q][hidden]: the layer's normalised input (what an indexer scores).
  TensorView hidden;
  // Optional per-token store of this layer, owned by the model state (an indexer's keys). Holds a
  // row for positions 0 .. q_pos0 - 1 on entry; whoever uses it appends this call's rows.
  SideCache* side_cache = nullptr;
  // Reserved for batch > 1 (varlen): [batch + 1] i32 offsets of each sequence's queries / keys.
  // Empty means one sequence; executors reject a non-empty one until batching is implemented.
  TensorView cu_seqlens_q, cu_seqlens_k;
  // The device stream of a device call (a cudaStream_t); null for the host and the default stream.
  void* stream = nullptr;

  // shape.validate(), q/k/v/out (and lse, hidden when set) of the shape's dims on one device with
  // one dtype, no batching. Throws spf::Error naming the first mismatch.
  void validate() const;
  Device device() const { return q.device; }
  // The same call restricted to queries [i0, i0 + n) (positions shift with them; keys unchanged).
  AttentionCall query_slice(int64_t i0, int64_t n) const;
};

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  virtual void attend(const AttentionCall& call) = 0;
};

}  // namespace spf
