// The element-wise tail of the indexer projections on the GPU, and its CPU reference: from the
// f32 GEMM outputs to the bf16 vectors the top-k kernel scores.
//
//   in   [n_vec][heads][dim] f32  projections (keys: heads 1; lightning queries: the heads' rows)
//   mix  [n_vec][heads] f32       per-vector head weights (null when heads == 1)
//   out  [n_vec][dim] bf16        rope(sum_h mix_h * in_h), rounded to nearest even
//                                 (or out_f32 [n_vec][dim] f32 unrounded: the indexer trainer)
//
// inverse rotates by -angle instead (RoPE's transpose: the trainer's gradients).
//
// Vector v sits at position pos0 + v / vecs_per_pos (the G groups' keys of one token share a
// position). RoPE is indexer_model.h's: rotate-half pairs (i, i + rope_dims / 2) of the first
// rope_dims, angle = position * inv_freq[i] in f32. Sums and rotations are rounded like the CPU's
// (no fused multiply-add), so the only difference from indexer_model.cpp is the device's sin/cos
// (within 2 ulp of the host's) before the bf16 rounding.
#pragma once

#include <cstdint>

namespace spf {

struct IndexerFinishArgs {
  const float* in = nullptr;
  const float* mix = nullptr;
  int64_t n_vec = 0;
  int heads = 1;
  int dim = 0;
  int rope_dims = 0;
  const float* inv_freq = nullptr;  // [rope_dims / 2]
  int64_t pos0 = 0;
  int vecs_per_pos = 1;
  uint16_t* out = nullptr;   // bf16 bits
  float* out_f32 = nullptr;  // instead of out: f32 (must not alias in)
  bool inverse = false;
};

// Device pointers; on a cudaStream_t (null: the default stream). Throws spf::Error on bad args.
void cuda_indexer_finish(const IndexerFinishArgs& a, void* stream = nullptr);
// The same on host pointers.
void indexer_finish_reference(const IndexerFinishArgs& a);

}  // namespace spf
