// The attention entry point. Every attention layer of every model (dense Llama/Qwen layers, the
// gated full-attention layers of Qwen3.5) hands one AttentionCall to an AttentionBackend. Backends
// decide *which keys* each query sees (dense, or a Support from some producer) and which executor
// computes it. Executors know no model: only the shapes below.
//
// Layout (row-major, float32):
//   q   [n_q][n_heads][head_dim]      queries at absolute positions q_pos0 .. q_pos0 + n_q - 1
//   k,v [n_kv][n_kv_heads][head_dim]  keys/values at positions 0 .. n_kv - 1 (KV cache prefix)
//   out [n_q][n_heads][head_dim]      must not alias q, k or v
// Causal: query i may see keys j <= q_pos0 + i.
// GQA: query head h reads KV head h / (n_heads / n_kv_heads).
// q/k have RoPE (and any q/k norm) applied already; scale multiplies q·k before the softmax.
//
// Executors (attention/cpu/): dense.h (the default backend), sparse.h (over a SupportView), mass.h
// (softmax statistics in tiles), reference.h (naive double precision, tests only).
#pragma once

#include <cstdint>

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

struct AttentionCall {
  int layer = 0;            // model layer index (for per-layer policies and reports)
  int attention_layer = 0;  // index among the model's attention layers (0, 1, ...)
  AttentionShape shape;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;

  // shape.validate() plus non-null pointers.
  void validate() const;
};

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  virtual void attend(const AttentionCall& call) = 0;
};

}  // namespace spf
