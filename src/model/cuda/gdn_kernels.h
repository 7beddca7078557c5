// Gated DeltaNet (Qwen3.5's linear-attention mixer) on the GPU: the functions of model/gdn.h with
// the same shapes and meaning, on CUDA device pointers, enqueued on `stream` (a cudaStream_t; null:
// the default stream). Arrays are row-major as in model/gdn.h (f32 unless said otherwise: mix()'s
// z (and m in one overload) are bf16, as the GEMMs around them; the packed delta-rule inputs are
// fp16); the recurrent state
// stays fp32 [nv][dk][dv] and the conv state [K-1][C]; both are updated in place and either delta
// form may continue a state left by the other (or by the CPU functions, after a copy).
//
// Differences from the CPU functions:
//  - conv_silu's `out` must not overlap `m` (the CPU one may run in place).
//  - delta_chunked takes scratch from a device Arena (it does not reset it; the caller does, as
//    for every activation) and computes its matmuls on tensor cores with fp16 operands and fp32
//    accumulation (the per-chunk start states it hands between kernels are fp16 too; fp16, not
//    bf16: the delta rule is sensitive to its inputs' rounding, and every operand is bounded); the
//    state
//    recurrence itself and every sum outside the matmuls is fp32. delta_recurrent is fp32
//    throughout.
//  - delta_chunked needs dk, dv <= 128 (any value up to that: tiles are zero-padded to 64 or
//    128); delta_recurrent takes any dims.
//  - mix() takes z as bf16 and m as bf16 or f32 (the input projections' GEMM output; f32 m keeps
//    the conv's inputs exact, bf16 m moves the outputs about as much as the bf16 rounding of q, k,
//    v would), leaves them untouched (the conv output goes to scratch) and writes bf16 (round to
//    nearest even, the out_proj GEMM's input). Its prologue is one pass: conv + SiLU + L2
//    normalisation (+ the q scale) per (token, head), writing the delta rule's inputs directly
//    (fp16 packed for the chunked form, f32 for the recurrent one).
// Shapes are checked (spf::Error) before anything is enqueued; kernels run asynchronously, so a
// CUDA error of a launch surfaces at the next checked CUDA call.
#pragma once

#include <cstdint>

#include "core/buffer.h"
#include "model/gdn.h"

namespace spf::cuda::gdn {

using spf::gdn::DeltaInputs;
using spf::gdn::DeltaMode;
using spf::gdn::Dims;
using spf::gdn::MixerWeights;

// Calls of at most this many tokens take the recurrent form under DeltaMode::automatic.
constexpr int64_t kRecurrentMaxTokens = 16;
// The largest dk / dv delta_chunked (and so mix() for longer calls) supports.
constexpr int kChunkedMaxDim = 128;

void conv_silu(const float* m, int64_t T, int64_t C, int K, const float* w, float* conv_state,
               float* out, void* stream = nullptr);

void l2_normalize(float* x, int64_t T, int64_t stride, int n_heads, int dim, float scale,
                  void* stream = nullptr);

void gates(const float* b, const float* a, int64_t T, int nv, const float* A_log,
           const float* dt_bias, float* beta, float* g, void* stream = nullptr);

void delta_recurrent(const Dims& d, int64_t T, const DeltaInputs& in, float* state, float* out,
                     void* stream = nullptr);

// The chunked form's inputs in fp16 (IEEE binary16 bits), packed: head h of q (and k) starts at q +
// t * stride + h * head_pitch(dk), of v at v + t * stride + h * head_pitch(dv); the elements of a
// pitch past the head dim are zero; stride is a multiple of 8 elements and the pointers are 16-byte
// aligned (the kernels copy 16-byte pieces).
struct PackedInputs {
  const uint16_t* q;
  const uint16_t* k;
  const uint16_t* v;
  int64_t stride;
  const float* beta;  // [T][nv]
  const float* g;     // [T][nv]
};
constexpr int head_pitch(int dim) {
  return (dim + 7) / 8 * 8;
}
// Elements per token of a packed row: 2 nk head_pitch(dk) + nv head_pitch(dv).
int64_t packed_channels(const Dims& d);

// f32 inputs -> PackedInputs in `scratch` (rounded to fp16; beta and g are shared, not copied).
PackedInputs pack_inputs(const Dims& d, int64_t T, const DeltaInputs& in, Arena& scratch,
                         void* stream = nullptr);

// Chunks of 64 tokens (the UT/WY form of gdn::delta_chunked) in three kernels: per chunk and head
// in parallel, the triangular solve giving W and U; per head and 16/32-column slice of the state,
// the sequential pass over chunks (v' = U - W S, S <- decay S + K^T v'); per chunk and head in
// parallel, the outputs from each chunk's start state and v'. Scratch: about
// T * nv * (4 dk + 6 dv + 4) + ceil(T / 64) * nv * 2 dk dv bytes (dk, dv padded to 64 or 128).
// The f32 overload packs its inputs (pack_inputs) and runs the packed one. state_columns: the
// state pass's columns per CTA, 16 or 32 (0: 16 when there are few heads for the GPU's SMs).
void delta_chunked(const Dims& d, int64_t T, const PackedInputs& in, float* state, float* out,
                   Arena& scratch, void* stream = nullptr, int state_columns = 0);
void delta_chunked(const Dims& d, int64_t T, const DeltaInputs& in, float* state, float* out,
                   Arena& scratch, void* stream = nullptr, int state_columns = 0);
// mix()'s form: the output kernel applies the gated RMS norm (gated_rms_norm with z [T][nv*dv]
// bf16 bits, weight w) and writes bf16 `out` [T][nv*dv]; no f32 o is stored.
struct GatedNormOut {
  const uint16_t* z;
  const float* w;
  float eps;
  uint16_t* out;
};
void delta_chunked(const Dims& d, int64_t T, const PackedInputs& in, float* state,
                   const GatedNormOut& out, Arena& scratch, void* stream = nullptr,
                   int state_columns = 0);

void gated_rms_norm(float* o, const float* z, int64_t T, int nv, int dv, const float* w, float eps,
                    void* stream = nullptr);

// Where the chunked form's gated RMS norm runs: its own bandwidth-bound kernel over an f32 o
// (the default: measured faster on an H100, bench/cuda_gdn_bench "mix" vs "mix fused-norm"), or
// fused into the output kernel (no f32 o, but that kernel's per-row reduction leaves it
// latency-bound). Both give the same values up to f32 rounding order.
enum class NormPlacement { separate, fused };

// gdn::mix on the GPU: m [T][C] (const; bf16 bits or f32), z [T][nv*dv] (bf16 bits) and a, b
// [T][nv] (f32) are the input projections; out [T][nv*dv] receives bf16 bits. Weights are f32
// device arrays. Scratch comes from `scratch` (Device::cuda).
void mix(const Dims& d, int K, int64_t T, const uint16_t* m, const uint16_t* z, const float* a,
         const float* b, const MixerWeights& w, float eps, float* conv_state, float* state,
         uint16_t* out, Arena& scratch, void* stream = nullptr,
         DeltaMode mode = DeltaMode::automatic, NormPlacement norm = NormPlacement::separate);
void mix(const Dims& d, int K, int64_t T, const float* m, const uint16_t* z, const float* a,
         const float* b, const MixerWeights& w, float eps, float* conv_state, float* state,
         uint16_t* out, Arena& scratch, void* stream = nullptr,
         DeltaMode mode = DeltaMode::automatic, NormPlacement norm = NormPlacement::separate);

}  // namespace spf::cuda::gdn
